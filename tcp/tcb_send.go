package tcp

import "time"

// sendSpace is the send side of the TCB: the send sequence variables of RFC
// 9293 §3.3.1 (Figure 4), the send buffer, the FIN, and one record per
// segment in flight.
//
//	     1         2          3          4
//	----------|----------|----------|----------
//	       SND.UNA    SND.NXT    SND.UNA
//	                            +SND.WND
//
// Invariants: una <= nxt; every octet in [bufStart, dataEnd) is in buf; the
// records cover [una, nxt) in order without gaps once the SYN is
// acknowledged (the SYN itself has no record).
type sendSpace struct {
	iss    Seq
	una    Seq    // SND.UNA: oldest unacknowledged sequence number
	nxt    Seq    // SND.NXT: one past the highest sequence number ever sent
	wnd    uint32 // SND.WND: the peer's window, scaled (RFC 7323 §2.3)
	wl1    Seq    // SND.WL1: SEG.SEQ of the segment that last updated wnd
	wl2    Seq    // SND.WL2: SEG.ACK of the segment that last updated wnd
	maxWnd uint32 // largest window the peer ever offered (sender SWS, RFC 9293 §3.8.6.2.1)
	mss    int    // effective send MSS (RFC 9293 MUST-16)
	scale  uint8  // shift applied to SEG.WND (the peer's RFC 7323 window scale)

	// The SYN is tracked explicitly, never by comparing with ISS: after
	// 2^32 octets SND.UNA lands on ISS again.
	synSent          bool      // our SYN has been sent at least once
	synDue           bool      // our SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED) goes out with the next output
	synAcked         bool      // the peer acknowledged our SYN: SND.UNA > ISS in RFC terms
	synSentAt        time.Time // when the SYN was first sent, for an RTT sample; zero once retransmitted
	synRetransmitted bool      // the SYN or SYN,ACK went more than once (RFC 5681 §3.1, RFC 6298 §5.7)

	buf       ring // octets from the first unacknowledged data octet on
	bufWant   int  // SetWriteBuffer's size while the octets held exceed it; 0 when reached
	bufFixed  bool // SetWriteBuffer was called: the buffer no longer grows with cwnd
	finQueued bool // the user called CLOSE: a FIN follows the queued data (§3.10.4)
	finSeq    Seq  // the FIN's sequence number, fixed when finQueued is set

	recs   sendRecords
	rtxNow bool // fast retransmit: resend the first lost record on the next output, whatever cwnd says
	sackOK bool // both SYNs carried SACK-permitted (RFC 2018 §2): the peer's SACK blocks are used
	rack   rackState

	// Delivery (for the rate estimate and Conn.Info): octets delivered to
	// the peer, acknowledged or SACKed, and when the last were.
	delivered     uint64
	deliveredTime time.Time
	deliveryRate  uint64 // octets per second, from the latest ACK's sample
	lastDataSent  time.Time

	// Congestion window validation (RFC 7661): whether sending was limited
	// by cwnd, and the most in flight, in this round trip and the last.
	roundEnd                      Seq // SND.NXT when the round began
	roundLimited, prevLimited     bool
	roundMaxFlight, prevMaxFlight uint32

	zeroWindowProbeDue bool // send one octet past a zero window on the next output (§3.8.6.1)
	persistBackoff     int  // zero-window probes sent in a row: the persist timer's backoff (SHLD-30)
}

func (s *sendSpace) init(cfg *Config, iss Seq) {
	s.iss, s.una, s.nxt = iss, iss, iss
	s.buf = newRing(cfg.SendBuffer)
	s.mss = 536 // RFC 9293 MUST-15: without an MSS option assume 536 (IPv4)
}

// bufStart is the sequence number of the first octet in buf.
func (s *sendSpace) bufStart() Seq {
	if !s.synAcked {
		return s.iss.Add(1) // the SYN occupies ISS and is not in the buffer
	}
	return s.una
}

// dataEnd is the sequence number after the last queued data octet; a queued FIN takes this number.
func (s *sendSpace) dataEnd() Seq { return s.bufStart().Add(uint32(s.buf.Len())) }

// finSent reports whether our FIN has been sent.
func (s *sendSpace) finSent() bool { return s.finQueued && s.finSeq.LessThan(s.nxt) }

// finAcked reports whether our FIN has been acknowledged.
func (s *sendSpace) finAcked() bool { return s.finQueued && s.finSeq.LessThan(s.una) }

// flightSize is FlightSize of RFC 5681 §2: sent and not yet acknowledged.
func (s *sendSpace) flightSize() uint32 { return uint32(s.nxt.Sub(s.una)) }

// pipe is the octets believed to be in the network (RFC 6675 §4): sent and
// neither acknowledged, SACKed nor marked lost since their last transmission.
func (s *sendSpace) pipe() uint32 {
	return s.flightSize() - s.recs.lostBytes - s.recs.sackedBytes
}

// cwndLimited reports whether the window was in use over the last round
// trip, so that it may grow (RFC 7661 §4.3): sending stopped for cwnd, or
// at least half of cwnd was in flight (the "validated" phase, pipeACK >=
// cwnd/2).
func (s *sendSpace) cwndLimited(cwnd uint32) bool {
	return s.roundLimited || s.prevLimited || 2*uint64(max(s.roundMaxFlight, s.prevMaxFlight)) >= uint64(cwnd)
}

// endRound starts a new round trip once ack passes the end of the current one.
func (s *sendSpace) endRound(ack Seq) {
	if ack.LessThan(s.roundEnd) {
		return
	}
	s.prevLimited, s.prevMaxFlight = s.roundLimited, s.roundMaxFlight
	s.roundLimited, s.roundMaxFlight = false, 0
	s.roundEnd = s.nxt.Add(1)
}

// queueFIN records the CLOSE: the FIN follows the data queued so far.
func (s *sendSpace) queueFIN() {
	if !s.finQueued {
		s.finQueued = true
		s.finSeq = s.dataEnd()
	}
}

// flush drops everything queued, for a reset or an abort.
func (s *sendSpace) flush() {
	s.buf.Discard(s.buf.Len())
	s.finQueued = false
	s.recs.clear()
	s.synDue, s.rtxNow, s.zeroWindowProbeDue = false, false, false
}

// ackResult is what acknowledging a range told the sender.
type ackResult struct {
	acked      uint32        // sequence space newly acknowledged (the SYN and FIN included)
	synAcked   bool          // the ACK acknowledged our SYN
	rtt        time.Duration // an RTT sample, valid if hasRTT
	hasRTT     bool
	dataFreed  bool       // send buffer space was freed
	rtxCovered bool       // a retransmitted segment was acknowledged
	delivered  uint32     // octets acknowledged that were not SACKed before
	newest     sendRecord // the last record fully acknowledged, for the rate sample
}

// acknowledge moves SND.UNA to ack (SND.UNA < ack <= SND.NXT): it frees the
// acknowledged octets and records, tells RACK of each segment delivered,
// and takes an RTT sample from the newest record fully acknowledged, unless
// any acknowledged record was retransmitted (RFC 6298 §3, Karn's
// algorithm, MUST-18).
func (s *sendSpace) acknowledge(now time.Time, ack Seq, minRTT time.Duration) ackResult {
	res := ackResult{acked: uint32(ack.Sub(s.una))}
	// Data octets acknowledged: those between bufStart and min(ack, dataEnd).
	start, end := s.bufStart(), s.dataEnd()
	if !s.synAcked {
		s.synAcked, s.synDue, res.synAcked = true, false, true
		if !s.synSentAt.IsZero() {
			res.rtt, res.hasRTT = now.Sub(s.synSentAt), true
		} else {
			res.rtxCovered = true
		}
	}
	upTo := ack
	if upTo.GreaterThan(end) {
		upTo = end
	}
	if upTo.GreaterThan(start) {
		s.buf.Discard(int(upTo.Sub(start)))
		res.dataFreed = true
	}
	s.una = ack
	sackedBefore := s.recs.sackedBytes
	var newest sendRecord
	for s.recs.len() > 0 {
		r := s.recs.at(0)
		if r.retransmitted && r.start.LessThan(ack) {
			res.rtxCovered = true
		}
		if ack.LessThan(r.end) {
			if r.start.LessThan(ack) {
				s.recs.trimFront(ack) // partly acknowledged
			}
			break
		}
		if !r.sacked {
			s.rack.delivered(now, r, minRTT)
		}
		newest = *r
		s.recs.popFront()
	}
	s.rack.ackAdvanced(ack)
	res.delivered = res.acked - (sackedBefore - s.recs.sackedBytes)
	if !newest.sentAt.IsZero() && !res.rtxCovered && !res.hasRTT {
		res.rtt, res.hasRTT = now.Sub(newest.sentAt), true
	}
	res.newest = newest
	return res
}

// addDelivered counts n octets delivered at now.
func (s *sendSpace) addDelivered(now time.Time, n uint32) {
	if n > 0 {
		s.delivered += uint64(n)
		s.deliveredTime = now
	}
}

// rateSample estimates the delivery rate from a segment just delivered:
// the octets delivered since it was sent over the time since then.
func (s *sendSpace) rateSample(now time.Time, r *sendRecord) {
	if r.deliveredTime.IsZero() {
		return
	}
	if d := now.Sub(r.deliveredTime); d > 0 && s.delivered > r.deliveredAtSend {
		s.deliveryRate = uint64(float64(s.delivered-r.deliveredAtSend) / d.Seconds())
	}
}

// sendRecord is one segment sent and not yet acknowledged: the unit that
// retransmission, SACK and RACK reason about.
type sendRecord struct {
	start, end    Seq       // sequence space [start, end); a FIN counts as the last number
	sentAt        time.Time // the last transmission (RACK's xmit_ts, RFC 8985 §5.2)
	fin           bool      // the segment carries our FIN
	retransmitted bool      // sent more than once (Karn: no RTT sample)
	sacked        bool      // the peer holds it (RFC 2018), though SND.UNA is below it
	lost          bool      // deemed lost and not sent again since: retransmit before new data
	lostWhy       Reason    // why it was deemed lost: the reason of its retransmission
	// For the delivery rate: what had been delivered, and when, as the
	// segment was sent.
	deliveredAtSend uint64
	deliveredTime   time.Time
}

// length is the record's length in sequence space.
func (r *sendRecord) length() uint32 { return uint32(r.end.Sub(r.start)) }

// maxSendRecords bounds the records of one connection. Past it a new
// segment joins the newest record, which then stands for several segments
// (loss recovery loses precision, memory stays bounded).
const maxSendRecords = 4096

// sendRecords is a FIFO of records over a growable ring, so steady-state
// sending allocates nothing.
type sendRecords struct {
	r           []sendRecord
	head        int
	n           int
	lostBytes   uint32 // sequence space of the records marked lost
	sackedBytes uint32 // sequence space of the records SACKed
	sackedSegs  int    // records SACKed
}

func (q *sendRecords) len() int { return q.n }

// at returns the i-th oldest record.
func (q *sendRecords) at(i int) *sendRecord { return &q.r[(q.head+i)%len(q.r)] }

// push appends a record for a segment just sent.
func (q *sendRecords) push(rec sendRecord) {
	if q.n >= maxSendRecords {
		if b := q.at(q.n - 1); !b.lost && !b.retransmitted && !b.sacked && b.end == rec.start {
			b.end, b.sentAt, b.fin = rec.end, rec.sentAt, rec.fin
			return
		}
	}
	q.grow()
	*q.at(q.n) = rec
	q.n++
}

// grow makes room for one more record.
func (q *sendRecords) grow() {
	if q.n == len(q.r) {
		grown := make([]sendRecord, max(8, 2*len(q.r)))
		for i := range q.n {
			grown[i] = *q.at(i)
		}
		q.r, q.head = grown, 0
	}
}

// popFront removes the oldest record.
func (q *sendRecords) popFront() {
	r := q.at(0)
	if r.lost {
		q.lostBytes -= r.length()
	}
	if r.sacked {
		q.sackedBytes -= r.length()
		q.sackedSegs--
	}
	*r = sendRecord{}
	q.head = (q.head + 1) % len(q.r)
	q.n--
}

// trimFront drops the part of the oldest record below seq.
func (q *sendRecords) trimFront(seq Seq) {
	r := q.at(0)
	if r.lost {
		q.lostBytes -= uint32(seq.Sub(r.start))
	}
	if r.sacked {
		q.sackedBytes -= uint32(seq.Sub(r.start))
	}
	r.start = seq
}

// split cuts the i-th record at seq (inside it) into two records, so a SACK
// block that ends inside a segment marks only what it covers. It reports
// false, and does nothing, when the records are at their bound: a peer
// SACKing odd ranges cannot make them grow without limit.
func (q *sendRecords) split(i int, seq Seq) bool {
	if q.n >= 2*maxSendRecords {
		return false
	}
	q.grow()
	q.n++
	for j := q.n - 1; j > i+1; j-- {
		*q.at(j) = *q.at(j - 1)
	}
	r := q.at(i)
	second := *r
	second.start = seq
	r.end, r.fin = seq, false
	*q.at(i + 1) = second
	if r.sacked {
		q.sackedSegs++
	}
	return true
}

// search returns the index of the first record that ends after seq, or
// len() if none does: O(log n), as the records are in sequence order.
func (q *sendRecords) search(seq Seq) int {
	lo, hi := 0, q.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if q.at(m).end.LessThanEq(seq) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// setSacked marks a record SACKed: the peer holds it, so it is neither in
// the network nor lost.
func (q *sendRecords) setSacked(r *sendRecord) {
	if r.sacked {
		return
	}
	q.setLost(r, false)
	r.sacked = true
	q.sackedBytes += r.length()
	q.sackedSegs++
}

// remove drops the k records after the i-th, moving the later ones up.
func (q *sendRecords) remove(i, k int) {
	if k == 0 {
		return
	}
	for j := i + 1; j+k < q.n; j++ {
		*q.at(j) = *q.at(j + k)
	}
	for j := q.n - k; j < q.n; j++ {
		*q.at(j) = sendRecord{}
	}
	q.n -= k
}

// lose marks a record lost, for the reason why.
func (q *sendRecords) lose(r *sendRecord, why Reason) {
	q.setLost(r, true)
	r.lostWhy = why
}

// setLost marks a record lost (true) or sent again (false).
func (q *sendRecords) setLost(r *sendRecord, lost bool) {
	switch {
	case lost && !r.lost:
		q.lostBytes += r.length()
	case !lost && r.lost:
		q.lostBytes -= r.length()
	}
	r.lost = lost
}

// clear removes every record.
func (q *sendRecords) clear() {
	for q.n > 0 {
		q.popFront()
	}
	q.head = 0
}

// markAllLost marks every record lost: after a retransmission timeout
// everything outstanding is sent again (RFC 6298 §5.4, go-back-N). RFC
// 2018 §8: "the data sender MUST ignore prior SACK information in
// determining which data to retransmit", as the receiver may have reneged.
func (q *sendRecords) markAllLost(why Reason) {
	for i := range q.n {
		r := q.at(i)
		if r.sacked {
			r.sacked = false
			q.sackedBytes -= r.length()
			q.sackedSegs--
		}
		q.lose(r, why)
	}
}
