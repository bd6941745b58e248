package tcp

import "time"

// rackState is RACK-TLP (RFC 8985): loss detection by time over the send
// records, and the tail-loss probe. RACK deems a segment lost when a
// segment sent sufficiently later has been delivered: "sufficiently" is
// the RTT of that delivered segment plus a reordering window.
type rackState struct {
	// RFC 8985 §6.1: the most recently sent segment delivered so far, and
	// its RTT.
	xmitTS time.Time // RACK.xmit_ts; zero before the first delivery
	endSeq Seq       // RACK.end_seq
	rtt    time.Duration
	fack   Seq  // RACK.fack: the highest end of a delivered segment
	fackOK bool // fack is set

	reorderingSeen bool // RACK.reordering_seen: a segment was delivered below fack
	reoWndMult     int  // RACK.reo_wnd_mult, raised by DSACK (RFC 8985 §6.2 step 4)
	reoWndPersist  int  // recoveries left before reoWndMult falls back to 1
	dsackRound     Seq  // RACK.dsack_round; valid if dsackRoundSet
	dsackRoundSet  bool

	// The tail-loss probe (RFC 8985 §7).
	tlpDue       bool // the PTO fired: send a probe with the next output
	tlpActive    bool // a probe is outstanding: TLP.end_seq is valid
	tlpEndSeq    Seq  // TLP.end_seq: SND.NXT when the probe went
	tlpIsRetrans bool // TLP.is_retrans: the probe resent old data
}

// RACK-TLP constants (RFC 8985 §6.1, §7.2).
const (
	reoWndPersistRounds = 16                     // recoveries a widened window persists for
	tlpWorstDelayedACK  = 200 * time.Millisecond // WCDelAckT: the peer may delay one segment's ACK this long
)

// sentAfter is RACK_sent_after (RFC 8985 §6.2): whether a segment sent at
// t1 ending at seq1 was sent after one sent at t2 ending at seq2.
func sentAfter(t1 time.Time, seq1 Seq, t2 time.Time, seq2 Seq) bool {
	return t1.After(t2) || (t1.Equal(t2) && seq1.GreaterThan(seq2))
}

// delivered is RFC 8985 §6.2 steps 2 and 3 for one segment newly
// acknowledged or SACKed: update the RACK segment and detect reordering.
func (k *rackState) delivered(now time.Time, r *sendRecord, minRTT time.Duration) {
	// Step 2: a retransmitted segment delivered sooner than the minimum RTT
	// after its retransmission was delivered by its original transmission:
	// its RTT is unknown.
	rtt := now.Sub(r.sentAt)
	if r.retransmitted && rtt < minRTT {
		return
	}
	if k.xmitTS.IsZero() || sentAfter(r.sentAt, r.end, k.xmitTS, k.endSeq) {
		k.rtt, k.xmitTS, k.endSeq = rtt, r.sentAt, r.end
	}
	// Step 3: RACK_detect_reordering.
	switch {
	case !k.fackOK || r.end.GreaterThan(k.fack):
		k.fack, k.fackOK = r.end, true
	case r.end.LessThan(k.fack) && !r.retransmitted:
		k.reorderingSeen = true
	}
}

// dsackSeen is RFC 8985 §6.2 step 4's reaction to a DSACK: widen the
// reordering window once per round trip, for reoWndPersistRounds
// recoveries.
func (k *rackState) dsackSeen(sndNxt Seq) {
	if k.dsackRoundSet {
		return
	}
	k.reoWndMult++
	k.dsackRound, k.dsackRoundSet = sndNxt, true
	k.reoWndPersist = reoWndPersistRounds
}

// ackAdvanced ends the DSACK round once SND.UNA passes it (§6.2 step 4).
func (k *rackState) ackAdvanced(una Seq) {
	if k.dsackRoundSet && una.GreaterThanEq(k.dsackRound) {
		k.dsackRoundSet = false
	}
}

// recoveryEnded counts down the persistence of a widened window.
func (k *rackState) recoveryEnded() {
	if k.reoWndPersist > 0 {
		k.reoWndPersist--
		if k.reoWndPersist == 0 {
			k.reoWndMult = 1
		}
	}
}

// reoWnd is RACK_update_reo_wnd (RFC 8985 §6.2 step 4): zero while no
// reordering has been seen and the sender is recovering or DupThresh
// segments have been SACKed (the DupThresh rule then acts at once);
// otherwise a quarter of the minimum RTT per DSACK round, at most SRTT.
func (c *tcb) reoWnd() time.Duration {
	k := &c.snd.rack
	if !k.reorderingSeen && (c.rec.recovering() || c.snd.recs.sackedSegs >= dupThresh) {
		return 0
	}
	return min(time.Duration(max(1, k.reoWndMult))*c.rtt.minRTT/4, c.rtt.srtt)
}

// rackDetectLoss is RFC 8985 §6.2 step 5: mark lost every segment sent
// before the RACK segment by more than its RTT plus the reordering window,
// and arm the reordering timer for the ones not yet there. It reports
// whether it marked any.
func (c *tcb) rackDetectLoss(now time.Time) bool {
	k, q := &c.snd.rack, &c.snd.recs
	c.timers.stop(timerReorder)
	if k.xmitTS.IsZero() {
		return false
	}
	reo := c.reoWnd()
	var wait time.Duration
	marked := false
	for i := range q.len() {
		r := q.at(i)
		if r.sacked || r.lost {
			continue
		}
		if !sentAfter(k.xmitTS, k.endSeq, r.sentAt, r.end) {
			// Records that were never retransmitted were sent in sequence
			// order, and every record after this one was sent later still.
			if !r.retransmitted {
				break
			}
			continue
		}
		if remaining := r.sentAt.Add(k.rtt + reo).Sub(now); remaining <= 0 {
			q.lose(r, ReasonRetransmitRACK)
			marked = true
			c.stats.RACKLosses++
		} else {
			wait = max(wait, remaining)
		}
	}
	if wait > 0 {
		// RFC 8985 §6.2 step 5: RACK_reorder_timeout.
		c.timers.set(timerReorder, now.Add(wait))
	}
	return marked
}

// armTLP schedules the tail-loss probe (RFC 8985 §7.2) after new data was
// sent or an ACK acknowledged new data: PTO = 2·SRTT, plus WCDelAckT when
// one segment is in flight, unless the sender is recovering, segments are
// SACKed, a probe is out, or the RTO would fire first.
func (c *tcb) armTLP(now time.Time) {
	k, snd := &c.snd.rack, &c.snd
	c.timers.stop(timerProbe)
	if !snd.sackOK || k.tlpActive || c.rec.recovering() ||
		snd.recs.sackedSegs > 0 || snd.una == snd.nxt || snd.wnd == 0 || !c.state.synchronized() {
		return
	}
	pto := time.Second // no RTT sample yet
	if c.rtt.hasSample {
		pto = 2 * c.rtt.srtt
		if snd.flightSize() <= uint32(snd.mss) {
			pto += tlpWorstDelayedACK
		}
	}
	pto = max(pto, time.Millisecond) // the TS clock's granularity
	at := now.Add(pto)
	if rto := c.timers[timerRetransmit]; !rto.IsZero() && !at.Before(rto) {
		return // RFC 8985 §7.2: the RTO fires first
	}
	c.timers.set(timerProbe, at)
}

// tlpAcked is RFC 8985 §7.4, the ACK of a probe: if only the probe was
// delivered (no DSACK says the original arrived too), the probe repaired a
// loss, and congestion control must hear of it.
func (c *tcb) tlpAcked(now time.Time, ack Seq, dsack bool) {
	k := &c.snd.rack
	if !k.tlpActive {
		return
	}
	switch {
	case dsack && k.tlpIsRetrans:
		// §7.4.1: the original and the probe both arrived; no loss.
		k.tlpActive = false
	case ack.GreaterThanEq(k.tlpEndSeq):
		k.tlpActive = false
		if k.tlpIsRetrans && !c.rec.recovering() {
			// §7.4.2: the probe repaired a tail loss.
			c.congestionSignal(now)
			c.stats.TLPRecoveries++
		}
	}
}
