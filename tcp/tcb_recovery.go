package tcp

import "time"

// recovery is loss detection and recovery: with SACK, the scoreboard of
// RFC 6675 and RACK-TLP (RFC 8985, tcb_rack.go); without it, fast
// retransmit on the third duplicate ACK (RFC 5681 §3.2) and NewReno's
// partial ACKs (RFC 6582). In both, the recover point keeps one loss event
// from being answered twice, and PRR (RFC 6937) brings cwnd down to the
// ssthresh the congestion controller chose.
type recovery struct {
	dupAcks    int
	inRecovery bool // in fast recovery
	// recover is SND.NXT when recovery or an RTO began (RFC 6582 §3.2,
	// RFC 6675's RecoveryPoint). It is only meaningful while recoverSet:
	// an old value would compare wrongly once the sequence space has wrapped.
	recover    Seq
	recoverSet bool
	prr        prrState
	recoveries uint64 // fast recoveries begun, for Conn.Info

	// The Eifel detection algorithm (RFC 3522) and its response (RFC 4015):
	// the TSval of the first retransmission of this recovery, and the
	// window before it, restored if the recovery proves spurious.
	rtxTS                    uint32
	rtxTSSet                 bool
	priorCwnd, priorSSThresh uint32
	undos                    uint64 // recoveries undone as spurious
	// DSACK-based undo (RFC 3708): the retransmissions of the last
	// recovery not yet reported as duplicates, and where it began.
	undoValid   bool
	undoMarker  Seq // SND.UNA when the recovery began
	undoRetrans int
}

// prrState is RFC 6937's accounting for one recovery.
type prrState struct {
	recoverFS uint32 // FlightSize when recovery began
	delivered uint64 // prr_delivered: octets the receiver took since
	out       uint64 // prr_out: octets sent since
}

// recovering reports whether the sender is repairing a loss: in fast
// recovery, or after an RTO until the recover point is acknowledged.
// Entering fast recovery sets the recover point too, so it covers both.
func (r *recovery) recovering() bool { return r.recoverSet }

// dupThreshCounts reports whether a count of duplicate ACKs or SACKed
// segments (RFC 5681 §3.2, RFC 6675's IsLost) may declare a loss. Once
// the path has been seen to reorder, with SACK, a count says nothing
// about loss and RACK's time-based window decides alone (RFC 8985 §6.2
// step 4; Linux does the same). Without SACK there is nothing else.
func (c *tcb) dupThreshCounts() bool { return !(c.snd.sackOK && c.snd.rack.reorderingSeen) }

// dupThresh is the number of duplicate ACKs that signal a loss (RFC 5681 §3.2, RFC 6675 §2).
const dupThresh = 3

// ackArrived is the sender's handling of an acceptable ACK at or above
// SND.UNA (RFC 9293 §3.10.7.4 fifth check): free what it covers, update the
// scoreboard, detect losses, and run recovery or grow the window.
func (c *tcb) ackArrived(now time.Time, seg *Segment) {
	snd, r := &c.snd, &c.rec
	ack := seg.Ack
	flightBefore := snd.flightSize()
	advanced := ack.GreaterThan(snd.una)
	var res ackResult
	if advanced {
		tsRTT, tsOK := c.tsRTT(now, seg)
		res = snd.acknowledge(now, ack, c.rtt.minRTT)
		if res.dataFreed {
			c.events |= evWritable
		}
		switch {
		case res.hasRTT:
			c.rtt.sample(res.rtt) // the send records time to the microsecond
		case tsOK:
			// RFC 7323 §4: the echoed timestamp times even a retransmitted
			// segment, which Karn's rule leaves untimed.
			res.rtt, res.hasRTT = tsRTT, true
			c.rtt.sample(tsRTT)
		}
		// RFC 6298 §5.2/5.3: stop the timer when everything is acknowledged,
		// otherwise restart it. The R2 clock restarts with the next segment.
		if snd.una == snd.nxt {
			c.timers.stop(timerRetransmit)
			c.rtxSince = time.Time{}
		} else {
			c.timers.set(timerRetransmit, now.Add(c.rtt.rto))
			c.rtxSince = now
		}
		snd.persistBackoff = 0
		c.icmpProgress(now)
		if res.synAcked {
			return // the acknowledgment of our SYN: establish sets the window up
		}
	}
	sack := c.processSACK(now, seg)
	delivered := res.delivered + sack.delivered
	if advanced && r.inRecovery && c.spuriousRecovery(seg) {
		c.undoRecovery(now)
	}
	snd.addDelivered(now, delivered)
	if !res.newest.sentAt.IsZero() {
		snd.rateSample(now, &res.newest)
	}
	if sack.dsack {
		snd.rack.dsackSeen(snd.nxt)
		c.dsackUndo(now, sack.dup)
	}

	// Loss detection.
	lost := false
	switch {
	case advanced:
		r.dupAcks = 0
	case c.isDuplicateACK(seg):
		r.dupAcks++
		if r.dupAcks == dupThresh && !(r.recoverSet && ack.LessThanEq(r.recover)) && c.dupThreshCounts() {
			// RFC 5681 §3.2 step 2, RFC 6675 §5 step 4: the third duplicate
			// ACK means the segment at SND.UNA is lost; RFC 6582 §3.2 step
			// 2: unless the ACK is at or below recover (duplicates of
			// what an RTO already resent are not a new loss).
			lost = c.markFirstLost(ReasonFastRetransmit)
		}
	}
	if snd.sackOK {
		lost = c.rackDetectLoss(now) || lost
		lost = c.markIsLost() || lost
	}

	// The recovery point: a full acknowledgment ends recovery (RFC 6582
	// §3.2 step 6, RFC 6675 §5 step 5).
	if r.recoverSet && ack.GreaterThanEq(r.recover) {
		r.recoverSet = false
		if r.inRecovery {
			r.inRecovery = false
			c.cc.onRecoveryEnd(now)
			snd.rack.recoveryEnded()
		}
	}
	if lost && !r.recoverSet {
		c.enterRecovery(now, flightBefore)
	}
	switch {
	case r.inRecovery:
		if advanced && !snd.sackOK {
			// RFC 6582 §3.2 step 5: a partial ACK means the segment after
			// it is lost too.
			c.markFirstLost(ReasonRetransmitPartialAck)
		}
		d := delivered
		if !snd.sackOK && !advanced {
			d = uint32(snd.mss) // RFC 6937: without SACK a duplicate ACK delivered one segment
		}
		c.prrUpdate(d)
	case delivered > 0:
		c.sample = ackSample{
			now: now, delivered: delivered, flight: flightBefore,
			rtt: res.rtt, srtt: c.rtt.srtt, minRTT: c.rtt.minRTT,
			ack: ack, sndNxt: snd.nxt, cwndLimited: snd.cwndLimited(c.cc.cwnd()),
		}
		c.cc.onAck(&c.sample)
	}
	snd.endRound(ack)
	c.growSendBuffer()
	c.tlpAcked(now, ack, sack.dsack)
	if advanced {
		c.armTLP(now)
	}
}

// growSendBuffer keeps the send buffer at twice cwnd, up to its bound, as
// Linux's tcp_sndbuf_expand does: the window, not the buffer, should limit
// a sender on a long path.
func (c *tcb) growSendBuffer() {
	b := &c.snd.buf
	if want := 2 * int(c.cc.cwnd()); want > b.Cap() && b.Cap() < c.cfg.SendBufferMax && !b.acct.pressure() && !c.snd.bufFixed {
		// Double at least, so a window growing by a segment per ACK does
		// not wake the writer on every ACK.
		b.Grow(min(max(want, 2*b.Cap()), c.cfg.SendBufferMax))
		c.stats.SendBufferGrown++
		c.events |= evWritable
	}
}

// isDuplicateACK is RFC 5681 §2's duplicate ACK: no data, no SYN or FIN,
// the window unchanged, SND.UNA unchanged while data is outstanding. An
// answer to a zero-window probe looks like one but says only that the
// window is still shut: it is no sign of loss.
func (c *tcb) isDuplicateACK(seg *Segment) bool {
	s := &c.snd
	return seg.Ack == s.una && len(seg.Payload) == 0 && seg.Flags&(FlagSYN|FlagFIN) == 0 &&
		uint32(seg.Window)<<s.scale == s.wnd && s.una != s.nxt && s.wnd > 0
}

// enterRecovery starts fast recovery (RFC 6675 §5 step 4, RFC 6582 §3.2
// step 2): RecoveryPoint = HighData, the controller's multiplicative
// decrease, PRR's accounting, and the first lost segment resent at once.
func (c *tcb) enterRecovery(now time.Time, flight uint32) {
	r := &c.rec
	r.inRecovery = true
	r.recover, r.recoverSet = c.snd.nxt, true
	r.prr = prrState{recoverFS: max(flight, 1)}
	r.recoveries++
	r.rtxTSSet = false
	r.priorCwnd, r.priorSSThresh = c.cc.cwnd(), c.cc.ssthresh()
	r.undoValid, r.undoMarker, r.undoRetrans = true, c.snd.una, 0
	c.cc.onCongestion(now, flight)
	c.ecnWindowReduced()
	c.snd.rtxNow = true
	c.stats.FastRetransmits++
	c.timers.stop(timerProbe)
}

// spuriousRecovery is the Eifel detection algorithm (RFC 3522 §2): the
// first ACK of new data after a fast retransmit echoes a timestamp older
// than the retransmission, so it was the original that arrived (it was
// delayed, or reordered, not lost).
func (c *tcb) spuriousRecovery(seg *Segment) bool {
	r := &c.rec
	o := &seg.Options
	if !c.opt.ts || !r.rtxTSSet || !o.HasTimestamp || o.TSEcr == 0 {
		return false
	}
	spurious := int32(o.TSEcr-r.rtxTS) < 0
	r.rtxTSSet = false // only the first ACK after the retransmission tells
	return spurious
}

// dsackUndo is RFC 3708's detection of spurious retransmissions by DSACK:
// when every segment the last recovery resent is reported received twice,
// none was lost, and the window reduction is undone.
func (c *tcb) dsackUndo(now time.Time, dup SACKBlock) {
	r := &c.rec
	if !r.undoValid || r.undoRetrans <= 0 || dup.Left.LessThan(r.undoMarker) {
		return
	}
	r.undoRetrans--
	if r.undoRetrans == 0 {
		c.undoRecovery(now)
	}
}

// undoRecovery is the Eifel response (RFC 4015 §3): the window reduction
// of a spurious recovery is taken back, cwnd and ssthresh as before it.
func (c *tcb) undoRecovery(now time.Time) {
	r := &c.rec
	if r.inRecovery {
		c.snd.rack.recoveryEnded()
	}
	r.inRecovery, r.recoverSet, r.undoValid, r.rtxTSSet = false, false, false, false
	c.cc.setSSThresh(max(c.cc.ssthresh(), r.priorSSThresh))
	c.cc.setCwnd(max(c.cc.cwnd(), r.priorCwnd))
	c.snd.rack.reorderingSeen = true // RFC 4015 §4: the path reorders (or delays) segments
	r.undos++
}

// prrUpdate is RFC 6937 §3, run for every ACK during recovery: it sets
// cwnd so that what is sent tracks what is delivered, in proportion to
// ssthresh/RecoverFS while pipe is above ssthresh, and grows back toward
// ssthresh by at most one segment more than was delivered below it
// (the slow-start reduction bound).
func (c *tcb) prrUpdate(delivered uint32) {
	p, snd := &c.rec.prr, &c.snd
	p.delivered += uint64(delivered)
	pipe, ssthresh := int64(snd.pipe()), int64(c.cc.ssthresh())
	var sndcnt int64
	if pipe > ssthresh {
		// sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
		sndcnt = (int64(p.delivered)*ssthresh+int64(p.recoverFS)-1)/int64(p.recoverFS) - int64(p.out)
	} else {
		// PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS
		limit := max(int64(p.delivered)-int64(p.out), int64(delivered)) + int64(snd.mss)
		sndcnt = min(ssthresh-pipe, limit)
	}
	// Segments go whole: a part of one allowed is a whole one, as when
	// Linux counts in packets.
	if mss := int64(snd.mss); sndcnt > 0 {
		sndcnt = (sndcnt + mss - 1) / mss * mss
	}
	c.cc.setCwnd(uint32(min(pipe+max(sndcnt, 0), 1<<31)))
}

// congestionSignal answers a congestion event that needs no retransmission
// (an ECN echo, a loss the tail-loss probe repaired): the multiplicative
// decrease, at once. Inside a recovery the window is already reduced.
func (c *tcb) congestionSignal(now time.Time) {
	if c.rec.recovering() {
		return
	}
	c.cc.onCongestion(now, c.snd.flightSize())
	c.cc.setCwnd(c.cc.ssthresh())
	c.ecnWindowReduced()
}

// markFirstLost marks the segment at SND.UNA lost, so output retransmits
// it before anything else (RFC 5681 §3.2 step 4, RFC 6582 step 5). It
// reports whether it marked one.
func (c *tcb) markFirstLost(why Reason) bool {
	q := &c.snd.recs
	if q.len() == 0 {
		return false
	}
	r := q.at(0)
	if r.sacked || r.lost {
		return false
	}
	q.lose(r, why)
	c.snd.rtxNow = true
	return true
}

// onRetransmitTimeout is the congestion and loss side of an expired
// retransmission timer: RFC 5681 §3.1, RFC 6582's recover point (RFC 6675
// §5.1), and every record marked lost (go-back-N, RFC 6298 §5.4).
func (c *tcb) onRetransmitTimeout(now time.Time) {
	r := &c.rec
	if c.snd.synAcked {
		// A lost SYN leaves the congestion state alone: establish starts
		// it with a one-segment window (RFC 5681 §3.1).
		c.cc.onRTO(now, c.snd.flightSize())
		r.recover, r.recoverSet = c.snd.nxt, true
	}
	if r.inRecovery {
		c.snd.rack.recoveryEnded()
	}
	r.inRecovery, r.dupAcks, r.undoValid = false, 0, false
	c.snd.recs.markAllLost(ReasonRetransmitRTO)
	c.snd.rack.tlpActive = false
	c.timers.stop(timerProbe)
	c.timers.stop(timerReorder)
}
