package tcp

import (
	"time"
)

// output emits, in order, every segment the connection should send now,
// with the connection's four-tuple. emit must consume the segment before it
// returns: the payload points into a buffer the next segment reuses.
func (c *tcb) output(now time.Time, emit func(FourTuple, *Segment)) {
	for i := range c.ctl {
		s := &c.ctl[i]
		s.SrcPort, s.DstPort = c.id.Local.Port(), c.id.Remote.Port()
		c.emit(now, s, emit)
	}
	c.ctl = c.ctl[:0]
	switch c.state {
	case StateClosed, StateListen:
		c.ackNow = false
		return
	}
	if c.txNxt == c.iss {
		c.sendSYN(now, emit)
		return
	}
	if c.state == StateSynSent {
		return
	}
	c.sendData(now, emit)
	if c.sendProbe {
		// RFC 9293 §3.8.4: a keep-alive is <SEQ=SND.NXT-1><ACK=RCV.NXT> with
		// no data (SHLD-12); being old, it makes the peer send an ACK.
		c.sendProbe = false
		s := c.newSegment()
		s.Seq = c.sndNxt.Add(^uint32(0))
		c.fill(s)
		c.emit(now, s, emit)
	}
	if c.ackNow {
		// A bare ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
		s := c.newSegment()
		s.Seq = c.sndNxt
		c.fill(s)
		c.ackNow = false
		c.emit(now, s, emit)
	}
}

// sendSYN sends our SYN (active open, SYN-SENT) or SYN-ACK (passive open or
// simultaneous open, SYN-RECEIVED), first or again.
func (c *tcb) sendSYN(now time.Time, emit func(FourTuple, *Segment)) {
	s := c.newSegment()
	s.Seq, s.Flags = c.iss, FlagSYN
	// RFC 9293 MUST-14, SHLD-5, MAY-3: always announce our MSS on the SYN
	// (MUST-65: never on other segments).
	s.Options.MSS = uint16(c.rcvMSS)
	// RFC 7323 §2.2: offer window scaling on a SYN; on a SYN-ACK only if the peer offered it.
	if c.state == StateSynSent || c.wsOK {
		s.Options.HasWindowScale = true
		s.Options.WindowScale = c.rcvScale
	}
	if c.state != StateSynSent {
		s.Flags |= FlagACK
		s.Ack = c.rcvNxt
	}
	// RFC 7323 §2.2: the window field of a SYN is not scaled.
	s.Window = uint16(min(c.rcvWindowSpace(), 0xffff))
	c.rcvWnd = uint32(s.Window)
	c.rcvAdv = c.rcvNxt.Add(c.rcvWnd)
	if c.sndNxt == c.iss {
		c.rttTiming, c.rttSeq, c.rttStart = true, c.iss.Add(1), now
	} else {
		c.stats.Retransmits++
	}
	c.txNxt = c.iss.Add(1)
	c.sndNxt = c.sndNxt.Max(c.txNxt)
	c.armRetransmit(now)
	c.ackNow = false
	c.emit(now, s, emit)
}

// sendData sends queued data and the FIN as the windows allow (RFC 9293
// §3.8.6, RFC 5681), then a fast retransmission or a zero-window probe if
// one is due.
func (c *tcb) sendData(now time.Time, emit func(FourTuple, *Segment)) {
	if c.sndUna == c.iss {
		return // no data before our SYN is acknowledged (§3.10.4: FIN queued until ESTABLISHED)
	}
	if c.fastRtx {
		// RFC 5681 §3.2 step 4 / RFC 6582: retransmit the first unacknowledged segment.
		c.fastRtx = false
		c.stats.FastRetransmits++
		// Never past SND.NXT: what was not sent before is not a retransmission.
		n := min(c.sndMSS, max(0, int(c.dataEnd().Sub(c.sndUna))), int(c.sndNxt.Sub(c.sndUna)))
		fin := c.finSent() && c.sndUna.Add(uint32(n)) == c.finSeq
		if n > 0 || fin {
			c.sendSegment(now, c.sndUna, n, fin, emit)
		}
	}
	for {
		off := int(c.txNxt.Sub(c.bufStart()))
		avail := c.sndBuf.Len() - off
		if avail < 0 {
			avail = 0 // only the FIN lies past the data
		}
		// MUST-34, SHLD-15: the usable window may be negative; send nothing then.
		usable := int64(c.sndUna.Add(min(c.sndWnd, c.cwnd)).Sub(c.txNxt))
		n := int(min(int64(avail), int64(c.sndMSS), max(usable, 0)))
		retransmit := c.txNxt.LessThan(c.sndNxt)
		fin := c.finQueued && c.txNxt.Add(uint32(n)) == c.finSeq
		if c.probe && n == 0 && avail > 0 {
			// RFC 9293 §3.8.6.1 (MUST-35/36): probe a zero window with one octet.
			c.probe = false
			c.stats.ZeroWindowProbes++
			c.sendSegment(now, c.txNxt, 1, false, emit)
			continue
		}
		if n == 0 && !fin {
			break
		}
		if n < c.sndMSS && !retransmit && !c.probe && !c.maySendSmall(n, avail) {
			break
		}
		c.probe = false
		c.sendSegment(now, c.txNxt, n, fin, emit)
	}
	// RFC 9293 §3.8.6.1 (SHLD-29): with data waiting, nothing in flight and
	// no window to send it, probe after one RTO.
	if c.sndUna == c.sndNxt && c.dataEnd().GreaterThan(c.txNxt) && c.persistAt.IsZero() {
		c.persistAt = now.Add(c.rto << min(c.persistBackoff, 6))
	}
}

// maySendSmall decides whether a segment shorter than the MSS may go now:
// RFC 9293 §3.8.6.2.1 sender SWS avoidance (MUST-38) and Nagle's algorithm
// (§3.7.4, SHLD-7), which the application can turn off (MUST-17).
func (c *tcb) maySendSmall(n, avail int) bool {
	if n == avail && (c.noDelay || c.sndUna == c.sndNxt || c.finQueued) {
		return true // all queued data, and Nagle allows it
	}
	return c.maxSndWnd > 0 && uint32(n) >= c.maxSndWnd/2 // at least half the largest window offered
}

// sendSegment emits n data octets from seq, plus the FIN if fin.
func (c *tcb) sendSegment(now time.Time, seq Seq, n int, fin bool, emit func(FourTuple, *Segment)) {
	if cap(c.scratch) < c.sndMSS {
		c.scratch = make([]byte, c.sndMSS)
	}
	p := c.scratch[:n]
	c.sndBuf.Peek(int(seq.Sub(c.bufStart())), p)
	s := c.newSegment()
	s.Seq, s.Payload = seq, p
	if fin {
		s.Flags |= FlagFIN
	}
	end := seq.Add(uint32(n))
	if n > 0 && end == c.dataEnd() {
		// RFC 9293 §3.9.1.2 (MUST-61): PSH on the last segment of what is queued.
		s.Flags |= FlagPSH
	}
	c.fill(s)
	if fin {
		end = end.Add(1)
	}
	if seq.LessThan(c.sndNxt) {
		c.stats.Retransmits++
	} else if !c.rttTiming && end.GreaterThan(seq) {
		c.rttTiming, c.rttSeq, c.rttStart = true, end, now
	}
	if seq == c.txNxt {
		c.txNxt = end
	}
	c.sndNxt = c.sndNxt.Max(end)
	c.stats.BytesOut += uint64(n)
	c.armRetransmit(now)
	c.ackNow = false
	c.emit(now, s, emit)
}

// newSegment returns the TCB's reusable outgoing segment, cleared, so
// emitting does not allocate.
func (c *tcb) newSegment() *Segment {
	c.seg = Segment{}
	return &c.seg
}

// fill sets the fields every synchronized segment carries: the ACK of
// RCV.NXT and the receive window.
func (c *tcb) fill(s *Segment) {
	s.Flags |= FlagACK
	c.delAckAt, c.delAckBytes = time.Time{}, 0 // this segment carries the ACK
	s.Ack = c.rcvNxt
	s.Window = c.advertise()
}

// advertise computes the window for an outgoing segment from the free
// receive buffer and records it as RCV.WND.
func (c *tcb) advertise() uint16 {
	edge := c.rcvNxt.Add(uint32(c.windowSpace()))
	// RFC 9293 §3.8.6.2.2 (MUST-39): move the right edge only in steps of
	// min(buffer/2, MSS), so the peer does not send tiny segments.
	if grow := edge.Sub(c.rcvAdv); grow > 0 && int(grow) < c.swsThreshold() && c.rcvAdv.GreaterThan(c.rcvNxt) {
		edge = c.rcvAdv
	}
	// SHLD-14: never move the right edge to the left.
	edge = edge.Max(c.rcvAdv)
	wnd := uint32(0)
	if edge.GreaterThan(c.rcvNxt) {
		wnd = uint32(edge.Sub(c.rcvNxt))
	}
	// RFC 7323 §2.3: the field carries the window shifted right by our scale.
	field := min(wnd>>c.rcvScale, 0xffff)
	c.rcvWnd = field << c.rcvScale
	c.rcvAdv = c.rcvAdv.Max(c.rcvNxt.Add(c.rcvWnd))
	return uint16(field)
}

// emit hands a finished segment to the caller.
func (c *tcb) emit(now time.Time, s *Segment, emit func(FourTuple, *Segment)) {
	if s.SrcPort == 0 {
		s.SrcPort, s.DstPort = c.id.Local.Port(), c.id.Remote.Port()
	}
	c.stats.SegsOut++
	if tr := c.cfg.Tracer; tr != nil {
		tr.SegmentOut(now, c.id, s)
	}
	emit(c.id, s)
}
