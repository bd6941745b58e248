package tcp

import (
	"syscall"
	"time"
)

// replyToClosed answers a segment that arrives for no connection (RFC 9293
// §3.10.7.1, CLOSED state). It reports false when no reply is due.
func replyToClosed(seg *Segment) (Segment, bool) {
	rst := Segment{SrcPort: seg.DstPort, DstPort: seg.SrcPort}
	switch {
	case seg.Flags.Has(FlagRST):
		// "An incoming segment containing a RST is discarded."
		return Segment{}, false
	case !seg.Flags.Has(FlagACK):
		// "If the ACK bit is off, sequence number zero is used,
		// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
		rst.Ack = seg.End()
		rst.Flags = FlagRST | FlagACK
		rst.Why = ReasonRstNoListener
	default:
		// "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
		rst.Seq = seg.Ack
		rst.Flags = FlagRST
		rst.Why = ReasonRstNoListener
	}
	return rst, true
}

// segmentArrives processes one segment for this connection (RFC 9293
// §3.10.7). The host has verified its checksum and demultiplexed it. seg
// is the segment as it arrived; nothing here modifies it.
func (c *tcb) segmentArrives(now time.Time, seg *Segment) {
	c.stats.SegsIn++
	c.ka.heard(now) // the peer is alive (§3.8.4)
	switch c.state {
	case StateClosed:
		// The host answers segments for closed connections (replyToClosed).
	case StateListen:
		c.handleListen(now, seg)
	case StateSynSent:
		c.handleSynSent(now, seg)
	default:
		c.handleSynchronized(now, seg)
	}
}

// listenCheck runs the checks of RFC 9293 §3.10.7.2 (LISTEN state) that
// need no connection. It returns the RST to send, if any, and whether the
// segment is a SYN for the third check; for any other segment, why it is
// dropped. The stack uses it for segments to a listening port; handleListen
// for a TCB in LISTEN.
func listenCheck(seg *Segment) (rst Segment, reply, syn bool, drop Reason) {
	switch {
	case seg.Flags.Has(FlagRST):
		// First, check for a RST: "An incoming RST should be ignored."
		return Segment{}, false, false, ReasonDropListenRst
	case seg.Flags.Has(FlagACK):
		// Second, check for an ACK: "Any acknowledgment is bad if it arrives
		// on a connection still in the LISTEN state. An acceptable reset
		// segment should be formed for any arriving ACK-bearing segment ...
		// <SEQ=SEG.ACK><CTL=RST>"
		return Segment{SrcPort: seg.DstPort, DstPort: seg.SrcPort, Seq: seg.Ack, Flags: FlagRST, Why: ReasonRstListenAck},
			true, false, ReasonDropListenAck
	case seg.Flags.Has(FlagSYN):
		return Segment{}, false, true, ReasonNone
	}
	// Fourth, other text or control: "drop the segment and return".
	return Segment{}, false, false, ReasonDropListenNoSyn
}

// handleListen is RFC 9293 §3.10.7.2, LISTEN state.
func (c *tcb) handleListen(now time.Time, seg *Segment) {
	rst, reply, syn, drop := listenCheck(seg)
	if !syn {
		c.drop(now, seg, drop)
	}
	if reply {
		c.ctl = append(c.ctl, rst)
		c.setState(now, StateClosed)
		return
	}
	if !syn {
		return
	}
	// Third, check for a SYN: "set RCV.NXT to SEG.SEQ+1, IRS is set to
	// SEG.SEQ ... ISS should be selected and a SYN segment sent of the form
	// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. SND.NXT is set to ISS+1 and
	// SND.UNA to ISS. The connection state should be changed to
	// SYN-RECEIVED." The host chose ISS; output sends the SYN-ACK.
	// Text that came with the SYN is not queued: the peer sends it again.
	c.rcv.synReceived(seg.Seq)
	c.synOptions(now, seg)
	c.snd.synDue, c.synWhy = true, ReasonSynAckListen
	c.setState(now, StateSynReceived)
}

// handleSynSent is RFC 9293 §3.10.7.3, SYN-SENT state.
func (c *tcb) handleSynSent(now time.Time, seg *Segment) {
	// First, check the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send
	// a reset (unless the RST bit is set, if so drop the segment and return)
	// <SEQ=SEG.ACK><CTL=RST> and discard the segment."
	hasACK := seg.Flags.Has(FlagACK)
	if hasACK && (seg.Ack.LessThanEq(c.snd.iss) || seg.Ack.GreaterThan(c.snd.nxt)) {
		if !seg.Flags.Has(FlagRST) {
			c.ctl = append(c.ctl, Segment{Seq: seg.Ack, Flags: FlagRST, Why: ReasonRstSynSentBadAck})
		}
		c.stats.DroppedSegs++
		c.drop(now, seg, ReasonDropSynSentBadAck)
		return
	}
	// Second, check the RST bit: "If the ACK was acceptable, then signal to
	// the user 'error: connection reset', drop the segment, enter CLOSED
	// state ... Otherwise (no ACK), drop the segment and return."
	// (RFC 5961 §3.2: in SYN-SENT the ACK check above validates the RST.)
	if seg.Flags.Has(FlagRST) {
		if hasACK {
			c.reset(now, syscall.ECONNREFUSED)
		} else {
			c.drop(now, seg, ReasonDropSynSentRst)
		}
		return
	}
	// Third, security: not implemented (no IP security compartments).
	// Fourth, check the SYN bit.
	if !seg.Flags.Has(FlagSYN) {
		// Fifth: "If neither of the SYN or RST bits is set, then drop the segment and return."
		c.drop(now, seg, ReasonDropSynSentNoSyn)
		return
	}
	c.rcv.synReceived(seg.Seq)
	c.synOptions(now, seg)
	if hasACK {
		// "SND.UNA should be advanced to equal SEG.ACK (if there is an ACK),
		// and any segments on the retransmission queue that are thereby
		// acknowledged should be removed."
		c.ackArrived(now, seg)
	}
	if c.snd.synAcked {
		// "If SND.UNA > ISS (our SYN has been ACKed), change the connection
		// state to ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT>
		// <CTL=ACK> and send it." This is the second segment of the
		// three-way handshake: the active opener's connect() returns here.
		c.establish(now, seg)
		c.ackFor(ReasonAckHandshake)
		// "If there are other controls or text in the segment, then continue
		// processing at the sixth step."
		c.processTextAndFIN(now, seg)
		return
	}
	// "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
	// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it. Set the variables:
	// SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK."
	// This is simultaneous open (MUST-10); the connection stays active
	// (MUST-11), so a RST in SYN-RECEIVED closes it.
	c.updateWindow(seg)
	c.setState(now, StateSynReceived)
	c.snd.synDue, c.synWhy = true, ReasonSynAckSimultaneous
}

// establish completes a handshake: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ,
// SND.WL2 <- SEG.ACK, and the state is ESTABLISHED. Congestion control
// starts here, now that the MSS is known.
func (c *tcb) establish(now time.Time, seg *Segment) {
	c.updateWindow(seg)
	c.snd.roundEnd = c.snd.nxt
	c.cc = newCongestionControl(c.cc.algorithm(), c.snd.mss, initialWindow(c.snd.mss, c.snd.synRetransmitted))
	if c.snd.synRetransmitted {
		c.rtt.synTimedOut() // RFC 6298 §5.7
	}
	c.setState(now, StateEstablished)
	c.events |= evEstablished
}

// updateWindow takes SND.WND from seg as it arrived (RFC 9293 §3.10.7.4
// fifth check). RFC 7323 §2.2: the window in a SYN is never scaled.
func (c *tcb) updateWindow(seg *Segment) {
	wnd := uint32(seg.Window)
	if !seg.Flags.Has(FlagSYN) {
		wnd <<= c.snd.scale
	}
	c.snd.wnd = wnd
	c.snd.wl1 = seg.Seq
	c.snd.wl2 = seg.Ack
	c.snd.maxWnd = max(c.snd.maxWnd, wnd)
	if wnd > 0 {
		c.timers.stop(timerPersist)
		c.snd.persistBackoff = 0
	}
}

// handleSynchronized is RFC 9293 §3.10.7.4, "Otherwise": SYN-RECEIVED and
// every synchronized state. The checks run in the RFC's order, each on the
// segment as it arrived; only the text is trimmed to the window, in the
// seventh check.
func (c *tcb) handleSynchronized(now time.Time, seg *Segment) {
	// RFC 7323 §5.3 R1 (PAWS) and §3.2, before the sequence number.
	if !c.tsAcceptable(now, seg) {
		return
	}
	// First, check sequence number.
	if !c.acceptable(seg) {
		c.stats.DroppedSegs++
		if why := c.unacceptable(now, seg, ReasonAckUnacceptable); why != ReasonNone {
			c.drop(now, seg, why)
		}
		return
	}
	c.tsRecentUpdate(now, seg) // RFC 7323 §4.3, §5.3 R3

	// Second, check the RST bit (RFC 5961 §3.2 as RFC 9293 recommends).
	if seg.Flags.Has(FlagRST) {
		if seg.Seq != c.rcv.nxt {
			// In the window but not exact: "send a challenge ACK ... After
			// sending the challenge ACK, TCP MUST drop the unacceptable segment."
			c.challengeACK(now, ReasonChallengeAck)
			c.drop(now, seg, ReasonDropRstNotExact)
			return
		}
		switch c.state {
		case StateSynReceived:
			if c.passive {
				// "If this connection was initiated with a passive OPEN, then
				// return this connection to the LISTEN state and return."
				c.setState(now, StateListen)
				return
			}
			// "If this connection was initiated with an active OPEN, then the
			// connection was refused; signal the user 'connection refused'."
			c.reset(now, syscall.ECONNREFUSED)
		case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
			// "Any outstanding RECEIVEs and SEND should receive 'reset'
			// responses. All segment queues should be flushed. Users should
			// also receive an unsolicited general 'connection reset' signal."
			c.reset(now, syscall.ECONNRESET)
		default:
			// CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB, and return."
			c.setState(now, StateClosed)
		}
		return
	}

	// Third, check security: not implemented (no IP security compartments).

	// Fourth, check the SYN bit.
	if seg.Flags.Has(FlagSYN) {
		if c.state == StateSynReceived && c.passive {
			// "If the connection was initiated with a passive OPEN, then
			// return this connection to the LISTEN state and return."
			c.setState(now, StateListen)
			return
		}
		// RFC 5961 §4.2: a SYN in a synchronized state draws a challenge
		// ACK and is dropped, whatever its sequence number.
		c.challengeACK(now, ReasonChallengeAckSyn)
		c.drop(now, seg, ReasonDropSynSynchronized)
		return
	}

	// Fifth, check the ACK field: "if the ACK bit is off, drop the segment and return".
	if !seg.Flags.Has(FlagACK) {
		c.drop(now, seg, ReasonDropNoAck)
		return
	}
	if c.state == StateSynReceived {
		// "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and
		// continue processing with the variables below set to: SND.WND <-
		// SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK." This is the
		// third segment of the handshake: accept() can return it now.
		if !(c.snd.una.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.snd.nxt)) {
			// "If the segment acknowledgment is not acceptable, form a reset
			// segment <SEQ=SEG.ACK><CTL=RST> and send it."
			c.ctl = append(c.ctl, Segment{Seq: seg.Ack, Flags: FlagRST, Why: ReasonRstSynRcvdBadAck})
			c.drop(now, seg, ReasonDropSynRcvdBadAck)
			return
		}
		c.establish(now, seg)
	}
	if !c.processACK(now, seg) {
		return
	}
	c.ecnArrives(now, seg) // RFC 3168 §6.1.2, §6.1.3
	switch c.state {
	case StateFinWait1:
		// "In addition to the processing for the ESTABLISHED state, if the FIN
		// segment is now acknowledged, then enter FIN-WAIT-2."
		if c.snd.finAcked() {
			c.setState(now, StateFinWait2)
		}
	case StateClosing:
		// "if the ACK acknowledges our FIN, then enter the TIME-WAIT state;
		// otherwise, ignore the segment."
		if c.snd.finAcked() {
			c.setState(now, StateTimeWait)
		}
		return
	case StateLastAck:
		// "The only thing that can arrive in this state is an acknowledgment
		// of our FIN. If our FIN is now acknowledged, delete the TCB, enter
		// the CLOSED state, and return."
		if c.snd.finAcked() {
			c.setState(now, StateClosed)
		}
		return
	}

	// Sixth, check the URG bit: the urgent pointer is not delivered
	// separately; urgent octets arrive inline with the rest of the data.

	// Seventh, process the segment text; eighth, check the FIN bit.
	c.processTextAndFIN(now, seg)
}

// acceptable is the first check of RFC 9293 §3.10.7.4: the four-case
// acceptability test, on the segment as it arrived.
func (c *tcb) acceptable(seg *Segment) bool {
	nxt, wnd, segLen := c.rcv.nxt, c.rcv.window(), seg.Len()
	switch {
	case segLen == 0 && wnd == 0:
		return seg.Seq == nxt
	case segLen == 0:
		return seg.Seq.InWindow(nxt, wnd)
	case wnd == 0:
		// "not acceptable" — but MUST-66: "If the RCV.WND is zero, no
		// segments will be acceptable, but special allowance should be
		// made to accept valid ACKs, URGs, and RSTs." A segment at RCV.NXT
		// is processed; the seventh check finds no room for its text.
		return seg.Seq == nxt
	default:
		return seg.Seq.InWindow(nxt, wnd) || seg.Seq.Add(segLen-1).InWindow(nxt, wnd)
	}
}

// unacceptable answers a segment that failed the first check: "If an
// incoming segment is not acceptable, an acknowledgment should be sent in
// reply (unless the RST bit is set, if so drop the segment and return):
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>", for the reason ack. A few cases
// need more. It returns why the segment is dropped, ReasonNone when it was
// processed after all.
func (c *tcb) unacceptable(now time.Time, seg *Segment, ack Reason) Reason {
	switch {
	case seg.Flags.Has(FlagRST):
		// An out-of-window RST is dropped silently (RFC 5961 §3.2).
		return ReasonDropRstOutsideWindow
	case c.state == StateSynReceived && !c.passive && seg.Flags.Has(FlagSYN|FlagACK) && seg.Seq == c.rcv.irs &&
		c.snd.una.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.snd.nxt):
		// Simultaneous open, RFC 9293 Figure 7 line 6: the peer's SYN,ACK
		// repeats the SYN we hold but acknowledges ours, which completes
		// the handshake. Its window is a SYN's, never scaled (RFC 7323 §2.2).
		c.establish(now, seg)
		c.processACK(now, seg)
		c.ackFor(ReasonAckSimultaneous)
		return ReasonNone
	case c.state == StateSynReceived && seg.Flags.Has(FlagSYN) && !seg.Flags.Has(FlagACK) && seg.Seq == c.rcv.irs:
		// The peer repeats its SYN: our SYN,ACK was lost. Send it again now
		// rather than waiting for our timer (as Linux does).
		c.snd.synDue, c.synWhy = true, ReasonSynAckRepeat
		c.snd.synRetransmitted = true
		return ReasonDropDuplicate
	case seg.Flags.Has(FlagSYN) && c.state != StateSynReceived:
		// RFC 5961 §4.2: a SYN in a synchronized state draws a challenge
		// ACK "irrespective of the sequence number".
		c.challengeACK(now, ReasonChallengeAckSyn)
		return ReasonDropSynSynchronized
	case c.state == StateTimeWait && seg.Flags.Has(FlagFIN) &&
		seg.Seq.Add(uint32(len(seg.Payload))) == c.rcv.nxt.Add(^uint32(0)):
		// Fifth check, TIME-WAIT: "The only thing that can arrive in this
		// state is a retransmission of the remote FIN. Acknowledge it, and
		// restart the 2 MSL timeout." Only a FIN at RCV.NXT-1 is one.
		c.timers.set(timerTimeWait, now.Add(2*c.cfg.MSL))
		c.ackFor(ReasonAckTimeWaitFIN)
		return ReasonNone
	case c.state == StateTimeWait:
		// Anything else answered from TIME-WAIT costs an ACK each; throttle
		// them as challenge ACKs are (RFC 5961 §7).
		c.challengeACK(now, ReasonAckTimeWait)
		return ReasonDropTimeWait
	}
	drop := ReasonDropOutsideWindow
	if ack == ReasonAckPAWS {
		drop = ReasonDropPAWS
	}
	if n := uint32(len(seg.Payload)); n > 0 && seg.Seq.Add(n).LessThanEq(c.rcv.nxt) {
		c.rcv.duplicateArrived(seg.Seq, seg.Seq.Add(n)) // RFC 2883 §4: a duplicate segment
		if ack == ReasonAckUnacceptable {
			ack, drop = ReasonAckDuplicate, ReasonDropDuplicate
		}
	}
	c.ackFor(ack)
	return drop
}

// challengeACK sends an RFC 5961 challenge ACK,
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, within the §7 budget, for the reason why.
func (c *tcb) challengeACK(now time.Time, why Reason) {
	if !c.challenge.take(now) {
		c.stats.ChallengeACKsThrottled++
		return
	}
	c.stats.ChallengeACKs++
	c.ackFor(why)
}

// processACK is the fifth check for ESTABLISHED and the states that share
// its rules (FIN-WAIT-1/2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT). It
// reports false when the segment must be dropped.
func (c *tcb) processACK(now time.Time, seg *Segment) bool {
	ack, s := seg.Ack, &c.snd
	if ack.GreaterThan(s.nxt) {
		// "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then
		// send an ACK, drop the segment, and return."
		c.ackFor(ReasonAckUnsent)
		c.drop(now, seg, ReasonDropAckUnsent)
		return false
	}
	// RFC 5961 §5.2 (MAY-12): an ACK below SND.UNA - MAX.SND.WND is
	// answered with an ACK and dropped (blind data injection).
	if s.maxWnd > 0 && ack.LessThan(s.una.Add(-s.maxWnd)) {
		c.challengeACK(now, ReasonChallengeAckOld)
		c.drop(now, seg, ReasonDropOldAck)
		return false
	}
	if ack.LessThan(s.una) {
		// "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored."
		return true
	}
	// "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK", with
	// the scoreboard, loss detection and congestion control (tcb_recovery.go).
	c.ackArrived(now, seg)
	// "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated.
	// If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)),
	// set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
	if s.wl1.LessThan(seg.Seq) || (s.wl1 == seg.Seq && s.wl2.LessThanEq(ack)) {
		c.updateWindow(seg)
	}
	// MUST-37: a peer that keeps answering zero-window probes is alive; the
	// R2 clock does not run against it.
	if seg.Window == 0 && !c.rtxSince.IsZero() {
		c.rtxSince = now
	}
	return true
}

// processTextAndFIN runs the seventh (segment text) and eighth (FIN) checks
// of RFC 9293 §3.10.7.4 on an acceptable segment.
func (c *tcb) processTextAndFIN(now time.Time, seg *Segment) {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur
		// since a FIN has been received from the remote side. Ignore the
		// segment text." A repeated FIN was answered by the first check.
		if len(seg.Payload) > 0 {
			c.drop(now, seg, ReasonDropTextAfterFIN)
		}
		return
	}
	seq, data, fin, cut := c.rcv.text(seg)
	if cut {
		c.ackFor(ReasonAckWindowFull) // text the window has no room for is dropped, and an ACK says so
	}
	if len(data) == 0 && !fin {
		return
	}
	if c.rcv.readClosed && len(data) > 0 {
		// RFC 9293 §3.6.1 (SHLD-3): data for an application that closed the
		// connection resets it.
		c.abortWith(now, ReasonRstDataAfterClose)
		return
	}
	c.stats.BytesIn += uint64(len(data))
	before, dropped := c.rcv.nxt, c.stats.OutOfOrderDropped
	fin, filled := c.deliverText(now, seq, data, fin)
	if c.stats.OutOfOrderDropped != dropped {
		c.drop(now, seg, ReasonDropOutOfOrderBound) // holdOutOfOrder: over a bound
	}
	if seq != before {
		return // held out of order; acknowledged at once
	}
	// "Send an acknowledgment of the form <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>."
	// Data that fills a hole (RFC 5681 §4.2) is acknowledged at once; other
	// in-order data may wait for a second segment.
	if filled {
		c.ackFor(ReasonAckHoleFilled)
	} else {
		c.delayACK(now, int(c.rcv.nxt.Sub(before)))
	}
	if fin {
		c.processFIN(now)
	}
}

// processFIN is the eighth check of RFC 9293 §3.10.7.4: "signal the user
// 'connection closing' and return any pending RECEIVEs with same message,
// advance RCV.NXT over the FIN, and send an acknowledgment for the FIN."
func (c *tcb) processFIN(now time.Time) {
	c.rcv.nxt = c.rcv.nxt.Add(1)
	c.rcv.adv = c.rcv.adv.Max(c.rcv.nxt) // a FIN taken at a zero window is past the edge
	// The FIN is the peer's last octet: whatever it sent beyond it and we
	// hold out of order is not part of the stream.
	c.rcv.ooo.clear()
	c.rcv.oooFIN = false
	c.rcv.finRcvd = true
	c.events |= evReadable
	switch c.state {
	case StateSynReceived, StateEstablished:
		// "Enter the CLOSE-WAIT state." (passive close) The ACK of the FIN
		// is delayed as data's is (§3.8.6.3, MUST-40), so that the
		// application's CLOSE, which usually follows at once, carries it on
		// our FIN, as Linux does.
		c.setState(now, StateCloseWait)
		c.delayFINACK(now)
		return
	}
	c.ackFor(ReasonAckFIN)
	switch c.state {
	case StateFinWait1:
		// "If our FIN has been ACKed (perhaps in this segment), then enter
		// TIME-WAIT, start the time-wait timer, turn off the other timers;
		// otherwise, enter the CLOSING state." (simultaneous close)
		if c.snd.finAcked() {
			c.setState(now, StateTimeWait)
		} else {
			c.setState(now, StateClosing)
		}
	case StateFinWait2:
		// "Enter the TIME-WAIT state. Start the time-wait timer, turn off the other timers."
		c.setState(now, StateTimeWait)
	}
}
