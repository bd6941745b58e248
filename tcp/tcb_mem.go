package tcp

import "time"

// Memory that follows use. A TCB's buffers (the send and receive rings,
// the send records, the out-of-order ranges) take memory as octets arrive
// and hold it while the connection is busy. Once they have drained and
// stayed so for reclaimIdle, the reclaim timer gives the memory back, so an
// idle connection costs its TCB and nothing more, however much it once
// moved. Only empty buffers are released: nothing the connection holds for
// the peer or the user is ever dropped.

// reclaimIdle is how long drained buffers keep their memory: long enough
// that a connection trading messages does not allocate for each one.
const reclaimIdle = time.Second

// holdsMemory reports whether any buffer of the TCB holds memory.
func (c *tcb) holdsMemory() bool {
	return c.snd.buf.Allocated() > 0 || c.rcv.buf.Allocated() > 0 || cap(c.snd.recs.r) > 0 || cap(c.rcv.ooo.nodes) > 0
}

// armReclaim starts the reclaim timer if buffers hold memory and it is not
// running. The states that end a connection stop it (setState).
func (c *tcb) armReclaim(now time.Time) {
	if c.timers.armed(timerReclaim) || !c.state.synchronized() || c.state == StateTimeWait || !c.holdsMemory() {
		return
	}
	c.timers.set(timerReclaim, now.Add(reclaimIdle))
}

// reclaim gives back the memory of every buffer that is empty, and keeps
// the timer running while some still hold memory.
func (c *tcb) reclaim(now time.Time) {
	c.timers.stop(timerReclaim)
	c.releaseBuffers()
	c.armReclaim(now)
}

// releaseBuffers gives back the memory of the empty buffers.
func (c *tcb) releaseBuffers() {
	if c.rcv.ooo.count() == 0 && !c.rcv.oooFIN {
		c.rcv.buf.release()
		c.rcv.ooo.clear()
		c.rcv.ooo.nodes = nil
	}
	c.snd.buf.release()
	if c.snd.recs.len() == 0 {
		c.snd.recs.r, c.snd.recs.head = nil, 0
	}
}

// detachMemory releases what is empty and stops counting the rest against
// the host's account: the host is done with the TCB (CLOSED, or TIME-WAIT
// kept as a record), though its user may still read what it holds.
func (c *tcb) detachMemory() {
	c.releaseBuffers()
	for _, b := range []*ring{&c.snd.buf, &c.rcv.buf} {
		b.acct.add(-b.Allocated())
		b.acct = nil
	}
}

// setSendBuffer is SetWriteBuffer (SO_SNDBUF): the send buffer's capacity
// becomes size and stops growing with cwnd. Growing takes effect at once
// and wakes a waiting writer; shrinking below the octets held (unsent and
// unacknowledged) takes effect as the peer acknowledges them.
func (c *tcb) setSendBuffer(size int) {
	c.snd.bufFixed = true
	c.snd.bufWant = size
	if size > c.snd.buf.Cap() {
		c.events |= evWritable
	}
	c.applySendBuffer()
}

// applySendBuffer moves the send buffer's capacity toward bufWant, no
// lower than what it holds.
func (c *tcb) applySendBuffer() {
	s := &c.snd
	if s.bufWant == 0 {
		return
	}
	s.buf.Resize(s.bufWant)
	if s.buf.Cap() == s.bufWant {
		s.bufWant = 0
	}
}

// setRecvBuffer is SetReadBuffer (SO_RCVBUF): the receive buffer offers
// size octets and autotuning stops. Growing opens the window at once,
// within what the window scale agreed at the SYN can carry (available); a
// window update goes out if the peer could be held up without one.
// Shrinking keeps what is held and every octet of the window already
// offered, so it takes effect as the user reads.
func (c *tcb) setRecvBuffer(size int) {
	r := &c.rcv
	r.maxBuf = size
	r.bufWant = size
	r.applyBufWant()
	if c.state.synchronized() && !r.finRcvd && r.windowUpdateWorthIt() {
		c.ackFor(ReasonWindowUpdate) // the buffer grew
	}
}

// applyBufWant moves the receive buffer's capacity toward bufWant, no
// lower than the octets held plus the window offered. Reading and every
// window advertised call it.
func (r *recvSpace) applyBufWant() {
	want := r.bufWant + r.slack()
	// RFC 9293 SHLD-14: the right edge offered never moves left, so the
	// room for it stays.
	r.buf.Resize(max(want, r.buf.Len()+int(max(0, r.adv.Sub(r.nxt)))+r.slack()))
	if r.buf.Cap() == want {
		r.bufWant = 0
	}
}
