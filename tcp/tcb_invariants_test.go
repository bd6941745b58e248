package tcp

import (
	"errors"
	"fmt"
)

// invariants checks what must hold of a TCB between any two calls, like
// smoltcp's sanity!: the sequence variables in order, the buffers and the
// send records within their bounds and consistent with the sequence
// space, and the timers consistent with the state. The transition table,
// the packet scripts, FuzzTCB and FuzzHost all run it after every step.
func (c *tcb) invariants() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s, r := &c.snd, &c.rcv

	// The send sequence space; a reset or abort flushed the queues it describes.
	if c.state == StateClosed {
		s = &sendSpace{buf: s.buf}
	}
	if !s.una.LessThanEq(s.nxt) {
		fail("SND.UNA %d is past SND.NXT %d", s.una, s.nxt)
	}
	if !s.synAcked && c.state != StateClosed {
		if s.una != s.iss {
			fail("SND.UNA %d moved before the SYN was acknowledged (ISS %d)", s.una, s.iss)
		}
		if s.nxt != s.iss && s.nxt != s.iss.Add(1) {
			fail("SND.NXT %d is more than the SYN past ISS %d before the SYN was acknowledged", s.nxt, s.iss)
		}
		if s.recs.len() > 0 {
			fail("%d send records before the SYN was acknowledged", s.recs.len())
		}
	}
	end := s.dataEnd()
	if s.finSent() {
		end = end.Add(1)
	}
	if s.nxt.GreaterThan(end) {
		fail("SND.NXT %d is past the queued data and FIN (%d)", s.nxt, end)
	}
	if s.finQueued && !s.finAcked() && s.finSeq != s.dataEnd() {
		fail("the FIN at %d does not follow the queued data (%d)", s.finSeq, s.dataEnd())
	}
	if s.buf.Len() > s.buf.Cap() {
		fail("send buffer holds %d of %d", s.buf.Len(), s.buf.Cap())
	}
	if s.synAcked && c.state != StateClosed && c.state != StateListen {
		next, lost, sacked, sackedSegs := s.una, uint32(0), uint32(0), 0
		for i := range s.recs.len() {
			rec := s.recs.at(i)
			if rec.start != next {
				fail("send record %d starts at %d, want %d", i, rec.start, next)
			}
			if rec.end.LessThan(rec.start) {
				fail("send record %d ends at %d before it starts at %d", i, rec.end, rec.start)
			}
			if rec.length() == 0 {
				fail("send record %d [%d, %d) is empty", i, rec.start, rec.end)
			}
			if rec.lost {
				lost += rec.length()
			}
			if rec.sacked {
				sacked += rec.length()
				sackedSegs++
				if rec.lost {
					fail("send record %d is both SACKed and lost", i)
				}
			}
			next = rec.end
		}
		if next != s.nxt {
			fail("the send records end at %d, SND.NXT is %d", next, s.nxt)
		}
		if lost != s.recs.lostBytes {
			fail("the lost records hold %d octets, the count says %d", lost, s.recs.lostBytes)
		}
		if sacked != s.recs.sackedBytes || sackedSegs != s.recs.sackedSegs {
			fail("the SACKed records hold %d octets in %d, the counts say %d in %d",
				sacked, sackedSegs, s.recs.sackedBytes, s.recs.sackedSegs)
		}
		if c.rec.inRecovery && !c.rec.recoverSet {
			fail("in fast recovery without a recover point")
		}
		if !s.sackOK && sackedSegs > 0 {
			fail("%d records SACKed without SACK agreed", sackedSegs)
		}
	}

	// The receive sequence space.
	if c.state.synchronized() || c.state == StateSynReceived {
		if !r.nxt.LessThanEq(r.adv) {
			fail("RCV.NXT %d is past the advertised right edge %d", r.nxt, r.adv)
		}
	}
	if r.buf.Len() > r.buf.Cap() {
		fail("receive buffer holds %d of %d", r.buf.Len(), r.buf.Cap())
	}
	if r.ooo.bytes() > r.buf.Free() {
		fail("%d out-of-order octets exceed the free receive buffer %d", r.ooo.bytes(), r.buf.Free())
	}
	r.ooo.each(func(start, end Seq) bool {
		if !start.GreaterThan(r.nxt) || int(end.Sub(r.nxt)) > r.buf.Free() {
			fail("out-of-order range [%d, %d) lies outside (RCV.NXT %d, RCV.NXT+free %d]", start, end, r.nxt, r.buf.Free())
		}
		return true
	})
	// The out-of-order bounds, and the stack budget's view of this TCB.
	if r.ooo.count() > c.cfg.OutOfOrderRanges {
		fail("%d out-of-order ranges held, over the bound %d", r.ooo.count(), c.cfg.OutOfOrderRanges)
	}
	if o := &c.ooo; o.budget != nil {
		if o.ranges != r.ooo.count() || o.bytes != r.ooo.bytes() {
			fail("the stack budget counts %d ranges of %d octets; the store holds %d of %d", o.ranges, o.bytes, r.ooo.count(), r.ooo.bytes())
		}
		for k, h := range o.budget.heaps {
			if i := o.hidx[k]; (i != 0) != (o.ranges > 0) || i > len(h.ts) || i != 0 && h.ts[i-1] != c {
				fail("place %d in the budget's heap %d (of %d) for %d ranges held", i, k, len(h.ts), o.ranges)
			}
		}
	}

	// The timers.
	t := &c.timers
	switch c.state {
	case StateClosed, StateListen:
		for k := range numTimers {
			if t.armed(k) {
				fail("timer %d armed in %v", k, c.state)
			}
		}
	case StateTimeWait:
		if !t.armed(timerTimeWait) {
			fail("TIME-WAIT without the 2×MSL timer")
		}
		for _, k := range []timerKind{timerRetransmit, timerPersist, timerDelayedACK} {
			if t.armed(k) {
				fail("timer %d armed in TIME-WAIT", k)
			}
		}
	default:
		if t.armed(timerTimeWait) {
			fail("the 2×MSL timer armed in %v", c.state)
		}
		if s.una != s.nxt && !t.armed(timerRetransmit) {
			fail("%d octets outstanding without a retransmission timer", s.nxt.Sub(s.una))
		}
	}
	if s.una == s.nxt && t.armed(timerRetransmit) {
		fail("the retransmission timer runs with nothing outstanding")
	}
	if t.armed(timerRetransmit) && c.rtxSince.IsZero() {
		fail("the retransmission timer runs without the R2 clock")
	}
	if t.armed(timerPersist) && s.una != s.nxt {
		fail("the persist timer runs with data in flight")
	}
	if t.armed(timerDelayedACK) && r.unacked == 0 {
		fail("a delayed ACK is pending with nothing to acknowledge")
	}
	if c.cc.cwnd() == 0 {
		fail("cwnd is zero")
	}

	// The negotiated options: state of an option not agreed stays unused.
	if !c.opt.ts && c.ts.recentValid {
		fail("TS.Recent is valid without timestamps agreed")
	}
	if c.opt.ts && c.state.synchronized() && c.ts.lastAckSent.GreaterThan(r.nxt) {
		fail("Last.ACK.sent %d is past RCV.NXT %d", c.ts.lastAckSent, r.nxt)
	}
	if !c.opt.ecn && (c.ecn.echo || c.ecn.cwrDue || c.ecn.reacted) {
		fail("ECN state (echo %v, CWR due %v, reacted %v) without ECN agreed", c.ecn.echo, c.ecn.cwrDue, c.ecn.reacted)
	}
	if c.ecn.reacted && c.state != StateClosed && c.ecn.recover.GreaterThan(s.nxt) {
		fail("the ECN recover point %d is past SND.NXT %d", c.ecn.recover, s.nxt)
	}
	return errors.Join(errs...)
}
