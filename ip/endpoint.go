package ip

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
)

// Stats counts what an Endpoint did with its input. Every packet given to
// Input adds one to Received and to exactly one outcome: Delivered,
// Malformed, BadChecksum, Fragments, NotForUs, UnknownProtocol or
// ICMPDropped. EchoRequests and EchoReplies detail the ICMP echo traffic;
// ICMPErrors, SourceQuench, ICMPErrorBadQuote and ICMPErrorNotOurs the ICMP
// error messages.
// The counters may be read while Input runs.
type Stats struct {
	Received        atomic.Uint64 // packets given to Input
	Delivered       atomic.Uint64 // TCP segments or ICMP errors returned, or ICMP echo requests answered
	Malformed       atomic.Uint64 // IPv4 header errors other than the checksum
	BadChecksum     atomic.Uint64 // IPv4 header checksum failures
	Fragments       atomic.Uint64 // fragments, dropped: no reassembly
	NotForUs        atomic.Uint64 // destination is not the Endpoint's address
	UnknownProtocol atomic.Uint64 // neither TCP nor ICMP
	EchoRequests    atomic.Uint64 // valid ICMP echo requests received
	EchoReplies     atomic.Uint64 // ICMP echo replies sent
	ICMPDropped     atomic.Uint64 // ICMP messages dropped: malformed, bad checksum, unhandled type, or no reply allowed

	ICMPErrors        atomic.Uint64 // ICMP errors about our TCP segments, returned (also counted in Delivered)
	SourceQuench      atomic.Uint64 // source quench messages, dropped (also counted in ICMPDropped)
	ICMPErrorBadQuote atomic.Uint64 // ICMP errors quoting too little or no IPv4 header, dropped (in ICMPDropped)
	ICMPErrorNotOurs  atomic.Uint64 // ICMP errors quoting no TCP segment from our address, dropped (in ICMPDropped)

	Unhandled atomic.Uint64 // of UnknownProtocol and ICMPDropped, packets for Endpoint.Unhandled (passed on when it is set)
}

// StatsSnapshot is a plain copy of Stats at one moment.
type StatsSnapshot struct {
	Received, Delivered, Malformed, BadChecksum, Fragments, NotForUs,
	UnknownProtocol, EchoRequests, EchoReplies, ICMPDropped uint64

	ICMPErrors, SourceQuench, ICMPErrorBadQuote, ICMPErrorNotOurs uint64

	Unhandled uint64
}

// Snapshot returns a copy of the counters. Each counter is read atomically;
// the copy as a whole is not one atomic moment.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Received:        s.Received.Load(),
		Delivered:       s.Delivered.Load(),
		Malformed:       s.Malformed.Load(),
		BadChecksum:     s.BadChecksum.Load(),
		Fragments:       s.Fragments.Load(),
		NotForUs:        s.NotForUs.Load(),
		UnknownProtocol: s.UnknownProtocol.Load(),
		EchoRequests:    s.EchoRequests.Load(),
		EchoReplies:     s.EchoReplies.Load(),
		ICMPDropped:     s.ICMPDropped.Load(),

		ICMPErrors:        s.ICMPErrors.Load(),
		SourceQuench:      s.SourceQuench.Load(),
		ICMPErrorBadQuote: s.ICMPErrorBadQuote.Load(),
		ICMPErrorNotOurs:  s.ICMPErrorNotOurs.Load(),
		Unhandled:         s.Unhandled.Load(),
	}
}

// String formats the counters as "name=value" pairs.
func (s StatsSnapshot) String() string {
	return fmt.Sprintf("received=%d delivered=%d malformed=%d bad_checksum=%d fragments=%d not_for_us=%d unknown_protocol=%d echo_requests=%d echo_replies=%d icmp_dropped=%d icmp_errors=%d source_quench=%d icmp_error_bad_quote=%d icmp_error_not_ours=%d unhandled=%d",
		s.Received, s.Delivered, s.Malformed, s.BadChecksum, s.Fragments, s.NotForUs,
		s.UnknownProtocol, s.EchoRequests, s.EchoReplies, s.ICMPDropped,
		s.ICMPErrors, s.SourceQuench, s.ICMPErrorBadQuote, s.ICMPErrorNotOurs, s.Unhandled)
}

// Endpoint is the IPv4 input path of one local address: it validates
// packets, hands TCP segments and ICMP errors about them up, and answers
// ICMP echo requests.
// Set Addr (and optionally TTL) before use; an Endpoint must not be copied.
type Endpoint struct {
	Addr netip.Addr // the local address; only packets to it are accepted, unless AnyDst
	// Addrs are further local addresses, of either family (dual stack).
	Addrs []netip.Addr
	TTL   uint8 // TTL or hop limit of packets the Endpoint sends; 0 means 64
	Stats Stats
	// Unhandled, if set, is given each valid packet, IPv4 or IPv6, to a
	// local address that Input does not handle: a protocol other than TCP
	// and ICMP (ICMPv6), an ICMP type other than echo request and the
	// errors it returns, an ICMP error quoting no TCP segment of ours.
	// Input returns nothing for it. It runs inside Input and must not
	// retain pkt.
	Unhandled func(pkt []byte)

	// AnyDst accepts TCP segments and ICMP errors, over IPv4 and IPv6, sent to any
	// address, for a stack that answers for every destination (forwarding mode).
	AnyDst bool
	// EchoAny, with AnyDst, answers echo requests to any unicast address
	// from that address; without it only the local addresses answer.
	EchoAny bool

	id      atomic.Uint32 // last IP identification handed out
	errors6 errorBucket   // ICMPv6 errors originated (RFC 4443 §2.4 (f))
}

// IsLocal reports whether a is one of the Endpoint's addresses.
func (e *Endpoint) IsLocal(a netip.Addr) bool {
	if a == e.Addr {
		return a.IsValid()
	}
	for _, l := range e.Addrs {
		if a == l {
			return true
		}
	}
	return false
}

// NextID returns the IP identification for the next outgoing packet. It is a
// counter, so IDs repeat only after 65536 packets (RFC 791 §3.2; RFC 6864
// §4.1 needs uniqueness only for fragmentable datagrams). Safe for
// concurrent use.
func (e *Endpoint) NextID() uint16 { return uint16(e.id.Add(1)) }

func (e *Endpoint) ttl() uint8 {
	if e.TTL == 0 {
		return defaultTTL
	}
	return e.TTL
}

// Input processes one received IPv4 packet. It returns the parsed header
// (zero if the packet is malformed) and at most one of:
//   - tcpSeg: the TCP segment (the payload of a TCP packet to e.Addr),
//     aliasing pkt; the caller verifies the TCP checksum;
//   - out: an ICMP echo reply to send, built in reply[:0] (reply must not
//     overlap pkt; it grows if too small);
//   - icmpErr: an ICMP error (destination unreachable, time exceeded,
//     parameter problem) about a TCP segment sent from e.Addr; its Type is
//     0 when there is none.
//
// Everything else is dropped and counted in e.Stats. Input does not allocate
// when reply has room for the echo reply.
func (e *Endpoint) Input(pkt []byte, reply []byte) (h Header, tcpSeg []byte, out []byte, icmpErr ICMPError) {
	return e.InputAt(time.Time{}, pkt, reply)
}

// InputAt is Input for a packet of either family that arrived at now. For
// an IPv6 packet (ipv6.go) the returned Header holds its traffic class as
// TOS, its hop limit as TTL, the upper-layer protocol as Protocol, the
// addresses, and in HeaderLen the fixed and extension headers' length;
// out may be an ICMPv6 echo reply or parameter problem. A zero now
// originates no ICMPv6 error messages.
func (e *Endpoint) InputAt(now time.Time, pkt []byte, reply []byte) (h Header, tcpSeg []byte, out []byte, icmpErr ICMPError) {
	if Version(pkt) == 6 {
		return e.input6(now, pkt, reply)
	}
	e.Stats.Received.Add(1)
	h, payload, err := Parse(pkt)
	switch {
	case errors.Is(err, ErrChecksum):
		// RFC 1122 §3.2.1.2: a datagram with a bad header checksum MUST be silently discarded.
		e.Stats.BadChecksum.Add(1)
		return Header{}, nil, nil, ICMPError{}
	case err != nil:
		e.Stats.Malformed.Add(1)
		return Header{}, nil, nil, ICMPError{}
	}
	if h.IsFragment() {
		// No reassembly yet (RFC 1122 §3.3.2 makes it a MUST; a known gap).
		e.Stats.Fragments.Add(1)
		return h, nil, nil, ICMPError{}
	}
	if !e.IsLocal(h.Dst) && !e.AnyDst {
		// RFC 1122 §3.2.1.3: silently discard a datagram not destined for the
		// host (broadcast and multicast are not supported). Any source is accepted.
		e.Stats.NotForUs.Add(1)
		return h, nil, nil, ICMPError{}
	}
	switch h.Protocol {
	case ProtoTCP:
		e.Stats.Delivered.Add(1)
		return h, payload, nil, ICMPError{}
	case ProtoICMP:
		out, icmpErr, pass := e.inputICMP(&h, payload, reply)
		if pass {
			e.unhandled(pkt[:h.TotalLen])
		}
		return h, nil, out, icmpErr
	default:
		// RFC 1122 §3.2.2.1 suggests a Protocol Unreachable; we drop, or
		// pass the packet to the embedder's own UDP (Unhandled).
		e.Stats.UnknownProtocol.Add(1)
		e.unhandled(pkt[:h.TotalLen])
		return h, nil, nil, ICMPError{}
	}
}

// unhandled counts pkt and passes it to e.Unhandled.
func (e *Endpoint) unhandled(pkt []byte) {
	e.Stats.Unhandled.Add(1)
	if e.Unhandled != nil {
		e.Unhandled(pkt)
	}
}

// inputICMP answers an echo request, returns an error message about one of
// our TCP segments, and drops every other ICMP message; pass says it is
// one for Unhandled.
func (e *Endpoint) inputICMP(h *Header, payload, reply []byte) (out []byte, ie ICMPError, pass bool) {
	m, err := ParseICMP(payload)
	if err != nil {
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, false
	}
	switch m.Type {
	case ICMPTypeEchoRequest:
		if !e.IsLocal(h.Dst) && (!e.EchoAny || h.Dst.IsMulticast() || h.Dst == limitedBroadcast) {
			e.Stats.NotForUs.Add(1)
			return nil, ICMPError{}, false
		}
	case ICMPTypeSourceQuench:
		// RFC 9293 MUST-55 (RFC 6633 §3): silently discard a source quench.
		e.Stats.SourceQuench.Add(1)
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, false
	case ICMPTypeDestUnreachable, ICMPTypeTimeExceeded, ICMPTypeParamProblem:
		ie, pass = e.inputICMPError(&icmpIn{ICMP: m, dst: h.Dst})
		return nil, ie, pass
	}
	if m.Type != ICMPTypeEchoRequest || m.Code != 0 {
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, m.Type != ICMPTypeEchoRequest // echo replies, timestamps, ...: the embedder's
	}
	e.Stats.EchoRequests.Add(1)
	// RFC 1122 §3.2.1.3: never answer a broadcast, multicast or unspecified
	// source address (it is not a host we can reply to).
	if h.Src.IsMulticast() || h.Src.IsUnspecified() || h.Src == limitedBroadcast {
		e.Stats.ICMPDropped.Add(1)
		return nil, ICMPError{}, false
	}
	// RFC 1122 §3.2.2.6: the reply's source is the request's specific
	// destination; identifier, sequence number and data are returned unchanged.
	rh := Header{
		TOS:      h.TOS,
		ID:       e.NextID(),
		TTL:      e.ttl(),
		Protocol: ProtoICMP,
		Src:      h.Dst,
		Dst:      h.Src,
	}
	out = appendEchoPacket(reply[:0], &rh, ICMPTypeEchoReply, m.ID, m.Seq, m.Data)
	e.Stats.EchoReplies.Add(1)
	e.Stats.Delivered.Add(1)
	return out, ICMPError{}, false
}

// inputICMPError checks the datagram an error message quotes and returns
// the error if it is about a TCP segment of ours (RFC 1122 §3.2.2: the
// quoted header and 64 bits of data identify the transport connection).
// One quoting no TCP segment of ours may be about the embedder's UDP: pass.
func (e *Endpoint) inputICMPError(m *icmpIn) (ie ICMPError, pass bool) {
	var v icmpErrorVerdict
	if m.V6 {
		ie, v = parseICMPv6Error(&m.ICMP, m.dst)
	} else {
		ie, v = parseICMPError(&m.ICMP, m.dst)
	}
	switch v {
	case icmpErrBadQuote:
		e.Stats.ICMPErrorBadQuote.Add(1)
	case icmpErrNotOurs:
		e.Stats.ICMPErrorNotOurs.Add(1)
		pass = true
	default:
		e.Stats.ICMPErrors.Add(1)
		e.Stats.Delivered.Add(1)
		return ie, false
	}
	e.Stats.ICMPDropped.Add(1)
	return ICMPError{}, pass
}

// limitedBroadcast is 255.255.255.255 (RFC 919).
var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// icmpIn is an ICMP or ICMPv6 message and the local address it came to,
// the address the datagram it quotes must have come from.
type icmpIn struct {
	ICMP
	V6  bool
	dst netip.Addr
}
