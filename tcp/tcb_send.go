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
	finQueued bool // the user called CLOSE: a FIN follows the queued data (§3.10.4)
	finSeq    Seq  // the FIN's sequence number, fixed when finQueued is set

	recs   sendRecords
	rtxNow bool // fast retransmit: resend the first lost record on the next output, whatever cwnd says

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
func (s *sendSpace) pipe() uint32 { return s.flightSize() - s.recs.lostBytes }

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
	dataFreed  bool // send buffer space was freed
	rtxCovered bool // a retransmitted segment was acknowledged
}

// acknowledge moves SND.UNA to ack (SND.UNA < ack <= SND.NXT): it frees the
// acknowledged octets and records, and takes an RTT sample from the newest
// record fully acknowledged, unless any acknowledged record was
// retransmitted (RFC 6298 §3, Karn's algorithm, MUST-18).
func (s *sendSpace) acknowledge(now time.Time, ack Seq) ackResult {
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
		newest = *r
		s.recs.popFront()
	}
	if !newest.sentAt.IsZero() && !res.rtxCovered && !res.hasRTT {
		res.rtt, res.hasRTT = now.Sub(newest.sentAt), true
	}
	return res
}

// sendRecord is one segment sent and not yet acknowledged: the unit that
// retransmission, SACK and RACK reason about.
type sendRecord struct {
	start, end    Seq       // sequence space [start, end); a FIN counts as the last number
	sentAt        time.Time // the last transmission
	fin           bool      // the segment carries our FIN
	retransmitted bool      // sent more than once (Karn: no RTT sample)
	sacked        bool      // the peer holds it (RFC 2018), though SND.UNA is below it
	lost          bool      // deemed lost and not sent again since: retransmit before new data
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
	r         []sendRecord
	head      int
	n         int
	lostBytes uint32 // sequence space of the records marked lost
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
	if q.n == len(q.r) {
		grown := make([]sendRecord, max(8, 2*len(q.r)))
		for i := range q.n {
			grown[i] = *q.at(i)
		}
		q.r, q.head = grown, 0
	}
	*q.at(q.n) = rec
	q.n++
}

// popFront removes the oldest record.
func (q *sendRecords) popFront() {
	r := q.at(0)
	if r.lost {
		q.lostBytes -= r.length()
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
	r.start = seq
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

// markAllLost marks every record the peer does not hold as lost: after a
// retransmission timeout everything outstanding is sent again (RFC 6298
// §5.4, go-back-N; RFC 6675 §5.1 keeps SACKed records).
func (q *sendRecords) markAllLost() {
	for i := range q.n {
		if r := q.at(i); !r.sacked {
			q.setLost(r, true)
		}
	}
}
