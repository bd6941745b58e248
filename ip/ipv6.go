package ip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// IPv6 sizes and the next-header values the IPv6 layer knows (RFC 8200 §4,
// IANA "Assigned Internet Protocol Numbers").
const (
	// Header6Len is the length of the fixed IPv6 header (RFC 8200 §3).
	Header6Len = 40
	// MinMTU6 is the smallest link MTU IPv6 allows (RFC 8200 §5).
	MinMTU6 = 1280

	ProtoHopByHop = 0  // Hop-by-Hop Options (RFC 8200 §4.3)
	ProtoUDP      = 17 // UDP (RFC 768)
	ProtoRouting  = 43 // Routing (RFC 8200 §4.4)
	ProtoFragment = 44 // Fragment (RFC 8200 §4.5)
	ProtoICMPv6   = 58 // ICMPv6 (RFC 4443)
	ProtoNoNext   = 59 // No Next Header (RFC 8200 §4.7)
	ProtoDstOpts  = 60 // Destination Options (RFC 8200 §4.6)
)

// Sentinel errors returned by Parse6.
var (
	// ErrTruncated6 means the packet is shorter than the fixed IPv6 header,
	// or an extension header runs past its end.
	ErrTruncated6 = errors.New("ip: IPv6 packet shorter than its headers")
	// ErrVersion6 means the version field is not 6.
	ErrVersion6 = errors.New("ip: not an IPv6 packet")
	// ErrPayloadLength means the payload length field claims more octets
	// than the packet has, or is 0 (a jumbogram, RFC 2675, not supported).
	ErrPayloadLength = errors.New("ip: bad IPv6 payload length")
	// ErrFragment6 means the packet is a fragment of a larger datagram; it is
	// dropped (no reassembly).
	ErrFragment6 = errors.New("ip: IPv6 fragment")
	// ErrNoNextHeader means the headers end with No Next Header (59).
	ErrNoNextHeader = errors.New("ip: IPv6 no next header")
)

// ParamProblem is the error Parse6 returns for a packet that RFC 8200
// says to discard, usually with an ICMPv6 parameter problem (RFC 4443 §3.4)
// carrying Code and Pointer.
type ParamProblem struct {
	Code    uint8
	Pointer uint32 // offset of the offending octet in the packet
	// Silent: discard without a message (an option of type 01xxxxxx).
	Silent bool
	// NotToMulticast: no message if the packet's destination was multicast
	// (an option of type 11xxxxxx).
	NotToMulticast bool
}

// ICMPv6 parameter problem codes (RFC 4443 §3.4).
const (
	ICMPv6CodeErroneousHeader  = 0
	ICMPv6CodeUnrecognizedNext = 1
	ICMPv6CodeUnrecognizedOpt  = 2
)

func (p *ParamProblem) Error() string {
	return fmt.Sprintf("ip: IPv6 parameter problem (code %d, pointer %d)", p.Code, p.Pointer)
}

// Header6 is a decoded IPv6 header (RFC 8200 §3) with what walking its
// extension headers found.
type Header6 struct {
	TrafficClass uint8  // DSCP and ECN, as IPv4's TOS octet
	FlowLabel    uint32 // 20 bits
	PayloadLen   uint16 // octets after the fixed header, extension headers included
	// NextHeader is the protocol of the payload Parse6 returns: the Next
	// Header value after the last extension header it skipped.
	NextHeader uint8
	HopLimit   uint8
	Src, Dst   netip.Addr
	// HeaderLen is the fixed header plus the extension headers skipped:
	// the offset of the upper-layer payload in the packet.
	HeaderLen int
	// NextHeaderOffset is the offset in the packet of the Next Header field
	// that names NextHeader (6 for the fixed header), for the pointer of a
	// parameter problem about an unrecognized upper-layer protocol.
	NextHeaderOffset int
}

// Parse6 decodes the IPv6 packet in b, skipping the extension headers RFC
// 8200 §4 lets a destination skip, and returns the header and the upper-layer
// payload, trimmed to the payload length and aliasing b. It does not allocate.
//
// Errors: ErrTruncated6, ErrVersion6, ErrPayloadLength, ErrFragment6 (a
// fragment that is not a whole datagram), ErrNoNextHeader, or a
// *ParamProblem for the packets RFC 8200 says to answer with an ICMPv6
// parameter problem. An upper-layer protocol Parse6 does not know is not an
// error: NextHeader says what it is, and the caller decides.
func Parse6(b []byte) (Header6, []byte, error) {
	if len(b) < Header6Len {
		return Header6{}, nil, ErrTruncated6
	}
	if b[0]>>4 != 6 {
		return Header6{}, nil, ErrVersion6
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 || Header6Len+plen > len(b) {
		return Header6{}, nil, ErrPayloadLength
	}
	vtf := binary.BigEndian.Uint32(b[0:4])
	h := Header6{
		TrafficClass:     uint8(vtf >> 20),
		FlowLabel:        vtf & 0xfffff,
		PayloadLen:       uint16(plen),
		HopLimit:         b[7],
		Src:              netip.AddrFrom16([16]byte(b[8:24])),
		Dst:              netip.AddrFrom16([16]byte(b[24:40])),
		NextHeaderOffset: 6,
	}
	b = b[:Header6Len+plen] // link padding after the payload is dropped
	next, off := b[6], Header6Len
	// Each extension header is at least 8 octets, so the walk ends.
	for {
		switch next {
		case ProtoHopByHop, ProtoDstOpts:
			// RFC 8200 §4.1: Hop-by-Hop Options may only follow the fixed
			// header; anywhere else it is an unrecognized Next Header.
			if next == ProtoHopByHop && off != Header6Len {
				return h, nil, &ParamProblem{Code: ICMPv6CodeUnrecognizedNext, Pointer: uint32(h.NextHeaderOffset)}
			}
			n, err := extLen(b, off)
			if err != nil {
				return h, nil, err
			}
			if err := walkOptions(b, off+2, off+n); err != nil {
				return h, nil, err
			}
			h.NextHeaderOffset, next, off = off, b[off], off+n
		case ProtoRouting:
			n, err := extLen(b, off)
			if err != nil {
				return h, nil, err
			}
			// RFC 8200 §4.4: with Segments Left 0 the header is ignored;
			// otherwise, for a routing type we do not implement (we
			// implement none; RFC 5095 deprecates type 0), discard with
			// a parameter problem pointing at the Routing Type.
			if segsLeft := b[off+3]; segsLeft != 0 {
				return h, nil, &ParamProblem{Code: ICMPv6CodeErroneousHeader, Pointer: uint32(off + 2)}
			}
			h.NextHeaderOffset, next, off = off, b[off], off+n
		case ProtoFragment:
			if off+8 > len(b) {
				return h, nil, ErrTruncated6
			}
			// RFC 8200 §4.5: a fragment that is a whole datagram (offset 0,
			// M flag clear) is processed as a reassembled packet; any other
			// fragment would need reassembly, which we do not do.
			if binary.BigEndian.Uint16(b[off+2:off+4])&0xfff9 != 0 {
				return h, nil, ErrFragment6
			}
			h.NextHeaderOffset, next, off = off, b[off], off+8
		case ProtoNoNext:
			// RFC 8200 §4.7: nothing follows; the rest is ignored.
			return h, nil, ErrNoNextHeader
		default:
			h.NextHeader, h.HeaderLen = next, off
			return h, b[off:], nil
		}
	}
}

// extLen returns the length of the extension header at off whose Hdr Ext
// Len counts 8-octet units beyond the first 8 (RFC 8200 §4.3-§4.6).
func extLen(b []byte, off int) (int, error) {
	if off+8 > len(b) {
		return 0, ErrTruncated6
	}
	n := 8 + int(b[off+1])*8
	if off+n > len(b) {
		return 0, ErrTruncated6
	}
	return n, nil
}

// walkOptions checks the TLV-encoded options in b[from:to] (RFC 8200 §4.2):
// Pad1 and PadN are skipped, and so is an unrecognized option whose type's
// two high bits are 00; the other actions discard the packet.
func walkOptions(b []byte, from, to int) error {
	for i := from; i < to; {
		typ := b[i]
		if typ == 0 { // Pad1
			i++
			continue
		}
		if i+2 > to || i+2+int(b[i+1]) > to {
			return &ParamProblem{Code: ICMPv6CodeErroneousHeader, Pointer: uint32(i)}
		}
		if typ != 1 { // not PadN: we recognize no other option
			switch typ >> 6 {
			case 0: // skip over this option
			case 1: // discard the packet silently
				return &ParamProblem{Code: ICMPv6CodeUnrecognizedOpt, Pointer: uint32(i), Silent: true}
			case 2: // discard, and send a parameter problem even to multicast
				return &ParamProblem{Code: ICMPv6CodeUnrecognizedOpt, Pointer: uint32(i)}
			case 3: // discard, and send a parameter problem unless multicast
				return &ParamProblem{Code: ICMPv6CodeUnrecognizedOpt, Pointer: uint32(i), NotToMulticast: true}
			}
		}
		i += 2 + int(b[i+1])
	}
	return nil
}

// PutHeader6 writes h's fixed header into b[:40], with h.PayloadLen as the
// payload length and h.NextHeader as the Next Header. It does not allocate,
// and panics if len(b) < 40 or Src or Dst is not an IPv6 address.
func PutHeader6(b []byte, h *Header6) {
	_ = b[Header6Len-1]
	if !h.Src.Is6() || !h.Dst.Is6() {
		panic("ip: PutHeader6 needs IPv6 addresses")
	}
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], h.PayloadLen)
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	src, dst := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	h.HeaderLen = Header6Len
}

// MaxPayload6 is the largest payload of one IPv6 packet without a jumbogram.
const MaxPayload6 = 0xffff

// AppendPacket6 appends to dst an IPv6 packet made of h (no extension
// headers) and payload, setting h.PayloadLen. It allocates only when dst
// lacks capacity, and panics if len(payload) > MaxPayload6.
func AppendPacket6(dst []byte, h *Header6, payload []byte) []byte {
	if len(payload) > MaxPayload6 {
		panic("ip: AppendPacket6 payload longer than MaxPayload6")
	}
	h.PayloadLen = uint16(len(payload))
	n := len(dst)
	dst = slices.Grow(dst, Header6Len+len(payload))[:n+Header6Len]
	PutHeader6(dst[n:], h)
	return append(dst, payload...)
}

// Version returns the IP version of the packet in b (4 or 6), or 0 if b is
// empty.
func Version(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return int(b[0] >> 4)
}
