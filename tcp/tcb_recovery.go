package tcp

import "time"

// recovery is the loss detection of RFC 5681 §3.2 (fast retransmit on the
// third duplicate ACK) and RFC 6582 (NewReno: partial ACKs, and the
// recover point that keeps one loss event from being recovered twice).
type recovery struct {
	dupAcks    int
	inRecovery bool // in fast recovery
	// recover is SND.NXT when recovery or an RTO began (RFC 6582 §3.2).
	// It is only meaningful while recoverSet: an old value would compare
	// wrongly once the sequence space has wrapped.
	recover    Seq
	recoverSet bool
}

// dupThresh is the number of duplicate ACKs that signal a loss (RFC 5681 §3.2).
const dupThresh = 3

// ackAdvance handles an ACK that moves SND.UNA forward (SND.UNA < ack <=
// SND.NXT): free what it covers, sample the RTT, restart the timers, and
// grow the window or progress recovery.
func (c *tcb) ackAdvance(now time.Time, ack Seq) {
	flightBefore := c.snd.flightSize()
	res := c.snd.acknowledge(now, ack)
	if res.dataFreed {
		c.events |= evWritable
	}
	if res.hasRTT {
		c.rtt.sample(res.rtt)
	}
	// RFC 6298 §5.2/5.3: stop the timer when everything is acknowledged,
	// otherwise restart it. The R2 clock restarts with the next segment.
	if c.snd.una == c.snd.nxt {
		c.timers.stop(timerRetransmit)
		c.rtxSince = time.Time{}
	} else {
		c.timers.set(timerRetransmit, now.Add(c.rtt.rto))
		c.rtxSince = now
	}
	r := &c.rec
	if res.synAcked {
		return // the acknowledgment of our SYN: establish sets the window up
	}
	if r.recoverSet && ack.GreaterThanEq(r.recover) {
		r.recoverSet = false
	}
	switch {
	case r.inRecovery && !r.recoverSet:
		// RFC 6582 §3.2 step 6: a full acknowledgment ends recovery.
		r.inRecovery = false
		c.cc.onRecoveryEnd(now)
	case r.inRecovery:
		// RFC 6582 §3.2 step 5: a partial ACK means the next segment is
		// lost too: retransmit it at once.
		c.markFirstLost()
	default:
		c.cc.onAck(&ackSample{now: now, delivered: res.acked, flight: flightBefore, cwndLimited: true})
	}
	r.dupAcks = 0
}

// duplicateACK counts a duplicate ACK (RFC 5681 §2: no data, no window
// change, SND.UNA unchanged while data is outstanding). The third starts
// fast retransmit and fast recovery (RFC 5681 §3.2, RFC 6582 §3.2), unless
// it belongs to a loss already being recovered.
func (c *tcb) duplicateACK(now time.Time, ack Seq) {
	r := &c.rec
	r.dupAcks++
	switch {
	case r.inRecovery:
	case r.dupAcks == dupThresh:
		// RFC 6582 §3.2 step 2: only if the ACK covers more than recover
		// (after an RTO, duplicate ACKs of what was already resent are
		// not a new loss).
		if r.recoverSet && ack.LessThanEq(r.recover) {
			return
		}
		c.cc.onCongestion(now, c.snd.flightSize())
		r.recover, r.recoverSet = c.snd.nxt, true
		r.inRecovery = true
		c.markFirstLost()
		c.stats.FastRetransmits++
	}
}

// markFirstLost marks the segment at SND.UNA lost, so output retransmits
// it before anything else (RFC 5681 §3.2 step 4, RFC 6582 step 5).
func (c *tcb) markFirstLost() {
	if c.snd.recs.len() > 0 {
		r := c.snd.recs.at(0)
		c.snd.recs.setLost(r, true)
		c.snd.rtxNow = true
	}
}

// onRetransmitTimeout is the congestion and loss side of an expired
// retransmission timer: RFC 5681 §3.1 and RFC 6582's recover point, and
// every record not SACKed marked lost (go-back-N, RFC 6298 §5.4).
func (c *tcb) onRetransmitTimeout(now time.Time) {
	r := &c.rec
	if c.snd.synAcked {
		// A lost SYN leaves the congestion state alone: establish starts
		// it with a one-segment window (RFC 5681 §3.1).
		c.cc.onRTO(now, c.snd.flightSize())
		r.recover, r.recoverSet = c.snd.nxt, true
	}
	r.inRecovery, r.dupAcks = false, 0
	c.snd.recs.markAllLost()
}
