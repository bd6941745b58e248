package tcp

import "time"

// What the SYNs negotiate (RFC 9293 §3.7.1 MSS, RFC 7323 window scale and
// timestamps, RFC 2018 SACK-permitted, RFC 3168 §6.1.1 ECN): what our SYN
// or SYN,ACK offers and what both sides agreed to.

// negotiated is what both SYNs agreed to.
type negotiated struct {
	sack bool // both SYNs carried SACK-permitted (RFC 2018 §2)
	ts   bool // both SYNs carried the Timestamps option (RFC 7323 §3.2)
	ecn  bool // an ECN-setup SYN was answered by an ECN-setup SYN,ACK (RFC 3168 §6.1.1)
}

// NegotiatedOptions reports what a connection's handshake agreed to.
type NegotiatedOptions struct {
	MSS             int   // the effective send MSS (RFC 9293 MUST-16), timestamp option octets taken off
	SendWindowScale uint8 // the peer's window scale, applied to the windows it sends
	RecvWindowScale uint8 // ours, applied to the windows we send
	WindowScale     bool  // both SYNs carried the window scale option
	SACK            bool
	Timestamps      bool
	ECN             bool
}

// negotiated returns what the handshake agreed to (for Conn.Info).
func (c *tcb) negotiated() NegotiatedOptions {
	return NegotiatedOptions{
		MSS:             c.snd.mss,
		SendWindowScale: c.snd.scale,
		RecvWindowScale: c.rcv.scale,
		WindowScale:     c.rcv.scaleOK,
		SACK:            c.opt.sack,
		Timestamps:      c.opt.ts,
		ECN:             c.opt.ecn,
	}
}

// tsOptionLen is what the Timestamps option takes of every segment once
// agreed: 10 octets and two NOPs (RFC 7323 Appendix A layout, as Linux sends it).
const tsOptionLen = 12

// synOffer puts on our SYN or SYN,ACK the options it offers: the MSS
// always, the others on a SYN by configuration and on a SYN,ACK only if
// the peer's SYN offered them. The Timestamps values are filled in by
// addOptions, as on every segment.
func (c *tcb) synOffer(s *Segment) {
	o := &s.Options
	// RFC 9293 MUST-14, SHLD-5, MAY-3: always announce our MSS on the SYN
	// (MUST-65: never on other segments).
	o.MSS = uint16(c.rcv.mss)
	active := c.state == StateSynSent
	// RFC 7323 §2.2: offer window scaling on a SYN; on a SYN-ACK only if the peer offered it.
	if active || c.rcv.scaleOK {
		o.HasWindowScale = true
		o.WindowScale = c.rcv.scale
	}
	// RFC 2018 §2: SACK-permitted may be sent on a SYN; on a SYN,ACK only
	// in answer to one.
	o.SACKPermitted = (active && !c.cfg.NoSACK) || c.opt.sack
	// RFC 7323 §3.2: a TSopt may be sent on a SYN; on a SYN,ACK only if
	// the SYN carried one.
	o.HasTimestamp = (active && !c.cfg.NoTimestamps) || c.opt.ts
	c.ecnSYN(s)
}

// synOptions takes what a SYN or SYN,ACK negotiates: the peer's MSS and
// window scale, SACK-permitted, timestamps and ECN. A passive TCB that a
// RST sent back to LISTEN (MUST-11) negotiates afresh with the next SYN.
func (c *tcb) synOptions(now time.Time, seg *Segment) {
	o := &seg.Options
	// RFC 9293 §3.7.1, MUST-14/MUST-15: send MSS is the peer's MSS option
	// (536 without one), limited by what the path MTU carries (mssFor).
	c.icmp.peerMSS = 536
	if mss := int(o.MSS); mss > 0 {
		c.icmp.peerMSS = mss
	}
	// RFC 7323 §2.2: window scaling is on only if both SYNs carry the option.
	c.rcv.scaleOK = o.HasWindowScale
	if c.rcv.scaleOK {
		c.snd.scale = min(o.WindowScale, 14)
	} else {
		c.snd.scale, c.rcv.scale = 0, 0
	}
	// Our SYN offers SACK and timestamps unless configured off; a SYN,ACK
	// of ours answers only what the peer's SYN offered. Either way both
	// SYNs carry the option exactly when the peer's does and we allow it.
	c.opt.sack = o.SACKPermitted && !c.cfg.NoSACK // RFC 2018 §2
	c.snd.sackOK, c.rcv.sackOK = c.opt.sack, c.opt.sack
	c.opt.ts = o.HasTimestamp && !c.cfg.NoTimestamps
	c.ts.lastAckSent = c.rcv.nxt // what our SYN,ACK or our first ACK acknowledges
	c.ts.recentValid = false
	if c.opt.ts {
		// RFC 7323 §3.2: TS.Recent starts as the TSval of the SYN or SYN,ACK.
		c.ts.recent, c.ts.recentAt, c.ts.recentValid = o.TSVal, now, true
	}
	c.snd.mss = c.mssFor(c.pathMTU())
	c.ecnNegotiate(seg)
	// SHLD-19: until segments show otherwise, a full-sized segment from the
	// peer is the smaller of the two MSSs (the peer's MSS option describes
	// what it can receive, and so its own MTU), less the timestamps.
	c.rcv.fullSized = min(c.snd.mss, c.rcv.mss)
}

// addOptions adds what the agreed options put on every segment we send:
// the timestamps (RFC 7323 §3.2) and the ECN bits and codepoint (RFC 3168 §6.1).
func (c *tcb) addOptions(now time.Time, s *Segment) {
	c.tsOut(now, s)
	c.ecnOut(s)
}
