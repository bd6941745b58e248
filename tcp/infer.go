package tcp

// PeerTracker infers the state of one side of a connection from the
// segments it sent and received (RFC 9293 Figure 5), as a capture shows
// them. It follows both sequence spaces, so that a retransmitted FIN, a
// duplicate or an out-of-order segment, an old ACK or an out-of-window RST
// does not move the state.
//
// What the wire cannot show, the tracker does not guess:
//   - A LISTEN that never saw a SYN is invisible: a side starts in the state
//     NewPeerTracker is given (LISTEN if the caller knows, else CLOSED), and
//     a SYN-ACK it sends proves it was listening.
//   - TIME-WAIT ends after 2×MSL with nothing sent, and a connection can end
//     silently (a user timeout, a FIN-WAIT-2 timeout, an abort whose RST is
//     lost): the state stays at what the last evidence showed; LastEvidence
//     says which segment that was, so a reader can tell how old it is.
//   - A capture that starts inside a connection shows no handshake: a side
//     that sends an ACK without having been seen to open is taken as
//     ESTABLISHED and Guessed reports it.
//   - A SYN-ACK sent from a SYN cookie (RFC 4987 §3.6) looks like one from
//     SYN-RECEIVED, which is what the tracker shows.
type PeerTracker struct {
	state   State
	initial State
	guessed bool
	n       int // segments observed
	last    int // the segment that last moved the state (1-based); 0: none
	steps   [4]State
	nsteps  int // states the last segment moved through, in steps

	// The tracked side's send sequence space.
	haveISS bool
	iss     Seq
	sndUna  Seq // highest ACK the other side sent for it
	sndNxt  Seq // highest SEG.SEQ+SEG.LEN it sent
	finSent bool
	finSeq  Seq // the sequence number its FIN occupies

	// Its receive sequence space, as the other side's segments and its own
	// ACKs show it.
	haveIRS  bool
	irs      Seq
	rcvNxt   Seq
	rcvWnd   uint32 // the window it last advertised, scaled
	haveWnd  bool
	finRcvd  bool // the other side's FIN has been seen
	peerFin  Seq  // its sequence number
	finTaken bool // the tracked side has processed that FIN

	wsOwn, wsOther int // window scale each side's SYN offered; -1 if none

	// The last SYN the tracked side received in LISTEN or TIME-WAIT, which
	// its SYN-ACK will answer.
	synSeen bool
	synSeq  Seq
	synWS   int

	lastAckIn bool // the last segment received carried an ACK, lastAck
	lastAck   Seq
}

// NewPeerTracker returns a tracker that starts in initial: StateListen if
// the tracked side is known to listen, StateClosed when nothing is known.
func NewPeerTracker(initial State) *PeerTracker {
	if initial != StateListen {
		initial = StateClosed
	}
	return &PeerTracker{state: initial, initial: initial, wsOwn: -1, wsOther: -1}
}

// State returns the inferred state.
func (p *PeerTracker) State() State { return p.state }

// Guessed reports whether the state rests on an assumption rather than on
// a handshake seen on the wire (a capture that starts mid-connection).
func (p *PeerTracker) Guessed() bool { return p.guessed }

// LastEvidence returns the number (from 1) of the observed segment that
// last moved the state, 0 if none has.
func (p *PeerTracker) LastEvidence() int { return p.last }

// Steps returns the states the last Observe moved through, in order, the
// last one State(); none if it changed nothing. One segment can make
// several transitions: a FIN that acknowledges ours moves FIN-WAIT-1 to
// FIN-WAIT-2 and then to TIME-WAIT.
func (p *PeerTracker) Steps() []State { return p.steps[:p.nsteps] }

// Observe feeds one segment; sent is true when the tracked side sent it.
// It returns the state after the segment, and whether it changed.
func (p *PeerTracker) Observe(seg *Segment, sent bool) (State, bool) {
	p.n++
	p.nsteps = 0
	before := p.state
	if sent {
		p.sent(seg)
	} else {
		p.received(seg)
	}
	if p.state != before {
		p.last = p.n
		return p.state, true
	}
	return p.state, false
}

func (p *PeerTracker) set(s State) {
	if s == p.state {
		return
	}
	p.state = s
	if p.nsteps == len(p.steps) {
		p.nsteps--
	}
	p.steps[p.nsteps] = s
	p.nsteps++
}

// resetSpaces starts a new incarnation of the connection: a SYN after CLOSED or
// TIME-WAIT begins a fresh pair of sequence spaces.
func (p *PeerTracker) resetSpaces() {
	*p = PeerTracker{state: p.state, initial: p.initial, n: p.n, last: p.last, steps: p.steps, nsteps: p.nsteps, wsOwn: -1, wsOther: -1}
}

// sent applies a segment the tracked side sent.
func (p *PeerTracker) sent(s *Segment) {
	f := s.Flags
	end := s.Seq.Add(s.Len())
	switch {
	case f.Has(FlagRST):
		// RFC 9293 §3.10.7.3, §3.10.7.4: LISTEN, SYN-SENT and SYN-RECEIVED
		// answer an unacceptable ACK with <SEQ=SEG.ACK><CTL=RST> and stay;
		// in a synchronized state a RST is the side's own end (ABORT,
		// §3.10.5), as is one at SND.NXT in SYN-SENT.
		switch {
		case p.state == StateListen || p.state == StateClosed:
		case p.state == StateSynSent && p.haveISS && s.Seq != p.sndNxt:
		case p.state == StateSynReceived && !f.Has(FlagACK) && p.lastAckIn && s.Seq == p.lastAck:
		default:
			p.set(StateClosed)
		}
		return
	case f.Has(FlagSYN) && !f.Has(FlagACK):
		// RFC 9293 §3.10.1 OPEN: send a SYN, enter SYN-SENT. A SYN with a new
		// ISS after CLOSED or TIME-WAIT opens a new connection.
		if p.haveISS && s.Seq == p.iss {
			return // a retransmission
		}
		switch p.state {
		case StateClosed, StateListen, StateTimeWait, StateSynSent:
			syn, synSeq, synWS := p.synSeen && p.state != StateSynSent, p.synSeq, p.synWS
			p.resetSpaces()
			p.haveISS, p.iss, p.sndUna, p.sndNxt = true, s.Seq, s.Seq, end
			p.wsOwn = scaleOf(s)
			p.set(StateSynSent)
			if syn {
				// The other side's SYN, seen first, crossed this one: it
				// arrives in SYN-SENT (RFC 9293 Figure 7, simultaneous open).
				p.haveIRS, p.irs, p.rcvNxt, p.wsOther = true, synSeq, synSeq.Add(1), synWS
				p.set(StateSynReceived)
			}
		}
		return
	case f.Has(FlagSYN):
		// RFC 9293 §3.10.7.2 LISTEN: a SYN arrived, SYN-ACK sent, enter
		// SYN-RECEIVED; §3.10.7.3 SYN-SENT: a SYN without ACK (simultaneous
		// open, Figure 7) does the same.
		switch p.state {
		case StateClosed, StateListen, StateTimeWait:
			if p.haveISS && s.Seq == p.iss {
				return
			}
			irs := s.Ack.Add(^uint32(0))
			other := -1
			if p.synSeen && p.synSeq == irs {
				other = p.synWS
			}
			p.resetSpaces()
			p.haveISS, p.iss, p.sndUna, p.sndNxt = true, s.Seq, s.Seq, end
			p.haveIRS, p.irs, p.rcvNxt = true, irs, s.Ack
			p.wsOwn, p.wsOther = scaleOf(s), other
			p.set(StateSynReceived)
		case StateSynSent:
			p.haveIRS, p.irs, p.rcvNxt = true, s.Ack.Add(^uint32(0)), s.Ack
			p.set(StateSynReceived)
		}
		p.window(s)
		return
	}
	if p.state == StateClosed || p.state == StateListen {
		if !f.Has(FlagACK) || p.haveISS || p.state != p.initial {
			return
		}
		// A capture that starts mid-connection: the side sends an ACK, so it
		// is synchronized; nothing says whether it has closed yet.
		p.haveISS, p.iss, p.sndUna, p.sndNxt = true, s.Seq.Add(^uint32(0)), s.Seq, end
		p.haveIRS, p.irs, p.rcvNxt = true, s.Ack.Add(^uint32(0)), s.Ack
		p.guessed = true
		p.set(StateEstablished)
	}
	if p.haveISS && end.GreaterThan(p.sndNxt) {
		p.sndNxt = end
	}
	if f.Has(FlagACK) && p.haveIRS && s.Ack.GreaterThan(p.rcvNxt) {
		// Its ACK is its RCV.NXT: what it has received in order.
		p.rcvNxt = s.Ack
	}
	p.window(s)
	if f.Has(FlagFIN) {
		fin := end.Add(^uint32(0))
		if p.finSent && fin == p.finSeq {
			return // a retransmitted FIN
		}
		// RFC 9293 §3.10.4 CLOSE: ESTABLISHED (or SYN-RECEIVED) sends FIN and
		// enters FIN-WAIT-1; CLOSE-WAIT sends FIN and enters LAST-ACK.
		switch p.state {
		case StateSynReceived, StateEstablished:
			p.finSent, p.finSeq = true, fin
			p.set(StateFinWait1)
		case StateCloseWait:
			p.finSent, p.finSeq = true, fin
			if f.Has(FlagACK) && s.Ack.LessThanEq(p.peerFin) {
				// Its FIN does not acknowledge the other's: the two FINs
				// crossed (RFC 9293 Figure 13, simultaneous close), so it
				// went to FIN-WAIT-1 and then, with the other FIN, CLOSING.
				p.set(StateClosing)
			} else {
				p.set(StateLastAck)
			}
		}
	}
	p.fin()
}

// window notes the receive window the tracked side advertised.
func (p *PeerTracker) window(s *Segment) {
	w := uint32(s.Window)
	// RFC 7323 §2.2: the window of a SYN is never scaled; the others are
	// when both SYNs carried the option.
	if !s.Flags.Has(FlagSYN) && p.wsOwn >= 0 && p.wsOther >= 0 {
		w <<= p.wsOwn
	}
	p.rcvWnd, p.haveWnd = w, true
}

// received applies a segment the other side sent.
func (p *PeerTracker) received(s *Segment) {
	f := s.Flags
	p.lastAckIn, p.lastAck = f.Has(FlagACK), s.Ack
	if f.Has(FlagRST) {
		p.reset(s)
		return
	}
	switch p.state {
	case StateClosed:
		// RFC 9293 §3.10.7.1: a closed port answers, its state stays; an
		// unknown side may be listening, which its SYN-ACK will show.
		if f.Has(FlagSYN) && !f.Has(FlagACK) {
			p.pendingSYN(s)
		}
		return
	case StateListen:
		if f.Has(FlagSYN) && !f.Has(FlagACK) {
			p.pendingSYN(s) // SYN-RECEIVED once its SYN-ACK shows it took the SYN
		}
		return
	case StateSynSent:
		if !f.Has(FlagSYN) {
			return // RFC 9293 §3.10.7.3: neither SYN nor RST, drop
		}
		if f.Has(FlagACK) && s.Ack != p.sndNxt {
			return // the ACK does not acknowledge our SYN: RST sent, drop
		}
		p.haveIRS, p.irs, p.rcvNxt = true, s.Seq, s.Seq.Add(1)
		p.wsOther = scaleOf(s)
		if f.Has(FlagACK) {
			// RFC 9293 §3.10.7.3: SND.UNA > ISS, our SYN is acknowledged:
			// enter ESTABLISHED.
			p.sndUna = s.Ack
			p.set(StateEstablished)
			return
		}
		// RFC 9293 §3.10.7.3: a SYN without ACK, enter SYN-RECEIVED
		// (simultaneous open, MUST-10).
		p.set(StateSynReceived)
		return
	case StateTimeWait:
		// RFC 6191 / RFC 9293 §3.10.7.4: a SYN in TIME-WAIT may open a new
		// connection; that shows when the side answers with a SYN-ACK.
		if f.Has(FlagSYN) && !f.Has(FlagACK) && (!p.haveIRS || s.Seq.GreaterThan(p.rcvNxt)) {
			p.pendingSYN(s)
			return
		}
	}
	synAck := f.Has(FlagSYN) && f.Has(FlagACK) && p.state == StateSynReceived
	if f.Has(FlagSYN) && !synAck {
		return // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK
	}
	// A SYN-ACK in SYN-RECEIVED (simultaneous open) counts for its ACK.
	if !synAck && !p.acceptable(s) {
		return // RFC 9293 §3.10.7.4 first check: not acceptable, ACK and drop
	}
	if f.Has(FlagACK) && p.haveISS {
		if s.Ack.GreaterThan(p.sndNxt) {
			return // RFC 9293 §3.10.7.4 fifth check: it acks what was not sent, drop
		}
		if s.Ack.GreaterThan(p.sndUna) {
			p.sndUna = s.Ack
		}
		finAcked := p.finSent && s.Ack.GreaterThan(p.finSeq)
		switch p.state {
		case StateSynReceived:
			// RFC 9293 §3.10.7.4 fifth check, SYN-RECEIVED: an acceptable ACK
			// (SND.UNA < SEG.ACK =< SND.NXT) enters ESTABLISHED.
			if s.Ack.GreaterThan(p.iss) {
				p.set(StateEstablished)
				if finAcked {
					p.set(StateFinWait2)
				}
			}
		case StateFinWait1:
			if finAcked {
				p.set(StateFinWait2) // RFC 9293 §3.10.7.4: our FIN is acknowledged
			}
		case StateClosing:
			if finAcked {
				p.set(StateTimeWait) // RFC 9293 §3.10.7.4 CLOSING
			}
		case StateLastAck:
			if finAcked {
				p.set(StateClosed) // RFC 9293 §3.10.7.4 LAST-ACK
			}
		}
	} else if !f.Has(FlagACK) && !f.Has(FlagSYN) {
		return // RFC 9293 §3.10.7.4 fifth check: no ACK, drop
	}
	if p.state == StateSynReceived {
		return
	}
	end := s.Seq.Add(s.Len())
	if p.haveIRS && s.Seq.LessThanEq(p.rcvNxt) {
		// In-order text moves RCV.NXT, within the window it offered.
		lim := end
		if p.haveWnd && lim.GreaterThan(p.rcvNxt.Add(p.rcvWnd)) {
			lim = p.rcvNxt.Add(p.rcvWnd)
		}
		if f.Has(FlagFIN) {
			lim = lim.Min(end.Add(^uint32(0)))
		}
		if lim.GreaterThan(p.rcvNxt) {
			p.rcvNxt = lim
		}
	}
	if fin := end.Add(^uint32(0)); f.Has(FlagFIN) && !p.finTaken && p.finInWindow(fin) {
		p.finRcvd, p.peerFin = true, fin
	}
	p.fin()
}

// pendingSYN keeps a SYN that arrived in LISTEN or TIME-WAIT, for the
// SYN-ACK that will show the side took it.
func (p *PeerTracker) pendingSYN(s *Segment) {
	p.synSeen, p.synSeq, p.synWS = true, s.Seq, scaleOf(s)
}

// fin moves the state once the other side's FIN is in order: RFC 9293
// §3.10.7.4 eighth check, which a FIN reaches only when all the text
// before it has arrived.
func (p *PeerTracker) fin() {
	if !p.finRcvd || p.finTaken || !p.haveIRS || p.rcvNxt.LessThan(p.peerFin) {
		return
	}
	p.finTaken = true
	p.rcvNxt = p.peerFin.Add(1)
	switch p.state {
	case StateSynReceived, StateEstablished:
		p.set(StateCloseWait)
	case StateFinWait1:
		// FIN-WAIT-1: if our FIN has been ACKed, TIME-WAIT; else CLOSING.
		if p.finSent && p.sndUna.GreaterThan(p.finSeq) {
			p.set(StateTimeWait)
		} else {
			p.set(StateClosing)
		}
	case StateFinWait2:
		p.set(StateTimeWait)
	}
}

// finInWindow reports whether a FIN at fin can be kept: text beyond the
// window is refused, and a FIN behind it with it (RFC 9293 §3.10.7.4: a
// segment is trimmed to the window, its FIN with the trimmed part). A bare
// FIN at RCV.NXT fits even a zero window.
func (p *PeerTracker) finInWindow(fin Seq) bool {
	if !p.haveIRS || !p.haveWnd {
		return true
	}
	return fin.GreaterThanEq(p.rcvNxt) && fin.Sub(p.rcvNxt) <= int32(min(p.rcvWnd, 1<<30))
}

// acceptable is RFC 9293 §3.10.7.4's first check (Table 6): the segment
// overlaps the receive window the tracked side advertised. Without the
// numbers (a capture that starts late) every segment is.
func (p *PeerTracker) acceptable(s *Segment) bool {
	if !p.haveIRS || !p.haveWnd {
		return true
	}
	n := s.Len()
	wnd := p.rcvWnd
	switch {
	case n == 0 && wnd == 0:
		return s.Seq == p.rcvNxt
	case n == 0:
		return s.Seq.InWindow(p.rcvNxt, wnd)
	case wnd == 0:
		// A zero window still takes an ACK or a FIN at RCV.NXT: RFC 9293
		// MUST-66 and Table 6's note (the segment is processed for its
		// control bits).
		return s.Seq == p.rcvNxt
	}
	return s.Seq.InWindow(p.rcvNxt, wnd) || s.Seq.Add(n-1).InWindow(p.rcvNxt, wnd) ||
		(s.Seq.LessThan(p.rcvNxt) && s.Seq.Add(n).GreaterThan(p.rcvNxt))
}

// reset applies a RST the other side sent.
func (p *PeerTracker) reset(s *Segment) {
	switch p.state {
	case StateClosed, StateListen:
		return // RFC 9293 §3.10.7.1, §3.10.7.2: a RST is ignored
	case StateSynSent:
		// RFC 9293 §3.10.7.3: only a RST whose ACK acknowledges our SYN is
		// acceptable (RFC 5961 §3.2 leaves SYN-SENT to this rule).
		if s.Flags.Has(FlagACK) && s.Ack == p.sndNxt {
			p.set(StateClosed)
		}
		return
	}
	// RFC 5961 §3.2: a RST resets the connection only when SEG.SEQ is
	// exactly RCV.NXT; one elsewhere in the window gets a challenge ACK, one
	// outside it is dropped. A TIME-WAIT tracker takes a RST at RCV.NXT too
	// (RFC 9293 §3.10.7.4: TIME-WAIT, "enter the CLOSED state").
	if p.haveIRS && s.Seq != p.rcvNxt {
		return
	}
	if p.state == StateSynReceived && p.initial == StateListen {
		// RFC 9293 §3.10.7.4 second check, MUST-11: a passive open returns
		// to LISTEN.
		p.resetSpaces()
		p.set(StateListen)
		return
	}
	p.set(StateClosed)
}
