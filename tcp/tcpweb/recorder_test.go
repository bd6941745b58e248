package tcpweb

import (
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tuple1 = tcp.FourTuple{Local: netip.MustParseAddrPort("10.9.0.2:7000"), Remote: netip.MustParseAddrPort("10.9.0.1:40000")}
)

const (
	peerISN = tcp.Seq(1000)
	ourISN  = tcp.Seq(0xfffffff0) // wraps: relative numbers must not care
)

// passiveOpen feeds r what a listener's connection shows: the handshake,
// Accept, a line each way, and the peer's close.
func passiveOpen(r *Recorder, id tcp.FourTuple, at time.Time) {
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	in := func(n int, s tcp.Segment) { r.SegmentIn(ms(n), id, &s); r.Flush() }
	out := func(n int, s tcp.Segment) { r.SegmentOut(ms(n), id, &s) }
	syn := tcp.Segment{Seq: peerISN, Flags: tcp.FlagSYN, Window: 64240, Options: tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true}}
	r.SegmentIn(ms(0), id, &syn)
	r.StateChange(ms(0), id, tcp.StateClosed, tcp.StateListen)
	r.StateChange(ms(0), id, tcp.StateListen, tcp.StateSynReceived)
	out(0, tcp.Segment{Seq: ourISN, Ack: peerISN + 1, Flags: tcp.FlagSYN | tcp.FlagACK, Window: 65535, Options: tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 3}})
	r.Flush()
	r.SegmentIn(ms(1), id, &tcp.Segment{Seq: peerISN + 1, Ack: ourISN + 1, Flags: tcp.FlagACK, Window: 502})
	r.StateChange(ms(1), id, tcp.StateSynReceived, tcp.StateEstablished)
	r.Flush()
	r.UserEvent(ms(1), id, tcp.UserEvent{Kind: tcp.EventAcceptReturned})
	in(2, tcp.Segment{Seq: peerISN + 1, Ack: ourISN + 1, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 502, Payload: []byte("hello\n")})
	out(40, tcp.Segment{Seq: ourISN + 1, Ack: peerISN + 7, Flags: tcp.FlagACK, Window: 32767})
	out(50, tcp.Segment{Seq: ourISN + 1, Ack: peerISN + 7, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 32767, Payload: []byte("hi\n")})
	out(250, tcp.Segment{Seq: ourISN + 1, Ack: peerISN + 7, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 32767, Payload: []byte("hi\n")})
	in(251, tcp.Segment{Seq: peerISN + 7, Ack: ourISN + 4, Flags: tcp.FlagACK, Window: 502})
	r.SegmentIn(ms(300), id, &tcp.Segment{Seq: peerISN + 7, Ack: ourISN + 4, Flags: tcp.FlagACK | tcp.FlagFIN, Window: 502})
	r.StateChange(ms(300), id, tcp.StateEstablished, tcp.StateCloseWait)
	out(300, tcp.Segment{Seq: ourISN + 4, Ack: peerISN + 8, Flags: tcp.FlagACK, Window: 32767})
	r.Flush()
	r.StateChange(ms(310), id, tcp.StateCloseWait, tcp.StateLastAck)
	out(310, tcp.Segment{Seq: ourISN + 4, Ack: peerISN + 8, Flags: tcp.FlagACK | tcp.FlagFIN, Window: 32767})
	r.Flush()
	r.SegmentIn(ms(311), id, &tcp.Segment{Seq: peerISN + 8, Ack: ourISN + 5, Flags: tcp.FlagACK, Window: 502})
	r.StateChange(ms(311), id, tcp.StateLastAck, tcp.StateClosed)
	r.Flush()
}

// row is what a test checks of an event.
type row struct {
	kind, flags     string
	seq, ack, win   uint32
	len             int
	step, from, to  string
	user            string
	retrans, hasRef bool
}

func rowOf(e Event) row {
	return row{kind: e.Kind, flags: e.Flags, seq: e.Seq, ack: e.Ack, win: e.Win, len: e.Len, step: e.Step,
		from: e.From, to: e.To, user: e.User, retrans: e.Retrans, hasRef: e.Ref != 0}
}

func TestRecorder_EventModel(t *testing.T) {
	r := NewRecorder(Options{})
	passiveOpen(r, tuple1, t0)
	evs := r.Events()
	want := []row{
		{kind: KindConn},
		{kind: KindIn, flags: "S", win: 64240, step: "handshake 1/3"},
		{kind: KindState, from: "LISTEN", to: "SYN-RECEIVED", hasRef: true}, // folded into the SYN
		{kind: KindOut, flags: "SA", ack: 1, win: 65535, step: "handshake 2/3"},
		{kind: KindIn, flags: "A", seq: 1, ack: 1, win: 502 << 7, step: "handshake 3/3"}, // RFC 7323: scaled
		{kind: KindState, from: "SYN-RECEIVED", to: "ESTABLISHED", hasRef: true},
		{kind: KindUser, user: "Accept returns"},
		{kind: KindIn, flags: "PA", seq: 1, ack: 1, win: 502 << 7, len: 6},
		{kind: KindOut, flags: "A", seq: 1, ack: 7, win: 32767 << 3},
		{kind: KindOut, flags: "PA", seq: 1, ack: 7, win: 32767 << 3, len: 3},
		{kind: KindOut, flags: "PA", seq: 1, ack: 7, win: 32767 << 3, len: 3, retrans: true},
		{kind: KindIn, flags: "A", seq: 7, ack: 4, win: 502 << 7},
		{kind: KindIn, flags: "FA", seq: 7, ack: 4, win: 502 << 7, step: "close 1/4"},
		{kind: KindState, from: "ESTABLISHED", to: "CLOSE-WAIT", hasRef: true},
		{kind: KindOut, flags: "A", seq: 4, ack: 8, win: 32767 << 3, step: "close 2/4"},
		{kind: KindState, from: "CLOSE-WAIT", to: "LAST-ACK"}, // a user call: a step of its own
		{kind: KindOut, flags: "FA", seq: 4, ack: 8, win: 32767 << 3, step: "close 3/4"},
		{kind: KindIn, flags: "A", seq: 8, ack: 5, win: 502 << 7, step: "close 4/4"},
		{kind: KindState, from: "LAST-ACK", to: "CLOSED", hasRef: true},
	}
	require.Len(t, evs, len(want))
	for i, w := range want {
		assert.Equal(t, w, rowOf(evs[i]), "event %d", i)
		assert.Equal(t, uint64(i+1), evs[i].ID, "IDs count up")
		assert.Equal(t, 1, evs[i].Conn)
	}
	assert.Equal(t, "10.9.0.2:7000", evs[0].Local)
	assert.Equal(t, "10.9.0.1:40000", evs[0].Remote)
	assert.Equal(t, evs[1].ID, evs[2].Ref, "the transition belongs to the SYN")
	assert.Equal(t, "MSS=1460 WS=128 SACK_PERM", evs[1].Opts)
	assert.Equal(t, uint32(peerISN), evs[1].AbsSeq)
	assert.Equal(t, uint32(ourISN+1), evs[4].AbsAck)
	assert.InDelta(t, 0.311, evs[len(evs)-1].T, 1e-9, "seconds since the connection's first event")
	var peer []string
	for _, e := range evs {
		if e.PeerFrom != "" {
			peer = append(peer, e.PeerFrom+" → "+e.Peer)
		}
	}
	assert.Equal(t, []string{"CLOSED → SYN-SENT", "SYN-SENT → ESTABLISHED", "ESTABLISHED → FIN-WAIT-1", "FIN-WAIT-1 → FIN-WAIT-2", "FIN-WAIT-2 → TIME-WAIT"},
		peer, "the peer's states, inferred from the segments")
}

// stepSeg is a segment of TestRecorder_Steps.
type stepSeg struct {
	out      bool
	flags    tcp.Flags
	seq, ack tcp.Seq
}

// The cases of the step labels the ladder marks, one per row.
func TestRecorder_Steps(t *testing.T) {
	for _, tc := range []struct {
		name string
		segs []stepSeg
		want []string
	}{
		{
			name: "utcp closes first, the peer's FIN and ACK in one segment",
			segs: []stepSeg{
				{true, tcp.FlagSYN, 100, 0},
				{false, tcp.FlagSYN | tcp.FlagACK, 500, 101},
				{true, tcp.FlagACK, 101, 501},
				{true, tcp.FlagFIN | tcp.FlagACK, 101, 501},
				{false, tcp.FlagFIN | tcp.FlagACK, 501, 102},
				{true, tcp.FlagACK, 102, 502},
			},
			want: []string{"handshake 1/3", "handshake 2/3", "handshake 3/3", "close 1/4", "close 2+3/4", "close 4/4"},
		},
		{
			name: "a reset",
			segs: []stepSeg{
				{true, tcp.FlagSYN, 100, 0},
				{false, tcp.FlagRST | tcp.FlagACK, 0, 101},
			},
			want: []string{"handshake 1/3", "reset"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(Options{})
			for _, s := range tc.segs {
				seg := tcp.Segment{Flags: s.flags, Seq: s.seq, Ack: s.ack}
				if s.out {
					r.SegmentOut(t0, tuple1, &seg)
				} else {
					r.SegmentIn(t0, tuple1, &seg)
				}
			}
			var got []string
			for _, e := range r.Events()[1:] {
				got = append(got, e.Step)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRecorder_Drop(t *testing.T) {
	r := NewRecorder(Options{})
	seg := tcp.Segment{Seq: 5, Flags: tcp.FlagACK, Ack: 9}
	r.SegmentIn(t0, tuple1, &seg)
	r.dropped(t0, tuple1, &seg, reason{text: "outside the window", rule: "RFC 9293 §3.10.7.4", name: "drop-outside-window"})
	other := tcp.Segment{Seq: 77, Flags: tcp.FlagSYN}
	r.dropped(t0, tuple1, &other, reason{name: "drop-bad-checksum"})
	evs := r.Events()
	require.Len(t, evs, 4)
	assert.Equal(t, KindDrop, evs[2].Kind)
	assert.Equal(t, evs[1].ID, evs[2].Ref, "the drop annotates the segment just recorded")
	assert.Equal(t, "drop-outside-window", evs[2].Reason)
	assert.Equal(t, KindDrop, evs[3].Kind)
	assert.Zero(t, evs[3].Ref, "a segment never recorded as arriving is drawn as a drop of its own")
	assert.Equal(t, "S", evs[3].Flags)
}

func TestRecorder_EventsPerConnBound(t *testing.T) {
	r := NewRecorder(Options{MaxEventsPerConn: 10})
	for i := range 100 {
		r.SegmentIn(t0, tuple1, &tcp.Segment{Seq: tcp.Seq(i), Flags: tcp.FlagACK})
	}
	evs := r.Events()
	require.Len(t, evs, 10)
	assert.Equal(t, KindTrunc, evs[9].Kind, "the last event kept says the record stops")
	st := r.Stats()
	assert.Equal(t, uint64(100-8), st.EventsNotKept, "8 segments kept after the conn event")
	assert.Equal(t, 10, st.Events)
}

func TestRecorder_ConnBound_OldestFinishedFirst(t *testing.T) {
	r := NewRecorder(Options{MaxConns: 3})
	tuple := func(i int) tcp.FourTuple {
		return tcp.FourTuple{Local: tuple1.Local, Remote: netip.AddrPortFrom(tuple1.Remote.Addr(), uint16(40000+i))}
	}
	// Connection 1 stays open; 2 and 3 finish.
	r.SegmentIn(t0, tuple(1), &tcp.Segment{Flags: tcp.FlagSYN})
	passiveOpen(r, tuple(2), t0)
	passiveOpen(r, tuple(3), t0)
	passiveOpen(r, tuple(4), t0) // forgets 2, the oldest finished
	passiveOpen(r, tuple(5), t0) // forgets 3
	passiveOpen(r, tuple(6), t0) // forgets 4: 1 is open, but 4 finished
	conns := map[int]bool{}
	for _, e := range r.Events() {
		conns[e.Conn] = true
	}
	assert.Equal(t, map[int]bool{1: true, 5: true, 6: true}, conns)
	st := r.Stats()
	assert.Equal(t, uint64(3), st.ConnsForgotten)
	assert.Equal(t, 3, st.Conns)
}

func TestRecorder_TotalEventBound(t *testing.T) {
	r := NewRecorder(Options{MaxEvents: 50})
	for i := range 20 {
		passiveOpen(r, tcp.FourTuple{Local: tuple1.Local, Remote: netip.AddrPortFrom(tuple1.Remote.Addr(), uint16(1+i))}, t0)
	}
	st := r.Stats()
	assert.LessOrEqual(t, st.Events, 50)
	assert.NotZero(t, st.ConnsForgotten)
	assert.Len(t, r.Events(), st.Events)
}

// A connection that reopens on the same four-tuple after CLOSED is a new one.
func TestRecorder_SameTupleAgainIsANewConnection(t *testing.T) {
	r := NewRecorder(Options{})
	passiveOpen(r, tuple1, t0)
	passiveOpen(r, tuple1, t0.Add(time.Second))
	evs := r.Events()
	assert.Equal(t, 2, evs[len(evs)-1].Conn)
	assert.Zero(t, evs[len(evs)-1].T-0.311, "the second connection's clock starts at its SYN")
}

// Two real stacks over an in-memory link, the Recorder on the listener's.
func TestRecorder_RealHandshake(t *testing.T) {
	ea, eb := tun.Pipe(1500)
	addrA, addrB := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	rec := NewRecorder(Options{})
	a, err := tcp.NewStack(ea, tcp.Config{Addr: addrA})
	require.NoError(t, err)
	b, err := tcp.NewStack(eb, tcp.Config{Addr: addrB, Tracer: rec})
	require.NoError(t, err)
	defer func() {
		a.Close()
		b.Close()
		ea.Close()
		eb.Close()
	}()
	ln, err := b.Listen(80)
	require.NoError(t, err)
	ca, err := a.Dial(netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	cb, err := ln.Accept()
	require.NoError(t, err)
	_, err = ca.Write([]byte("ping\n"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(cb, buf)
	require.NoError(t, err)
	require.NoError(t, cb.Close())
	require.NoError(t, ca.Close())
	ln.Close()

	var steps []string
	for _, e := range rec.Events() {
		switch e.Kind {
		case KindIn, KindOut:
			if e.Step != "" && e.Step[0] == 'h' {
				steps = append(steps, fmt.Sprintf("%s %s %s", e.Kind, e.Flags, e.Step))
			}
		case KindUser:
			steps = append(steps, e.User)
		}
	}
	require.GreaterOrEqual(t, len(steps), 4, "%v", steps)
	assert.Equal(t, []string{"in S handshake 1/3", "out SA handshake 2/3", "in A handshake 3/3", "Accept returns"}, steps[:4])
}
