package ip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// ICMPv6 message types (RFC 4443 §2.1).
const (
	ICMPv6TypeDestUnreachable = 1
	ICMPv6TypePacketTooBig    = 2
	ICMPv6TypeTimeExceeded    = 3
	ICMPv6TypeParamProblem    = 4
	ICMPv6TypeEchoRequest     = 128
	ICMPv6TypeEchoReply       = 129

	// Destination unreachable codes (RFC 4443 §3.1).
	ICMPv6CodeNoRoute          = 0
	ICMPv6CodeAdminProhibited  = 1
	ICMPv6CodeBeyondScope      = 2
	ICMPv6CodeAddrUnreachable  = 3
	ICMPv6CodePortUnreachable  = 4
	ICMPv6CodeSourcePolicyFail = 5
	ICMPv6CodeRejectRoute      = 6

	// defaultHopLimit is the hop limit of packets utcp originates (Linux: 64).
	defaultHopLimit = 64
)

// ErrICMPv6Checksum means an ICMPv6 checksum, which covers the IPv6
// pseudo-header, does not verify.
var ErrICMPv6Checksum = errors.New("ip: bad ICMPv6 checksum")

// ParseICMPv6 decodes the ICMPv6 message b, the payload of an IPv6 packet
// from src to dst, and verifies its checksum (RFC 4443 §2.3). The 4 octets
// after the checksum land in ID and Seq as for ICMPv4. It does not allocate.
func ParseICMPv6(b []byte, src, dst netip.Addr) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return ICMP{}, ErrICMPTruncated
	}
	if Checksum(b, PseudoHeaderSum(src, dst, ProtoICMPv6, len(b))) != 0 {
		return ICMP{}, ErrICMPv6Checksum
	}
	return decodeICMP(b), nil
}

// AppendICMPv6 appends to dst an IPv6 packet from src to dstAddr carrying
// an ICMPv6 message of type typ and code, with the 4-octet field rest and
// body, and its checksum computed. It panics if the packet would be too
// large or an address is not IPv6.
func AppendICMPv6(dst []byte, src, dstAddr netip.Addr, typ, code uint8, rest uint32, body []byte) []byte {
	if ICMPHeaderLen+len(body) > MaxPayload6 {
		panic("ip: ICMPv6 message longer than an IPv6 packet can carry")
	}
	n := len(dst)
	dst = slices.Grow(dst, Header6Len+ICMPHeaderLen+len(body))[:n+Header6Len]
	m := len(dst)
	dst = append(dst, typ, code, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, rest)
	dst = append(dst, body...)
	sum := Checksum(dst[m:], PseudoHeaderSum(src, dstAddr, ProtoICMPv6, len(dst)-m))
	binary.BigEndian.PutUint16(dst[m+2:m+4], sum)
	h := Header6{NextHeader: ProtoICMPv6, HopLimit: defaultHopLimit, Src: src, Dst: dstAddr, PayloadLen: uint16(len(dst) - m)}
	PutHeader6(dst[n:], &h)
	return dst
}

// AppendEchoRequest6 appends an IPv6 packet carrying an ICMPv6 echo request
// (RFC 4443 §4.1). It is meant for tests and tools.
func AppendEchoRequest6(dst []byte, src, dstAddr netip.Addr, id, seq uint16, data []byte) []byte {
	return AppendICMPv6(dst, src, dstAddr, ICMPv6TypeEchoRequest, 0, uint32(id)<<16|uint32(seq), data)
}

// maxICMPv6Error is the largest ICMPv6 error packet: RFC 4443 §2.4 (c)
// quotes as much of the invoking packet as fits in the minimum IPv6 MTU.
const maxICMPv6Error = MinMTU6

// parseICMPv6Error decodes the error message m (type 1 to 4) about a
// datagram sent from local: the quote must be an IPv6 header from local
// whose extension headers, if any, lead to TCP with at least the first 8
// octets of its header (RFC 4443 §2.4 (c): the quote is as much of the
// packet as fits). It does not allocate.
func parseICMPv6Error(m *ICMP, local netip.Addr) (ICMPError, icmpErrorVerdict) {
	q := m.Data
	if len(q) < Header6Len || q[0]>>4 != 6 {
		return ICMPError{}, icmpErrBadQuote
	}
	src := netip.AddrFrom16([16]byte(q[8:24]))
	if src != local {
		return ICMPError{}, icmpErrNotOurs
	}
	next, off := q[6], Header6Len
	for next != ProtoTCP {
		switch next {
		case ProtoHopByHop, ProtoDstOpts, ProtoRouting:
			if off+2 > len(q) {
				return ICMPError{}, icmpErrBadQuote
			}
			next, off = q[off], off+8+int(q[off+1])*8
		case ProtoFragment:
			if off+8 > len(q) {
				return ICMPError{}, icmpErrBadQuote
			}
			if binary.BigEndian.Uint16(q[off+2:off+4])&0xfff8 != 0 {
				return ICMPError{}, icmpErrNotOurs // a later fragment: no TCP header in it
			}
			next, off = q[off], off+8
		default:
			return ICMPError{}, icmpErrNotOurs
		}
	}
	if off+quotedTCPLen > len(q) {
		return ICMPError{}, icmpErrBadQuote
	}
	tcp := q[off:]
	e := ICMPError{
		V6:        true,
		Type:      m.Type,
		Code:      m.Code,
		QuotedLen: uint16(min(Header6Len+int(binary.BigEndian.Uint16(q[4:6])), 0xffff)),
		Src:       src,
		Dst:       netip.AddrFrom16([16]byte(q[24:40])),
		SrcPort:   binary.BigEndian.Uint16(tcp[0:2]),
		DstPort:   binary.BigEndian.Uint16(tcp[2:4]),
		Seq:       binary.BigEndian.Uint32(tcp[4:8]),
	}
	if m.Type == ICMPv6TypePacketTooBig {
		// RFC 8201 §4: the MTU field is 32 bits; no path MTU is below
		// 1280 or, for us, above what a packet can be.
		mtu := uint32(m.ID)<<16 | uint32(m.Seq)
		e.MTU = uint16(min(max(mtu, MinMTU6), 0xffff))
	}
	return e, icmpErrOK
}

// errorBucket limits the ICMPv6 error messages an Endpoint originates, as
// RFC 4443 §2.4 (f) requires: a token bucket of errorBurst messages
// refilled at errorRate a second.
type errorBucket struct {
	tokens float64
	last   time.Time
}

const (
	errorRate  = 100 // messages a second
	errorBurst = 10
)

func (b *errorBucket) take(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = errorBurst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(errorBurst, b.tokens+d.Seconds()*errorRate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
