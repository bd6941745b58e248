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
	default:
		// "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
		rst.Seq = seg.Ack
		rst.Flags = FlagRST
	}
	return rst, true
}

// segmentArrives processes one segment for this connection (RFC 9293
// §3.10.7). The stack has verified its checksum and demultiplexed it.
func (c *tcb) segmentArrives(now time.Time, seg *Segment) {
	c.stats.SegsIn++
	c.lastRecv, c.probesSent = now, 0 // the peer is alive (§3.8.4)
	switch c.state {
	case StateClosed:
		// The stack answers segments for closed connections (replyToClosed).
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
// segment is a SYN for the third check. The stack uses it for segments to a
// listening port; handleListen for a TCB in LISTEN.
func listenCheck(seg *Segment) (rst Segment, reply, syn bool) {
	switch {
	case seg.Flags.Has(FlagRST):
		// First, check for a RST: "An incoming RST should be ignored."
		return Segment{}, false, false
	case seg.Flags.Has(FlagACK):
		// Second, check for an ACK: "Any acknowledgment is bad if it arrives
		// on a connection still in the LISTEN state. An acceptable reset
		// segment should be formed for any arriving ACK-bearing segment ...
		// <SEQ=SEG.ACK><CTL=RST>"
		return Segment{SrcPort: seg.DstPort, DstPort: seg.SrcPort, Seq: seg.Ack, Flags: FlagRST}, true, false
	case seg.Flags.Has(FlagSYN):
		return Segment{}, false, true
	}
	// Fourth, other text or control: "drop the segment and return".
	return Segment{}, false, false
}

// handleListen is RFC 9293 §3.10.7.2, LISTEN state.
func (c *tcb) handleListen(now time.Time, seg *Segment) {
	rst, reply, syn := listenCheck(seg)
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
	// SYN-RECEIVED." The stack chose ISS; output sends the SYN-ACK.
	// Text that came with the SYN is not queued: the peer sends it again.
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.rcvAdv = c.rcvNxt
	c.synOptions(seg)
	c.setState(now, StateSynReceived)
}

// synOptions takes what a SYN or SYN-ACK negotiates: the peer's MSS and window scale.
func (c *tcb) synOptions(seg *Segment) {
	// RFC 9293 §3.7.1, MUST-14/MUST-15/MUST-16: send MSS is the peer's MSS
	// option (536 without one), limited by what our own MTU carries.
	if mss := int(seg.Options.MSS); mss > 0 {
		c.sndMSS = mss
	}
	c.sndMSS = max(min(c.sndMSS, c.cfg.MTU-40), 64)
	// RFC 7323 §2.2: window scaling is on only if both SYNs carry the option.
	c.wsOK = seg.Options.HasWindowScale
	if c.wsOK {
		c.sndScale = min(seg.Options.WindowScale, 14)
	} else {
		c.sndScale, c.rcvScale = 0, 0
	}
	// RFC 5681 §3.1 with RFC 6928: initial window min(10*MSS, max(2*MSS, 14600)).
	c.cwnd = uint32(min(10*c.sndMSS, max(2*c.sndMSS, 14600)))
}

// handleSynSent is RFC 9293 §3.10.7.3, SYN-SENT state.
func (c *tcb) handleSynSent(now time.Time, seg *Segment) {
	// First, check the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send
	// a reset (unless the RST bit is set, if so drop the segment and return)
	// <SEQ=SEG.ACK><CTL=RST> and discard the segment."
	hasACK := seg.Flags.Has(FlagACK)
	if hasACK && (seg.Ack.LessThanEq(c.iss) || seg.Ack.GreaterThan(c.sndNxt)) {
		if !seg.Flags.Has(FlagRST) {
			c.ctl = append(c.ctl, Segment{Seq: seg.Ack, Flags: FlagRST})
		}
		c.stats.DroppedSegs++
		return
	}
	// Second, check the RST bit: "If the ACK was acceptable, then signal to
	// the user 'error: connection reset', drop the segment, enter CLOSED
	// state ... Otherwise (no ACK), drop the segment and return."
	// (RFC 5961 §3.2: in SYN-SENT the ACK check above validates the RST.)
	if seg.Flags.Has(FlagRST) {
		if hasACK {
			c.reset(now, syscall.ECONNREFUSED)
		}
		return
	}
	// Third, security: not implemented (no IP security compartments).
	// Fourth, check the SYN bit.
	if !seg.Flags.Has(FlagSYN) {
		// Fifth: "If neither of the SYN or RST bits is set, then drop the segment and return."
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq.Add(1)
	c.rcvAdv = c.rcvNxt
	c.synOptions(seg)
	if hasACK {
		// "SND.UNA should be advanced to equal SEG.ACK (if there is an ACK),
		// and any segments on the retransmission queue that are thereby
		// acknowledged should be removed."
		c.ackAdvance(now, seg.Ack)
	}
	if c.sndUna.GreaterThan(c.iss) {
		// "If SND.UNA > ISS (our SYN has been ACKed), change the connection
		// state to ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT>
		// <CTL=ACK> and send it." This is the second segment of the
		// three-way handshake: the active opener's connect() returns here.
		c.establish(now, seg)
		c.ackNow = true
		// "If there are other controls or text in the segment, then continue
		// processing at the sixth step."
		s := *seg
		s.Seq = s.Seq.Add(1)
		s.Flags &^= FlagSYN
		c.processTextAndFIN(now, &s)
		return
	}
	// "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
	// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it. Set the variables:
	// SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK."
	// This is simultaneous open (MUST-10); the connection stays active
	// (MUST-11), so a RST in SYN-RECEIVED closes it.
	c.updateWindow(seg)
	c.setState(now, StateSynReceived)
	c.txNxt = c.iss // output sends <SEQ=ISS><CTL=SYN,ACK>
	c.rttTiming = false
}

// establish completes a handshake: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ,
// SND.WL2 <- SEG.ACK, and the state is ESTABLISHED.
func (c *tcb) establish(now time.Time, seg *Segment) {
	c.updateWindow(seg)
	c.setState(now, StateEstablished)
	c.events |= evEstablished | evWritable
}

// updateWindow takes SND.WND from seg (RFC 9293 §3.10.7.4 fifth check).
// RFC 7323 §2.2: the window in a SYN is never scaled.
func (c *tcb) updateWindow(seg *Segment) {
	wnd := uint32(seg.Window)
	if !seg.Flags.Has(FlagSYN) {
		wnd <<= c.sndScale
	}
	c.sndWnd = wnd
	c.sndWl1 = seg.Seq
	c.sndWl2 = seg.Ack
	c.maxSndWnd = max(c.maxSndWnd, wnd)
	if wnd > 0 {
		c.persistAt = time.Time{}
		c.persistBackoff = 0
	}
}

// handleSynchronized is RFC 9293 §3.10.7.4, "Otherwise": SYN-RECEIVED and
// every synchronized state. The checks run in the RFC's order.
func (c *tcb) handleSynchronized(now time.Time, in *Segment) {
	seg := *in // trimmed below; in stays untouched

	// First, check sequence number.
	if !c.acceptable(&seg) {
		c.stats.DroppedSegs++
		if seg.Flags.Has(FlagRST) {
			// "If the RST bit is set, drop the segment and return" (an
			// out-of-window RST is ignored, RFC 5961 §3.2).
			return
		}
		switch {
		case c.state == StateSynReceived && !c.passive && seg.Flags.Has(FlagSYN|FlagACK) && seg.Seq == c.irs &&
			c.sndUna.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.sndNxt):
			// Simultaneous open, RFC 9293 Figure 7 line 6: the peer's SYN,ACK
			// repeats the SYN we hold but acknowledges ours, which completes
			// the handshake. The old SYN is trimmed; the ACK is processed.
			seg.Flags &^= FlagSYN
			seg.Seq = seg.Seq.Add(1)
			c.establish(now, &seg)
			c.processACK(now, &seg)
			c.ackNow = true
		case c.state == StateSynReceived && seg.Flags.Has(FlagSYN) && !seg.Flags.Has(FlagACK) && seg.Seq == c.irs:
			// The peer repeats its SYN: our SYN-ACK was lost. Send it again
			// now rather than waiting for our timer (as Linux does).
			c.txNxt = c.iss
			c.rttTiming = false
		case c.state == StateTimeWait && seg.Flags.Has(FlagFIN):
			// Fifth check, TIME-WAIT: "The only thing that can arrive in this
			// state is a retransmission of the remote FIN. Acknowledge it, and
			// restart the 2 MSL timeout."
			c.timeWaitAt = now.Add(2 * c.cfg.MSL)
			c.ackNow = true
		default:
			// "If an incoming segment is not acceptable, an acknowledgment
			// should be sent in reply: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"
			c.ackNow = true
		}
		return
	}

	// Second, check the RST bit (RFC 5961 §3.2 as RFC 9293 recommends).
	if seg.Flags.Has(FlagRST) {
		if seg.Seq != c.rcvNxt {
			// In the window but not exact: "send a challenge ACK ... After
			// sending the challenge ACK, TCP MUST drop the unacceptable segment."
			c.challengeACK(now)
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
		// RFC 5961 §4: a SYN in a synchronized state draws a challenge ACK
		// and is dropped, whatever its sequence number.
		c.challengeACK(now)
		return
	}

	// Fifth, check the ACK field: "if the ACK bit is off, drop the segment and return".
	if !seg.Flags.Has(FlagACK) {
		return
	}
	if c.state == StateSynReceived {
		// "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and
		// continue processing with the variables below set to: SND.WND <-
		// SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK." This is the
		// third segment of the handshake: accept() can return it now.
		if !(c.sndUna.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.sndNxt)) {
			// "If the segment acknowledgment is not acceptable, form a reset
			// segment <SEQ=SEG.ACK><CTL=RST> and send it."
			c.ctl = append(c.ctl, Segment{Seq: seg.Ack, Flags: FlagRST})
			return
		}
		c.establish(now, &seg)
	}
	if !c.processACK(now, &seg) {
		return
	}
	switch c.state {
	case StateFinWait1:
		// "In addition to the processing for the ESTABLISHED state, if the FIN
		// segment is now acknowledged, then enter FIN-WAIT-2."
		if c.finAcked() {
			c.setState(now, StateFinWait2)
		}
	case StateClosing:
		// "if the ACK acknowledges our FIN, then enter the TIME-WAIT state;
		// otherwise, ignore the segment."
		if c.finAcked() {
			c.setState(now, StateTimeWait)
		}
		return
	case StateLastAck:
		// "The only thing that can arrive in this state is an acknowledgment
		// of our FIN. If our FIN is now acknowledged, delete the TCB, enter
		// the CLOSED state, and return."
		if c.finAcked() {
			c.setState(now, StateClosed)
		}
		return
	}

	// Sixth, check the URG bit: the urgent pointer is not delivered
	// separately; urgent octets arrive inline with the rest of the data.

	// Seventh, process the segment text; eighth, check the FIN bit.
	c.processTextAndFIN(now, &seg)
}

// acceptable is the first check of RFC 9293 §3.10.7.4: the four-case
// acceptability test. It trims an acceptable segment to the receive window
// in place: "If a segment's contents straddle the boundary between old and
// new, only the new parts are processed", and octets past the window are
// dropped.
func (c *tcb) acceptable(seg *Segment) bool {
	wnd := uint32(0)
	if c.rcvAdv.GreaterThan(c.rcvNxt) {
		wnd = uint32(c.rcvAdv.Sub(c.rcvNxt))
	}
	segLen := seg.Len()
	ok := false
	switch {
	case segLen == 0 && wnd == 0:
		ok = seg.Seq == c.rcvNxt
	case segLen == 0 && wnd > 0:
		ok = seg.Seq.InWindow(c.rcvNxt, wnd)
	case segLen > 0 && wnd == 0:
		// "not acceptable" — but MUST-66: "If the RCV.WND is zero, no segments
		// will be acceptable, but special allowance should be made to accept
		// valid ACKs, URGs, and RSTs." A segment at RCV.NXT is processed with
		// its text and FIN removed, and draws an ACK.
		if seg.Seq == c.rcvNxt {
			seg.Payload = nil
			seg.Flags &^= FlagFIN | FlagSYN
			c.ackNow = true
			return true
		}
	default:
		ok = seg.Seq.InWindow(c.rcvNxt, wnd) || seg.Seq.Add(segLen-1).InWindow(c.rcvNxt, wnd)
	}
	if !ok || segLen == 0 {
		return ok
	}
	// Trim the old part at the front: first the SYN, then data octets.
	if seg.Seq.LessThan(c.rcvNxt) {
		old := uint32(c.rcvNxt.Sub(seg.Seq))
		if seg.Flags.Has(FlagSYN) {
			seg.Flags &^= FlagSYN
			old--
			seg.Seq = seg.Seq.Add(1)
		}
		n := min(old, uint32(len(seg.Payload)))
		seg.Payload = seg.Payload[n:]
		seg.Seq = seg.Seq.Add(n)
	}
	// Trim what lies past the right edge: data octets, then the FIN.
	right := c.rcvNxt.Add(wnd)
	if end := seg.Seq.Add(uint32(len(seg.Payload))); end.GreaterThan(right) {
		seg.Payload = seg.Payload[:len(seg.Payload)-int(end.Sub(right))]
		seg.Flags &^= FlagFIN
	}
	return true
}

// challengeACK sends an RFC 5961 challenge ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
// RFC 5961 §7: challenge ACKs are throttled, here to 10 per 5 seconds per
// connection (a per-connection budget leaks nothing about other
// connections, unlike the global one of CVE-2016-5696).
func (c *tcb) challengeACK(now time.Time) {
	if now.Sub(c.challengeStart) >= challengeACKPeriod {
		c.challengeStart, c.challengeCount = now, 0
	}
	if c.challengeCount >= challengeACKLimit {
		c.stats.ChallengeACKsThrottled++
		return
	}
	c.challengeCount++
	c.stats.ChallengeACKs++
	c.ackNow = true
}

const (
	challengeACKLimit  = 10
	challengeACKPeriod = 5 * time.Second
)

// processACK is the fifth check for ESTABLISHED and the states that share
// its rules (FIN-WAIT-1/2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT). It
// reports false when the segment must be dropped.
func (c *tcb) processACK(now time.Time, seg *Segment) bool {
	ack := seg.Ack
	if ack.GreaterThan(c.sndNxt) {
		// "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then
		// send an ACK, drop the segment, and return."
		c.ackNow = true
		return false
	}
	// RFC 5961 §5.2 (MAY-12): an ACK below SND.UNA - MAX.SND.WND is
	// answered with an ACK and dropped (blind data injection).
	if ack.LessThan(c.sndUna.Add(-c.maxSndWnd)) && c.maxSndWnd > 0 {
		c.challengeACK(now)
		return false
	}
	if ack.LessThan(c.sndUna) {
		// "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored."
		return true
	}
	if ack.GreaterThan(c.sndUna) {
		// "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK."
		c.ackAdvance(now, ack)
	} else if len(seg.Payload) == 0 && !seg.Flags.Has(FlagFIN) &&
		uint32(seg.Window)<<c.sndScale == c.sndWnd && c.sndUna != c.sndNxt {
		c.duplicateACK()
	}
	// "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated.
	// If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)),
	// set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
	if c.sndWl1.LessThan(seg.Seq) || (c.sndWl1 == seg.Seq && c.sndWl2.LessThanEq(ack)) {
		c.updateWindow(seg)
		c.events |= evWritable
	}
	// MUST-37: a peer that keeps answering zero-window probes is alive; the
	// R2 clock does not run against it.
	if seg.Window == 0 && !c.rtxSince.IsZero() {
		c.rtxSince = now
	}
	return true
}

// ackAdvance moves SND.UNA to ack: it frees acknowledged octets, takes an RTT
// sample (RFC 6298, with Karn's rule), restarts the retransmission timer and
// grows the congestion window (RFC 5681).
func (c *tcb) ackAdvance(now time.Time, ack Seq) {
	acked := uint32(ack.Sub(c.sndUna))
	// Data octets acknowledged: those between bufStart and min(ack, data end).
	start, end := c.bufStart(), c.dataEnd()
	upTo := ack
	if upTo.GreaterThan(end) {
		upTo = end
	}
	if upTo.GreaterThan(start) {
		c.sndBuf.Discard(int(upTo.Sub(start)))
		c.events |= evWritable
	}
	c.sndUna = ack
	if c.txNxt.LessThan(ack) {
		c.txNxt = ack
	}

	// RFC 6298 §3 (Karn): sample only a segment that was never retransmitted.
	if c.rttTiming && c.rttSeq.LessThanEq(ack) {
		c.rttTiming = false
		c.sampleRTT(now.Sub(c.rttStart))
	}
	// RFC 6298 §5.2/5.3: stop the timer when everything is acknowledged,
	// otherwise restart it. The R2 clock restarts with the next segment.
	if c.sndUna == c.sndNxt {
		c.rtxAt, c.rtxSince = time.Time{}, time.Time{}
	} else {
		c.rtxAt, c.rtxSince = now.Add(c.rto), now
	}

	// RFC 5681 §3.1 / RFC 6582: grow cwnd, or leave fast recovery.
	mss := uint32(c.sndMSS)
	switch {
	case c.inRecov && ack.GreaterThanEq(c.recover):
		c.inRecov = false
		c.cwnd = c.ssthresh
	case c.inRecov:
		// RFC 6582 §3.2 step 5: a partial ACK retransmits the next hole.
		c.fastRtx = true
		c.cwnd = c.cwnd - min(c.cwnd, acked) + mss
	case c.cwnd < c.ssthresh:
		c.cwnd += min(acked, mss) // slow start
	default:
		c.cwnd += max(1, mss*mss/c.cwnd) // congestion avoidance
	}
	c.dupAcks = 0
}

// duplicateACK counts a duplicate ACK; the third starts fast retransmit and
// fast recovery (RFC 5681 §3.2, RFC 6582).
func (c *tcb) duplicateACK() {
	c.dupAcks++
	mss := uint32(c.sndMSS)
	switch {
	case c.inRecov:
		c.cwnd += mss
	case c.dupAcks == 3:
		c.ssthresh = max(c.flightSize()/2, 2*mss)
		c.cwnd = c.ssthresh + 3*mss
		c.recover = c.sndNxt
		c.inRecov = true
		c.fastRtx = true
		c.rttTiming = false
	}
}

func (c *tcb) flightSize() uint32 { return uint32(c.sndNxt.Sub(c.sndUna)) }

// sampleRTT folds one measurement into SRTT and RTTVAR and recomputes the
// RTO (RFC 6298 §2.2-2.5).
func (c *tcb) sampleRTT(r time.Duration) {
	if !c.hasRTT {
		c.srtt, c.rttvar, c.hasRTT = r, r/2, true
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+max(time.Millisecond, 4*c.rttvar), c.cfg.MinRTO), c.cfg.MaxRTO)
}

// processTextAndFIN runs the seventh (segment text) and eighth (FIN) checks
// of RFC 9293 §3.10.7.4 on an acceptable, trimmed segment.
func (c *tcb) processTextAndFIN(now time.Time, seg *Segment) {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur
		// since a FIN has been received from the remote side. Ignore the
		// segment text." A repeated FIN was answered by the first check.
		return
	}
	if len(seg.Payload) == 0 && !seg.Flags.Has(FlagFIN) {
		return
	}
	if c.readClosed && len(seg.Payload) > 0 {
		// RFC 9293 §3.6.1 (SHLD-3): data for an application that closed the
		// connection resets it.
		c.abort(now)
		return
	}
	c.stats.BytesIn += uint64(len(seg.Payload))
	if seg.Seq != c.rcvNxt {
		// SHLD-31: hold a segment that starts past RCV.NXT for later, and
		// acknowledge at once (MAY-13) so the peer sees the hole.
		c.ooo.insert(seg.Seq, seg.Payload, seg.Flags.Has(FlagFIN))
		c.stats.OutOfOrder++
		c.ackNow = true
		return
	}
	// Seventh: "Once in the ESTABLISHED state, it is possible to deliver
	// segment data to user RECEIVE buffers ... RCV.NXT is advanced over the
	// data accepted, and RCV.WND adjusted ... Send an acknowledgment of the
	// form <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>."
	fin := c.deliver(seg.Payload, seg.Flags.Has(FlagFIN))
	filled := false
	for {
		o, ok := c.ooo.pop(c.rcvNxt)
		if !ok {
			break
		}
		c.deliver(o.data[min(int(c.rcvNxt.Sub(o.seq)), len(o.data)):], false)
		filled = true
	}
	if c.ooo.finAt(c.rcvNxt) {
		fin = true
	}
	// A FIN, and data that fills a hole (RFC 5681 §4.2), are acknowledged at
	// once; other in-order data may wait for a second segment.
	if fin || filled {
		c.ackNow = true
	} else {
		c.delayACK(now, len(seg.Payload))
	}
	if fin {
		c.processFIN(now)
	}
}

// delayACK acknowledges received data late (RFC 9293 §3.8.6.3, SHLD-18),
// but at least every second full-sized segment (SHLD-19) and within
// Config.DelayedACK (MUST-40: under 0.5 s).
func (c *tcb) delayACK(now time.Time, n int) {
	c.delAckBytes += n
	if c.cfg.DelayedACK < 0 || c.delAckBytes >= 2*c.rcvMSS {
		c.ackNow = true
		return
	}
	if c.delAckAt.IsZero() {
		c.delAckAt = now.Add(c.cfg.DelayedACK)
	}
}

// deliver appends in-order data to the receive buffer and advances RCV.NXT.
// It reports whether fin became in order too.
func (c *tcb) deliver(data []byte, fin bool) bool {
	n := c.rcvBuf.Write(data)
	c.rcvNxt = c.rcvNxt.Add(uint32(n))
	if n > 0 {
		c.events |= evReadable
	}
	return fin && n == len(data)
}

// processFIN is the eighth check of RFC 9293 §3.10.7.4: "signal the user
// 'connection closing' and return any pending RECEIVEs with same message,
// advance RCV.NXT over the FIN, and send an acknowledgment for the FIN."
func (c *tcb) processFIN(now time.Time) {
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finRcvd = true
	c.ackNow = true
	c.events |= evReadable
	switch c.state {
	case StateSynReceived, StateEstablished:
		// "Enter the CLOSE-WAIT state." (passive close)
		c.setState(now, StateCloseWait)
	case StateFinWait1:
		// "If our FIN has been ACKed (perhaps in this segment), then enter
		// TIME-WAIT, start the time-wait timer, turn off the other timers;
		// otherwise, enter the CLOSING state." (simultaneous close)
		if c.finAcked() {
			c.setState(now, StateTimeWait)
		} else {
			c.setState(now, StateClosing)
		}
	case StateFinWait2:
		// "Enter the TIME-WAIT state. Start the time-wait timer, turn off the other timers."
		c.setState(now, StateTimeWait)
	}
}
