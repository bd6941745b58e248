package tcp

import "time"

// recvSpace is the receive side of the TCB: the receive sequence variables
// of RFC 9293 §3.3.1 (Figure 5), the receive buffer with the out-of-order
// octets held in place, and the window the TCB offers.
//
//	    1          2          3
//	----------|----------|----------
//	       RCV.NXT    RCV.NXT
//	                 +RCV.WND
//
// Invariants: nxt <= adv; buf holds the in-order octets the user has not
// read; the octets of every range in ooo sit in buf at their offset past
// nxt, inside the buffer's capacity.
type recvSpace struct {
	irs     Seq
	nxt     Seq    // RCV.NXT
	wnd     uint32 // RCV.WND as last advertised
	adv     Seq    // the right edge advertised: RCV.NXT+RCV.WND when it was sent
	scale   uint8  // our window scale, 0 unless both SYNs carried the option (RFC 7323 §2.2)
	scaleOK bool   // both SYNs carried the window scale option
	mss     int    // the MSS we announce (RFC 9293 MUST-67: MTU-40; MTU-60 over IPv6)

	buf ring // in-order octets the user has not read, then out-of-order octets in place
	// bufWant is SetReadBuffer's size while what is held or promised
	// exceeds it; 0 when reached.
	bufWant int
	// direct is the free part of a waiting Read's buffer: while the ring is
	// empty, in-order data goes there instead, the one copy between the
	// link's buffer and the application's. directN counts what it took.
	direct     []byte
	directN    int
	ooo        oooStore // which octets past nxt are held
	oooFIN     bool     // a FIN arrived out of order, at oooFINSeq
	oooFINSeq  Seq
	finRcvd    bool // the peer's FIN has been consumed: reads return EOF once buf drains
	readClosed bool // the user closed the connection: data arriving resets it (SHLD-3)
	discard    bool // the user shut reading (SHUT_RD): data is acknowledged and dropped

	// SACK (RFC 2018): whether both SYNs allowed it, the starts of the
	// blocks most recently reported (most recent first), and a duplicate
	// to report (RFC 2883).
	sackOK     bool
	recentSACK [maxSACKBlocks]Seq
	nRecent    int
	dsack      SACKBlock
	dsackSet   bool

	// Autotuning: the buffer grows toward maxBuf when the octets received
	// in one round trip (from spaceSeq at spaceTime) call for more.
	maxBuf      int
	copied      uint64 // octets the user has read
	space       int    // the most octets read in one round trip so far
	spaceCopied uint64 // copied when the current round trip began
	spaceTime   time.Time
	rttSeq      Seq // the receiver's RTT measurement: RCV.NXT to reach, and since when
	rttTime     time.Time
	rtt         time.Duration

	// Delayed ACKs (RFC 9293 §3.8.6.3).
	unacked   int // in-order octets received since our last ACK
	fullSized int // the size of a full-sized segment from the peer (SHLD-19)
}

func (r *recvSpace) init(cfg *Config, headers int) {
	r.mss = cfg.MTU - headers
	r.maxBuf = cfg.RecvBufferMax
	// RFC 7323 §2.3: the smallest shift that lets the window describe the
	// largest the receive buffer may grow to.
	for r.scale < 14 && cfg.RecvBufferMax>>r.scale > 0xffff {
		r.scale++
	}
	// The buffer holds one scale unit more than it offers, so a window
	// rounded up to the unit (see advertise) never offers octets it must drop.
	r.buf = newRing(cfg.RecvBuffer + r.slack())
}

// slack is what the buffer holds beyond what it offers: one unit of the
// window scale, less one octet.
func (r *recvSpace) slack() int { return 1<<r.scale - 1 }

// synReceived takes the peer's SYN: IRS and RCV.NXT = SEG.SEQ+1.
func (r *recvSpace) synReceived(seq Seq) {
	r.irs = seq
	r.nxt = seq.Add(1)
	r.adv = r.nxt
}

// flush drops everything received, for a reset or an abort.
func (r *recvSpace) flush() {
	r.buf.Discard(r.buf.Len())
	r.ooo.clear()
	r.oooFIN = false
}

// available is the receive window the buffer could offer now: its free
// space, which the out-of-order octets already sit in.
func (r *recvSpace) available() int {
	return max(0, min(r.buf.Free()-r.slack(), 0xffff<<r.scale)) // RFC 7323 §2.3: what the field can carry
}

// The receiver's two thresholds of RFC 9293 §3.8.6.2.2, side by side. The
// first decides what every outgoing segment may advertise: the right edge
// moves only in steps of min(buffer/2, MSS), so the peer never sees a
// window too small to fill (receiver SWS avoidance, MUST-39). The second
// decides whether reading alone is worth a segment that says the window
// opened: 2×MSS or half the buffer, as BSD does, and only while the peer
// could be held up by the window it has. The second is larger because it
// costs a packet of its own; the first only shapes one that goes out anyway.
func (r *recvSpace) swsThreshold() int { return min(r.buf.Cap()/2, r.mss) }

func (r *recvSpace) windowUpdateWorthIt() bool {
	// With 4×MSS still open the peer can send two full-sized segments,
	// whose ACK (SHLD-19) carries the new window: no segment of its own
	// is needed (a reply or FIN may carry it sooner).
	if int(r.adv.Sub(r.nxt)) >= 4*r.mss {
		return false
	}
	grow := int(r.nxt.Add(uint32(r.available())).Sub(r.adv))
	return grow >= 2*r.mss || 2*grow >= r.buf.Cap()
}

// advertise computes the window field of an outgoing segment and records
// it as RCV.WND.
func (r *recvSpace) advertise() uint16 {
	if r.bufWant > 0 {
		r.applyBufWant() // SetReadBuffer's smaller size, as the window offered is used up
	}
	edge := r.nxt.Add(uint32(r.available()))
	// MUST-39: hold the right edge until it can move by the SWS threshold,
	// from a zero window too.
	if grow := edge.Sub(r.adv); grow > 0 && int(grow) < r.swsThreshold() {
		edge = r.adv
	}
	// SHLD-14: never move the right edge to the left.
	edge = edge.Max(r.adv)
	wnd := uint32(edge.Sub(r.nxt))
	// RFC 7323 §2.3: the field carries the window shifted right by our
	// scale. When rounding down would put the edge the peer computes left
	// of the one it was given, round up (as Linux does) into the buffer's
	// slack, unless that goes a whole unit past what the buffer offers:
	// rounding up every time RCV.NXT moves by less than a unit would let
	// the window grow without bound. Then the edge moves left by less than
	// one unit, the retraction RFC 7323 §2.4 allows for.
	field := wnd >> r.scale
	if r.nxt.Add(field<<r.scale).LessThan(r.adv) && int((field+1)<<r.scale) < r.available()+1<<r.scale {
		field++
	}
	field = min(field, 0xffff)
	r.wnd = field << r.scale
	r.adv = r.adv.Max(r.nxt.Add(r.wnd))
	return uint16(field)
}

// waitRead lends the core a Read's buffer b while the Read waits for data.
func (r *recvSpace) waitRead(b []byte) { r.direct, r.directN = b, 0 }

// takeDirect ends a wait: it returns how many octets went straight into the
// lent buffer and forgets the buffer.
func (r *recvSpace) takeDirect() int {
	n := r.directN
	r.direct, r.directN = nil, 0
	return n
}

// window is the receive window segments are checked against: from RCV.NXT
// to the advertised right edge.
func (r *recvSpace) window() uint32 {
	if r.adv.GreaterThan(r.nxt) {
		return uint32(r.adv.Sub(r.nxt))
	}
	return 0
}

// text returns the part of an acceptable segment's text and FIN that lies
// inside the window (RFC 9293 §3.10.7.4 first check: "If a segment's
// contents straddle the boundary between old and new, only the new parts
// are processed"; octets past the right edge are dropped, and cut reports
// that some were). The segment is the one that arrived: a SYN's sequence
// number comes before its text.
func (r *recvSpace) text(seg *Segment) (seq Seq, data []byte, fin, cut bool) {
	seq, data, fin = seg.Seq, seg.Payload, seg.Flags.Has(FlagFIN)
	if seg.Flags.Has(FlagSYN) {
		seq = seq.Add(1)
	}
	if seq.LessThan(r.nxt) {
		old := uint32(r.nxt.Sub(seq))
		n := min(old, uint32(len(data)))
		r.duplicateArrived(seq, seq.Add(n))
		data, seq = data[n:], seq.Add(n)
		if old > n {
			fin = false // the FIN itself is old
		}
	}
	right := r.nxt.Add(r.window())
	if end := seq.Add(uint32(len(data))); end.GreaterThan(right) {
		data = data[:len(data)-int(end.Sub(right))]
		fin, cut = false, true
	}
	return seq, data, fin, cut
}

// deliverText is the seventh and eighth checks' handling of text and FIN
// inside the window (see text). It reports whether the FIN became in order
// and whether the data filled a hole.
func (c *tcb) deliverText(now time.Time, seq Seq, data []byte, fin bool) (finNow, filled bool) {
	r := &c.rcv
	if seq != r.nxt {
		// SHLD-31: hold data that starts past RCV.NXT, in place in the
		// buffer, and acknowledge at once (MAY-13; RFC 5681 §4.2: the
		// duplicate ACK tells the peer about the hole).
		n := r.buf.WriteAt(int(seq.Sub(r.nxt)), data)
		if s, e, ok := r.ooo.overlap(seq, seq.Add(uint32(n))); ok {
			r.duplicateArrived(s, e)
		}
		c.holdOutOfOrder(seq, seq.Add(uint32(n)))
		r.heldOutOfOrder()
		if fin && n == len(data) {
			r.oooFIN, r.oooFINSeq = true, seq.Add(uint32(n))
		}
		c.stats.OutOfOrder++
		c.ackFor(ReasonDupAckOutOfOrder)
		return false, false
	}
	// Seventh: "Once in the ESTABLISHED state, it is possible to deliver
	// segment data to user RECEIVE buffers ... RCV.NXT is advanced over the
	// data accepted, and RCV.WND adjusted".
	n := 0
	if len(r.direct) > 0 && r.buf.Len() == 0 && r.ooo.count() == 0 && !r.discard {
		n = copy(r.direct, data)
		r.direct, r.directN = r.direct[n:], r.directN+n
		r.copied += uint64(n)
		c.stats.BytesDirect += uint64(n)
	}
	n += r.buf.Write(data[n:])
	r.nxt = r.nxt.Add(uint32(n))
	finNow = fin && n == len(data)
	if end := r.ooo.advance(r.nxt); end.GreaterThan(r.nxt) {
		r.buf.Commit(int(end.Sub(r.nxt)))
		r.nxt = end
		filled = true
		c.chargeOOO()
	}
	if r.oooFIN && r.oooFINSeq == r.nxt {
		finNow = true
	}
	if r.nxt != seq {
		c.events |= evReadable
		r.fullSized = min(max(r.fullSized, len(data)), r.mss)
		c.autotune(now)
	}
	if r.discard {
		r.buf.Discard(r.buf.Len()) // SHUT_RD: acknowledged, never read
	}
	return finNow, filled
}

// delayACK acknowledges n in-order octets late (RFC 9293 §3.8.6.3,
// SHLD-18), but at least every second full-sized segment (SHLD-19), sized
// by what the peer sends, and within Config.DelayedACK (MUST-40: under 0.5 s).
func (c *tcb) delayACK(now time.Time, n int) {
	c.rcv.unacked += n
	switch {
	case c.cfg.DelayedACK < 0:
		c.ackFor(ReasonAckData)
		return
	case c.rcv.unacked >= 2*c.rcv.fullSized:
		c.ackFor(ReasonSecondFullSegment)
		return
	}
	c.armDelayedACK(now)
}

// delayFINACK acknowledges the peer's FIN late, within Config.DelayedACK.
func (c *tcb) delayFINACK(now time.Time) {
	c.rcv.unacked++ // the FIN's sequence number
	if c.cfg.DelayedACK < 0 {
		c.ackFor(ReasonAckFIN)
		return
	}
	c.armDelayedACK(now)
}

func (c *tcb) armDelayedACK(now time.Time) {
	if !c.timers.armed(timerDelayedACK) {
		c.timers.set(timerDelayedACK, now.Add(c.cfg.DelayedACK))
	}
}

// autotune is receive-buffer autotuning in the manner of Linux's dynamic
// right-sizing: once per round trip it compares the octets the application
// read in it with the most read in one before, and when that grew, grows
// the buffer to twice it (plus room for sixteen segments of reordering), so
// the window does not limit a sender whose bandwidth-delay product the
// application keeps up with. An application that does not read does not
// make the buffer grow. The round trip is the receiver's own measurement: the time for a
// window's worth of data to arrive, or the sender's SRTT until then.
func (c *tcb) autotune(now time.Time) {
	r := &c.rcv
	if r.maxBuf <= r.buf.Cap()-r.slack() || r.buf.acct.pressure() {
		return // at its bound, or the stack is at its MemoryLimit
	}
	// The receiver's RTT: how long one window's worth of data took to arrive.
	if r.rttTime.IsZero() {
		r.rttSeq, r.rttTime = r.nxt.Add(max(r.window(), uint32(r.mss))), now
	} else if r.nxt.GreaterThanEq(r.rttSeq) {
		if d := now.Sub(r.rttTime); r.rtt == 0 || d < r.rtt {
			r.rtt = d
		} else {
			r.rtt = (7*r.rtt + d) / 8
		}
		r.rttTime = time.Time{}
	}
	rtt := r.rtt
	if rtt == 0 {
		rtt = c.rtt.srtt
	}
	if r.spaceTime.IsZero() {
		r.spaceCopied, r.spaceTime = r.copied, now
		return
	}
	if now.Sub(r.spaceTime) < max(rtt, time.Millisecond) {
		return
	}
	copied := int(min(r.copied-r.spaceCopied, 1<<40))
	r.spaceCopied, r.spaceTime = r.copied, now
	if copied <= r.space {
		return
	}
	r.space = copied
	want := min(2*copied+16*r.mss, r.maxBuf)
	if size := r.buf.Cap() - r.slack(); want > size {
		r.buf.Grow(min(max(want, size+size/2), r.maxBuf) + r.slack()) // by half at least: few window updates
		c.stats.RecvBufferGrown++
	}
}
