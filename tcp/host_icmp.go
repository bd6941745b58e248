package tcp

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/utcp/utcp/ip"
)

// pmtuCacheSize bounds the per-destination path MTU cache; past it the
// oldest entry makes room. An entry holds for pmtuReprobe, after which new
// connections try the link's MTU again.
const pmtuCacheSize = 256

// hostICMP is the host's part of ICMP error handling: the path MTU learnt
// per destination, and the counters.
type hostICMP struct {
	pmtu              map[netip.Addr]pmtuEntry
	accepted, ignored atomic.Uint64
}

// pmtuEntry is a cached path MTU and when it was learnt.
type pmtuEntry struct {
	mtu int
	at  time.Time
}

// icmpError hands an ICMP error about one of our segments to its
// connection: local is the quoted source, remote the quoted destination
// (RFC 1122 §4.2.3.9, RFC 5927 §4.1 for the sequence check).
func (h *host) icmpError(now time.Time, e *ip.ICMPError) {
	id := FourTuple{Local: netip.AddrPortFrom(e.Src, e.SrcPort), Remote: netip.AddrPortFrom(e.Dst, e.DstPort)}
	t := h.conns[id]
	if t == nil || !t.icmpAcceptable(Seq(e.Seq)) {
		h.icmp.ignored.Add(1)
		return
	}
	h.icmp.accepted.Add(1)
	before := t.pathMTU()
	typ, code := e.Type, e.Code
	if e.V6 {
		typ, code = icmpv6AsICMP(typ, code)
	}
	t.icmpError(now, typ, code, int(e.MTU), int(e.QuotedLen))
	if mtu := t.pathMTU(); mtu < before {
		h.pmtuStore(now, id.Remote.Addr(), mtu)
	}
	h.touch(now, t)
}

// pmtuStore records the path MTU to dst (RFC 1191 §6.3: per destination).
func (h *host) pmtuStore(now time.Time, dst netip.Addr, mtu int) {
	c := &h.icmp
	if c.pmtu == nil {
		c.pmtu = make(map[netip.Addr]pmtuEntry)
	}
	if _, ok := c.pmtu[dst]; !ok && len(c.pmtu) >= pmtuCacheSize {
		var oldest netip.Addr
		var at time.Time
		for a, e := range c.pmtu {
			if oldest.IsValid() && (e.at.After(at) || e.at.Equal(at) && a.Compare(oldest) > 0) {
				continue
			}
			oldest, at = a, e.at
		}
		delete(c.pmtu, oldest)
	}
	c.pmtu[dst] = pmtuEntry{mtu: mtu, at: now}
}

// pmtuApply starts a new TCB with the cached path MTU to its peer, if one
// has not aged out.
func (h *host) pmtuApply(now time.Time, t *tcb) {
	dst := t.id.Remote.Addr()
	e, ok := h.icmp.pmtu[dst]
	switch {
	case !ok:
	case now.Sub(e.at) >= pmtuReprobe:
		delete(h.icmp.pmtu, dst)
	default:
		t.pmtuStart(e.mtu, e.at.Add(pmtuReprobe))
	}
}

// icmpv6AsICMP maps an ICMPv6 error (RFC 4443) to the ICMPv4 type and code
// that mean the same to TCP, so one set of rules acts on both: packet too
// big is fragmentation needed (RFC 8201 §4 as RFC 1191); port unreachable
// is the hard error it is in IPv4 (RFC 1122 §4.2.3.9); the prohibitions
// map to "communication administratively prohibited" (RFC 1812), a soft
// error; a parameter problem, as in IPv4, is EPROTO. These follow the
// errnos of Linux's icmpv6_err_convert.
func icmpv6AsICMP(typ, code uint8) (uint8, uint8) {
	switch typ {
	case ip.ICMPv6TypePacketTooBig:
		return ip.ICMPTypeDestUnreachable, ip.ICMPCodeFragNeeded
	case ip.ICMPv6TypeTimeExceeded:
		return ip.ICMPTypeTimeExceeded, 0
	case ip.ICMPv6TypeParamProblem:
		return ip.ICMPTypeParamProblem, 0
	}
	switch code {
	case ip.ICMPv6CodeNoRoute:
		return ip.ICMPTypeDestUnreachable, ip.ICMPCodeNetUnreachable
	case ip.ICMPv6CodePortUnreachable:
		return ip.ICMPTypeDestUnreachable, ip.ICMPCodePortUnreachable
	case ip.ICMPv6CodeAdminProhibited, ip.ICMPv6CodeSourcePolicyFail, ip.ICMPv6CodeRejectRoute:
		return ip.ICMPTypeDestUnreachable, icmpCodeAdminProhibited
	}
	return ip.ICMPTypeDestUnreachable, ip.ICMPCodeHostUnreachable // beyond scope, address unreachable
}

// icmpCodeAdminProhibited is ICMPv4's "communication administratively
// prohibited" (RFC 1812 §5.2.7.1).
const icmpCodeAdminProhibited = 13
