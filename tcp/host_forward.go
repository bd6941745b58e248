package tcp

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// Forwarding mode (Config.Forward): a SYN to any address and port that no
// listener of ours takes becomes a pending request, held as plain data
// until the application accepts, refuses or drops it. Only an accepted
// request gets a TCB, which answers from the SYN's destination.
//
// SYN cookies do not apply to pending requests: a cookie's SYN-ACK commits
// to the connection before the application has decided, and the decision
// may take a round trip of its own (a dial to the real destination), so
// the SYN has to be remembered anyway. Config.MaxForwardPending bounds what
// that costs.

// Why a pending request ended before the application accepted it.
var (
	errForwardTimeout = fmt.Errorf("tcp: forward request undecided after ForwardTimeout: %w", syscall.ETIMEDOUT)
	errForwardDecided = errors.New("tcp: forward request already decided")
)

// fwdPending is one SYN waiting for the application's decision: its
// four-tuple (Local is the original destination), the SYN's header and
// options (its ISN and what it offers) without payload, and when it came.
type fwdPending struct {
	id     FourTuple
	syn    Segment // Payload and SACKBlocks nil
	synLen uint32  // the SYN's SEG.LEN, payload included, for a refusal's ACK
	at     time.Time
	gone   error // why it stopped pending; nil while it waits
}

// hostForward is the host's table of pending requests and its counters.
type hostForward struct {
	pending map[FourTuple]*fwdPending
	// order holds the requests in arrival order, so the oldest times out
	// first; ended ones stay until they reach the front or a compaction.
	// Its first entry, if any, is pending.
	order []*fwdPending
	fresh []*fwdPending // requests the shell has not handed to Config.Forward yet

	requests, absorbed, overflow, timeouts atomic.Uint64
	accepted, refused, dropped, resets     atomic.Uint64
}

// ForwardStats are the counters of forwarding mode.
type ForwardStats struct {
	Requests uint64 // SYNs that made a pending request
	Absorbed uint64 // duplicate SYNs (and other segments) for a pending request, dropped
	Overflow uint64 // SYNs dropped because Config.MaxForwardPending requests were pending
	Timeouts uint64 // requests left undecided for Config.ForwardTimeout, dropped
	Accepted uint64 // requests accepted: a SYN-ACK went out
	Refused  uint64 // requests refused with a RST
	Dropped  uint64 // requests dropped by the application
	Resets   uint64 // requests ended by the peer's RST while pending
}

func (f *hostForward) snapshot() ForwardStats {
	return ForwardStats{
		Requests: f.requests.Load(), Absorbed: f.absorbed.Load(), Overflow: f.overflow.Load(),
		Timeouts: f.timeouts.Load(), Accepted: f.accepted.Load(), Refused: f.refused.Load(),
		Dropped: f.dropped.Load(), Resets: f.resets.Load(),
	}
}

// forwarding reports whether the host runs in forwarding mode.
func (h *host) forwarding() bool { return h.cfg.Forward != nil }

// forwardInput handles a segment, in forwarding mode, to a four-tuple with
// no TCB that no listener of ours takes.
func (h *host) forwardInput(now time.Time, id FourTuple, seg *Segment) {
	f := &h.fwd
	if p := f.pending[id]; p != nil {
		// A listener ignores a RST (RFC 9293 §3.10.7.2), but a pending
		// request holds state: a RST at the peer's SND.NXT, the SYN's
		// successor, ends it; one at any other number is absorbed.
		if seg.Flags.Has(FlagRST) && seg.Seq == p.syn.Seq.Add(1) {
			h.forwardEnd(p, syscall.ECONNRESET)
			f.resets.Add(1)
			return
		}
		// A retransmitted SYN (or anything else) while the application
		// decides: nothing is owed yet.
		f.absorbed.Add(1)
		h.drop(now, id, seg, ReasonDropForwardPending)
		return
	}
	if seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN {
		h.replyClosed(now, id, seg)
		return
	}
	if !validUnicast(id.Local.Addr()) {
		// RFC 9293 MUST-46 for the address we would answer from: no
		// connection to a broadcast or multicast destination.
		h.stats.badAddr.Add(1)
		h.drop(now, id, seg, ReasonDropBadAddress)
		return
	}
	if len(f.pending) >= h.cfg.MaxForwardPending {
		f.overflow.Add(1)
		h.drop(now, id, seg, ReasonDropForwardFull)
		return
	}
	if why, err := h.roomForConn(); err != nil {
		h.drop(now, id, seg, why) // at MaxConns or MemoryLimit: as a listener drops it (admit), and counted
		return
	}
	if f.pending == nil {
		f.pending = make(map[FourTuple]*fwdPending)
	}
	p := &fwdPending{id: id, syn: *seg, synLen: seg.Len(), at: now}
	// The SYN's data is not kept, though RFC 9293 §3.10.7.2 would queue
	// it: the SYN-ACK does not acknowledge it, so the peer sends it again.
	p.syn.Payload, p.syn.Options.SACKBlocks = nil, nil
	if len(f.order) >= 2*h.cfg.MaxForwardPending {
		// Ended requests are at least half: drop them, so order stays
		// within twice the bound at an amortized constant cost.
		f.order = slices.DeleteFunc(f.order, func(q *fwdPending) bool { return q.gone != nil })
	}
	f.order = append(f.order, p)
	f.pending[id] = p
	f.fresh = append(f.fresh, p)
	f.requests.Add(1)
}

// forwardEnd takes p out of the pending table: err says why.
func (h *host) forwardEnd(p *fwdPending, err error) {
	f := &h.fwd
	if p.gone != nil {
		return
	}
	p.gone = err
	delete(f.pending, p.id)
	for len(f.order) > 0 && f.order[0].gone != nil {
		f.order[0] = nil
		f.order = f.order[1:]
	}
	if len(f.order) == 0 {
		f.order = nil // let the array go
	}
}

// takeFresh returns the requests made since the last call, for the shell
// to hand to Config.Forward. The slice is reused by the next input.
func (h *host) takeFresh() []*fwdPending {
	fresh := h.fwd.fresh
	h.fwd.fresh = h.fwd.fresh[:0]
	return fresh
}

// forwardAccept makes the TCB of a pending request and gives it the SYN:
// it enters SYN-RECEIVED and its SYN-ACK, from the original destination,
// goes out with the next flush. It fails if the request is no longer
// pending or the stack is at a bound.
func (h *host) forwardAccept(now time.Time, p *fwdPending) (*tcb, error) {
	if p.gone != nil {
		return nil, p.gone
	}
	h.forwardEnd(p, errForwardDecided)
	if h.inUse(p.id) {
		// A listener at our address, opened since, took a later SYN of the four-tuple.
		return nil, syscall.EADDRINUSE
	}
	if _, err := h.roomForConn(); err != nil {
		return nil, err
	}
	t := h.newTCB(now, p.id, h.chooseISS(p.id, now))
	t.openPassive(now)
	t.takeEvents() // entering LISTEN is not a close
	h.add(t)
	h.fwd.accepted.Add(1)
	t.segmentArrives(now, &p.syn)
	h.touch(now, t)
	return t, nil
}

// forwardRefuse answers a pending request with a RST, from the original
// destination. RFC 9293 §3.10.7.1, for a segment without ACK:
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
func (h *host) forwardRefuse(p *fwdPending) {
	if p.gone != nil {
		return
	}
	h.forwardEnd(p, errForwardDecided)
	rst := Segment{SrcPort: p.id.Local.Port(), DstPort: p.id.Remote.Port(), Ack: p.syn.Seq.Add(p.synLen), Flags: FlagRST | FlagACK, Why: ReasonRstForwardRefused}
	h.ctl = append(h.ctl, hostSegment{p.id, rst})
	h.fwd.refused.Add(1)
}

// forwardDrop forgets a pending request silently; the peer's next SYN
// makes a new one.
func (h *host) forwardDrop(p *fwdPending) {
	if p.gone != nil {
		return
	}
	h.forwardEnd(p, errForwardDecided)
	h.fwd.dropped.Add(1)
}

// forwardExpire drops the requests undecided for Config.ForwardTimeout.
func (h *host) forwardExpire(now time.Time) {
	for f := &h.fwd; len(f.order) > 0 && !now.Before(f.order[0].at.Add(h.cfg.ForwardTimeout)); {
		h.forwardEnd(f.order[0], errForwardTimeout)
		f.timeouts.Add(1)
	}
}

// forwardNextTimeout is when the oldest pending request times out; zero if none is pending.
func (h *host) forwardNextTimeout() time.Time {
	if o := h.fwd.order; len(o) > 0 {
		return o[0].at.Add(h.cfg.ForwardTimeout)
	}
	return time.Time{}
}

// forwardClear ends every pending request with err (the stack closes).
func (h *host) forwardClear(err error) {
	for len(h.fwd.order) > 0 {
		h.forwardEnd(h.fwd.order[0], err)
	}
	h.fwd.fresh = h.fwd.fresh[:0]
}

// listensOn reports whether a SYN to id goes to ln, the listener on its
// port if any: ln takes id's address (listenState.addr, only4), and in
// forwarding mode only our own addresses have listeners.
func (h *host) listensOn(ln *listenState, id FourTuple) bool {
	if ln == nil {
		return false
	}
	a := id.Local.Addr()
	if ln.addr.IsValid() && a != ln.addr || ln.only4 && !a.Is4() {
		return false
	}
	return !h.forwarding() || slices.Contains(h.addrs, a)
}
