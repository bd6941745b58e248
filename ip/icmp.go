package ip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
)

// ICMP message types used by utcp (RFC 792).
const (
	// ICMPTypeEchoReply is the type of an ICMP echo reply.
	ICMPTypeEchoReply = 0
	// ICMPTypeEchoRequest is the type of an ICMP echo request.
	ICMPTypeEchoRequest = 8
	// ICMPHeaderLen is the length of the ICMP header: type, code, checksum
	// and four type-specific bytes.
	ICMPHeaderLen = 8
	// defaultTTL is the TTL of packets utcp originates (RFC 1700 / Linux: 64).
	defaultTTL = 64
)

// Sentinel errors returned by ParseICMP.
var (
	// ErrICMPTruncated means the ICMP message is shorter than its 8-byte header.
	ErrICMPTruncated = errors.New("ip: ICMP message shorter than 8 bytes")
	// ErrICMPChecksum means the ICMP checksum does not verify.
	ErrICMPChecksum = errors.New("ip: bad ICMP checksum")
)

// ICMP is a decoded ICMP message (RFC 792).
type ICMP struct {
	Type     uint8
	Code     uint8
	Checksum uint16
	ID       uint16 // header bytes 4-5: the identifier of an echo message
	Seq      uint16 // header bytes 6-7: the sequence number of an echo message
	Data     []byte // everything after the 8-byte header; aliases the input
}

// ParseICMP decodes the ICMP message b (an IPv4 payload) and verifies its
// checksum. It returns ErrICMPTruncated or ErrICMPChecksum. It does not allocate.
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return ICMP{}, ErrICMPTruncated
	}
	// RFC 792: the checksum covers the whole ICMP message.
	if Checksum(b, 0) != 0 {
		return ICMP{}, ErrICMPChecksum
	}
	return decodeICMP(b), nil
}

// decodeICMP splits an ICMP or ICMPv6 message of at least 8 octets into its fields.
func decodeICMP(b []byte) ICMP {
	return ICMP{
		Type:     b[0],
		Code:     b[1],
		Checksum: binary.BigEndian.Uint16(b[2:4]),
		ID:       binary.BigEndian.Uint16(b[4:6]),
		Seq:      binary.BigEndian.Uint16(b[6:8]),
		Data:     b[ICMPHeaderLen:],
	}
}

// appendEcho appends an ICMP echo message of type typ (request or reply) with
// its checksum computed (RFC 792 "Echo or Echo Reply Message").
func appendEcho(dst []byte, typ uint8, id, seq uint16, data []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, ICMPHeaderLen+len(data))
	dst = append(dst, typ, 0, 0, 0) // code 0, checksum zero while computing
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = binary.BigEndian.AppendUint16(dst, seq)
	dst = append(dst, data...)
	binary.BigEndian.PutUint16(dst[n+2:n+4], Checksum(dst[n:], 0))
	return dst
}

// AppendEchoRequest appends to dst an IPv4 packet from src to dstAddr that
// carries an ICMP echo request with identifier id, sequence number seq and
// the given data; TTL is 64 and the IP identification is 0. It is meant for
// tests and tools. It panics if the packet would exceed 65535 bytes or an
// address is not IPv4.
func AppendEchoRequest(dst []byte, src, dstAddr netip.Addr, id, seq uint16, data []byte) []byte {
	h := Header{TTL: defaultTTL, Protocol: ProtoICMP, Src: src, Dst: dstAddr}
	return appendEchoPacket(dst, &h, ICMPTypeEchoRequest, id, seq, data)
}

// appendEchoPacket appends an IPv4 packet with header h carrying an ICMP
// echo message; it sets h.TotalLen and h.Checksum.
func appendEchoPacket(dst []byte, h *Header, typ uint8, id, seq uint16, data []byte) []byte {
	if ICMPHeaderLen+len(data) > MaxPayload {
		panic("ip: ICMP echo data longer than an IPv4 packet can carry")
	}
	n := len(dst)
	dst = slices.Grow(dst, HeaderLen+ICMPHeaderLen+len(data))[:n+HeaderLen]
	dst = appendEcho(dst, typ, id, seq, data)
	h.TotalLen = uint16(len(dst) - n)
	PutHeader(dst[n:], h)
	return dst
}
