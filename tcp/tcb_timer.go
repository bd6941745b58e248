package tcp

import (
	"time"
)

// timerKind names a TCB timer (RFC 9293 §3.10.8 and §3.8). R2 (the user
// timeout) and keep-alive are not in the table: they follow from other
// state (rtxSince, the keep-alive clock).
type timerKind uint8

const (
	timerRetransmit timerKind = iota // RFC 6298
	timerPersist                     // zero-window probe, §3.8.6.1
	timerDelayedACK                  // §3.8.6.3
	timerTimeWait                    // 2×MSL, §3.6.1
	timerReorder                     // RACK's reordering window, RFC 8985 §6.2
	timerProbe                       // the tail-loss probe timeout (PTO), RFC 8985 §7.2
	timerReclaim                     // drained buffers give their memory back (tcb_mem.go)
	timerFinWait2                    // FIN-WAIT-2 after the application closed (Config.FinTimeout)
	numTimers
)

// timerTable holds when each timer fires; the zero time means off.
type timerTable [numTimers]time.Time

func (t *timerTable) set(k timerKind, at time.Time) { t[k] = at }
func (t *timerTable) stop(k timerKind)              { t[k] = time.Time{} }
func (t *timerTable) armed(k timerKind) bool        { return !t[k].IsZero() }
func (t *timerTable) stopAll()                      { *t = timerTable{} }

// due reports whether timer k is armed and has expired at now.
func (t *timerTable) due(k timerKind, now time.Time) bool {
	return !t[k].IsZero() && !now.Before(t[k])
}

// nextTimeout returns when handleTimeout must next be called; zero means no timer is armed.
func (c *tcb) nextTimeout() time.Time {
	var next time.Time
	for _, d := range c.timers {
		next = earliest(next, d)
	}
	return earliest(earliest(next, c.r2At()), c.keepAliveAt())
}

// earliest returns the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// handleTimeout fires every timer due at now (RFC 9293 §3.10.8), in order:
// the ones that end the connection first.
func (c *tcb) handleTimeout(now time.Time) {
	switch {
	case c.timers.due(timerTimeWait, now):
		// "Time-Wait Timeout: If the time-wait timeout expires on a
		// connection, delete the TCB, enter the CLOSED state, and return."
		c.setState(now, StateClosed)
		return
	case c.timers.due(timerFinWait2, now):
		c.finWait2Timeout(now)
		return
	case c.r2Due(now):
		// RFC 9293 §3.10.8 user timeout, R2 of §3.8.3 (MUST-20, MUST-22):
		// a segment unacknowledged for that long closes the connection,
		// SYNs included, and the user is told ETIMEDOUT.
		c.giveUp(now, ReasonRstUserTimeout)
		return
	}
	if c.timers.due(timerRetransmit, now) {
		c.retransmitTimeout(now)
	}
	if c.timers.due(timerReorder, now) {
		// RFC 8985 §6.3: the reordering window has passed.
		c.timers.stop(timerReorder)
		if c.rackDetectLoss(now) && !c.rec.recoverSet {
			c.enterRecovery(now, c.snd.flightSize())
		}
	}
	if c.timers.due(timerProbe, now) {
		// RFC 8985 §7.3: the probe timeout.
		c.timers.stop(timerProbe)
		c.snd.rack.tlpDue = true
	}
	if c.timers.due(timerDelayedACK, now) {
		c.timers.stop(timerDelayedACK)
		c.ackFor(ReasonDelayedAckTimer)
	}
	if c.timers.due(timerReclaim, now) {
		c.reclaim(now)
	}
	if at := c.keepAliveAt(); !at.IsZero() && !now.Before(at) {
		if c.ka.fire(now) {
			c.giveUp(now, ReasonRstKeepAlive)
			return
		}
	}
	if c.timers.due(timerPersist, now) {
		// RFC 9293 §3.8.6.1 (SHLD-30): probe, and back off exponentially.
		c.timers.stop(timerPersist) // re-armed by output if the window stays shut
		c.snd.zeroWindowProbeDue = true
		c.snd.persistBackoff++
	}
}

// giveUp ends a connection whose peer stopped answering (R2, or Count
// unanswered keep-alives) with ETIMEDOUT, or the soft error it had
// (timeoutError). A synchronized peer gets a RST, as Linux sends one, so
// that if it is alive after all it learns; why is the RST's reason.
func (c *tcb) giveUp(now time.Time, why Reason) {
	if c.state.synchronized() {
		c.ctl = append(c.ctl, Segment{Seq: c.rstSeq(), Flags: FlagRST, Why: why})
	}
	c.rcv.flush()
	c.reset(now, c.timeoutError())
}

// armFinWait2 bounds FIN-WAIT-2 once the application has closed and will
// read no more (Go's Close, not CloseWrite): a peer that never sends its
// FIN would otherwise hold the connection for ever, since RFC 9293 leaves
// FIN-WAIT-2 without a timer. Linux's tcp_fin_timeout does the same, 60 s.
func (c *tcb) armFinWait2(now time.Time) {
	if c.state == StateFinWait2 && c.rcv.readClosed && c.cfg.FinTimeout > 0 && !c.timers.armed(timerFinWait2) {
		c.timers.set(timerFinWait2, now.Add(c.cfg.FinTimeout))
	}
}

// finWait2Timeout ends a FIN-WAIT-2 the peer never closed, with a RST so
// that it learns (as Linux does once tcp_fin_timeout ends, tcp_keepalive_timer).
func (c *tcb) finWait2Timeout(now time.Time) {
	c.finTimedOut = true
	c.giveUp(now, ReasonRstFinWait2)
}

// retransmitTimeout handles an expired retransmission timer: RFC 6298
// §5.4-5.6 and RFC 5681 §3.1.
func (c *tcb) retransmitTimeout(now time.Time) {
	c.stats.Timeouts++
	if c.passive && c.state == StateSynReceived && c.stats.Retransmits >= uint64(max(c.cfg.SynAckRetries, 0)) {
		// Linux's tcp_synack_retries: a passive child whose SYN-ACK went
		// that many times again is freed silently.
		c.reset(now, errSynAckRetries)
		return
	}
	if !c.snd.synAcked {
		// RFC 9293 §3.8.1: a SYN is retransmitted like data.
		c.snd.synDue, c.synWhy = true, ReasonSynRetransmit
		if c.state != StateSynSent {
			c.synWhy = ReasonSynAckRetransmit
		}
		c.snd.synRetransmitted = true
		c.snd.synSentAt = time.Time{} // Karn: its ACK gives no sample
	}
	c.rtt.backoff()
	c.timers.set(timerRetransmit, now.Add(c.rtt.rto))
	if c.snd.wnd == 0 && c.snd.synAcked {
		// MUST-35: with the window shut, the timer's expiry sends a
		// zero-window probe. The peer is not losing segments: it has no
		// room for them, so congestion state is left alone.
		c.snd.zeroWindowProbeDue = true
		c.snd.recs.markAllLost(ReasonZeroWindowProbe) // the probe resends the first octet outstanding
		return
	}
	// RFC 6298 §5.4: retransmit the earliest unacknowledged segment; every
	// record is marked lost (go-back-N), and congestion control takes the
	// loss window. §5.5-5.6: back off the timer and restart it (above).
	c.onRetransmitTimeout(now)
	c.icmpOnTimeout(now) // PMTU black-hole detection
}

// armRetransmit starts the retransmission timer if it is off (RFC 6298
// §5.1), and the R2 clock with it.
func (c *tcb) armRetransmit(now time.Time) {
	if !c.timers.armed(timerRetransmit) {
		c.timers.set(timerRetransmit, now.Add(c.rtt.rto))
	}
	if c.rtxSince.IsZero() {
		c.rtxSince = now
	}
}

// r2At is when the oldest unacknowledged segment exceeds the user timeout;
// zero when nothing is outstanding.
func (c *tcb) r2At() time.Time {
	if !c.timers.armed(timerRetransmit) || c.rtxSince.IsZero() {
		return time.Time{}
	}
	return c.rtxSince.Add(c.userTimeout)
}

func (c *tcb) r2Due(now time.Time) bool {
	at := c.r2At()
	return !at.IsZero() && !now.Before(at)
}
