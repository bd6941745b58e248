package ip

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// ICMP error message types and the destination unreachable codes (RFC 792).
const (
	ICMPTypeDestUnreachable = 3
	ICMPTypeSourceQuench    = 4
	ICMPTypeTimeExceeded    = 11
	ICMPTypeParamProblem    = 12

	ICMPCodeNetUnreachable   = 0
	ICMPCodeHostUnreachable  = 1
	ICMPCodeProtoUnreachable = 2
	ICMPCodePortUnreachable  = 3
	ICMPCodeFragNeeded       = 4 // fragmentation needed and DF set: ICMPError.MTU
	ICMPCodeSourceRouteFail  = 5
)

// quotedTCPLen is what an ICMP error must quote of the TCP header: the
// ports and the sequence number (RFC 792: the first 64 bits of the data).
const quotedTCPLen = 8

// ICMPError is an ICMP error message about a TCP segment we sent: what the
// message says and what it quotes. The zero value (Type 0) means none.
type ICMPError struct {
	// V6 says the message is ICMPv6 (RFC 4443): Type and Code are then
	// ICMPv6 values, and MTU is a packet too big message's.
	V6         bool
	Type, Code uint8
	// MTU is the next-hop MTU of a fragmentation-needed message (RFC 1191
	// §4); 0 if the router did not give one.
	MTU uint16
	// The quoted datagram: its IPv4 total length, source (our address) and
	// destination, and the TCP ports and sequence number of its segment.
	QuotedLen        uint16
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
}

// FragNeeded reports whether e is a fragmentation-needed message (type 3, code 4).
func (e *ICMPError) FragNeeded() bool {
	if e.V6 {
		return e.Type == ICMPv6TypePacketTooBig
	}
	return e.Type == ICMPTypeDestUnreachable && e.Code == ICMPCodeFragNeeded
}

// icmpErrorVerdict says what inputICMP does with an ICMP error message.
type icmpErrorVerdict uint8

const (
	icmpErrOK       icmpErrorVerdict = iota // deliver it
	icmpErrBadQuote                         // the quoted datagram is too short or not an IPv4 header
	icmpErrNotOurs                          // the quote is not a TCP segment from our address
)

// parseICMPError decodes the error message m (type 3, 11 or 12) about a
// datagram sent from local. It checks the quoted datagram: an IPv4 header
// from local carrying TCP, not a later fragment, followed by at least the
// first 8 octets of the TCP header. It does not allocate.
func parseICMPError(m *ICMP, local netip.Addr) (ICMPError, icmpErrorVerdict) {
	q := m.Data
	// RFC 792: the data is the internet header plus the first 64 bits of
	// the original datagram's data.
	if len(q) < HeaderLen || q[0]>>4 != 4 {
		return ICMPError{}, icmpErrBadQuote
	}
	hlen := int(q[0]&0x0f) * 4
	if hlen < HeaderLen || len(q) < hlen+quotedTCPLen {
		return ICMPError{}, icmpErrBadQuote
	}
	src := netip.AddrFrom4([4]byte(q[12:16]))
	if src != local || q[9] != ProtoTCP || binary.BigEndian.Uint16(q[6:8])&0x1fff != 0 {
		return ICMPError{}, icmpErrNotOurs // not ours, not TCP, or no TCP header in it
	}
	tcp := q[hlen:]
	e := ICMPError{
		Type:      m.Type,
		Code:      m.Code,
		QuotedLen: binary.BigEndian.Uint16(q[2:4]),
		Src:       src,
		Dst:       netip.AddrFrom4([4]byte(q[16:20])),
		SrcPort:   binary.BigEndian.Uint16(tcp[0:2]),
		DstPort:   binary.BigEndian.Uint16(tcp[2:4]),
		Seq:       binary.BigEndian.Uint32(tcp[4:8]),
	}
	if e.FragNeeded() {
		e.MTU = m.Seq // RFC 1191 §4: the low-order 16 bits of the unused field
	}
	return e, icmpErrOK
}

// AppendICMPError appends to dst an IPv4 packet from src to dstAddr that
// carries an ICMP error of type typ and code with the 4-octet field rest
// (a fragmentation-needed message has the next-hop MTU in its low 16 bits)
// and quote, the start of the datagram it is about. It is meant for tests
// and tools. It panics if the packet would exceed 65535 bytes.
func AppendICMPError(dst []byte, src, dstAddr netip.Addr, typ, code uint8, rest uint32, quote []byte) []byte {
	if ICMPHeaderLen+len(quote) > MaxPayload {
		panic("ip: ICMP error quote longer than an IPv4 packet can carry")
	}
	n := len(dst)
	dst = slices.Grow(dst, HeaderLen+ICMPHeaderLen+len(quote))[:n+HeaderLen]
	m := len(dst)
	dst = append(dst, typ, code, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, rest)
	dst = append(dst, quote...)
	binary.BigEndian.PutUint16(dst[m+2:m+4], Checksum(dst[m:], 0))
	h := Header{TTL: defaultTTL, Protocol: ProtoICMP, Src: src, Dst: dstAddr, TotalLen: uint16(len(dst) - n)}
	PutHeader(dst[n:], &h)
	return dst
}
