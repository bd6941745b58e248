package ip

import (
	"errors"
	"time"
)

// input6 is InputAt for an IPv6 packet.
func (e *Endpoint) input6(now time.Time, pkt, reply []byte) (Header, []byte, []byte, ICMPError) {
	e.Stats.Received.Add(1)
	h6, payload, err := Parse6(pkt)
	h := Header{
		TOS:       h6.TrafficClass,
		TTL:       h6.HopLimit,
		Protocol:  h6.NextHeader,
		Src:       h6.Src,
		Dst:       h6.Dst,
		HeaderLen: h6.HeaderLen,
		TotalLen:  uint16(min(Header6Len+int(h6.PayloadLen), 0xffff)),
	}
	var pp *ParamProblem
	switch {
	case err == nil:
	case errors.Is(err, ErrFragment6):
		// No reassembly, as for IPv4 (RFC 8200 §4.5 makes it a MUST; a known gap).
		e.Stats.Fragments.Add(1)
		return h, nil, nil, ICMPError{}
	case errors.As(err, &pp):
		e.Stats.Malformed.Add(1)
		if !e.IsLocal(h6.Dst) || pp.Silent {
			return h, nil, nil, ICMPError{}
		}
		return h, nil, e.icmpv6Error(now, &h6, pkt, reply, ICMPv6TypeParamProblem, pp.Code, pp.Pointer), ICMPError{}
	default:
		// ErrTruncated6, ErrVersion6, ErrPayloadLength, ErrNoNextHeader.
		e.Stats.Malformed.Add(1)
		return Header{}, nil, nil, ICMPError{}
	}
	if !e.IsLocal(h6.Dst) && !e.AnyDst {
		// RFC 8200 and RFC 4291 §2.7: multicast is not supported, so a
		// packet to any address not ours is discarded, as for IPv4.
		e.Stats.NotForUs.Add(1)
		return h, nil, nil, ICMPError{}
	}
	switch h6.NextHeader {
	case ProtoTCP:
		e.Stats.Delivered.Add(1)
		return h, payload, nil, ICMPError{}
	case ProtoICMPv6:
		out, ie, pass := e.inputICMPv6(&h6, payload, reply)
		if pass {
			e.unhandled(pkt[:Header6Len+int(h6.PayloadLen)])
		}
		return h, nil, out, ie
	default:
		e.Stats.UnknownProtocol.Add(1)
		e.unhandled(pkt[:Header6Len+int(h6.PayloadLen)])
		return h, nil, nil, ICMPError{}
	}
}

// inputICMPv6 answers an echo request, returns an error message about one of
// our TCP segments, and drops every other ICMPv6 message (neighbor
// discovery has no place on a point-to-point TUN); pass says it is one for
// Unhandled, as inputICMP's.
func (e *Endpoint) inputICMPv6(h *Header6, payload, reply []byte) (out []byte, ie ICMPError, pass bool) {
	m, err := ParseICMPv6(payload, h.Src, h.Dst)
	if err != nil {
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, false
	}
	switch m.Type {
	case ICMPv6TypeDestUnreachable, ICMPv6TypePacketTooBig, ICMPv6TypeTimeExceeded, ICMPv6TypeParamProblem:
		ie, pass = e.inputICMPError(&icmpIn{ICMP: m, V6: true, dst: h.Dst})
		return nil, ie, pass
	}
	if m.Type == ICMPv6TypeEchoRequest && !e.IsLocal(h.Dst) && (!e.EchoAny || h.Dst.IsMulticast()) {
		e.Stats.NotForUs.Add(1) // AnyDst: only EchoAny answers for other addresses, never multicast
		return nil, ICMPError{}, false
	}
	if m.Type != ICMPv6TypeEchoRequest || m.Code != 0 {
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, m.Type != ICMPv6TypeEchoRequest
	}
	e.Stats.EchoRequests.Add(1)
	if h.Src.IsMulticast() || h.Src.IsUnspecified() {
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, false
	}
	// RFC 4443 §4.2: the reply's source is the request's unicast
	// destination; identifier, sequence number and data are returned.
	out = AppendICMPv6(reply[:0], h.Dst, h.Src, ICMPv6TypeEchoReply, 0, uint32(m.ID)<<16|uint32(m.Seq), m.Data)
	setHopLimit(out, e.ttl())
	e.Stats.EchoReplies.Add(1)
	e.Stats.Delivered.Add(1)
	return out, ICMPError{}, false
}

// icmpv6Error builds an ICMPv6 error message of type typ about pkt, if RFC
// 4443 §2.4 allows one: never about an ICMPv6 error message (e.1), a
// packet to a multicast address (e.2, e.3: the exceptions are messages we
// do not send), or one whose source does not identify a single node (e.6);
// and no more often than the rate limit (f).
func (e *Endpoint) icmpv6Error(now time.Time, h *Header6, pkt, reply []byte, typ, code uint8, rest uint32) []byte {
	if now.IsZero() || h.Dst.IsMulticast() || h.Src.IsMulticast() || h.Src.IsUnspecified() || isICMPv6Error(h, pkt) {
		return nil
	}
	if !e.errors6.take(now) {
		return nil
	}
	// RFC 4443 §2.4 (c): as much of the invoking packet as fits in the
	// minimum IPv6 MTU.
	quote := pkt[:min(len(pkt), maxICMPv6Error-Header6Len-ICMPHeaderLen)]
	out := AppendICMPv6(reply[:0], h.Dst, h.Src, typ, code, rest, quote)
	setHopLimit(out, e.ttl())
	return out
}

// isICMPv6Error reports whether pkt carries an ICMPv6 error message, types
// 0 to 127 (RFC 4443 §2.1), after headers Parse6 could walk.
func isICMPv6Error(h *Header6, pkt []byte) bool {
	return h.NextHeader == ProtoICMPv6 && h.HeaderLen > 0 && h.HeaderLen < len(pkt) && pkt[h.HeaderLen] < 128
}

// setHopLimit sets the hop limit of the IPv6 packet pkt (not covered by
// any checksum).
func setHopLimit(pkt []byte, hl uint8) { pkt[7] = hl }
