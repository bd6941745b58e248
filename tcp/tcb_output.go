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
		c.ackWhy = ReasonNone
		return
	}
	if c.snd.synDue {
		c.sendSYN(now, emit)
		return
	}
	if c.state == StateSynSent {
		return
	}
	c.sendData(now, emit)
	if c.ka.due {
		// RFC 9293 §3.8.4: a keep-alive is <SEQ=SND.NXT-1><ACK=RCV.NXT> with
		// no data (SHLD-12); being old, it makes the peer send an ACK.
		c.ka.due = false
		s := c.newSegment()
		s.Seq, s.Why = c.snd.nxt.Add(^uint32(0)), ReasonKeepAlive
		c.fill(s)
		c.emit(now, s, emit)
	}
	if why := c.ackWhy; why != ReasonNone {
		// A bare ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
		s := c.newSegment()
		s.Seq, s.Why = c.snd.nxt, why
		c.fill(s)
		c.emit(now, s, emit)
	}
	c.armReclaim(now)
}

// sendSYN sends our SYN (active open, SYN-SENT) or SYN-ACK (passive open or
// simultaneous open, SYN-RECEIVED), first or again.
func (c *tcb) sendSYN(now time.Time, emit func(FourTuple, *Segment)) {
	snd := &c.snd
	s := c.newSegment()
	s.Seq, s.Flags, s.Why = snd.iss, FlagSYN, c.synWhy
	c.synOffer(s) // MSS, window scale, SACK-permitted, timestamps, ECN
	if c.state != StateSynSent {
		s.Flags |= FlagACK
		s.Ack = c.rcv.nxt
	}
	// RFC 7323 §2.2: the window field of a SYN is not scaled.
	s.Window = uint16(min(c.rcv.available(), 0xffff))
	c.rcv.wnd = uint32(s.Window)
	c.rcv.adv = c.rcv.nxt.Add(c.rcv.wnd)
	if !snd.synSent {
		snd.synSent, snd.synSentAt = true, now // the first transmission: its ACK times the RTT
	} else {
		snd.synSentAt = time.Time{} // Karn: an ACK of a repeated SYN is ambiguous
		c.stats.Retransmits++
	}
	snd.nxt = snd.nxt.Max(snd.iss.Add(1))
	snd.synDue, c.synWhy = false, ReasonNone
	c.armRetransmit(now)
	c.ackWhy = ReasonNone
	c.emit(now, s, emit)
}

// sendData sends what the windows allow (RFC 9293 §3.8.6, RFC 5681): first
// the segments marked lost, then new data and the FIN, then a zero-window
// probe if one is due.
func (c *tcb) sendData(now time.Time, emit func(FourTuple, *Segment)) {
	snd := &c.snd
	if !snd.synAcked {
		return // no data before our SYN is acknowledged (§3.10.4: FIN queued until ESTABLISHED)
	}
	c.retransmitLost(now, emit)
	if snd.rack.tlpDue {
		c.sendProbe(now, emit)
	}
	// RFC 5681 §4.1: after an idle period longer than the RTO, restart from
	// at most the initial window.
	if snd.una == snd.nxt && !snd.lastDataSent.IsZero() && now.Sub(snd.lastDataSent) > c.rtt.rto &&
		snd.dataEnd().GreaterThan(snd.nxt) {
		c.cc.onIdle(now, initialWindow(snd.mss, false))
		snd.lastDataSent = now
	}
	sentNew := false
	// Lost segments go before new data (RFC 6675 §4, NextSeg): while some
	// wait for room, nothing new is sent.
	for snd.recs.lostBytes == 0 || snd.wnd == 0 {
		avail := max(0, int(snd.dataEnd().Sub(snd.nxt))) // only the FIN may lie past the data
		// MUST-34, SHLD-15: the usable window may be negative; send nothing then.
		usable := int64(snd.una.Add(snd.wnd).Sub(snd.nxt))
		room := int64(c.cc.cwnd()) - int64(snd.pipe())
		size := c.segSize()
		limit := size
		if c.tsoMax > size {
			limit = c.tsoMax / size * size // TSO: several whole segments in one
		}
		want := min(int64(avail), int64(limit), max(usable, 0))
		if want > 0 && room < want {
			snd.roundLimited = true // RFC 7661: cwnd, not the application or the peer, limits sending
		}
		n := int(min(want, max(room, 0)))
		if tail := n % size; n > size && tail != 0 && (n < avail || !c.noDelay && !snd.finQueued) {
			// TSO: the short last piece goes only where it could go as a
			// segment of its own with full ones in flight (Nagle, SWS).
			n -= tail
		}
		fin := snd.finQueued && snd.nxt.Add(uint32(n)) == snd.finSeq
		if snd.zeroWindowProbeDue && n == 0 && avail > 0 && usable <= 0 {
			// RFC 9293 §3.8.6.1 (MUST-35/36): probe a zero window with one octet.
			snd.zeroWindowProbeDue = false
			c.stats.ZeroWindowProbes++
			c.sendNew(now, 1, false, 0, ReasonZeroWindowProbe, emit)
			continue
		}
		if n == 0 && !fin {
			break
		}
		why := c.newDataWhy(n, size, fin)
		if n < size && !c.maySendSmall(n, avail) {
			if !snd.zeroWindowProbeDue || snd.una != snd.nxt {
				break
			}
			// RFC 9293 §3.8.6.2.1 (4): the override timeout. A window too
			// small for the sender's SWS rules, with nothing in flight,
			// would wait for ever for an update the receiver may never
			// send; the persist timer's expiry sends what fits.
			why = ReasonDataOverride
		}
		snd.zeroWindowProbeDue = false
		c.sendNew(now, n, fin, size, why, emit)
		sentNew = true
	}
	if sentNew {
		c.armTLP(now) // RFC 8985 §7.2: after new data
	}
	snd.zeroWindowProbeDue = false
	// RFC 9293 §3.8.6.1 (SHLD-29): with data waiting, nothing in flight and
	// no window to send it, probe after one RTO.
	if snd.una == snd.nxt && snd.dataEnd().GreaterThan(snd.nxt) && !c.timers.armed(timerPersist) {
		c.timers.set(timerPersist, now.Add(c.rtt.rto<<min(snd.persistBackoff, 6)))
	}
}

// retransmitLost sends again the records marked lost, oldest first, as
// congestion control allows (RFC 5681 §3.2 for the first after a fast
// retransmit, which goes whatever cwnd says). Adjacent small records are
// sent as one segment of up to an MSS.
func (c *tcb) retransmitLost(now time.Time, emit func(FourTuple, *Segment)) {
	snd := &c.snd
	q := &snd.recs
	if q.lostBytes == 0 {
		snd.rtxNow = false
		return
	}
	if snd.wnd == 0 {
		// MUST-35: with the window shut, the retransmission timer probes it
		// with the first octet outstanding.
		if r := q.at(0); snd.zeroWindowProbeDue {
			snd.zeroWindowProbeDue = false
			c.stats.ZeroWindowProbes++
			n := min(1, c.recordData(r))
			c.resend(now, r, n, r.fin && n == 0, ReasonZeroWindowProbe, emit)
			if n == c.recordData(r) {
				q.setLost(r, false) // the whole record went again
			}
		}
		return
	}
	for i := 0; i < q.len(); i++ {
		r := q.at(i)
		if !r.lost {
			continue
		}
		c.coalesceLost(i)
		if !snd.rtxNow && int64(snd.pipe())+int64(r.length()) > int64(c.cc.cwnd()) {
			break
		}
		if !r.start.LessThan(snd.una.Add(snd.wnd)) {
			break // past the peer's window
		}
		snd.rtxNow = false
		if k := c.lostRun(i); k > 1 {
			c.resendRun(now, i, k, r.lostWhy, emit)
			i += k - 1
			continue
		}
		c.resend(now, r, c.recordData(r), r.fin, r.lostWhy, emit)
		q.setLost(r, false)
	}
	snd.rtxNow = false
}

// lostRun counts the lost records from the i-th on that can go again as one
// TSO segment: adjacent, each but the last a whole segment, together
// within the link's limit, cwnd and the peer's window.
func (c *tcb) lostRun(i int) int {
	snd, q := &c.snd, &c.snd.recs
	size := c.segSize()
	r := q.at(i)
	if c.tsoMax <= size || r.fin || c.recordData(r) != size {
		return 1
	}
	total, k := size, 1
	for j := i + 1; j < q.len(); j++ {
		nx := q.at(j)
		n := c.recordData(nx)
		if !nx.lost || nx.sacked || nx.start != q.at(j-1).end || n > size ||
			total+n > c.tsoMax || int64(snd.pipe())+int64(total+n) > int64(c.cc.cwnd()) ||
			nx.end.GreaterThan(snd.una.Add(snd.wnd)) {
			break
		}
		total, k = total+n, k+1
		if n < size || nx.fin {
			break // only the last piece may be short or carry the FIN
		}
	}
	return k
}

// resendRun sends the k lost records from the i-th again as one TSO segment.
func (c *tcb) resendRun(now time.Time, i, k int, why Reason, emit func(FourTuple, *Segment)) {
	q := &c.snd.recs
	first, last := q.at(i), q.at(i+k-1)
	n := int(last.end.Sub(first.start))
	if last.fin {
		n--
	}
	for j := i; j < i+k; j++ {
		r := q.at(j)
		c.noteResend(now, r, c.recordData(r))
		q.setLost(r, false)
	}
	c.transmit(now, first.start, n, last.fin, c.segSize(), why, emit)
}

// coalesceLost joins the lost records after the i-th into it while the
// result carries at most an MSS of data, so that many small lost segments
// go out again as few.
func (c *tcb) coalesceLost(i int) {
	q := &c.snd.recs
	r := q.at(i)
	k := 0
	for j := i + 1; j < q.len() && !r.fin; j++ {
		nx := q.at(j)
		if !nx.lost || nx.sacked || c.recordData(r)+c.recordData(nx) > c.snd.mss {
			break
		}
		// Both lost: the lost octets stay the same in sum.
		r.end, r.fin = nx.end, nx.fin
		r.retransmitted = r.retransmitted || nx.retransmitted
		k++
	}
	q.remove(i, k)
}

// recordData is the number of data octets a record covers.
func (c *tcb) recordData(r *sendRecord) int {
	n := int(r.length())
	if r.fin {
		n--
	}
	return n
}

// maySendSmall decides whether a segment shorter than the MSS may go now:
// RFC 9293 §3.8.6.2.1 sender SWS avoidance (MUST-38) and Nagle's algorithm
// (§3.7.4, SHLD-7), which the application can turn off (MUST-17).
func (c *tcb) maySendSmall(n, avail int) bool {
	snd := &c.snd
	if n == avail && (c.noDelay || snd.una == snd.nxt || snd.finQueued) {
		return true // all queued data, and Nagle allows it
	}
	return snd.maxWnd > 0 && uint32(n) >= snd.maxWnd/2 // at least half the largest window offered
}

// newDataWhy is why a segment of n new octets (and the FIN if fin) goes:
// the call that queued the FIN, Nagle's algorithm letting a short segment
// go with nothing unacknowledged, or new data.
func (c *tcb) newDataWhy(n, size int, fin bool) Reason {
	switch {
	case fin && c.finWhy != ReasonNone:
		return c.finWhy
	case fin:
		return ReasonFINCloseWrite
	case n < size && !c.noDelay && c.snd.una == c.snd.nxt:
		return ReasonDataNagle
	}
	return ReasonData
}

// sendNew sends n new data octets at SND.NXT, plus the FIN if fin, and
// records the segment, for the reason why. When n exceeds size (TSO), it goes as one segment
// the link cuts into pieces of size octets, recorded as those pieces, so
// that loss recovery and congestion control count MSS-sized segments.
func (c *tcb) sendNew(now time.Time, n int, fin bool, size int, why Reason, emit func(FourTuple, *Segment)) {
	snd := &c.snd
	start := snd.nxt
	gso := 0
	if n > size && size > 0 {
		gso = size
	}
	end := c.transmit(now, start, n, fin, gso, why, emit)
	dt := snd.deliveredTime
	if dt.IsZero() || snd.una == snd.nxt {
		dt = now // nothing in flight: the rate interval starts with this segment
		snd.deliveredTime = now
	}
	rec := sendRecord{start: start, sentAt: now, deliveredAtSend: snd.delivered, deliveredTime: dt}
	dataEnd := start.Add(uint32(n))
	for gso > 0 && int(dataEnd.Sub(rec.start)) > gso {
		rec.end = rec.start.Add(uint32(gso))
		snd.recs.push(rec)
		rec.start = rec.end
	}
	rec.end, rec.fin = end, fin
	snd.recs.push(rec)
	snd.nxt = end
	snd.lastDataSent = now
	snd.roundMaxFlight = max(snd.roundMaxFlight, snd.flightSize())
}

// sendProbe sends the tail-loss probe (RFC 8985 §7.3): a segment of new
// data if the peer's window has room for it, otherwise the last segment
// sent again, whatever cwnd says; then the RTO restarts.
func (c *tcb) sendProbe(now time.Time, emit func(FourTuple, *Segment)) {
	snd, k := &c.snd, &c.snd.rack
	k.tlpDue = false
	avail := int64(snd.dataEnd().Sub(snd.nxt))
	usable := int64(snd.una.Add(snd.wnd).Sub(snd.nxt))
	switch n := int(min(avail, int64(snd.mss), usable)); {
	case n > 0:
		c.sendNew(now, n, snd.finQueued && snd.nxt.Add(uint32(n)) == snd.finSeq, 0, ReasonTLP, emit)
		k.tlpIsRetrans = false
	case snd.recs.len() > 0:
		r := snd.recs.at(snd.recs.len() - 1)
		if r.sacked {
			return
		}
		c.resend(now, r, c.recordData(r), r.fin, ReasonTLP, emit)
		snd.recs.setLost(r, false)
		k.tlpIsRetrans = true
	default:
		return
	}
	k.tlpActive, k.tlpEndSeq = true, snd.nxt
	c.stats.TLPProbes++
	c.timers.set(timerRetransmit, now.Add(c.rtt.rto))
}

// resend sends n data octets of record r again (and the FIN if fin), for the reason why.
func (c *tcb) resend(now time.Time, r *sendRecord, n int, fin bool, why Reason, emit func(FourTuple, *Segment)) {
	c.noteResend(now, r, n)
	seq := r.start
	for n > c.snd.mss { // a record sent before the MSS went down (lowerMSS)
		c.transmit(now, seq, c.snd.mss, false, 0, why, emit)
		seq, n = seq.Add(uint32(c.snd.mss)), n-c.snd.mss
	}
	c.transmit(now, seq, n, fin, 0, why, emit)
}

// noteResend records that n octets of r go again now.
func (c *tcb) noteResend(now time.Time, r *sendRecord, n int) {
	r.retransmitted, r.sentAt = true, now
	if c.rec.inRecovery && !c.rec.rtxTSSet && c.opt.ts {
		c.rec.rtxTS, c.rec.rtxTSSet = c.tsNow(now), true // RFC 3522 §2: RetransmitTS
	}
	if c.rec.undoValid {
		c.rec.undoRetrans++
	}
	c.stats.Retransmits++
	c.stats.BytesRetransmitted += uint64(n)
}

// transmit emits n data octets from seq, plus the FIN if fin, for the
// reason why, and returns the sequence number after the segment. A non-zero
// gso sends it as one segment the link cuts into pieces of gso octets.
func (c *tcb) transmit(now time.Time, seq Seq, n int, fin bool, gso int, why Reason, emit func(FourTuple, *Segment)) Seq {
	snd := &c.snd
	if cap(*c.scratch) < n {
		*c.scratch = make([]byte, max(n, snd.mss))
	}
	// The host's scratch is, on a Stack, the payload area of the packet
	// buffer: this is the one copy between the send buffer and the link.
	p := (*c.scratch)[:n]
	snd.buf.Peek(int(seq.Sub(snd.bufStart())), p)
	s := c.newSegment()
	s.Seq, s.Payload, s.GSOSize, s.Why = seq, p, uint16(gso), why
	end := seq.Add(uint32(n))
	if n > 0 && end == snd.dataEnd() {
		// RFC 9293 §3.9.1.2 (MUST-61): PSH on the last segment of what is queued.
		s.Flags |= FlagPSH
	}
	if fin {
		s.Flags |= FlagFIN
		end = end.Add(1)
	}
	c.fill(s)
	c.stats.BytesOut += uint64(n)
	if c.rec.inRecovery {
		c.rec.prr.out += uint64(end.Sub(seq)) // RFC 6937: prr_out
	}
	c.armRetransmit(now)
	c.emit(now, s, emit)
	return end
}

// newSegment returns the TCB's reusable outgoing segment, cleared, so
// emitting does not allocate.
func (c *tcb) newSegment() *Segment {
	*c.seg = Segment{}
	return c.seg
}

// fill sets the fields every synchronized segment carries: the ACK of
// RCV.NXT and the receive window. The segment carries any ACK that was due.
func (c *tcb) fill(s *Segment) {
	s.Flags |= FlagACK
	s.Ack = c.rcv.nxt
	s.Window = c.rcv.advertise()
	c.ackWhy = ReasonNone
	c.timers.stop(timerDelayedACK)
	c.rcv.unacked = 0
}

// emit hands a finished segment to the caller.
func (c *tcb) emit(now time.Time, s *Segment, emit func(FourTuple, *Segment)) {
	if s.SrcPort == 0 {
		s.SrcPort, s.DstPort = c.id.Local.Port(), c.id.Remote.Port()
	}
	c.addOptions(now, s) // timestamps, ECN
	if s.Flags&(FlagACK|FlagSYN|FlagRST) == FlagACK {
		c.addSACK(s) // in the room the other options and the payload leave
	}
	c.stats.SegsOut++
	if g := int(s.GSOSize); g > 0 {
		c.stats.SegsOut += uint64((len(s.Payload) - 1) / g) // the pieces the link makes
	}
	if tr := c.cfg.Tracer; tr != nil {
		tr.SegmentOut(now, c.id, s)
	}
	emit(c.id, s)
}
