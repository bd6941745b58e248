package tcp

import (
	"cmp"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// host is the layer between IP and the TCBs, in plain data, as smoltcp's
// interface demultiplexes to its sockets: the connection table keyed by
// four-tuple, the listeners with their accept queues and bounds, the port
// allocator and the ISN generator. It starts no goroutine, reads no clock,
// takes no lock and does no I/O: every method that needs the time takes it,
// and segments leave through flush.
//
// The shell drives it: input for each arriving segment, dial, listen,
// accept and closeListener for the user's calls, touch after any other call
// into a TCB, handleTimeout when nextTimeout is due, and flush after each
// batch of work.
type host struct {
	cfg      *Config
	quietCfg Config // cfg without its Tracer, for TCBs the tracer is not to see
	isn      *isnGen
	cookies  *cookieGen

	conns     map[FourTuple]*tcb      // the connection table: no TCB in it is CLOSED or back in LISTEN
	listeners map[uint16]*listenState // by local port
	halfOpen  map[*tcb]*halfOpenEntry // passive children in SYN-RECEIVED, and their listener
	ports     map[uint16]int          // table entries per local port
	eph       *portAlloc              // ephemeral ports (host_ports.go)

	tw       timeWaitTable // connections in TIME-WAIT, as records (host_timewait.go)
	timers   timerHeap     // the table's TCBs with a timer armed (host_timers.go)
	ctl      []hostSegment // segments that belong to no TCB, sent by the next flush
	touched  []touchedTCB  // TCBs called into since the last flush
	freezing []*tcb        // flush's scratch: TCBs to keep as TIME-WAIT records
	due      []*tcb        // handleTimeout's scratch
	tsEpoch  time.Time     // the origin of every TCB's timestamp clock: the first now seen
	scratch  []byte        // the payload of the segment a TCB is emitting, shared by all
	tsoMax   int           // the most payload per emitted segment on an offload link; 0 on a plain one
	addrs    []netip.Addr  // our addresses: cfg.Addr, then cfg.Addrs
	seg      Segment       // the segment a TCB is emitting, shared by all
	mem      memAccount    // the memory of every TCB

	stats  hostCounters
	budget oooBudget // out-of-order data held by all TCBs (host_budget.go)
	icmp   hostICMP  // ICMP errors and the path MTU cache (host_icmp.go)

	fwd hostForward // pending requests of forwarding mode (host_forward.go)
}

// listenState is one listener: a passive OPEN on a port (RFC 9293 §3.10.1).
// Every SYN it admits gets a TCB of its own, a child.
type listenState struct {
	port uint16
	// addr is the one address the listener takes connections to; zero
	// takes every address of ours, of IPv4 only with only4.
	addr     netip.Addr
	only4    bool
	queue    []*tcb // children whose handshake completed, oldest first, until accepted
	halfOpen int    // children in SYN-RECEIVED
	closed   bool

	oldest, newest *halfOpenEntry // the children in SYN-RECEIVED, in arrival order
	cookieAt       time.Time      // when the last SYN cookie went out; zero if none
}

// hostSegment is a segment for no TCB, with the four-tuple it answers.
type hostSegment struct {
	id  FourTuple
	seg Segment
}

// touchedTCB is a TCB flush must look at, with the events taken from it so far.
type touchedTCB struct {
	t  *tcb
	ev tcbEvents
}

// hostCounters are the host's counters. They are atomic so that
// Stack.Stats can read them from any goroutine; nothing else in the host is
// safe for concurrent use.
type hostCounters struct {
	badAddr, noPort                        atomic.Uint64
	synBacklog, overflow, timeWaitReopened atomic.Uint64
	dialed, accepted, closed               atomic.Uint64

	cookiesSent, cookiesAccepted, cookiesRejected atomic.Uint64
	halfOpenEvicted, synAckRetriesExceeded        atomic.Uint64

	timeWaitOverflow, finWait2Timeouts atomic.Uint64
	refusedMaxConns, refusedMemory     atomic.Uint64
	timeWait                           atomic.Int64 // records held now
}

// newHost returns an empty host. cfg has its defaults applied and must not
// change afterwards; the host's TCBs share it.
func newHost(cfg *Config) *host {
	h := &host{
		cfg:       cfg,
		quietCfg:  *cfg,
		isn:       newISNGen(),
		cookies:   newCookieGen(),
		conns:     make(map[FourTuple]*tcb),
		listeners: make(map[uint16]*listenState),
		halfOpen:  make(map[*tcb]*halfOpenEntry),
		ports:     make(map[uint16]int),
		tw:        timeWaitTable{recs: make(map[FourTuple]*timeWaitRecord)},
	}
	h.mem.limit = cfg.MemoryLimit
	h.addrs = localAddrs(cfg)
	h.quietCfg.Tracer = nil
	h.budget.init(cfg)
	first, last, err := portRange(cfg.EphemeralPorts)
	if err != nil { // NewStack has checked it
		first, last = ephemeralFirst, ephemeralLast
	}
	h.eph = newPortAlloc(first, last)
	return h
}

// input demultiplexes one segment that arrived from src to dst, its
// checksum verified and its header decoded, to its connection or listener,
// or answers it for a closed port. It returns the TCB the segment went to,
// nil if none. seg is not kept.
func (h *host) input(now time.Time, src, dst netip.Addr, seg *Segment) *tcb {
	id := FourTuple{Local: netip.AddrPortFrom(dst, seg.DstPort), Remote: netip.AddrPortFrom(src, seg.SrcPort)}
	if tr := h.cfg.Tracer; tr != nil {
		tr.SegmentIn(now, id, seg)
	}
	if seg.Flags.Has(FlagSYN) && (!validUnicast(src) || seg.SrcPort == 0 || seg.DstPort == 0) {
		// RFC 9293 MUST-57/MUST-63 (§3.9.2.3): silently discard a SYN from a
		// broadcast or multicast (or otherwise invalid) source. The IP layer
		// only delivers packets sent to our own unicast address, or in
		// forwarding mode to any (forwardInput checks it).
		h.stats.badAddr.Add(1)
		h.drop(now, id, seg, ReasonDropBadAddress)
		return nil
	}
	t := h.conns[id]
	if t == nil {
		t = h.thaw(id)
	}
	if t == nil {
		if ln := h.listeners[id.Local.Port()]; h.listensOn(ln, id) {
			return h.listenInput(now, ln, id, seg)
		}
		if h.forwarding() {
			h.forwardInput(now, id, seg)
			return nil
		}
		h.replyClosed(now, id, seg)
		return nil
	}
	if oldNxt, a, ok := h.reopenTimeWait(now, t, seg); ok {
		return h.openChild(now, h.listeners[id.Local.Port()], id, seg, a, oldNxt, true)
	}
	if h.overflows(now, t, seg) {
		return nil
	}
	t.segmentArrives(now, seg)
	h.touch(now, t)
	return t
}

// listenInput handles a segment that matches a listener but no connection
// (RFC 9293 §3.10.7.2, whose checks listenCheck runs): a RST is ignored, an
// ACK that returns a SYN cookie makes its connection and any other ACK
// draws a RST, other segments without SYN are dropped, and a SYN goes to
// openChild with what admit decided.
func (h *host) listenInput(now time.Time, ln *listenState, id FourTuple, seg *Segment) *tcb {
	rst, reply, syn, drop := listenCheck(seg)
	if reply {
		t, ok, why := h.cookieACK(now, ln, id, seg)
		if ok {
			if t == nil {
				h.drop(now, id, seg, why)
			}
			return t
		}
		if why != ReasonNone {
			drop, rst.Why = why, ReasonRstBadCookie
		}
		h.stats.noPort.Add(1)
		h.drop(now, id, seg, drop)
		h.ctl = append(h.ctl, hostSegment{id, rst})
		return nil
	}
	if !syn {
		h.drop(now, id, seg, drop)
		return nil
	}
	a, why := h.admit(now, ln)
	if a == admitDrop {
		h.drop(now, id, seg, why)
	}
	return h.openChild(now, ln, id, seg, a, 0, false)
}

// openChild answers a SYN to ln as admit decided: a child TCB that starts
// in LISTEN, a SYN cookie, or nothing. If reopen is set, the SYN ended a
// TIME-WAIT and a child's ISS lies above oldNxt; a cookie's cannot be
// chosen, and PAWS or the sequence number rule that let the SYN in guards
// the new incarnation instead (as in Linux).
func (h *host) openChild(now time.Time, ln *listenState, id FourTuple, seg *Segment, a admission, oldNxt Seq, reopen bool) *tcb {
	switch a {
	case admitDrop:
		return nil
	case admitCookie:
		h.sendCookie(now, ln, id, seg)
		return nil
	}
	iss := h.chooseISS(id, now)
	if reopen {
		iss = isnAfter(iss, oldNxt)
	}
	t := h.newTCB(now, id, iss)
	t.openPassive(now)
	t.takeEvents() // entering LISTEN is not a close
	h.add(t)
	h.halfOpenAdd(ln, t)
	t.segmentArrives(now, seg)
	h.touch(now, t)
	return t
}

// admission is what admit decides for a SYN.
type admission uint8

const (
	admitDrop   admission = iota // dropped unanswered
	admitChild                   // a child TCB in SYN-RECEIVED
	admitCookie                  // a SYN cookie, and no state
)

// admit applies a listener's bounds to a SYN and counts a refusal, and
// says why it drops one. The
// accept queue must have room for the connection, as in Linux's
// tcp_conn_request (sk_acceptq_is_full). The children in SYN-RECEIVED
// must number fewer than MaxHalfOpen; once they do not, the SYN gets a
// cookie or, with cookies off, the oldest child's slot.
func (h *host) admit(now time.Time, ln *listenState) (admission, Reason) {
	if why, err := h.roomForConn(); err != nil {
		return admitDrop, why
	}
	switch {
	case len(ln.queue) >= h.cfg.Backlog:
		h.stats.synBacklog.Add(1)
		return admitDrop, ReasonDropBacklogFull
	case h.cfg.SYNCookies == SYNCookiesAlways:
		return admitCookie, ReasonNone
	case ln.halfOpen < h.cfg.MaxHalfOpen:
		return admitChild, ReasonNone
	case h.cfg.SYNCookies == SYNCookiesWhenFull:
		return admitCookie, ReasonNone
	}
	h.evictOldest(now, ln)
	return admitChild, ReasonNone
}

// overflows reports whether seg would complete the handshake of a passive
// child whose listener's accept queue is full, and counts it: such a
// segment is dropped unseen, as Linux drops it (tcp_check_req without
// tcp_abort_on_overflow). The child stays in SYN-RECEIVED; once Accept makes
// room, the peer's next segment or our retransmitted SYN-ACK and its answer
// completes it. In SYN-RECEIVED SND.UNA is ISS and SND.NXT is ISS+1, so the
// only acknowledgment that completes the handshake (SND.UNA < SEG.ACK =<
// SND.NXT) is SND.NXT.
func (h *host) overflows(now time.Time, t *tcb, seg *Segment) bool {
	if t.state != StateSynReceived || seg.Flags&(FlagSYN|FlagRST|FlagACK) != FlagACK || seg.Ack != t.snd.nxt {
		return false
	}
	if e := h.halfOpen[t]; e == nil || len(e.ln.queue) < h.cfg.Backlog {
		return false
	}
	h.stats.overflow.Add(1)
	h.drop(now, t.id, seg, ReasonDropAcceptQueueFull)
	return true
}

// reopenTimeWait decides whether a SYN ends TIME-WAIT to open a new
// connection. If so it deletes the old TCB and returns its SND.NXT, which
// the new ISS must exceed, and what the listener admits the SYN to; the
// caller hands the SYN to openChild.
func (h *host) reopenTimeWait(now time.Time, t *tcb, seg *Segment) (Seq, admission, bool) {
	// RFC 9293 §3.6.1 MAY-2, RFC 1122 §4.2.2.13, RFC 6191 §2: a SYN may
	// end TIME-WAIT, if a listener with room waits on the port, when its
	// timestamp is newer than the old incarnation's TS.Recent, or, without
	// timestamps on both, when its sequence number lies above RCV.NXT.
	if t.state != StateTimeWait || seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN {
		return 0, 0, false
	}
	if ok, byTS := t.timeWaitReopenTS(seg); !ok && (byTS || !seg.Seq.GreaterThan(t.rcv.nxt)) {
		return 0, 0, false
	}
	ln := h.listeners[t.id.Local.Port()]
	if !h.listensOn(ln, t.id) {
		return 0, 0, false
	}
	a, _ := h.admit(now, ln)
	if a == admitDrop {
		return 0, 0, false // the SYN goes to the TIME-WAIT connection
	}
	old := t.snd.nxt
	t.abort(now) // in TIME-WAIT, ABORT sends nothing and deletes the TCB (§3.10.5)
	h.touch(now, t)
	h.stats.timeWaitReopened.Add(1)
	return old, a, true
}

// dial makes a TCB for an active OPEN (RFC 9293 §3.10.1) from a free
// ephemeral port of our address of remote's family to remote, a valid
// unicast address and port; flush sends its SYN. It fails with ErrNoPorts
// when every ephemeral port is taken toward remote, and ENETUNREACH when
// the stack has no address of remote's family.
func (h *host) dial(now time.Time, remote netip.AddrPort) (*tcb, error) {
	if _, err := h.roomForConn(); err != nil {
		return nil, err
	}
	local, ok := h.localFor(remote.Addr())
	if !ok {
		return nil, syscall.ENETUNREACH
	}
	port, ok := h.dialPort(local, remote)
	if !ok {
		return nil, ErrNoPorts
	}
	id := FourTuple{Local: netip.AddrPortFrom(local, port), Remote: remote}
	t := h.newTCB(now, id, h.chooseISS(id, now))
	h.add(t)
	h.stats.dialed.Add(1)
	t.openActive(now)
	h.touch(now, t)
	return t, nil
}

// listen makes a listener on port; port 0 picks a free ephemeral port. It
// fails with syscall.EADDRINUSE if the port has a listener already, and
// with ErrNoPorts if no ephemeral port is free.
func (h *host) listen(port uint16) (*listenState, error) {
	return h.listenAt(netip.Addr{}, false, port)
}

// listenAt is listen for connections to addr only, or with a zero addr to
// every address of ours (of IPv4 only with only4). One listener holds a
// port, whatever its address.
func (h *host) listenAt(addr netip.Addr, only4 bool, port uint16) (*listenState, error) {
	if port == 0 {
		p, ok := h.listenPort()
		if !ok {
			return nil, ErrNoPorts
		}
		port = p
	}
	if h.listeners[port] != nil {
		return nil, syscall.EADDRINUSE
	}
	ln := &listenState{port: port, addr: addr, only4: only4}
	h.listeners[port] = ln
	return ln, nil
}

// accept takes the oldest connection of ln's accept queue, nil if there is
// none. It may have been reset or closed since it joined the queue.
func (h *host) accept(ln *listenState) *tcb {
	if len(ln.queue) == 0 {
		return nil
	}
	t := ln.queue[0]
	ln.queue[0] = nil
	ln.queue = ln.queue[1:]
	if len(ln.queue) == 0 {
		ln.queue = nil // let the array go
	}
	return t
}

// closeListener stops ln and aborts its children, queued and half-open, so
// that flush resets their peers. Accepted connections are not affected.
func (h *host) closeListener(now time.Time, ln *listenState) {
	if ln.closed {
		return
	}
	ln.closed = true
	if h.listeners[ln.port] == ln {
		delete(h.listeners, ln.port)
	}
	kids := ln.queue
	ln.queue = nil
	for e := ln.oldest; e != nil; e = e.next {
		kids = append(kids, e.t)
	}
	for _, t := range kids {
		t.abort(now) // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST> from SYN-RECEIVED and synchronized states
		h.touch(now, t)
	}
}

// touch records a call into t: the host applies what t's new state means
// for its tables now, and flush sends t's segments and reports its events.
// input, dial, closeListener and handleTimeout touch what they call into;
// the shell touches a TCB after each user call it makes into it.
func (h *host) touch(now time.Time, t *tcb) {
	ev := t.takeEvents()
	t.chargeOOO()
	if h.settle(now, t) {
		ev |= t.takeEvents()
	}
	if n := len(h.touched); n > 0 && h.touched[n-1].t == t {
		h.touched[n-1].ev |= ev
		return
	}
	h.touched = append(h.touched, touchedTCB{t, ev})
}

// settle updates the tables for t's state. A passive child that has left
// SYN-RECEIVED frees its half-open slot and, if its handshake completed,
// joins the accept queue; a TCB in CLOSED, or back in LISTEN (RFC 9293
// MUST-11), leaves the table. It reports whether it aborted t.
func (h *host) settle(now time.Time, t *tcb) bool {
	aborted := false
	// Only a passive child leaving SYN-RECEIVED can be half-open; the
	// checks before the lookup keep established connections off the map.
	if e := h.halfOpenOf(t); e != nil && t.state != StateSynReceived {
		ln := e.ln
		h.halfOpenRemove(e)
		if t.state.synchronized() {
			if len(ln.queue) < h.cfg.Backlog {
				ln.queue = append(ln.queue, t)
				h.stats.accepted.Add(1)
			} else {
				// overflows holds back every segment that could get here;
				// should one slip through, reset it rather than exceed Backlog.
				h.stats.overflow.Add(1)
				t.abort(now)
				aborted = true
			}
		}
	}
	if st := t.state; (st == StateClosed || st == StateListen) && h.conns[t.id] == t {
		delete(h.conns, t.id)
		h.mem.add(-connOverhead)
		h.dropRecord(t.id) // the record t was thawed from, if any
		h.unschedule(t)
		t.detachMemory()
		h.releasePort(t.id)
		h.budget.release(t)
		h.stats.closed.Add(1)
		if t.finTimedOut {
			h.stats.finWait2Timeouts.Add(1)
		}
	}
	return aborted
}

// releasePort counts one table entry fewer on id's local port.
func (h *host) releasePort(id FourTuple) {
	if p := id.Local.Port(); h.ports[p] > 1 {
		h.ports[p]--
	} else {
		delete(h.ports, p)
	}
}

// halfOpenOf returns the entry of a half-open child, nil for any other TCB.
func (h *host) halfOpenOf(t *tcb) *halfOpenEntry {
	if !t.passive || len(h.halfOpen) == 0 {
		return nil
	}
	return h.halfOpen[t]
}

// flush emits, in order, the host's own segments and then those of every
// touched TCB, and reports each touched TCB's events to wake (which may be
// nil), after the host has applied them. emit must consume a segment before
// it returns.
func (h *host) flush(now time.Time, emit func(FourTuple, *Segment), wake func(time.Time, *tcb, tcbEvents)) {
	for i := range h.ctl {
		s := &h.ctl[i]
		if tr := h.cfg.Tracer; tr != nil {
			tr.SegmentOut(now, s.id, &s.seg)
		}
		emit(s.id, &s.seg)
	}
	h.ctl = h.ctl[:0]
	for i := range h.touched {
		t := h.touched[i].t
		t.output(now, emit)
		if tr := t.cfg.Tracer; tr != nil {
			t.traceSender(now, tr)
		}
		if ev := t.takeEvents(); ev != 0 {
			if h.settle(now, t) {
				t.output(now, emit) // the RST of the abort
				ev |= t.takeEvents()
			}
			h.touched[i].ev |= ev
		}
		if h.conns[t.id] == t { // t is in the table, not CLOSED or back in LISTEN
			h.schedule(t)
			if t.canFreeze() {
				h.freezing = append(h.freezing, t)
			}
		}
		if ev := h.touched[i].ev; ev != 0 && wake != nil {
			wake(now, t, ev)
		}
		h.touched[i] = touchedTCB{} // keep no TCB alive
	}
	h.touched = h.touched[:0]
	// Freeze only once every event of the batch is out: a TCB may be
	// touched more than once, and its later events must still find it.
	for i, t := range h.freezing {
		h.freezing[i] = nil
		if !h.freeze(now, t) && h.conns[t.id] == t {
			continue
		}
		if ev := t.takeEvents(); ev != 0 && wake != nil {
			wake(now, t, ev)
		}
	}
	h.freezing = h.freezing[:0]
}

// chooseISS returns the ISS of a new connection: Config.ISN if set, else RFC 6528.
func (h *host) chooseISS(id FourTuple, now time.Time) Seq {
	if h.cfg.ISN != nil {
		return h.cfg.ISN(id, now)
	}
	return h.isn.isn(id, now)
}

// newTCB makes a TCB for id with ISS iss, its timestamp clock running from
// the host's origin with the offset of its four-tuple (RFC 7323 §7.1).
func (h *host) newTCB(now time.Time, id FourTuple, iss Seq) *tcb {
	if h.tsEpoch.IsZero() {
		h.tsEpoch = now
	}
	t := newTCB(h.cfg, id, iss)
	t.scratch, t.seg = &h.scratch, &h.seg
	if id.Local.Addr().Is4() {
		// TSO for IPv4 only: a device may take TCPv4 GSO and not TCPv6
		// (TUN_F_TSO6 refused), and the link does not say which.
		t.tsoMax = h.tsoMax
	}
	t.snd.buf.acct, t.rcv.buf.acct = &h.mem, &h.mem
	t.ooo.budget = &h.budget
	h.pmtuApply(now, t)
	if h.cfg.TSOffset != nil {
		t.tsInit(h.tsEpoch, h.cfg.TSOffset(id))
	} else {
		t.tsInit(h.tsEpoch, h.isn.tsOffset(id))
	}
	return t
}

// count is the number of connections: TCBs in the table and TIME-WAIT records.
func (h *host) count() int { return len(h.conns) + len(h.tw.recs) }

// add enters t in the connection table.
func (h *host) add(t *tcb) {
	h.conns[t.id] = t
	h.mem.add(connOverhead)
	h.ports[t.id.Local.Port()]++
}

// compareID orders four-tuples by local, then remote address and port.
func compareID(a, b FourTuple) int {
	return cmp.Or(a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
}

// localFor returns the stack's first address of remote's family: the
// source of an active OPEN (RFC 9293 §3.10.1 leaves the choice to the
// implementation; RFC 6724's longest match is moot with one address per
// family, the common case).
func (h *host) localFor(remote netip.Addr) (netip.Addr, bool) {
	for _, a := range h.addrs {
		if a.Is4() == remote.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// localAddrs lists cfg's valid addresses, Addr first, each once.
func localAddrs(cfg *Config) []netip.Addr {
	var out []netip.Addr
	for _, a := range append([]netip.Addr{cfg.Addr}, cfg.Addrs...) {
		if a = a.Unmap(); a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// replyClosed answers a segment to a four-tuple with no connection and no
// listener. RFC 9293 §3.10.7.1: anything but a RST gets a RST; a RST is
// dropped.
func (h *host) replyClosed(now time.Time, id FourTuple, seg *Segment) {
	if rst, ok := replyToClosed(seg); ok {
		h.stats.noPort.Add(1)
		h.drop(now, id, seg, ReasonDropNoListener)
		h.ctl = append(h.ctl, hostSegment{id, rst})
		return
	}
	h.drop(now, id, seg, ReasonDropClosedRst)
}
