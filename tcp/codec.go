package tcp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/utcp/utcp/ip"
)

// HeaderLen is the length of a TCP header without options (RFC 9293 §3.1).
const HeaderLen = 20

// MaxOptionsLen is the most option octets a header can carry: data offset 15 words minus the fixed 20 octets.
const MaxOptionsLen = 40

// maxSACKBlocks is the most blocks one SACK option can hold in 40 octets (RFC 2018 §3).
const maxSACKBlocks = 4

// maxWindowScale is the largest shift count RFC 7323 §2.3 allows.
const maxWindowScale = 14

// Option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018).
const (
	optEOL       = 0
	optNOP       = 1
	optMSS       = 2
	optWScale    = 3
	optSACKOK    = 4
	optSACK      = 5
	optTimestamp = 8
)

// Option lengths, kind and length octets included.
const (
	lenMSS       = 4
	lenWScale    = 3
	lenSACKOK    = 2
	lenTimestamp = 10
)

// Errors returned by decodeSegment.
var (
	// ErrTruncated means the buffer is shorter than the 20-octet fixed header.
	ErrTruncated = errors.New("tcp: truncated header")
	// ErrDataOffset means the data offset is below 5 words or points past the end of the packet.
	ErrDataOffset = errors.New("tcp: bad data offset")
	// ErrOptionLength means an option's length octet is below 2, or wrong for its kind.
	ErrOptionLength = errors.New("tcp: bad option length")
	// ErrOptionTruncated means an option runs past the end of the header.
	ErrOptionTruncated = errors.New("tcp: option runs past the header")
)

// String returns the flags in packetdrill notation: the letters S F R P U E W
// (SYN FIN RST PSH URG ECE CWR) in that order, then "." when ACK is set.
// A segment with only ACK is ".", one with no flag at all is "-".
func (f Flags) String() string {
	var buf [8]byte
	return string(f.appendText(buf[:0]))
}

// flagLetters maps each letter to its bit, in output order.
var flagLetters = [...]struct {
	c byte
	f Flags
}{{'S', FlagSYN}, {'F', FlagFIN}, {'R', FlagRST}, {'P', FlagPSH}, {'U', FlagURG}, {'E', FlagECE}, {'W', FlagCWR}}

func (f Flags) appendText(b []byte) []byte {
	if f == 0 {
		return append(b, '-')
	}
	for _, l := range flagLetters {
		if f.Has(l.f) {
			b = append(b, l.c)
		}
	}
	if f.Has(FlagACK) {
		b = append(b, '.')
	}
	return b
}

// decodeSegment parses the TCP segment in b: header, options and payload.
// The payload aliases b. It does not check the checksum (see VerifyChecksum).
// Unknown options are skipped (RFC 9293 MUST-6); a window scale above 14 is
// read as 14 (RFC 7323 §2.3). A decoded SACK option allocates its blocks.
func decodeSegment(b []byte) (Segment, error) {
	var s Segment
	if err := DecodeSegmentInto(&s, b); err != nil {
		return Segment{}, err
	}
	return s, nil
}

// DecodeSegmentInto is decodeSegment writing into s. It reuses the array of
// s.Options.SACKBlocks (which may therefore come back empty but not nil), so a
// caller that keeps one Segment decodes without allocating. On error the
// contents of s are unspecified.
func DecodeSegmentInto(s *Segment, b []byte) error {
	if len(b) < HeaderLen {
		return ErrTruncated
	}
	off := int(b[12]>>4) * 4
	if off < HeaderLen || off > len(b) {
		return ErrDataOffset
	}
	blocks := s.Options.SACKBlocks[:0]
	*s = Segment{
		SrcPort: binary.BigEndian.Uint16(b[0:]),
		DstPort: binary.BigEndian.Uint16(b[2:]),
		Seq:     Seq(binary.BigEndian.Uint32(b[4:])),
		Ack:     Seq(binary.BigEndian.Uint32(b[8:])),
		Flags:   Flags(b[13]), // the low nibble of b[12] (reserved, AE) is ignored
		Window:  binary.BigEndian.Uint16(b[14:]),
		Urgent:  binary.BigEndian.Uint16(b[18:]),
	}
	if err := decodeOptions(&s.Options, b[HeaderLen:off], blocks); err != nil {
		return err
	}
	if s.Options.SACKBlocks == nil {
		s.Options.SACKBlocks = blocks // no SACK option: keep the empty array for the next call
	}
	if off < len(b) {
		s.Payload = b[off:len(b):len(b)]
	}
	return nil
}

// decodeOptions parses the option list b into o, storing SACK blocks in blocks' array when it is large enough.
// RFC 9293 MUST-64: options are read octet by octet, with no alignment assumed.
func decodeOptions(o *Options, b []byte, blocks []SACKBlock) error {
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case optEOL:
			return nil // RFC 9293 §3.2: end of the option list; the rest is padding
		case optNOP:
			i++
			continue
		}
		// RFC 9293 MUST-68: every other option has a length octet.
		if i+1 >= len(b) {
			return ErrOptionTruncated
		}
		n := int(b[i+1])
		if n < 2 {
			return ErrOptionLength // RFC 9293 MUST-7: a length of 0 or 1 would loop or underflow
		}
		if i+n > len(b) {
			return ErrOptionTruncated
		}
		data := b[i+2 : i+n]
		switch kind {
		case optMSS:
			if n != lenMSS {
				return ErrOptionLength
			}
			o.MSS = binary.BigEndian.Uint16(data)
		case optWScale:
			if n != lenWScale {
				return ErrOptionLength
			}
			// RFC 7323 §2.3: a shift count above 14 MUST be used as 14.
			o.WindowScale = min(data[0], maxWindowScale)
			o.HasWindowScale = true
		case optSACKOK:
			if n != lenSACKOK {
				return ErrOptionLength
			}
			o.SACKPermitted = true
		case optSACK:
			// RFC 2018 §3: length 2+8n; 40 option octets leave room for n <= 4.
			k := (n - 2) / 8
			if (n-2)%8 != 0 || k < 1 || k > maxSACKBlocks {
				return ErrOptionLength
			}
			if cap(blocks) < k {
				blocks = make([]SACKBlock, 0, k)
			}
			blocks = blocks[:0] // a later SACK option replaces an earlier one
			for j := 0; j < k; j++ {
				blocks = append(blocks, SACKBlock{
					Left:  Seq(binary.BigEndian.Uint32(data[8*j:])),
					Right: Seq(binary.BigEndian.Uint32(data[8*j+4:])),
				})
			}
			o.SACKBlocks = blocks
		case optTimestamp:
			if n != lenTimestamp {
				return ErrOptionLength
			}
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(data)
			o.TSEcr = binary.BigEndian.Uint32(data[4:])
		default:
			// RFC 9293 MUST-6: ignore an option we do not implement, skipping it by its length.
		}
		i += n
	}
	return nil
}

// VerifyChecksum reports whether the TCP segment b, sent from src to dst, has
// a correct checksum over the pseudo-header and the whole segment (RFC 9293 MUST-3).
func VerifyChecksum(b []byte, src, dst netip.Addr) bool {
	return ip.Checksum(b, pseudoHeaderSum(src, dst, len(b))) == 0
}

// pseudoHeaderSum is the running sum of TCP's pseudo-header for length
// octets of segment, IPv4 (RFC 9293 §3.1) or IPv6 (RFC 8200 §8.1): an
// IPv4-mapped address is taken as IPv4.
func pseudoHeaderSum(src, dst netip.Addr, length int) uint32 {
	return ip.PseudoHeaderSum(src.Unmap(), dst.Unmap(), ip.ProtoTCP, length)
}

// optionsLayout returns the option octets AppendSegment writes for o and how many SACK blocks fit.
// The layout is Linux's: MSS, SACK-permitted, timestamps, NOP+window scale, SACK blocks,
// each group padded with NOPs to a multiple of 4 octets.
func (o *Options) optionsLayout() (n, sackBlocks int) {
	if o.MSS != 0 {
		n += lenMSS
	}
	if o.HasTimestamp {
		n += 2 + lenTimestamp // sackOK or NOP,NOP in front of the timestamps
	} else if o.SACKPermitted {
		n += 2 + lenSACKOK
	}
	if o.HasWindowScale {
		n += 1 + lenWScale
	}
	if k := len(o.SACKBlocks); k > 0 {
		// RFC 2018 §3: send as many blocks as fit, the first (most recent) ones.
		k = min(k, maxSACKBlocks, (MaxOptionsLen-n-4)/8)
		if k > 0 {
			n += 4 + 8*k
			sackBlocks = k
		}
	}
	return n, sackBlocks
}

// HeaderLen returns the length of the header AppendSegment writes for s: 20 plus the padded options.
func (s *Segment) headerLen() int {
	n, _ := s.Options.optionsLayout()
	return HeaderLen + (n+3)&^3
}

// AppendSegment appends the wire form of s (header, options, payload) to b and
// returns the extended slice. The checksum covers the pseudo-header of src and
// dst (RFC 9293 MUST-2). Options follow Linux's order; SACK blocks that do not
// fit in 40 octets are dropped from the end, and a window scale above 14 is
// sent as 14. It does not allocate when b has room for s.headerLen()+len(s.Payload) more octets.
func AppendSegment(b []byte, s *Segment, src, dst netip.Addr) []byte {
	start := len(b)
	b = appendHeader(b, s)
	b = append(b, s.Payload...)
	sum := pseudoHeaderSum(src, dst, len(b)-start)
	binary.BigEndian.PutUint16(b[start+16:], ip.Checksum(b[start:], sum))
	return b
}

// appendHeader appends s's header and options, s.headerLen() octets, with
// a zero checksum.
func appendHeader(b []byte, s *Segment) []byte {
	start := len(b)
	optLen, sackBlocks := s.Options.optionsLayout()
	hl := HeaderLen + (optLen+3)&^3
	b = binary.BigEndian.AppendUint16(b, s.SrcPort)
	b = binary.BigEndian.AppendUint16(b, s.DstPort)
	b = binary.BigEndian.AppendUint32(b, uint32(s.Seq))
	b = binary.BigEndian.AppendUint32(b, uint32(s.Ack))
	b = append(b, byte(hl/4)<<4, byte(s.Flags))
	b = binary.BigEndian.AppendUint16(b, s.Window)
	b = append(b, 0, 0) // checksum, filled in by the caller
	b = binary.BigEndian.AppendUint16(b, s.Urgent)
	b = appendOptions(b, &s.Options, sackBlocks)
	for (len(b)-start)%4 != 0 {
		b = append(b, optEOL) // RFC 9293 MUST-69: zero padding after the EOL
	}
	return b
}

// putHeaderBefore writes s's header into tcpSeg, whose payload, from
// s.headerLen() on, is already in place, and its checksum: complete, or
// when partial only the folded pseudo-header sum, which a link with
// checksum offload completes (ip.Offload.ChecksumPartial).
func putHeaderBefore(tcpSeg []byte, s *Segment, src, dst netip.Addr, partial bool) {
	appendHeader(tcpSeg[:0], s)
	sum := pseudoHeaderSum(src, dst, len(tcpSeg))
	if partial {
		binary.BigEndian.PutUint16(tcpSeg[16:], ^ip.Fold(sum))
		return
	}
	binary.BigEndian.PutUint16(tcpSeg[16:], ip.Checksum(tcpSeg, sum))
}

// appendOptions writes o in the layout optionsLayout measures.
func appendOptions(b []byte, o *Options, sackBlocks int) []byte {
	if o.MSS != 0 {
		b = append(b, optMSS, lenMSS)
		b = binary.BigEndian.AppendUint16(b, o.MSS)
	}
	if o.HasTimestamp {
		if o.SACKPermitted {
			b = append(b, optSACKOK, lenSACKOK)
		} else {
			b = append(b, optNOP, optNOP)
		}
		b = append(b, optTimestamp, lenTimestamp)
		b = binary.BigEndian.AppendUint32(b, o.TSVal)
		b = binary.BigEndian.AppendUint32(b, o.TSEcr)
	} else if o.SACKPermitted {
		b = append(b, optNOP, optNOP, optSACKOK, lenSACKOK)
	}
	if o.HasWindowScale {
		b = append(b, optNOP, optWScale, lenWScale, min(o.WindowScale, maxWindowScale))
	}
	if sackBlocks > 0 {
		b = append(b, optNOP, optNOP, optSACK, byte(2+8*sackBlocks))
		for _, blk := range o.SACKBlocks[:sackBlocks] {
			b = binary.BigEndian.AppendUint32(b, uint32(blk.Left))
			b = binary.BigEndian.AppendUint32(b, uint32(blk.Right))
		}
	}
	return b
}
