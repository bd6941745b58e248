package tcp

import (
	"net"
	"syscall"
	"time"
)

// nextTimeout returns when handleTimeout must next be called; zero means no timer is armed.
func (c *tcb) nextTimeout() time.Time {
	var t time.Time
	for _, d := range [...]time.Time{c.rtxAt, c.r2At(), c.persistAt, c.timeWaitAt, c.keepAliveAt(), c.delAckAt} {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t
}

// handleTimeout fires every timer due at now (RFC 9293 §3.10.8).
func (c *tcb) handleTimeout(now time.Time) {
	if !c.timeWaitAt.IsZero() && !now.Before(c.timeWaitAt) {
		// "Time-Wait Timeout: If the time-wait timeout expires on a
		// connection, delete the TCB, enter the CLOSED state, and return."
		c.setState(now, StateClosed)
		return
	}
	if r2 := c.r2At(); !r2.IsZero() && !now.Before(r2) {
		// RFC 9293 §3.10.8 user timeout, R2 of §3.8.3 (MUST-20, MUST-22):
		// a segment unacknowledged for that long closes the connection,
		// SYNs included, and the user is told ETIMEDOUT.
		c.reset(now, syscall.ETIMEDOUT)
		return
	}
	if !c.rtxAt.IsZero() && !now.Before(c.rtxAt) {
		c.retransmitTimeout(now)
	}
	if !c.delAckAt.IsZero() && !now.Before(c.delAckAt) {
		c.delAckAt = time.Time{}
		c.ackNow = true // the delayed ACK is due
	}
	if ka := c.keepAliveAt(); !ka.IsZero() && !now.Before(ka) {
		c.keepAliveTimeout(now)
	}
	if !c.persistAt.IsZero() && !now.Before(c.persistAt) {
		// RFC 9293 §3.8.6.1 (SHLD-30): probe, and back off exponentially.
		c.probe = true
		c.persistBackoff++
		c.persistAt = time.Time{} // re-armed by output if the window stays shut
	}
}

// retransmitTimeout handles an expired retransmission timer: RFC 6298 §5.4-5.6,
// RFC 5681 §3.1, and the R2 limit of RFC 9293 §3.8.3 (the user timeout of §3.10.8).
func (c *tcb) retransmitTimeout(now time.Time) {
	c.stats.Timeouts++
	c.synRetransmitted = c.synRetransmitted || !c.state.synchronized()
	// RFC 5681 §3.1, equation 4, and the loss window of one segment.
	mss := uint32(c.sndMSS)
	c.ssthresh = max(c.flightSize()/2, 2*mss)
	c.cwnd = mss
	c.inRecov, c.dupAcks, c.fastRtx = false, 0, false
	// RFC 6298 §5.4: retransmit the earliest unacknowledged segment, and go
	// back to resend what follows it (go-back-N, as the segments were lost
	// or their ACKs were). §3 (Karn): stop timing.
	c.txNxt = c.sndUna
	c.rttTiming = false
	// RFC 6298 §5.5-5.6: back off the timer and restart it.
	c.rto = min(2*c.rto, c.cfg.MaxRTO)
	c.rtxAt = now.Add(c.rto)
	// MUST-35: a zero window with data outstanding is probed by the retransmission.
	if c.sndWnd == 0 && c.state.synchronized() {
		c.probe = true
	}
}

// armRetransmit starts the retransmission timer if it is off (RFC 6298 §5.1).
func (c *tcb) armRetransmit(now time.Time) {
	if c.rtxAt.IsZero() {
		c.rtxAt = now.Add(c.rto)
	}
	if c.rtxSince.IsZero() {
		c.rtxSince = now
	}
}

// r2At is when the oldest unacknowledged segment exceeds the user timeout;
// zero when nothing is outstanding.
func (c *tcb) r2At() time.Time {
	if c.rtxAt.IsZero() || c.rtxSince.IsZero() {
		return time.Time{}
	}
	return c.rtxSince.Add(c.userTimeout)
}

// keepAliveAt is when the next keep-alive probe is due; zero when none is.
// RFC 9293 §3.8.4, MUST-26: probe only a connection with nothing
// outstanding and nothing received for the idle interval.
func (c *tcb) keepAliveAt() time.Time {
	ka := &c.keepAlive
	if !ka.Enable || (c.state != StateEstablished && c.state != StateCloseWait) ||
		c.sndUna != c.sndNxt || c.sndBuf.Len() > 0 || c.lastRecv.IsZero() {
		return time.Time{}
	}
	if c.probesSent == 0 {
		return c.lastRecv.Add(ka.Idle)
	}
	return c.lastProbe.Add(ka.Interval)
}

// keepAliveTimeout sends a probe, or gives up after Count unanswered ones.
// MUST-29: one unanswered probe never kills the connection.
func (c *tcb) keepAliveTimeout(now time.Time) {
	if c.probesSent >= c.keepAlive.Count {
		c.reset(now, syscall.ETIMEDOUT)
		return
	}
	c.probesSent++
	c.lastProbe = now
	c.sendProbe = true
}

// setKeepAlive applies a keep-alive configuration; zero fields keep the
// stack's defaults (MUST-27: the interval is configurable).
func (c *tcb) setKeepAlive(ka net.KeepAliveConfig) {
	c.keepAlive.Enable = ka.Enable
	if ka.Idle > 0 {
		c.keepAlive.Idle = ka.Idle
	}
	if ka.Interval > 0 {
		c.keepAlive.Interval = ka.Interval
	}
	if ka.Count > 0 {
		c.keepAlive.Count = ka.Count
	}
}
