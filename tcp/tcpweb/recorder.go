// Package tcpweb records what a tcp.Stack does, connection by connection,
// and shows it in a browser: a ladder diagram of the segments, both sides'
// states on RFC 9293's state diagram, and a time-sequence graph with the
// sender's congestion window. Recorder is a tcp.Tracer; its Handler serves
// the page and the events as they happen (server-sent events), and
// WriteHTML writes one self-contained file of everything recorded.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary: no
// toolchain builds it and it loads nothing from elsewhere, so it works
// offline.
package tcpweb

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/utcp/utcp/tcp"
)

// Kinds of Event.
const (
	KindConn   = "conn"   // a connection was first seen: Local, Remote
	KindGone   = "gone"   // a finished connection was forgotten to stay within the bounds
	KindIn     = "in"     // a segment arrived
	KindOut    = "out"    // the stack sent a segment
	KindDrop   = "drop"   // an arriving segment was dropped or ignored (Ref: its "in" event, if any)
	KindState  = "state"  // utcp's state changed (Ref: the segment of the batch that caused it, if any)
	KindUser   = "user"   // an application call returned
	KindSender = "sender" // the sender's congestion state
	KindTrunc  = "truncated"
)

// Event is one thing that happened on a connection, as the page reads it.
// Sequence and acknowledgment numbers are relative to each side's initial
// sequence number, as Wireshark shows them; the absolute ones are there too.
type Event struct {
	ID   uint64  `json:"id"`   // increasing over the whole recorder: the SSE id
	Conn int     `json:"conn"` // the connection's number
	T    float64 `json:"t"`    // seconds since the connection's first event
	Kind string  `json:"kind"`
	Ref  uint64  `json:"ref,omitempty"` // the event this one annotates (a drop, a transition)

	// KindConn.
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`

	// Segments (KindIn, KindOut, and KindDrop without Ref).
	Flags    string `json:"flags,omitempty"` // letters in header order: S F R P A U E C
	Seq      uint32 `json:"seq"`
	Ack      uint32 `json:"ack"`
	AbsSeq   uint32 `json:"absSeq"`
	AbsAck   uint32 `json:"absAck"`
	Len      int    `json:"len"`
	Win      uint32 `json:"win"`                // scaled once both SYNs agreed on scaling (RFC 7323 §2.3)
	Opts     string `json:"opts,omitempty"`     // MSS=1460 WS=128 SACK_PERM TS
	Retrans  bool   `json:"retrans,omitempty"`  // it repeats sequence numbers already sent
	Step     string `json:"step,omitempty"`     // "handshake 1/3", "close 2/4"
	Peer     string `json:"peer,omitempty"`     // the peer's state after it, inferred from the segments
	PeerFrom string `json:"peerFrom,omitempty"` // the peer's state before it, when it changed

	// Why the stack sent or dropped it, when the stack says.
	Why    string `json:"why,omitempty"`    // human text
	Rule   string `json:"rule,omitempty"`   // the rule it follows
	Reason string `json:"reason,omitempty"` // stable name

	// KindState.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`

	// KindUser.
	User string `json:"user,omitempty"` // "Accept returns"
	N    int    `json:"n,omitempty"`
	Err  string `json:"err,omitempty"`

	// KindSender.
	Sender *Sender `json:"sender,omitempty"`
}

// Sender is the sender's congestion state, its sequence numbers relative
// to utcp's initial sequence number.
type Sender struct {
	Cwnd       uint32  `json:"cwnd"`
	SSThresh   int64   `json:"ssthresh"` // -1: arbitrarily high (RFC 5681 §3.1)
	SndUna     uint32  `json:"sndUna"`
	SndNxt     uint32  `json:"sndNxt"`
	SndWnd     uint32  `json:"sndWnd"`
	InFlight   uint32  `json:"inFlight"`
	SRTTms     float64 `json:"srttMs"`
	Recovering bool    `json:"recovering,omitempty"`
}

// Options bound a Recorder's memory. Zero fields take the defaults.
type Options struct {
	MaxConns         int // connections kept; default 64
	MaxEventsPerConn int // events kept per connection; default 4096
	MaxEvents        int // events kept in all; default 65536
	SubscriberBuffer int // events queued for one browser before it is dropped; default 4096
	// Names are what the page calls the two sides; default "utcp" and
	// "peer". LocalInferred says the first side's states too are inferred
	// from the segments, as for a capture (utcp explain).
	Names         [2]string
	LocalInferred bool
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxConns, 64)
	def(&o.MaxEventsPerConn, 4096)
	def(&o.MaxEvents, 65536)
	def(&o.SubscriberBuffer, 4096)
	if o.Names == [2]string{} {
		o.Names = [2]string{"utcp", "peer"}
	}
	return o
}

// Stats count what the bounds cost.
type Stats struct {
	Conns             int    // connections kept
	Events            int    // events kept
	ConnsForgotten    uint64 // connections dropped to stay within MaxConns or MaxEvents
	EventsNotKept     uint64 // events past a connection's cap, or past MaxEvents
	SubscribersClosed uint64 // browsers that fell behind and were cut off (they reconnect)
}

// Recorder is a tcp.Tracer that keeps the events of each connection in
// memory, within Options' bounds, and passes them on to subscribers. Its
// methods only append to memory and hand events to buffered channels, so
// the stack is never held up: a subscriber whose buffer is full is cut
// off and resumes from its Last-Event-ID.
type Recorder struct {
	mu     sync.Mutex
	opt    Options
	nextID uint64
	nextC  int
	conns  []*conn // in the order first seen
	byID   map[tcp.FourTuple]*conn
	events int
	lost   uint64 // the highest ID a subscriber can no longer get
	subs   map[*subscriber]struct{}
	stats  Stats
	// Connections that carry an event stream of this recorder: recording
	// them would feed the stream its own traffic.
	quiet map[tcp.FourTuple]int
}

// NewRecorder returns a Recorder with the bounds of opt.
func NewRecorder(opt Options) *Recorder {
	return &Recorder{opt: opt.withDefaults(), byID: make(map[tcp.FourTuple]*conn), subs: make(map[*subscriber]struct{}), quiet: make(map[tcp.FourTuple]int)}
}

// conn is one recorded connection.
type conn struct {
	n           int
	id          tcp.FourTuple
	start       time.Time
	events      []Event
	finished    bool // utcp's side reached CLOSED
	full        bool // its cap was reached
	local, peer dirState
	peerTracker *tcp.PeerTracker
	lastIn      int // index in events of the arriving segment a drop belongs to; -1: none
	lastSeg     int // index of the segment a transition belongs to: the last of the batch; -1: none
	handshake   int // handshake steps seen
	closing     int // close steps seen
}

// dirState is one direction's numbering: its initial sequence number, its
// window scale and what it has sent.
type dirState struct {
	isn             tcp.Seq
	haveISN         bool
	ws              int // shift its SYN offered; -1: none
	sndMax          tcp.Seq
	haveMax         bool
	finSeq          tcp.Seq // sequence number of its FIN
	finSent, finAck bool    // it sent a FIN; the other side acknowledged it
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Conns, s.Events = len(r.conns), r.events
	return s
}

// connFor returns the connection id's events go to, starting one when
// none is open; start says the event opens a connection (a SYN, a
// transition out of CLOSED or LISTEN). It returns nil for a connection not
// to record.
func (r *Recorder) connFor(now time.Time, id tcp.FourTuple, start bool) *conn {
	if r.quiet[id] > 0 {
		return nil
	}
	c := r.byID[id]
	if c != nil && !(c.finished && start) {
		return c
	}
	r.makeRoom()
	r.nextC++
	c = &conn{n: r.nextC, id: id, start: now, lastIn: -1, lastSeg: -1, local: dirState{ws: -1}, peer: dirState{ws: -1}}
	r.conns = append(r.conns, c)
	r.byID[id] = c
	r.add(c, now, Event{Kind: KindConn, Local: id.Local.String(), Remote: id.Remote.String()})
	return c
}

// makeRoom forgets connections, oldest finished first, until there is room
// for one more.
func (r *Recorder) makeRoom() {
	for len(r.conns) >= r.opt.MaxConns || (r.events >= r.opt.MaxEvents && len(r.conns) > 0) {
		i := 0
		for j, c := range r.conns {
			if c.finished {
				i = j
				break
			}
		}
		r.forget(i)
	}
}

func (r *Recorder) forget(i int) {
	c := r.conns[i]
	r.conns = append(r.conns[:i], r.conns[i+1:]...)
	if r.byID[c.id] == c {
		delete(r.byID, c.id)
	}
	r.events -= len(c.events)
	r.stats.ConnsForgotten++
	r.nextID++
	r.lost = r.nextID
	r.publish(Event{ID: r.nextID, Conn: c.n, Kind: KindGone})
}

// add appends ev to c, within the bounds, and publishes it. It returns the
// event's index in c.events, or -1 when it was not kept.
func (r *Recorder) add(c *conn, now time.Time, ev Event) int {
	if c.full {
		r.stats.EventsNotKept++
		return -1
	}
	if len(c.events) >= r.opt.MaxEventsPerConn-1 || r.events >= r.opt.MaxEvents-1 {
		// One last event says where the record stops.
		c.full = true
		ev = Event{Kind: KindTrunc}
		r.stats.EventsNotKept++
	}
	r.nextID++
	ev.ID, ev.Conn, ev.T = r.nextID, c.n, now.Sub(c.start).Seconds()
	c.events = append(c.events, ev)
	r.events++
	r.publish(ev)
	if c.full {
		return -1
	}
	return len(c.events) - 1
}

// segment records a segment in or out.
func (r *Recorder) segment(now time.Time, id tcp.FourTuple, seg *tcp.Segment, out bool, why reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	syn := seg.Flags.Has(tcp.FlagSYN)
	c := r.connFor(now, id, syn && !seg.Flags.Has(tcp.FlagACK))
	if c == nil {
		return
	}
	if c.peerTracker == nil {
		// The peer of a connection utcp opens is a listener.
		initial := tcp.StateClosed
		if out && syn {
			initial = tcp.StateListen
		}
		c.peerTracker = tcp.NewPeerTracker(initial)
	}
	ev := c.describe(seg, out)
	ev.Why, ev.Rule, ev.Reason = why.text, why.rule, why.name
	before := c.peerTracker.State()
	st, changed := c.peerTracker.Observe(seg, !out)
	ev.Peer = st.String()
	if changed {
		ev.PeerFrom = before.String()
	}
	if out {
		ev.Kind = KindOut
	} else {
		ev.Kind = KindIn
	}
	i := r.add(c, now, ev)
	c.lastIn, c.lastSeg = -1, i
	if !out {
		c.lastIn = i
	}
}

// reason is a tcp.Reason as the page shows it.
type reason struct{ text, rule, name string }

// describe fills the segment's fields and advances the numbering.
func (c *conn) describe(seg *tcp.Segment, out bool) Event {
	from, to := &c.peer, &c.local
	if out {
		from, to = &c.local, &c.peer
	}
	f := seg.Flags
	if f.Has(tcp.FlagSYN) || !from.haveISN {
		from.isn, from.haveISN = seg.Seq, true
		from.haveMax = false
	}
	if f.Has(tcp.FlagSYN) {
		from.ws = -1
		if seg.Options.HasWindowScale {
			from.ws = int(min(seg.Options.WindowScale, 14)) // RFC 7323 §2.3: at most 14
		}
	}
	ev := Event{
		Flags: flagLetters(f), AbsSeq: uint32(seg.Seq), Seq: uint32(seg.Seq - from.isn),
		Len: len(seg.Payload), Win: uint32(seg.Window), Opts: optionText(&seg.Options),
	}
	if f.Has(tcp.FlagACK) {
		ev.AbsAck = uint32(seg.Ack)
		ev.Ack = uint32(seg.Ack)
		if to.haveISN {
			ev.Ack = uint32(seg.Ack - to.isn)
		}
	}
	// RFC 7323 §2.2: the window of a SYN is never scaled.
	if !f.Has(tcp.FlagSYN) && from.ws >= 0 && to.ws >= 0 {
		ev.Win <<= from.ws
	}
	end := seg.End()
	if seg.Len() > 0 {
		if from.haveMax && seg.Seq.LessThan(from.sndMax) {
			ev.Retrans = true
		}
		if !from.haveMax || end.GreaterThan(from.sndMax) {
			from.sndMax, from.haveMax = end, true
		}
	}
	ev.Step = c.step(seg, from, to)
	return ev
}

// step names the segment's part in the three-way handshake (RFC 9293
// §3.5) or the four-way close (§3.6), "" for the others.
func (c *conn) step(seg *tcp.Segment, from, to *dirState) string {
	f := seg.Flags
	switch {
	case f.Has(tcp.FlagRST):
		return "reset"
	case f.Has(tcp.FlagSYN):
		c.handshake = 1
		if f.Has(tcp.FlagACK) {
			c.handshake = 2
		}
		return fmt.Sprintf("handshake %d/3", c.handshake)
	case c.handshake == 2 && f.Has(tcp.FlagACK):
		c.handshake = 3
		return "handshake 3/3"
	}
	var steps []string
	if f.Has(tcp.FlagFIN) && !from.finSent {
		from.finSent, from.finSeq = true, seg.End().Add(^uint32(0)) // the FIN's own number
		c.closing++
		steps = append(steps, fmt.Sprint(c.closing))
	}
	if f.Has(tcp.FlagACK) && to.finSent && !to.finAck && seg.Ack == to.finSeq.Add(1) {
		to.finAck = true
		c.closing++
		steps = append(steps, fmt.Sprint(c.closing))
	}
	if len(steps) == 0 {
		return ""
	}
	return "close " + strings.Join(steps, "+") + "/4"
}

// state records a transition of utcp's side.
func (r *Recorder) state(now time.Time, id tcp.FourTuple, from, to tcp.State) {
	if from == tcp.StateClosed && to == tcp.StateListen {
		return // the stack's per-SYN LISTEN TCB, an implementation detail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.connFor(now, id, from == tcp.StateClosed || from == tcp.StateListen)
	if c == nil {
		return
	}
	ev := Event{Kind: KindState, From: from.String(), To: to.String()}
	if c.lastSeg >= 0 {
		ev.Ref = c.events[c.lastSeg].ID
	}
	r.add(c, now, ev)
	if to == tcp.StateClosed {
		c.finished = true
	}
}

// dropped records that an arriving segment was dropped. When it was just
// recorded as arriving, the drop annotates that event.
func (r *Recorder) dropped(now time.Time, id tcp.FourTuple, seg *tcp.Segment, why reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.connFor(now, id, false)
	if c == nil {
		return
	}
	var ev Event
	if i := c.lastIn; i >= 0 && c.events[i].AbsSeq == uint32(seg.Seq) && c.events[i].Flags == flagLetters(seg.Flags) {
		ev.Ref = c.events[i].ID
	} else {
		ev = c.describe(seg, false)
	}
	ev.Kind, ev.Why, ev.Rule, ev.Reason = KindDrop, why.text, why.rule, why.name
	r.add(c, now, ev)
}

// user records an application call returning.
func (r *Recorder) user(now time.Time, id tcp.FourTuple, what string, n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.connFor(now, id, false)
	if c == nil {
		return
	}
	c.lastIn, c.lastSeg = -1, -1 // a transition after the call is the call's
	ev := Event{Kind: KindUser, User: what, N: n}
	if err != nil {
		ev.Err = err.Error()
	}
	r.add(c, now, ev)
}

// sender records the sender's congestion state.
func (r *Recorder) sender(now time.Time, id tcp.FourTuple, s Sender, una, nxt tcp.Seq, ssthresh uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.connFor(now, id, false)
	if c == nil {
		return
	}
	s.SndUna, s.SndNxt = uint32(una-c.local.isn), uint32(nxt-c.local.isn)
	s.SSThresh = int64(ssthresh)
	if ssthresh == math.MaxUint32 {
		s.SSThresh = -1
	}
	r.add(c, now, Event{Kind: KindSender, Sender: &s})
}

// flush ends a batch: a later transition belongs to no segment.
func (r *Recorder) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.lastIn, c.lastSeg = -1, -1
	}
}

// flagLetters spells the flags as letters in header order, SYN first:
// "S", "SA", "FA", "PA", "R".
func flagLetters(f tcp.Flags) string {
	var b strings.Builder
	for _, x := range [...]struct {
		f tcp.Flags
		c byte
	}{{tcp.FlagSYN, 'S'}, {tcp.FlagFIN, 'F'}, {tcp.FlagRST, 'R'}, {tcp.FlagPSH, 'P'}, {tcp.FlagACK, 'A'}, {tcp.FlagURG, 'U'}, {tcp.FlagECE, 'E'}, {tcp.FlagCWR, 'C'}} {
		if f.Has(x.f) {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

// optionText lists the options a segment carries.
func optionText(o *tcp.Options) string {
	var parts []string
	if o.MSS != 0 {
		parts = append(parts, fmt.Sprintf("MSS=%d", o.MSS))
	}
	if o.HasWindowScale {
		parts = append(parts, fmt.Sprintf("WS=%d", 1<<min(o.WindowScale, 14)))
	}
	if o.SACKPermitted {
		parts = append(parts, "SACK_PERM")
	}
	for _, b := range o.SACKBlocks {
		parts = append(parts, fmt.Sprintf("SACK=%d-%d", uint32(b.Left), uint32(b.Right)))
	}
	if o.HasTimestamp {
		parts = append(parts, fmt.Sprintf("TSval=%d TSecr=%d", o.TSVal, o.TSEcr))
	}
	return strings.Join(parts, " ")
}
