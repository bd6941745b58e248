package tcp

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Ladder is a Tracer that draws each connection as the ladder diagrams of
// TCP textbooks: one line per segment, with an arrow between the stack's
// column and the peer's, the flags, sequence and acknowledgment numbers
// relative to each side's initial sequence number (as Wireshark shows them),
// the window, the length and the options, then the state transitions the
// segment caused. It marks the handshake and close segments and the moments
// Dial and Accept return and Read sees EOF.
//
// The peer's state, which the stack cannot know, is inferred from the
// segments by a PeerTracker and drawn as "peer→ ESTABLISHED~" on the line
// of the segment that moved it: "~" marks an inferred state.
//
// The stack calls Flush after each batch of work, so a line is complete
// (transitions included) as soon as the segment has been processed.
type Ladder struct {
	// LocalName and PeerName head the columns and name the sides'
	// transitions: "utcp" and "peer" if empty.
	LocalName, PeerName string
	// LocalInferred says the local side's StateChange calls are inferred
	// too (a capture, as `utcp explain` draws it): they are marked "~" and
	// drawn on the line of the segment before them, so SegmentOut leaves
	// the line open until Flush.
	LocalInferred bool
	// Start is the instant times count from; if zero, the first call's.
	Start time.Time

	mu        sync.Mutex
	w         io.Writer
	start     time.Time
	conns     map[FourTuple]*ladderConn
	pending   strings.Builder // the last line, still collecting transitions
	header    bool
	why       bool     // NewLadderWhy: reasons, drops and socket calls too (ladder_why.go)
	pendingIn ladderIn // the arriving segment of the pending line
}

type ladderConn struct {
	localISN, remoteISN   Seq
	haveLocal, haveRemote bool
	localFIN, remoteFIN   bool // a FIN was sent / received
	localFINSeq           Seq  // sequence number of our FIN
	remoteFINSeq          Seq  // sequence number of the peer's FIN
	localFINAcked         bool // the peer acknowledged our FIN
	remoteFINAcked        bool // we acknowledged the peer's FIN
	closeStep             int  // segments of the four-way close seen so far
	synAckSeen            bool
	handshakeDone         bool
	localWS, remoteWS     int // window scale each side offered on its SYN; -1 if none
	peer                  *PeerTracker
}

// NewLadder returns a Ladder that writes to w.
func NewLadder(w io.Writer) *Ladder {
	return &Ladder{w: w, conns: make(map[FourTuple]*ladderConn)}
}

const ladderArrow = 66 // width of the arrow column

func (l *Ladder) conn(id FourTuple) *ladderConn {
	c := l.conns[id]
	if c == nil {
		c = &ladderConn{localWS: -1, remoteWS: -1, peer: NewPeerTracker(StateClosed)}
		l.conns[id] = c
	}
	return c
}

func (l *Ladder) elapsed(now time.Time) float64 {
	if l.start.IsZero() {
		l.start = now
		if !l.Start.IsZero() {
			l.start = l.Start
		}
	}
	return now.Sub(l.start).Seconds()
}

// SegmentIn draws an arriving segment: an arrow from the peer to the stack.
func (l *Ladder) SegmentIn(now time.Time, id FourTuple, seg *Segment) { l.segment(now, id, seg, false) }

// SegmentOut draws a segment the stack sends: an arrow from the stack to the peer.
func (l *Ladder) SegmentOut(now time.Time, id FourTuple, seg *Segment) {
	l.segment(now, id, seg, true)
	l.appendWhy(seg.Why)
	if !l.LocalInferred {
		l.Flush() // what the stack sends causes no transition of its own
	}
}

func (l *Ladder) segment(now time.Time, id FourTuple, seg *Segment, out bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	c := l.conn(id)
	// Each direction's numbers are relative to its first sequence number,
	// and its window scale is what its SYN offered.
	isn, have, ws, dir := &c.remoteISN, &c.haveRemote, &c.remoteWS, "<"
	ackBase, haveAck := c.localISN, c.haveLocal
	if out {
		isn, have, ws, dir = &c.localISN, &c.haveLocal, &c.localWS, ">"
		ackBase, haveAck = c.remoteISN, c.haveRemote
	}
	if !*have || seg.Flags.Has(FlagSYN) {
		*isn, *have = seg.Seq, true
	}
	if seg.Flags.Has(FlagSYN) {
		*ws = scaleOf(seg)
	}
	label := c.label(seg, out)
	l.line(now, id, dir, c.describe(seg, *isn, ackBase, haveAck, *ws), label)
	c.peer.Observe(seg, !out)
	for _, st := range c.peer.Steps() {
		fmt.Fprintf(&l.pending, "  %s→ %v~", l.name(true), st)
	}
	l.pendingIn = ladderInOf(id, seg)
}

// Note adds a remark to the line of the segment just drawn, marked "~"
// as inferred: what a capture shows of it, such as "duplicate ACK".
func (l *Ladder) Note(_ time.Time, _ FourTuple, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending.Len() > 0 {
		fmt.Fprintf(&l.pending, "  (~ %s)", text)
	}
}

// name is the name of the peer's side or the local one.
func (l *Ladder) name(peer bool) string {
	switch {
	case peer && l.PeerName != "":
		return l.PeerName
	case peer:
		return "peer"
	case l.LocalName != "":
		return l.LocalName
	}
	return "utcp"
}

// StateChange adds a transition to the line of the segment that caused it,
// or prints it on its own line when a user call or a timer caused it.
func (l *Ladder) StateChange(now time.Time, id FourTuple, from, to State) {
	if from == StateClosed && to == StateListen {
		return // the stack's per-SYN LISTEN TCB, an implementation detail
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	change := fmt.Sprintf("%v → %v", from, to)
	if l.LocalInferred {
		change = fmt.Sprintf("%s→ %v~", l.name(false), to)
	}
	if l.pending.Len() > 0 {
		fmt.Fprintf(&l.pending, "  %s", change)
		return
	}
	l.head(id)
	fmt.Fprintf(l.w, "%9.6f  %s  %s\n", l.elapsed(now), strings.Repeat(" ", ladderArrow+2), change)
	if to == StateClosed && !l.LocalInferred {
		delete(l.conns, id)
	}
}

// UserEvent marks the moment an application call returns.
func (l *Ladder) UserEvent(now time.Time, id FourTuple, ev UserEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	var why string
	switch ev.Kind {
	case EventDialReturned:
		why = "Dial (connect) returns: the SYN-ACK arrived and was ACKed (handshake segment 2 of 3)"
	case EventAcceptReturned:
		why = "Accept returns: the ACK of the SYN-ACK arrived (handshake segment 3 of 3)"
	case EventReadEOF:
		why = "Read returns EOF: the peer sent FIN, it will send no more"
	default:
		why = l.userEventText(ev)
		if why == "" {
			if l.why || ev.Kind <= EventReset {
				why = ev.String()
			} else {
				return // socket-call markers are drawn with NewLadderWhy only
			}
		}
	}
	fmt.Fprintf(l.w, "%9.6f  ==> %s\n", l.elapsed(now), why)
}

// SegmentDropped marks a segment dropped, with NewLadderWhy.
func (l *Ladder) SegmentDropped(now time.Time, id FourTuple, seg *Segment, why Reason) {
	l.dropped(now, id, seg, why)
}

// Sender is not drawn.
func (l *Ladder) Sender(time.Time, FourTuple, SenderState) {}

// Flush completes the pending line.
func (l *Ladder) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *Ladder) flushLocked() {
	if l.pending.Len() == 0 {
		return
	}
	l.pending.WriteByte('\n')
	io.WriteString(l.w, l.pending.String())
	l.pending.Reset()
}

func (l *Ladder) head(id FourTuple) {
	if l.header {
		return
	}
	l.header = true
	left := l.name(false) + " " + id.Local.String()
	if l.LocalInferred {
		left += " (~ inferred)"
	}
	right := l.name(true) + " " + id.Remote.String() + " (~ inferred)"
	fmt.Fprintf(l.w, "%9s  %-*s%s\n", "time", max(ladderArrow+2-len(right), len(left)+2), left, right)
}

// line starts a pending line: time, the arrow with the segment, a label.
func (l *Ladder) line(now time.Time, id FourTuple, dir, text, label string) {
	l.head(id)
	body := " " + text + " "
	pad := ladderArrow - 3 - len([]rune(body))
	var arrow string
	if pad < 1 {
		pad = 1
	}
	if dir == ">" {
		arrow = "|-" + body + strings.Repeat("-", pad) + ">|"
	} else {
		arrow = "|<" + strings.Repeat("-", pad) + body + "-|"
	}
	fmt.Fprintf(&l.pending, "%9.6f  %s", l.elapsed(now), arrow)
	if label != "" {
		fmt.Fprintf(&l.pending, "  (%s)", label)
	}
}

func scaleOf(s *Segment) int {
	if s.Options.HasWindowScale {
		return int(min(s.Options.WindowScale, 14))
	}
	return -1
}

// describe formats a segment the way Wireshark's summary does, with
// sequence numbers relative to each side's first one and the window
// scaled once both SYNs agreed on scaling (RFC 7323).
func (c *ladderConn) describe(s *Segment, seqBase, ackBase Seq, haveAck bool, ws int) string {
	var b strings.Builder
	b.WriteString(flagNames(s.Flags))
	fmt.Fprintf(&b, " Seq=%d", uint32(s.Seq-seqBase))
	if s.Flags.Has(FlagACK) {
		if haveAck {
			fmt.Fprintf(&b, " Ack=%d", uint32(s.Ack-ackBase))
		} else {
			fmt.Fprintf(&b, " Ack=%d", uint32(s.Ack))
		}
	}
	win := uint32(s.Window)
	if !s.Flags.Has(FlagSYN) && c.localWS >= 0 && c.remoteWS >= 0 {
		win <<= ws
	}
	fmt.Fprintf(&b, " Win=%d Len=%d", win, len(s.Payload))
	if g := int(s.GSOSize); g > 0 {
		fmt.Fprintf(&b, " TSO=%d×%d", (len(s.Payload)+g-1)/g, g) // one packet for this many segments on the wire
	}
	o := &s.Options
	if o.MSS != 0 {
		fmt.Fprintf(&b, " MSS=%d", o.MSS)
	}
	if o.HasWindowScale {
		fmt.Fprintf(&b, " WS=%d", 1<<o.WindowScale)
	}
	if o.SACKPermitted {
		b.WriteString(" SACK_PERM")
	}
	if o.HasTimestamp {
		fmt.Fprintf(&b, " TSval=%d TSecr=%d", o.TSVal, o.TSEcr)
	}
	if e := s.ECN & ecnMask; e != ecnNotECT {
		b.WriteString([...]string{ecnECT1: " ECT(1)", ecnECT0: " ECT(0)", ecnCE: " CE"}[e]) // the IP header's codepoint
	}
	return b.String()
}

// label names the segment's part in the handshake or the close.
func (c *ladderConn) label(s *Segment, out bool) string {
	f := s.Flags
	switch {
	case f.Has(FlagRST):
		return "reset"
	case f.Has(FlagSYN) && !f.Has(FlagACK):
		c.synAckSeen, c.handshakeDone = false, false
		return "handshake 1/3"
	case f.Has(FlagSYN):
		c.synAckSeen = true
		return "handshake 2/3"
	case c.synAckSeen && !c.handshakeDone && f.Has(FlagACK):
		c.handshakeDone = true
		return "handshake 3/3"
	}
	label := ""
	if f.Has(FlagFIN) {
		end := s.Seq.Add(uint32(len(s.Payload)))
		if out && !c.localFIN {
			c.localFIN, c.localFINSeq = true, end
			c.closeStep++
			label = fmt.Sprintf("close %d/4", c.closeStep)
		} else if !out && !c.remoteFIN {
			c.remoteFIN, c.remoteFINSeq = true, end
			c.closeStep++
			label = fmt.Sprintf("close %d/4", c.closeStep)
		}
	}
	// The ACK of the other side's FIN is a step of the close as well.
	if f.Has(FlagACK) {
		acked := &c.localFINAcked
		finSeq, sent := c.localFINSeq, c.localFIN
		if out {
			acked, finSeq, sent = &c.remoteFINAcked, c.remoteFINSeq, c.remoteFIN
		}
		if sent && !*acked && s.Ack == finSeq.Add(1) {
			*acked = true
			c.closeStep++
			if label != "" {
				label = fmt.Sprintf("close %d+%d/4", c.closeStep-1, c.closeStep)
			} else {
				label = fmt.Sprintf("close %d/4", c.closeStep)
			}
		}
	}
	return label
}

// flagNames spells the flags as Wireshark does: [SYN, ACK].
func flagNames(f Flags) string {
	names := [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	order := [...]int{1, 0, 2, 3, 4, 5, 6, 7} // SYN before FIN
	var parts []string
	for _, i := range order {
		if f&(1<<i) != 0 {
			parts = append(parts, names[i])
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
