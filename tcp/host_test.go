package tcp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostISS is the ISS of every connection of a hostRig; peers start at 5000.
const hostISS Seq = 1000

var (
	hostAddr = netip.MustParseAddr("10.0.0.1")
	peerAddr = netip.MustParseAddr("10.0.0.2")
)

// hostRig drives a host with a fake clock. Segments are written in
// packetdrill notation with absolute numbers.
type hostRig struct {
	t   *testing.T
	cfg Config
	h   *host
	now time.Time
	ev  map[*tcb]tcbEvents // reported by flush, not yet checked
}

func newHostRig(t *testing.T, mod func(*Config)) *hostRig {
	t.Helper()
	cfg := Config{
		Addr:       hostAddr,
		MSL:        time.Second,
		DelayedACK: -1,
		ISN:        func(FourTuple, time.Time) Seq { return hostISS },
	}
	if mod != nil {
		mod(&cfg)
	}
	r := &hostRig{t: t, cfg: cfg.withDefaults(), now: testEpoch, ev: map[*tcb]tcbEvents{}}
	r.h = newHost(&r.cfg)
	return r
}

// hostOut is a segment the host sent, with the remote end it went to.
type hostOut struct {
	to  netip.AddrPort
	seg Segment
}

func (o hostOut) String() string { return fmt.Sprintf("%d %v", o.to.Port(), &o.seg) }

// send delivers a segment from src to local port to; it returns the TCB it
// reached and what was sent in answer.
func (r *hostRig) send(src netip.AddrPort, to uint16, text string) (*tcb, []hostOut) {
	r.t.Helper()
	seg, err := parseSegment(text)
	require.NoError(r.t, err, "test segment %q", text)
	seg.SrcPort, seg.DstPort = src.Port(), to
	t := r.h.input(r.now, src.Addr(), hostAddr, &seg)
	return t, r.flush()
}

// in is send from the peer's address and port from.
func (r *hostRig) in(from, to uint16, text string) (*tcb, []hostOut) {
	r.t.Helper()
	return r.send(netip.AddrPortFrom(peerAddr, from), to, text)
}

// flush returns what the host sends now and keeps the events it reports.
func (r *hostRig) flush() []hostOut {
	var out []hostOut
	r.h.flush(r.now, func(id FourTuple, s *Segment) {
		require.Equal(r.t, [2]uint16{id.Local.Port(), id.Remote.Port()}, [2]uint16{s.SrcPort, s.DstPort},
			"a segment carries the ports of its four-tuple")
		cp := *s
		cp.Payload = append([]byte(nil), s.Payload...)
		out = append(out, hostOut{id.Remote, cp})
	}, func(_ time.Time, t *tcb, ev tcbEvents) { r.ev[t] |= ev })
	return out
}

// match checks got against want, each "PORT PATTERN": the remote port and
// the segment with absolute numbers.
func (r *hostRig) match(got []hostOut, want ...string) {
	r.t.Helper()
	require.Len(r.t, got, len(want), "got %v, want %v", got, want)
	for i, w := range want {
		portText, patText, _ := strings.Cut(w, " ")
		port, err := strconv.Atoi(portText)
		require.NoError(r.t, err, "want %q", w)
		pat, err := parsePattern(patText)
		require.NoError(r.t, err, "want %q", w)
		assert.Equal(r.t, uint16(port), got[i].to.Port(), "segment %d (%v) goes to port %d", i, got[i], port)
		assert.NoError(r.t, pat.Match(&got[i].seg, 0, 0), "segment %d", i)
	}
}

// open runs a passive handshake from peer port from to local port 80, with
// peer ISN 5000, and returns the child, now ESTABLISHED in the accept queue.
func (r *hostRig) open(from uint16) *tcb {
	r.t.Helper()
	c, out := r.in(from, 80, "S 5000:5000(0) win 65535")
	require.NotNil(r.t, c, "the SYN makes a child")
	r.match(out, fmt.Sprintf("%d S. 1000:1000(0) ack 5001", from))
	got, out := r.in(from, 80, ". 5001:5001(0) ack 1001 win 65535")
	require.Same(r.t, c, got, "the third segment reaches the child")
	r.match(out)
	require.Equal(r.t, StateEstablished, c.state)
	return c
}

// stats returns the host's counters as StackStats names them.
func (r *hostRig) stats() map[string]uint64 {
	s := &r.h.stats
	return map[string]uint64{
		"BadAddr": s.badAddr.Load(), "NoPort": s.noPort.Load(),
		"SynDroppedBacklog": s.synBacklog.Load(), "HalfOpenEvicted": s.halfOpenEvicted.Load(),
		"SynAckRetriesExceeded": s.synAckRetriesExceeded.Load(), "SynCookiesSent": s.cookiesSent.Load(),
		"SynCookiesAccepted": s.cookiesAccepted.Load(), "SynCookiesRejected": s.cookiesRejected.Load(),
		"AcceptQueueOverflow": s.overflow.Load(), "TimeWaitReopened": s.timeWaitReopened.Load(),
		"ConnsDialed": s.dialed.Load(), "ConnsAccepted": s.accepted.Load(), "ConnsClosed": s.closed.Load(),
	}
}

// counted checks the counters named in want and that the others are zero.
func (r *hostRig) counted(want map[string]uint64) {
	r.t.Helper()
	for name, got := range r.stats() {
		assert.Equal(r.t, want[name], got, "counter %s", name)
	}
}

func (r *hostRig) listen(port uint16) *listenState {
	r.t.Helper()
	ln, err := r.h.listen(port)
	require.NoError(r.t, err, "listen on %d", port)
	return ln
}

func TestHost_Demux(t *testing.T) {
	r := newHostRig(t, nil)
	r.listen(80)
	a, b := r.open(40000), r.open(40001)
	server := netip.MustParseAddrPort("10.0.0.2:7")
	d, err := r.h.dial(r.now, server)
	require.NoError(t, err)
	r.match(r.flush(), "7 S 1000:1000(0)")

	rows := []struct {
		name     string
		src      netip.AddrPort
		to       uint16
		in       string
		want     *tcb
		wantOut  []string
		newChild bool
	}{
		{"to the first child", netip.AddrPortFrom(peerAddr, 40000), 80, "P. 5001:5004(3) ack 1001 win 65535", a, []string{"40000 . 1001:1001(0) ack 5004"}, false},
		{"to the second child", netip.AddrPortFrom(peerAddr, 40001), 80, "P. 5001:5003(2) ack 1001 win 65535", b, []string{"40001 . 1001:1001(0) ack 5003"}, false},
		{"to the dialled connection", server, d.id.Local.Port(), "S. 9000:9000(0) ack 1001 win 65535", d, []string{"7 . 1001:1001(0) ack 9001"}, false},
		{"from another port of the peer: the listener", netip.AddrPortFrom(peerAddr, 40002), 80, "S 7000:7000(0) win 65535", nil, []string{"40002 S. 1000:1000(0) ack 7001"}, true},
		{"from another address: the listener", netip.MustParseAddrPort("10.0.0.3:40000"), 80, "S 7000:7000(0) win 65535", nil, []string{"40000 S. 1000:1000(0) ack 7001"}, true},
		{"to a port nobody uses", netip.AddrPortFrom(peerAddr, 40000), 81, ". 5001:5001(0) ack 1001 win 65535", nil, []string{"40000 R 1001:1001(0)"}, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r.t = t
			got, out := r.send(row.src, row.to, row.in)
			r.match(out, row.wantOut...)
			if row.newChild {
				require.NotNil(t, got, "a SYN to the listener makes a child")
				assert.NotContains(t, []*tcb{a, b, d}, got, "a new child, not an existing connection")
				assert.Equal(t, FourTuple{Local: netip.AddrPortFrom(hostAddr, row.to), Remote: row.src}, got.id, "the child's four-tuple is the SYN's")
				return
			}
			assert.Same(t, row.want, got, "the segment reaches the TCB of its four-tuple")
		})
	}
	for id, c := range r.h.conns {
		assert.Equal(t, id, c.id, "every table entry is keyed by its TCB's four-tuple")
	}
	assert.Len(t, r.h.conns, 5, "three connections and two new children")
}

func TestHost_ClosedPort_3_10_7_1(t *testing.T) {
	rows := []struct {
		rule, in string
		want     []string
	}{
		{"ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", "S 5000:5000(0) win 65535", []string{"40000 R. 0:0(0) ack 5001"}},
		{"SEG.LEN counts data and FIN", "F 5000:5010(10) win 65535", []string{"40000 R. 0:0(0) ack 5011"}},
		{"ACK on: <SEQ=SEG.ACK><CTL=RST>", "P. 5000:5003(3) ack 77 win 65535", []string{"40000 R 77:77(0)"}},
		{"a RST is discarded", "R 5000:5000(0) win 0", nil},
		{"a RST with ACK is discarded", "R. 5000:5000(0) ack 9 win 0", nil},
	}
	for _, row := range rows {
		t.Run(row.rule, func(t *testing.T) {
			r := newHostRig(t, nil)
			r.listen(80) // on another port: it plays no part
			got, out := r.in(40000, 7, row.in)
			assert.Nil(t, got, "no TCB is involved")
			r.match(out, row.want...)
			r.counted(map[string]uint64{"NoPort": uint64(len(row.want))})
			assert.Empty(t, r.h.conns, "nothing is created")
		})
	}
}

func TestHost_ListeningPort_3_10_7_2(t *testing.T) {
	rows := []struct {
		rule, in string
		want     []string
	}{
		{"first check: a RST is ignored", "R 5000:5000(0) win 0", nil},
		{"first check: a RST with SYN is ignored", "SR 5000:5000(0) win 0", nil},
		{"second check: an ACK draws <SEQ=SEG.ACK><CTL=RST>", ". 5000:5000(0) ack 4242 win 65535", []string{"40000 R 4242:4242(0)"}},
		{"second check: a SYN-ACK draws <SEQ=SEG.ACK><CTL=RST>", "S. 5000:5000(0) ack 77 win 65535", []string{"40000 R 77:77(0)"}},
		{"fourth: no SYN, no ACK: dropped", "F 5000:5000(0) win 65535", nil},
		{"fourth: data without SYN or ACK: dropped", "P 5000:5004(4) win 65535", nil},
	}
	for _, row := range rows {
		t.Run(row.rule, func(t *testing.T) {
			r := newHostRig(t, nil)
			ln := r.listen(80)
			got, out := r.in(40000, 80, row.in)
			assert.Nil(t, got, "only a SYN makes a TCB")
			r.match(out, row.want...)
			r.counted(map[string]uint64{"NoPort": uint64(len(row.want))})
			assert.Empty(t, r.h.conns, "nothing is created")
			assert.Same(t, ln, r.h.listeners[80], "the listener keeps listening")
			c, out := r.in(40000, 80, "S 5000:5000(0) win 65535")
			require.NotNil(t, c)
			r.match(out, "40000 S. 1000:1000(0) ack 5001")
		})
	}
}

func TestHost_BadSourceSYN_MUST57_MUST63(t *testing.T) {
	rows := []struct {
		name   string
		src    string
		to     uint16
		wantOK bool
	}{
		{"limited broadcast", "255.255.255.255:40000", 80, false},
		{"multicast", "224.0.0.1:40000", 80, false},
		{"unspecified", "0.0.0.0:40000", 80, false},
		{"source port 0", "10.0.0.2:0", 80, false},
		{"destination port 0", "10.0.0.2:40000", 0, false},
		{"a unicast source is served", "10.0.0.2:40000", 80, true},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := newHostRig(t, nil)
			r.listen(80)
			got, out := r.send(netip.MustParseAddrPort(row.src), row.to, "S 5000:5000(0) win 65535")
			if row.wantOK {
				require.NotNil(t, got)
				r.match(out, "40000 S. 1000:1000(0) ack 5001")
				r.counted(nil)
				return
			}
			assert.Nil(t, got, "the SYN is silently discarded")
			r.match(out)
			r.counted(map[string]uint64{"BadAddr": 1})
			assert.Empty(t, r.h.conns, "nothing is created")
		})
	}
}

func TestHost_BacklogBoundsTheAcceptQueue(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.Backlog, c.MaxHalfOpen = 1, 10 })
	ln := r.listen(80)
	a, out := r.in(40000, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40000 S. 1000:1000(0) ack 5001")
	b, out := r.in(40001, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40001 S. 1000:1000(0) ack 5001") // half-open children do not count against Backlog
	assert.Equal(t, 2, ln.halfOpen)
	_, out = r.in(40000, 80, ". 5001:5001(0) ack 1001 win 65535")
	r.match(out)
	assert.Equal(t, StateEstablished, a.state, "the first handshake completes and fills the queue")
	assert.Equal(t, 1, ln.halfOpen)

	got, out := r.in(40001, 80, ". 5001:5001(0) ack 1001 win 65535")
	assert.Nil(t, got, "the ACK that would overfill the queue reaches no TCB")
	r.match(out)
	assert.Equal(t, StateSynReceived, b.state, "the child waits in SYN-RECEIVED")
	assert.Equal(t, []*tcb{a}, ln.queue, "the queue holds Backlog connections")

	got, out = r.in(40002, 80, "S 5000:5000(0) win 65535")
	assert.Nil(t, got, "a SYN finds the accept queue full")
	r.match(out)
	r.counted(map[string]uint64{"SynDroppedBacklog": 1, "AcceptQueueOverflow": 1, "ConnsAccepted": 1})

	got, out = r.in(40001, 80, "R 5001:5001(0) win 0")
	assert.Same(t, b, got, "a RST still reaches the held child")
	r.match(out)
	assert.Equal(t, StateListen, b.state, "MUST-11: it returns to LISTEN")
	assert.Equal(t, 0, ln.halfOpen, "and frees its slot")

	assert.Same(t, a, r.h.accept(ln), "Accept takes the queued connection")
	assert.Nil(t, r.h.accept(ln), "the queue is empty")
	c, out := r.in(40002, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40002 S. 1000:1000(0) ack 5001")
	_, out = r.in(40002, 80, ". 5001:5001(0) ack 1001 win 65535")
	r.match(out)
	assert.Equal(t, []*tcb{c}, ln.queue, "with room, the handshake completes into the queue")
	assert.NotZero(t, r.ev[c]&evEstablished, "flush reports the completed handshake")
}

func TestHost_MaxHalfOpenBoundsSynReceived(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.Backlog, c.MaxHalfOpen = 10, 2 })
	ln := r.listen(80)
	kids := map[uint16]*tcb{}
	for _, p := range []uint16{40000, 40001} {
		c, out := r.in(p, 80, "S 5000:5000(0) win 65535")
		r.match(out, fmt.Sprintf("%d S. 1000:1000(0) ack 5001", p))
		kids[p] = c
	}
	got, out := r.in(40002, 80, "S 5000:5000(0) win 65535")
	assert.Nil(t, got, "a third half-open child would exceed MaxHalfOpen")
	require.Len(t, out, 1, "RFC 4987 §3.6: the SYN is answered with a cookie")
	assert.Equal(t, FlagSYN|FlagACK, out[0].seg.Flags)
	r.counted(map[string]uint64{"SynCookiesSent": 1})
	assert.Equal(t, 2, ln.halfOpen)
	assert.Len(t, r.h.conns, 2, "a cookie keeps no state")

	// MUST-11: a RST returns a child to LISTEN: the host drops it and
	// keeps the listener, and the slot is free.
	got, out = r.in(40000, 80, "R 5001:5001(0) win 0")
	assert.Same(t, kids[40000], got)
	r.match(out)
	assert.NotContains(t, r.h.conns, kids[40000].id, "the child left the table")
	assert.Same(t, ln, r.h.listeners[80], "the listener stays")
	assert.Equal(t, 1, ln.halfOpen, "its slot is free")
	r.counted(map[string]uint64{"SynCookiesSent": 1, "ConnsClosed": 1})

	c, out := r.in(40000, 80, "S 6000:6000(0) win 65535")
	r.match(out, "40000 S. 1000:1000(0) ack 6001")
	assert.NotSame(t, kids[40000], c, "the next SYN from the port gets a new child")
	_, out = r.in(40001, 80, ". 5001:5001(0) ack 1001 win 65535")
	r.match(out)
	assert.Equal(t, 1, ln.halfOpen, "a completed handshake frees its slot")
	assert.Equal(t, []*tcb{kids[40001]}, ln.queue)
	_, out = r.in(40002, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40002 S. 1000:1000(0) ack 5001")
	r.counted(map[string]uint64{"SynCookiesSent": 1, "ConnsClosed": 1, "ConnsAccepted": 1})
}

func TestHost_CookieACKMakesTheConnection(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.SYNCookies = SYNCookiesAlways })
	ln := r.listen(80)
	got, out := r.in(40000, 80, "S 5000:5000(0) win 65535 <mss 1400>")
	assert.Nil(t, got)
	require.Len(t, out, 1)
	cookie := out[0].seg.Seq
	assert.Empty(t, r.h.conns, "a cookie keeps no state")
	assert.Zero(t, ln.halfOpen)

	_, out = r.in(40000, 80, fmt.Sprintf(". 5001:5001(0) ack %d win 65535", cookie+2))
	r.match(out, fmt.Sprintf("40000 R %d:%d(0)", cookie+2, cookie+2)) // §3.10.7.2
	r.counted(map[string]uint64{"SynCookiesSent": 1, "SynCookiesRejected": 1, "NoPort": 1})

	c, out := r.in(40000, 80, fmt.Sprintf(". 5001:5001(0) ack %d win 65535", cookie+1))
	require.NotNil(t, c, "the cookie's ACK makes the connection")
	r.match(out)
	assert.Equal(t, StateEstablished, c.state)
	assert.Equal(t, cookie, c.snd.iss, "ISS = SEG.ACK-1")
	assert.Equal(t, Seq(5000), c.rcv.irs, "IRS = SEG.SEQ-1")
	assert.Equal(t, 1300, c.snd.mss, "1400 rounds down to the table's 1300")
	assert.Equal(t, []*tcb{c}, ln.queue)
	assert.NotZero(t, r.ev[c]&evEstablished)
	r.counted(map[string]uint64{"SynCookiesSent": 1, "SynCookiesRejected": 1, "NoPort": 1,
		"SynCookiesAccepted": 1, "ConnsAccepted": 1})
}

func TestHost_CookiesOffEvictsTheOldest(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.MaxHalfOpen, c.SYNCookies = 2, SYNCookiesOff })
	ln := r.listen(80)
	var kids []*tcb
	for p := uint16(40000); p < 40004; p++ {
		c, out := r.in(p, 80, "S 5000:5000(0) win 65535")
		r.match(out, fmt.Sprintf("%d S. 1000:1000(0) ack 5001", p))
		kids = append(kids, c)
	}
	assert.Equal(t, StateClosed, kids[0].state, "RFC 4987 §3.3: the oldest went first")
	assert.Equal(t, StateClosed, kids[1].state)
	assert.Equal(t, StateSynReceived, kids[2].state)
	assert.Equal(t, StateSynReceived, kids[3].state)
	assert.Equal(t, 2, ln.halfOpen)
	assert.Same(t, kids[2], ln.oldest.t)
	assert.Same(t, kids[3], ln.newest.t)
	r.counted(map[string]uint64{"HalfOpenEvicted": 2, "ConnsClosed": 2})
}

func TestHost_SynAckRetriesCounted(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.SynAckRetries = -1 })
	ln := r.listen(80)
	c, out := r.in(40000, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40000 S. 1000:1000(0) ack 5001")
	r.now = r.h.nextTimeout()
	r.h.handleTimeout(r.now)
	r.match(r.flush())
	assert.Equal(t, StateClosed, c.state, "no retransmission: the first timeout frees the child, silently")
	assert.Zero(t, ln.halfOpen)
	r.counted(map[string]uint64{"SynAckRetriesExceeded": 1, "ConnsClosed": 1})
}

// timeWait brings a passive connection from port 40000 into TIME-WAIT: we
// close first. RCV.NXT is 5002 and SND.NXT 1002.
func (r *hostRig) timeWait(ln *listenState) *tcb {
	r.t.Helper()
	c := r.open(40000)
	require.Same(r.t, c, r.h.accept(ln))
	require.NoError(r.t, c.close(r.now))
	r.h.touch(r.now, c)
	r.match(r.flush(), "40000 F. 1001:1001(0) ack 5001")
	_, out := r.in(40000, 80, "F. 5001:5001(0) ack 1002 win 65535")
	r.match(out, "40000 . 1002:1002(0) ack 5002")
	require.Equal(r.t, StateTimeWait, c.state)
	return c
}

func TestHost_TimeWaitReopen_MAY2(t *testing.T) {
	rows := []struct {
		name    string
		syn     string
		prepare func(r *hostRig, ln *listenState)
		reopen  bool
		cookie  bool // reopened, and the SYN answered with a cookie
		counted map[string]uint64
	}{
		{name: "a SYN above RCV.NXT with a listener reopens", syn: "S 9000:9000(0) win 65535", reopen: true,
			counted: map[string]uint64{"TimeWaitReopened": 1}},
		{name: "a SYN at RCV.NXT does not", syn: "S 5002:5002(0) win 65535"},
		{name: "a SYN below RCV.NXT does not", syn: "S 5001:5001(0) win 65535"},
		{name: "a SYN-ACK does not", syn: "S. 9000:9000(0) ack 1002 win 65535"},
		{name: "without a listener it does not", syn: "S 9000:9000(0) win 65535",
			prepare: func(r *hostRig, ln *listenState) { r.h.closeListener(r.now, ln) }},
		{name: "with the listener's half-open slots taken it reopens with a SYN cookie", syn: "S 9000:9000(0) win 65535",
			prepare: func(r *hostRig, _ *listenState) {
				_, out := r.in(40001, 80, "S 5000:5000(0) win 65535")
				r.match(out, "40001 S. 1000:1000(0) ack 5001")
			},
			cookie: true, counted: map[string]uint64{"TimeWaitReopened": 1, "SynCookiesSent": 1}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := newHostRig(t, func(c *Config) { c.MaxHalfOpen = 1 })
			ln := r.listen(80)
			old := r.timeWait(ln)
			if row.prepare != nil {
				row.prepare(r, ln)
			}
			before := r.stats()
			got, out := r.in(40000, 80, row.syn)
			after := r.stats()
			for name, n := range row.counted {
				assert.Equal(t, n, after[name]-before[name], "counter %s", name)
			}
			if row.cookie {
				assert.Nil(t, got, "a cookie keeps no state")
				assert.Nil(t, r.h.tw.recs[old.id], "the old incarnation's record is deleted")
				assert.NotContains(t, r.h.conns, old.id)
				require.Len(t, out, 1)
				assert.Equal(t, FlagSYN|FlagACK, out[0].seg.Flags)
				assert.Equal(t, Seq(9001), out[0].seg.Ack, "the cookie's SYN-ACK acknowledges the new SYN")
				return
			}
			if !row.reopen {
				require.NotNil(t, got)
				assert.Equal(t, StateTimeWait, got.state, "the TIME-WAIT connection gets the SYN, and stays in TIME-WAIT")
				assert.NotNil(t, r.h.tw.recs[old.id], "as a record")
				assert.Nil(t, r.h.conns[old.id], "not a TCB")
				r.match(out, "40000 . 1002:1002(0) ack 5002")
				assert.Zero(t, after["TimeWaitReopened"])
				return
			}
			require.NotNil(t, got)
			assert.NotSame(t, old, got, "a new incarnation")
			assert.Nil(t, r.h.tw.recs[old.id], "the old incarnation's record is deleted")
			assert.Same(t, got, r.h.conns[old.id], "the new one takes the four-tuple")
			assert.Equal(t, StateSynReceived, got.state)
			require.Len(t, out, 1)
			syn := out[0].seg
			assert.Equal(t, FlagSYN|FlagACK, syn.Flags)
			assert.Equal(t, Seq(9001), syn.Ack, "it acknowledges the new SYN")
			assert.True(t, syn.Seq.GreaterThan(1002), "RFC 1122 §4.2.2.13: the new ISS %d lies above the old SND.NXT 1002", syn.Seq)
			assert.Equal(t, uint64(1), after["ConnsClosed"]-before["ConnsClosed"], "the old incarnation counts as closed")
		})
	}
}

func TestHost_CloseListenerResetsItsChildren(t *testing.T) {
	r := newHostRig(t, nil)
	ln := r.listen(80)
	accepted := r.open(40000)
	queued := r.open(40001)
	require.Same(t, accepted, r.h.accept(ln))
	half, out := r.in(40002, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40002 S. 1000:1000(0) ack 5001")

	r.h.closeListener(r.now, ln)
	r.match(r.flush(), "40001 R 1001:1001(0)", "40002 R 1001:1001(0)") // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>
	assert.Equal(t, StateClosed, queued.state, "the queued child is reset")
	assert.Equal(t, StateClosed, half.state, "the half-open child is reset")
	assert.Equal(t, StateEstablished, accepted.state, "an accepted connection is not affected")
	assert.Equal(t, map[FourTuple]*tcb{accepted.id: accepted}, r.h.conns)
	assert.Empty(t, r.h.halfOpen)
	assert.Zero(t, ln.halfOpen)
	assert.Nil(t, r.h.accept(ln), "a closed listener has nothing to accept")

	_, out = r.in(40003, 80, "S 5000:5000(0) win 65535")
	r.match(out, "40003 R. 0:0(0) ack 5001") // §3.10.7.1: no listener now
	assert.NotSame(t, ln, r.listen(80), "the port can be listened on again")
}

func TestHost_ListenTwice(t *testing.T) {
	r := newHostRig(t, nil)
	ln := r.listen(80)
	_, err := r.h.listen(80)
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "one listener per port")
	r.h.closeListener(r.now, ln)
	_, err = r.h.listen(80)
	assert.NoError(t, err, "a closed listener's port is free")
}

func TestHost_TimersFireForEveryConnection(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.InitialRTO, c.MinRTO = time.Second, time.Second })
	r.h.eph.first, r.h.eph.last = 100, 100
	assert.True(t, r.h.nextTimeout().IsZero(), "no connection, no timer")
	for _, port := range []uint16{8, 7} {
		_, err := r.h.dial(r.now, netip.AddrPortFrom(peerAddr, port))
		require.NoError(t, err)
	}
	r.match(r.flush(), "8 S 1000:1000(0)", "7 S 1000:1000(0)")
	due := r.h.nextTimeout()
	assert.Equal(t, r.now.Add(time.Second), due, "the SYNs' retransmission timer (RFC 6298 §2.1)")
	r.now = due
	r.h.handleTimeout(r.now)
	r.match(r.flush(), "7 S 1000:1000(0)", "8 S 1000:1000(0)") // by four-tuple: both from port 100, remote port 7 first
	assert.Equal(t, r.now.Add(2*time.Second), r.h.nextTimeout(), "backed off (RFC 6298 §5.5)")
}
