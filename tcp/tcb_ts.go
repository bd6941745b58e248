package tcp

import "time"

// Timestamps (RFC 7323 §3-§5): the TS clock, TS.Recent and Last.ACK.sent,
// PAWS, and RTT samples from TSecr.

// tsState is the TCB's part of RFC 7323: our TS clock and what we echo.
type tsState struct {
	// Our TS clock (RFC 7323 §5.4): 1 ms ticks since origin, plus offset.
	// The host gives every TCB the same origin and a secret offset per
	// four-tuple (§7.1), so that a new incarnation of a connection sends
	// larger TSvals than the last (RFC 6191).
	origin time.Time
	offset uint32

	recent      uint32    // TS.Recent: the TSval to echo (§4.3)
	recentAt    time.Time // when TS.Recent was last set, for §5.5
	recentValid bool      // TS.Recent holds a value and is younger than 24 days
	lastAckSent Seq       // Last.ACK.sent: SEG.ACK of the last ACK we sent (§4.3)
}

// tsRecentMaxIdle is how long TS.Recent stays valid without an update
// (RFC 7323 §5.5: 24 days, less than half the wrap time of the fastest
// allowed clock).
const tsRecentMaxIdle = 24 * 24 * time.Hour

// tsInit sets the TS clock: origin and offset.
func (c *tcb) tsInit(origin time.Time, offset uint32) {
	c.ts.origin, c.ts.offset = origin, offset
}

// tsNow is our TS clock at now: milliseconds since the origin plus the
// offset (RFC 7323 §5.4, one tick per millisecond, as in Linux). A TCB
// with no origin takes the first now it sees.
func (c *tcb) tsNow(now time.Time) uint32 {
	if c.ts.origin.IsZero() {
		c.ts.origin = now
	}
	return c.ts.offset + uint32(max(0, now.Sub(c.ts.origin))/time.Millisecond)
}

// tsOut puts the Timestamps option on an outgoing segment: on every
// segment once agreed (RFC 7323 §3.2 "MUST be sent in every non-<RST>
// segment ... and SHOULD be sent in an <RST> segment"), and on a SYN that
// offers it. It records Last.ACK.sent.
func (c *tcb) tsOut(now time.Time, s *Segment) {
	if s.Flags.Has(FlagACK) && !s.Flags.Has(FlagRST) {
		c.ts.lastAckSent = s.Ack // RFC 7323 §4.3
	}
	if !c.opt.ts && !(s.Flags.Has(FlagSYN) && s.Options.HasTimestamp) {
		return
	}
	s.Options.HasTimestamp = true
	s.Options.TSVal = c.tsNow(now)
	// RFC 7323 §3.2: TSecr echoes TS.Recent; on a SYN without ACK it is 0.
	s.Options.TSEcr = 0
	if s.Flags.Has(FlagACK) {
		s.Options.TSEcr = c.ts.recent
	}
}

// tsAcceptable runs the timestamp checks that come before the sequence
// number check (RFC 7323 §5.3 R1) on a segment in a synchronized state or
// SYN-RECEIVED. It reports false when the segment is dropped; an ACK
// answers a PAWS failure.
func (c *tcb) tsAcceptable(now time.Time, seg *Segment) bool {
	if !c.opt.ts || seg.Flags.Has(FlagRST) {
		// RFC 7323 §5.3 R1 exempts a RST; §3.2 never drops one for lack of a TSopt.
		return true
	}
	o := &seg.Options
	if !o.HasTimestamp {
		// RFC 7323 §3.2: "If a non-<RST> segment is received without a
		// TSopt, a TCP SHOULD silently drop the segment."
		c.stats.TSMissing++
		c.drop(now, seg, ReasonDropNoTimestamp)
		return false
	}
	if c.ts.recentValid && now.Sub(c.ts.recentAt) >= tsRecentMaxIdle {
		// RFC 7323 §5.5: after 24 days idle TS.Recent is invalid; the next
		// acceptable segment sets it anew.
		c.ts.recentValid = false
	}
	if c.ts.recentValid && int32(o.TSVal-c.ts.recent) < 0 {
		// RFC 7323 §5.3 R1: SEG.TSval < TS.Recent: "treat the arriving
		// segment as not acceptable: Send an acknowledgment in reply as
		// specified in Section 3.10.7.4 of [RFC9293] and drop the segment."
		c.stats.PAWSRejected++
		c.stats.DroppedSegs++
		if why := c.unacceptable(now, seg, ReasonAckPAWS); why != ReasonNone {
			c.drop(now, seg, why)
		}
		return false
	}
	return true
}

// tsRecentUpdate is RFC 7323 §4.3 (2) and §5.3 R3, on a segment that
// passed the sequence number check: "If SEG.TSval >= TS.Recent and
// SEG.SEQ <= Last.ACK.sent then SEG.TSval is copied to TS.Recent".
func (c *tcb) tsRecentUpdate(now time.Time, seg *Segment) {
	o := &seg.Options
	if !c.opt.ts || !o.HasTimestamp || !seg.Seq.LessThanEq(c.ts.lastAckSent) {
		return
	}
	if c.ts.recentValid && int32(o.TSVal-c.ts.recent) < 0 {
		return
	}
	c.ts.recent, c.ts.recentAt, c.ts.recentValid = o.TSVal, now, true
}

// tsRTT is an RTT sample from the echoed timestamp (RFC 7323 §4: RTTM):
// our TS clock now minus SEG.TSecr, for an ACK that acknowledges new data
// (SND.UNA < SEG.ACK; call it before SND.UNA moves) and echoes a nonzero
// TSecr. Its granularity is the clock's: a sample below one tick is one
// tick, as in Linux. Unlike a sample from the send records it is valid
// when retransmitted data is acknowledged (the echo names the transmission).
func (c *tcb) tsRTT(now time.Time, seg *Segment) (time.Duration, bool) {
	o := &seg.Options
	if !c.opt.ts || !o.HasTimestamp || o.TSEcr == 0 || !seg.Flags.Has(FlagACK) || !seg.Ack.GreaterThan(c.snd.una) {
		return 0, false
	}
	d := int32(c.tsNow(now) - o.TSEcr)
	if d < 0 {
		return 0, false // an echo from the future: not ours
	}
	return time.Duration(max(d, 1)) * time.Millisecond, true
}

// timeWaitReopenTS decides, for a SYN arriving in TIME-WAIT when the old
// incarnation used timestamps and the SYN carries one, whether it may end
// TIME-WAIT (RFC 6191 §2): its TSval must be greater than TS.Recent, or
// equal with a sequence number above RCV.NXT. ok reports that the
// timestamp rule applies; otherwise the caller falls back to the sequence
// number rule (RFC 9293 MAY-2), as Linux does.
func (c *tcb) timeWaitReopenTS(seg *Segment) (reopen, ok bool) {
	if !c.opt.ts || !seg.Options.HasTimestamp || c.cfg.NoTimestamps || !c.ts.recentValid {
		return false, false
	}
	d := int32(seg.Options.TSVal - c.ts.recent)
	return d > 0 || (d == 0 && seg.Seq.GreaterThan(c.rcv.nxt)), true
}
