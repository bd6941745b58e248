package tcp

import "time"

// timeWaitRecord is what a connection in TIME-WAIT still needs (RFC 9293
// §3.6.1): the four-tuple, the sequence numbers both ways, the window it
// last offered, the timestamp state (RFC 7323: PAWS and the TS.Recent a
// reopening SYN must exceed, RFC 6191), the RFC 5961 §7 budget for the ACKs
// it answers with, and when 2×MSL ends. The host keeps one instead of the
// whole TCB and its buffers, as Linux keeps an inet_timewait_sock: a few
// hundred octets against a TCB's few kilobytes.
//
// A segment that arrives for a record is handled by the same code as for
// any TCB: the host thaws the record into a TCB without buffers, which
// processes the segment, and freezes it again if it is still in TIME-WAIT.
type timeWaitRecord struct {
	id      FourTuple
	expiry  time.Time // the 2×MSL timer
	passive bool

	iss, sndNxt      Seq // SND.UNA = SND.NXT: our FIN is acknowledged
	sndWnd           uint32
	sndScale         uint8
	sndMSS           int32
	irs, rcvNxt      Seq // RCV.NXT is past the peer's FIN
	rcvAdv           Seq
	rcvWnd           uint32
	rcvBuf           int32 // the receive buffer's capacity, which the window offered came from
	rcvScale         uint8
	rcvScaleOK       bool
	rcvSACK, sndSACK bool // rcv.sackOK, snd.sackOK
	opt              negotiated

	tsOffset      uint32
	tsRecent      uint32
	tsRecentAt    time.Time
	tsRecentValid bool
	tsLastAck     Seq

	challenge challengeBudget
}

// canFreeze reports whether a TCB in TIME-WAIT holds nothing a record
// would lose: no octets the user has not read (after CloseWrite the user
// may still read what arrived before the peer's FIN) and no segment to send.
func (c *tcb) canFreeze() bool {
	return c.state == StateTimeWait && c.rcv.buf.Len() == 0 && len(c.ctl) == 0 && c.ackWhy == ReasonNone
}

// freeze returns the record of a TCB in TIME-WAIT (canFreeze).
func (c *tcb) freeze() timeWaitRecord {
	return timeWaitRecord{
		id:            c.id,
		expiry:        c.timers[timerTimeWait],
		passive:       c.passive,
		iss:           c.snd.iss,
		sndNxt:        c.snd.nxt,
		sndWnd:        c.snd.wnd,
		sndScale:      c.snd.scale,
		sndMSS:        int32(c.snd.mss),
		irs:           c.rcv.irs,
		rcvNxt:        c.rcv.nxt,
		rcvAdv:        c.rcv.adv,
		rcvWnd:        c.rcv.wnd,
		rcvBuf:        int32(c.rcv.buf.Cap()),
		rcvScale:      c.rcv.scale,
		rcvScaleOK:    c.rcv.scaleOK,
		rcvSACK:       c.rcv.sackOK,
		sndSACK:       c.snd.sackOK,
		opt:           c.opt,
		tsOffset:      c.ts.offset,
		tsRecent:      c.ts.recent,
		tsRecentAt:    c.ts.recentAt,
		tsRecentValid: c.ts.recentValid,
		tsLastAck:     c.ts.lastAckSent,
		challenge:     c.challenge,
	}
}

// thaw makes a TCB in TIME-WAIT from r, with empty buffers that hold no
// memory, for one segment (or a user's look) to be processed as for any TCB.
func (r *timeWaitRecord) thaw(cfg *Config, tsOrigin time.Time) *tcb {
	c := newTCB(cfg, r.id, r.iss)
	c.passive = r.passive
	c.state = StateTimeWait
	s := &c.snd
	s.una, s.nxt = r.sndNxt, r.sndNxt
	s.wnd, s.maxWnd, s.scale, s.mss = r.sndWnd, r.sndWnd, r.sndScale, int(r.sndMSS)
	s.synSent, s.synAcked = true, true
	s.finQueued, s.finSeq = true, r.sndNxt.Add(^uint32(0))
	s.sackOK = r.sndSACK
	v := &c.rcv
	v.irs, v.nxt, v.adv, v.wnd = r.irs, r.rcvNxt, r.rcvAdv, r.rcvWnd
	v.buf = newRing(int(r.rcvBuf))
	v.scale, v.scaleOK, v.sackOK = r.rcvScale, r.rcvScaleOK, r.rcvSACK
	v.finRcvd = true
	c.opt = r.opt
	c.tsInit(tsOrigin, r.tsOffset)
	c.ts.recent, c.ts.recentAt, c.ts.recentValid, c.ts.lastAckSent = r.tsRecent, r.tsRecentAt, r.tsRecentValid, r.tsLastAck
	c.challenge = r.challenge
	c.timers.set(timerTimeWait, r.expiry)
	return c
}
