package tcp

import (
	"math"
	"time"
)

// ackFor records that an ACK is due, and why. When several causes coincide
// before output sends the ACK, the most informative is kept (ackRank); of
// two equally informative, the later.
func (c *tcb) ackFor(why Reason) {
	if ackRank(why) >= ackRank(c.ackWhy) {
		c.ackWhy = why
	}
}

// ackRank orders the reasons for an ACK by how much they tell: first an
// answer to one particular segment (a challenge, a segment outside the
// window, the handshake), then the peer's FIN, then loss signals to the
// sender (a duplicate ACK, a filled hole, CE, a full window), then the
// ordinary acknowledgment of data, and last the timer and window updates.
func ackRank(why Reason) int {
	switch why {
	case ReasonNone:
		return 0
	case ReasonDelayedAckTimer, ReasonWindowUpdate:
		return 1
	case ReasonAckData, ReasonSecondFullSegment:
		return 2
	case ReasonAckHoleFilled, ReasonAckCE, ReasonAckWindowFull, ReasonDupAckOutOfOrder:
		return 3
	case ReasonAckFIN:
		return 4
	}
	return 5
}

// drop tells the tracer that seg, which arrived, is dropped or ignored.
func (c *tcb) drop(now time.Time, seg *Segment, why Reason) {
	if tr := c.cfg.Tracer; tr != nil {
		tr.SegmentDropped(now, c.id, seg, why)
	}
}

// senderTrace is what Tracer.Sender last saw of a connection's congestion
// state; a change of it is reported after the batch (host.flush).
type senderTrace struct {
	cwnd, ssthresh uint32
	recovering     bool
}

// senderState is the connection's congestion state for Tracer.Sender.
func (c *tcb) senderState() SenderState {
	ss := c.cc.ssthresh()
	if ss == infiniteSSThresh {
		ss = math.MaxUint32 // "arbitrarily high" (RFC 5681 §3.1)
	}
	return SenderState{
		Cwnd: c.cc.cwnd(), SSThresh: ss,
		SndUna: c.snd.una, SndNxt: c.snd.nxt, SndWnd: c.snd.wnd,
		InFlight: c.snd.pipe(), SRTT: c.rtt.srtt, Recovering: c.rec.inRecovery,
	}
}

// traceSender reports the congestion state to tr if it changed since the
// last report. Only a synchronized connection has one.
func (c *tcb) traceSender(now time.Time, tr Tracer) {
	if !c.state.synchronized() || !c.snd.synAcked {
		return
	}
	t := senderTrace{cwnd: c.cc.cwnd(), ssthresh: c.cc.ssthresh(), recovering: c.rec.inRecovery}
	if t == c.traced {
		return
	}
	c.traced = t
	tr.Sender(now, c.id, c.senderState())
}
