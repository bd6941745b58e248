package ip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
)

// Protocol numbers (IANA "Assigned Internet Protocol Numbers") and sizes.
const (
	// ProtoICMP is the IPv4 protocol number of ICMP (RFC 792).
	ProtoICMP = 1
	// ProtoTCP is the IPv4 protocol number of TCP (RFC 9293).
	ProtoTCP = 6
	// HeaderLen is the length of an IPv4 header without options.
	HeaderLen = 20
)

// Sentinel errors returned by Parse.
var (
	// ErrTruncated means the packet is shorter than a minimal IPv4 header.
	ErrTruncated = errors.New("ip: packet shorter than 20 bytes")
	// ErrVersion means the version field is not 4.
	ErrVersion = errors.New("ip: not an IPv4 packet")
	// ErrHeaderLength means the IHL field is below 5 or claims more bytes than the packet has.
	ErrHeaderLength = errors.New("ip: bad header length")
	// ErrTotalLength means the total length field is shorter than the header or longer than the packet.
	ErrTotalLength = errors.New("ip: bad total length")
	// ErrChecksum means the header checksum does not verify.
	ErrChecksum = errors.New("ip: bad header checksum")
)

// Flag and fragment-offset bits of header bytes 6-7 (RFC 791 §3.1).
const (
	flagDF     = 0x4000
	flagMF     = 0x2000
	offsetMask = 0x1fff
)

// Header is a decoded IPv4 header (RFC 791 §3.1).
type Header struct {
	TOS           uint8
	TotalLen      uint16 // header plus payload, in bytes
	ID            uint16
	DontFragment  bool
	MoreFragments bool
	FragOffset    uint16 // in bytes (the wire field counts 8-byte units)
	TTL           uint8
	Protocol      uint8
	Checksum      uint16
	Src, Dst      netip.Addr
	HeaderLen     int // IHL*4, including options
}

// IsFragment reports whether the packet is a fragment of a larger datagram:
// more fragments follow or it does not start at offset 0.
func (h Header) IsFragment() bool { return h.MoreFragments || h.FragOffset != 0 }

// Parse decodes the IPv4 packet in b. It returns the header and the payload,
// trimmed to the total length (link padding after it is dropped); the payload
// aliases b. IP options are skipped. Parse does not allocate.
//
// Errors: ErrTruncated (len(b) < 20), ErrVersion, ErrHeaderLength (IHL < 5 or
// IHL*4 > len(b)), ErrTotalLength (total length < IHL*4 or > len(b)),
// ErrChecksum.
func Parse(b []byte) (Header, []byte, error) {
	if len(b) < HeaderLen {
		return Header{}, nil, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return Header{}, nil, ErrVersion
	}
	hlen := int(b[0]&0x0f) * 4
	if hlen < HeaderLen || hlen > len(b) {
		return Header{}, nil, ErrHeaderLength
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < hlen || total > len(b) {
		return Header{}, nil, ErrTotalLength
	}
	// RFC 791 §3.1 / RFC 1071: the checksum over the whole header, options
	// included, is zero when it verifies.
	if Checksum(b[:hlen], 0) != 0 {
		return Header{}, nil, ErrChecksum
	}
	frag := binary.BigEndian.Uint16(b[6:8]) // the reserved flag bit is ignored
	h := Header{
		TOS:           b[1],
		TotalLen:      uint16(total),
		ID:            binary.BigEndian.Uint16(b[4:6]),
		DontFragment:  frag&flagDF != 0,
		MoreFragments: frag&flagMF != 0,
		FragOffset:    (frag & offsetMask) * 8,
		TTL:           b[8],
		Protocol:      b[9],
		Checksum:      binary.BigEndian.Uint16(b[10:12]),
		Src:           netip.AddrFrom4([4]byte(b[12:16])),
		Dst:           netip.AddrFrom4([4]byte(b[16:20])),
		HeaderLen:     hlen,
	}
	// RFC 9293 MUST-50: options (b[20:hlen]) are ignored, not interpreted.
	return h, b[hlen:total], nil
}

// PutHeader writes h as a 20-byte header without options into b[:20], with
// the total length taken from h.TotalLen, and stores the computed header
// checksum in b and in h.Checksum; it sets h.HeaderLen to 20. FragOffset is
// rounded down to a multiple of 8. It does not allocate.
//
// The intended hot path reserves HeaderLen bytes at the front of a buffer,
// writes the payload after them and then calls PutHeader on the front.
// PutHeader panics if len(b) < 20 or Src or Dst is not an IPv4 address.
func PutHeader(b []byte, h *Header) {
	_ = b[HeaderLen-1] // one bounds check
	src, dst := h.Src.As4(), h.Dst.As4()
	b[0] = 4<<4 | HeaderLen/4 // version 4, IHL 5
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:4], h.TotalLen)
	binary.BigEndian.PutUint16(b[4:6], h.ID)
	frag := (h.FragOffset / 8) & offsetMask
	if h.DontFragment {
		frag |= flagDF
	}
	if h.MoreFragments {
		frag |= flagMF
	}
	binary.BigEndian.PutUint16(b[6:8], frag)
	b[8] = h.TTL
	b[9] = h.Protocol
	b[10], b[11] = 0, 0 // RFC 791: checksum field is zero while computing
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	h.Checksum = Checksum(b[:HeaderLen], 0)
	binary.BigEndian.PutUint16(b[10:12], h.Checksum)
	h.HeaderLen = HeaderLen
}

// MaxPayload is the largest payload that fits in one IPv4 packet without options.
const MaxPayload = 0xffff - HeaderLen

// AppendPacket appends to dst an IPv4 packet made of h (without options)
// and payload. It sets h.TotalLen to 20+len(payload) and h.Checksum and
// h.HeaderLen as PutHeader does. It allocates only when dst lacks capacity.
// AppendPacket panics if len(payload) > MaxPayload.
func AppendPacket(dst []byte, h *Header, payload []byte) []byte {
	if len(payload) > MaxPayload {
		panic("ip: AppendPacket payload longer than MaxPayload")
	}
	h.TotalLen = uint16(HeaderLen + len(payload))
	n := len(dst)
	dst = slices.Grow(dst, HeaderLen+len(payload))[:n+HeaderLen]
	PutHeader(dst[n:], h)
	return append(dst, payload...)
}
