package tcp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The core tests use fixed sequence numbers: our ISS and the peer's ISN.
const (
	testISS Seq = 1000
	testIRS Seq = 5000
)

var testEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// core drives one tcb with a fake clock, like smoltcp's socket tests.
// Segments are written in packetdrill notation: what arrives has its SEQ
// relative to the peer's ISN and its ACK relative to our ISS; what leaves,
// the other way round.
type core struct {
	t        testing.TB
	c        *tcb
	cfg      Config
	now      time.Time
	events   tcbEvents
	iss, irs Seq // the bases of the relative numbers
}

func newCore(t testing.TB, mod func(*Config)) *core {
	t.Helper()
	return newCoreISN(t, mod, testISS, testIRS)
}

// newCoreISN is newCore with our ISS and the peer's IRS of choice.
func newCoreISN(t testing.TB, mod func(*Config), iss, irs Seq) *core {
	t.Helper()
	cfg := Config{
		Addr:       netip.MustParseAddr("10.0.0.1"),
		MTU:        1500,
		MSL:        time.Second,
		DelayedACK: -1, // each row sees its ACK at once; TestDelayedACK covers the delay
		SendBuffer: 64 << 10,
		RecvBuffer: 64 << 10,
		// Fixed buffers: the rows count on the window they offer.
		SendBufferMax: -1,
		RecvBufferMax: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	h := &core{t: t, cfg: cfg.withDefaults(), now: testEpoch, iss: iss, irs: irs}
	id := FourTuple{
		Local:  netip.MustParseAddrPort("10.0.0.1:80"),
		Remote: netip.MustParseAddrPort("10.0.0.2:40000"),
	}
	h.c = newTCB(&h.cfg, id, iss)
	return h
}

// flush collects what the core sends now, in notation relative to the ISNs.
func (h *core) flush() []string {
	var out []string
	h.c.output(h.now, func(_ FourTuple, s *Segment) {
		out = append(out, s.format(h.iss, h.irs))
		if s.Why == ReasonNone || s.Why.Drop() {
			h.t.Errorf("%s sent with no reason to send (Why %s)", s.format(h.iss, h.irs), s.Why.Name())
		}
	})
	h.events |= h.c.takeEvents()
	return out
}

// segment parses text into an arriving segment.
func (h *core) segment(text string) *Segment {
	h.t.Helper()
	s, err := parseSegment(text)
	require.NoError(h.t, err, "test segment %q", text)
	s.Seq = s.Seq + h.irs
	s.Ack = s.Ack + h.iss
	for i := range s.Options.SACKBlocks { // relative to our ISS, as SEG.ACK
		s.Options.SACKBlocks[i].Left += h.iss
		s.Options.SACKBlocks[i].Right += h.iss
	}
	s.SrcPort, s.DstPort = 40000, 80
	return &s
}

// in delivers a segment and returns what the core sends in response.
func (h *core) in(text string) []string {
	h.t.Helper()
	h.c.segmentArrives(h.now, h.segment(text))
	return h.flush()
}

// wait advances the clock to the next timer, fires it, and returns the output.
func (h *core) wait() []string {
	h.t.Helper()
	next := h.c.nextTimeout()
	require.False(h.t, next.IsZero(), "a timer must be armed in %v", h.c.state)
	h.now = next
	h.c.handleTimeout(h.now)
	return h.flush()
}

// waitSend is wait, repeated past the timers that send nothing (the
// reclaim timer, tcb_mem.go) until one sends something.
func (h *core) waitSend() []string {
	h.t.Helper()
	for range 8 {
		if out := h.wait(); len(out) > 0 {
			return out
		}
	}
	require.Fail(h.t, "no timer sent anything")
	return nil
}

// do runs one input written as in the transition tables: a segment
// ("S. 0:0(0) ack 1"), a user call ("close", "abort", "closefull", "closeread+timer",
// "send TEXT", "open", "listen"), "timer", or an ICMP error as a packet
// script writes it ("icmp unreach port seq 0").
func (h *core) do(input string) ([]string, error) {
	h.t.Helper()
	var err error
	switch word, arg, _ := strings.Cut(input, " "); word {
	case "open":
		h.c.openActive(h.now)
	case "listen":
		h.c.openPassive(h.now)
	case "close":
		err = h.c.close(h.now)
	case "closefull":
		if !h.c.closeRead(h.now) {
			err = h.c.close(h.now)
		}
	case "abort":
		h.c.abort(h.now)
	case "send":
		_, err = h.c.send([]byte(arg))
	case "timer":
		return h.wait(), nil
	case "closeread+timer":
		// Go's Close after a half close: reading ends too, then the next timer.
		if h.c.closeRead(h.now) {
			return h.flush(), nil
		}
		h.flush()
		return h.waitSend(), nil
	case "icmp":
		h.icmp(arg)
	default:
		return h.in(input), nil
	}
	return h.flush(), err
}

// must runs inputs that are expected to produce exactly the given output.
func (h *core) must(input string, want ...string) {
	h.t.Helper()
	got, err := h.do(input)
	require.NoError(h.t, err, "input %q", input)
	require.Equal(h.t, nonNil(want), nonNil(got), "output after %q in %v", input, h.c.state)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// fixture brings a fresh core into state s by a real exchange of segments.
// passive selects how SYN-RECEIVED was reached (MUST-11).
func fixture(t testing.TB, s State, passive bool) *core {
	t.Helper()
	return fixtureISN(t, s, passive, testISS, testIRS)
}

// fixtureISN is fixture with our ISS and the peer's IRS of choice.
func fixtureISN(t testing.TB, s State, passive bool, iss, irs Seq) *core {
	t.Helper()
	h := newCoreISN(t, nil, iss, irs)
	switch s {
	case StateClosed:
	case StateListen:
		h.must("listen")
	case StateSynSent:
		h.must("open", "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 1>")
	case StateSynReceived:
		if passive {
			h = fixtureISN(t, StateListen, true, iss, irs)
			h.must("S 0:0(0) win 65535 <mss 1460>", "S. 0:0(0) ack 1 win 65535 <mss 1460>")
		} else {
			h = fixtureISN(t, StateSynSent, false, iss, irs)
			h.must("S 0:0(0) win 65535 <mss 1460>", "S. 0:0(0) ack 1 win 65535 <mss 1460>")
		}
	case StateEstablished:
		h = fixtureISN(t, StateSynReceived, true, iss, irs)
		h.must(". 1:1(0) ack 1 win 65535")
	case StateFinWait1:
		h = fixtureISN(t, StateEstablished, true, iss, irs)
		h.must("close", "F. 1:1(0) ack 1 win 65535")
	case StateFinWait2:
		h = fixtureISN(t, StateFinWait1, true, iss, irs)
		h.must(". 1:1(0) ack 2 win 65534")
	case StateCloseWait:
		h = fixtureISN(t, StateEstablished, true, iss, irs)
		h.must("F. 1:1(0) ack 1 win 65535", ". 1:1(0) ack 2 win 65534")
	case StateLastAck:
		h = fixtureISN(t, StateCloseWait, true, iss, irs)
		h.must("close", "F. 1:1(0) ack 2 win 65534")
	case StateClosing:
		h = fixtureISN(t, StateFinWait1, true, iss, irs)
		h.must("F. 1:1(0) ack 1 win 65535", ". 2:2(0) ack 2 win 65534")
	case StateTimeWait:
		h = fixtureISN(t, StateFinWait2, true, iss, irs)
		h.must("F. 1:1(0) ack 2 win 65534", ". 2:2(0) ack 2 win 65534")
	}
	require.Equal(t, s, h.c.state, "fixture")
	h.events = 0
	return h
}

// evEnd is what ending a connection raises: every waiter wakes.
const evEnd = evClosed | evReadable | evWritable

// transition is one row of the state-transition table: the RFC rule, the
// state and input, and what must follow.
type transition struct {
	rule    string
	from    State
	active  bool // reach SYN-RECEIVED by an active open (simultaneous open)
	in      string
	out     []string
	want    State
	ev      tcbEvents // exactly the events the step raises
	err     error     // the connection's error afterwards (nil: none)
	callErr error     // the error the user call returns
}

var transitions = []transition{
	// §3.10.1 OPEN
	{rule: "3.10.1 OPEN active: send SYN with MSS (MUST-14), enter SYN-SENT", from: StateClosed, in: "open",
		out: []string{"S 0:0(0) win 65535 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 1>"}, want: StateSynSent},
	{rule: "3.10.1 OPEN passive: enter LISTEN, send nothing", from: StateClosed, in: "listen", want: StateListen},

	// §3.10.7.2 LISTEN
	{rule: "3.10.7.2 LISTEN first check: RST is ignored", from: StateListen, in: "R 0:0(0) win 0", want: StateListen},
	{rule: "3.10.7.2 LISTEN second check: ACK draws <SEQ=SEG.ACK><CTL=RST>", from: StateListen,
		in: ". 0:0(0) ack 7 win 100", out: []string{"R 7:7(0) win 0"}, want: StateClosed, ev: evEnd},
	{rule: "3.10.7.2 LISTEN third check: SYN draws SYN,ACK and enters SYN-RECEIVED", from: StateListen,
		in: "S 0:0(0) win 65535 <mss 1000>", out: []string{"S. 0:0(0) ack 1 win 65535 <mss 1460>"}, want: StateSynReceived},
	{rule: "3.10.7.2 LISTEN fourth: other text or control is dropped", from: StateListen, in: "F 0:0(0) win 100", want: StateListen},
	{rule: "3.10.7.2 LISTEN third check, RFC 7323 §3.2, RFC 2018 §2: the SYN-ACK answers timestamps and SACK-permitted", from: StateListen,
		in: "S 0:0(0) win 65535 <mss 1000,sackOK,TS val 77 ecr 0>", out: []string{"S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 0 ecr 77>"}, want: StateSynReceived},
	{rule: "3.10.7.2 LISTEN third check, RFC 3168 §6.1.1: an ECN-setup SYN draws an ECN-setup SYN-ACK", from: StateListen,
		in: "SEW 0:0(0) win 65535 <mss 1000>", out: []string{"SE. 0:0(0) ack 1 win 65535 <mss 1460>"}, want: StateSynReceived},

	// §3.10.7.3 SYN-SENT
	{rule: "3.10.7.3 SYN-SENT first check: SEG.ACK =< ISS draws <SEQ=SEG.ACK><CTL=RST>", from: StateSynSent,
		in: ". 0:0(0) ack 0 win 100", out: []string{"R 0:0(0) win 0"}, want: StateSynSent},
	{rule: "3.10.7.3 SYN-SENT first check: SEG.ACK > SND.NXT draws a RST", from: StateSynSent,
		in: "S. 0:0(0) ack 9 win 100", out: []string{"R 9:9(0) win 0"}, want: StateSynSent},
	{rule: "3.10.7.3 SYN-SENT first check: a bad ACK on a RST is dropped silently", from: StateSynSent,
		in: "R. 0:0(0) ack 9 win 0", want: StateSynSent},
	{rule: "3.10.7.3 SYN-SENT second check: RST with acceptable ACK: connection refused", from: StateSynSent,
		in: "R. 0:0(0) ack 1 win 0", want: StateClosed, ev: evEnd, err: syscall.ECONNREFUSED},
	{rule: "3.10.7.3 SYN-SENT second check: RST without ACK is dropped", from: StateSynSent,
		in: "R 0:0(0) win 0", want: StateSynSent},
	{rule: "3.10.7.3 SYN-SENT fourth check: SYN,ACK completes the handshake, ACK it (connect returns)", from: StateSynSent,
		in: "S. 0:0(0) ack 1 win 65535 <mss 1460>", out: []string{". 1:1(0) ack 1 win 65535"}, want: StateEstablished, ev: evEstablished},
	{rule: "3.10.7.3 SYN-SENT fourth check: SYN without ACK is simultaneous open (MUST-10)", from: StateSynSent,
		in: "S 0:0(0) win 65535 <mss 1460>", out: []string{"S. 0:0(0) ack 1 win 65535 <mss 1460>"}, want: StateSynReceived},
	{rule: "3.10.7.3 SYN-SENT fifth: neither SYN nor RST is dropped", from: StateSynSent,
		in: ". 0:0(0) ack 1 win 100", want: StateSynSent},

	// §3.10.7.4 first check: sequence number
	{rule: "3.10.7.4 first check: data past the window draws an ACK and is dropped", from: StateEstablished,
		in: "P. 70000:70010(10) ack 1 win 100", out: []string{". 1:1(0) ack 1 win 65535"}, want: StateEstablished},
	{rule: "3.10.7.4 first check: an old duplicate draws an ACK", from: StateEstablished,
		in: ". 0:0(0) ack 1 win 100", out: []string{". 1:1(0) ack 1 win 65535"}, want: StateEstablished},
	{rule: "3.10.7.4 first check: a segment straddling RCV.NXT is trimmed to its new part", from: StateEstablished,
		in: "P. 0:6(6) ack 1 win 100 \"xhello\"", out: []string{". 1:1(0) ack 6 win 65530"}, want: StateEstablished, ev: evReadable},

	// §3.10.7.4 second check: RST (RFC 5961 §3.2)
	{rule: "3.10.7.4 second check: RST at RCV.NXT resets ESTABLISHED", from: StateEstablished,
		in: "R 1:1(0) win 0", want: StateClosed, ev: evEnd, err: syscall.ECONNRESET},
	{rule: "3.10.7.4 second check: in-window RST not at RCV.NXT draws a challenge ACK (RFC 5961)", from: StateEstablished,
		in: "R 100:100(0) win 0", out: []string{". 1:1(0) ack 1 win 65535"}, want: StateEstablished},
	{rule: "3.10.7.4 first check: out-of-window RST is ignored", from: StateEstablished,
		in: "R 900000:900000(0) win 0", want: StateEstablished},
	{rule: "3.10.7.4 second check: RST in SYN-RECEIVED from passive OPEN returns to LISTEN (MUST-11)", from: StateSynReceived,
		in: "R 1:1(0) win 0", want: StateListen, ev: evEnd},
	{rule: "3.10.7.4 second check: RST in SYN-RECEIVED from active OPEN: connection refused (MUST-11)", from: StateSynReceived, active: true,
		in: "R 1:1(0) win 0", want: StateClosed, ev: evEnd, err: syscall.ECONNREFUSED},
	{rule: "3.10.7.4 second check: RST in FIN-WAIT-1 resets", from: StateFinWait1,
		in: "R 1:1(0) win 0", want: StateClosed, err: syscall.ECONNRESET, ev: evEnd},
	{rule: "3.10.7.4 second check: RST in FIN-WAIT-2 resets", from: StateFinWait2,
		in: "R 1:1(0) win 0", want: StateClosed, err: syscall.ECONNRESET, ev: evEnd},
	{rule: "3.10.7.4 second check: RST in CLOSE-WAIT resets", from: StateCloseWait,
		in: "R 2:2(0) win 0", want: StateClosed, err: syscall.ECONNRESET, ev: evEnd},
	{rule: "3.10.7.4 second check: RST in CLOSING closes", from: StateClosing,
		in: "R 2:2(0) win 0", want: StateClosed, ev: evEnd},
	{rule: "3.10.7.4 second check: RST in LAST-ACK closes", from: StateLastAck,
		in: "R 2:2(0) win 0", want: StateClosed, ev: evEnd},
	{rule: "3.10.7.4 second check: RST in TIME-WAIT closes", from: StateTimeWait,
		in: "R 2:2(0) win 0", want: StateClosed, ev: evEnd},

	// §3.10.7.4 fourth check: SYN
	{rule: "3.10.7.4 fourth check: SYN in SYN-RECEIVED from passive OPEN returns to LISTEN", from: StateSynReceived,
		in: "S 10:10(0) win 100", want: StateListen, ev: evEnd},
	{rule: "3.10.7.4 fourth check: SYN in ESTABLISHED draws a challenge ACK (RFC 5961 §4)", from: StateEstablished,
		in: "S 10:10(0) win 100", out: []string{". 1:1(0) ack 1 win 65535"}, want: StateEstablished},
	{rule: "3.10.7.4 fourth check: SYN in TIME-WAIT draws a challenge ACK", from: StateTimeWait,
		in: "S 10:10(0) win 100", out: []string{". 2:2(0) ack 2 win 65534"}, want: StateTimeWait},

	// §3.10.7.4 fifth check: ACK
	{rule: "3.10.7.4 fifth check: a segment without ACK is dropped", from: StateEstablished,
		in: "P 1:6(5) win 100", want: StateEstablished},
	{rule: "3.10.7.4 fifth check: SYN-RECEIVED + acceptable ACK enters ESTABLISHED (accept returns)", from: StateSynReceived,
		in: ". 1:1(0) ack 1 win 100", want: StateEstablished, ev: evEstablished},
	{rule: "3.10.7.4 fifth check: SYN-RECEIVED + unacceptable ACK draws <SEQ=SEG.ACK><CTL=RST>", from: StateSynReceived,
		in: ". 1:1(0) ack 50 win 100", out: []string{"R 50:50(0) win 0"}, want: StateSynReceived},
	{rule: "3.10.7.4 fifth check: ACK of data never sent draws an ACK and is dropped", from: StateEstablished,
		in: "P. 1:6(5) ack 50 win 100", out: []string{". 1:1(0) ack 1 win 65535"}, want: StateEstablished},
	{rule: "3.10.7.4 fifth check: FIN-WAIT-1 enters FIN-WAIT-2 when the FIN is acknowledged", from: StateFinWait1,
		in: ". 1:1(0) ack 2 win 100", want: StateFinWait2, ev: evWritable}, // the FIN acknowledged: a lingering Close returns
	{rule: "3.10.7.4 fifth check: CLOSING enters TIME-WAIT when the FIN is acknowledged", from: StateClosing,
		in: ". 2:2(0) ack 2 win 100", want: StateTimeWait, ev: evWritable},
	{rule: "3.10.7.4 fifth check: LAST-ACK enters CLOSED when the FIN is acknowledged", from: StateLastAck,
		in: ". 2:2(0) ack 2 win 100", want: StateClosed, ev: evEnd},
	{rule: "3.10.7.4 fifth check: TIME-WAIT re-ACKs a retransmitted FIN", from: StateTimeWait,
		in: "F. 1:1(0) ack 2 win 100", out: []string{". 2:2(0) ack 2 win 65534"}, want: StateTimeWait},

	// §3.10.7.4 seventh check: text
	{rule: "3.10.7.4 seventh check: data is delivered and acknowledged", from: StateEstablished,
		in: "P. 1:6(5) ack 1 win 100 \"hello\"", out: []string{". 1:1(0) ack 6 win 65530"}, want: StateEstablished, ev: evReadable},
	{rule: "3.10.7.4 seventh check: data in FIN-WAIT-2 is still delivered (half-close)", from: StateFinWait2,
		in: "P. 1:6(5) ack 2 win 100 \"hello\"", out: []string{". 2:2(0) ack 6 win 65530"}, want: StateFinWait2, ev: evReadable},

	// §3.10.7.4 eighth check: FIN
	{rule: "3.10.7.4 eighth check: FIN in ESTABLISHED enters CLOSE-WAIT (passive close)", from: StateEstablished,
		in: "F. 1:1(0) ack 1 win 100", out: []string{". 1:1(0) ack 2 win 65534"}, want: StateCloseWait, ev: evReadable},
	{rule: "3.10.7.4 eighth check: FIN in FIN-WAIT-1 before our FIN is ACKed enters CLOSING", from: StateFinWait1,
		in: "F. 1:1(0) ack 1 win 100", out: []string{". 2:2(0) ack 2 win 65534"}, want: StateClosing, ev: evReadable},
	{rule: "3.10.7.4 eighth check: FIN in FIN-WAIT-1 that ACKs our FIN enters TIME-WAIT", from: StateFinWait1,
		in: "F. 1:1(0) ack 2 win 100", out: []string{". 2:2(0) ack 2 win 65534"}, want: StateTimeWait, ev: evReadable | evWritable},
	{rule: "3.10.7.4 eighth check: FIN in FIN-WAIT-2 enters TIME-WAIT", from: StateFinWait2,
		in: "F. 1:1(0) ack 2 win 100", out: []string{". 2:2(0) ack 2 win 65534"}, want: StateTimeWait, ev: evReadable},
	{rule: "3.10.7.4 eighth check: FIN with the ACK in SYN-RECEIVED enters CLOSE-WAIT", from: StateSynReceived,
		in: "F. 1:1(0) ack 1 win 100", out: []string{". 1:1(0) ack 2 win 65534"}, want: StateCloseWait, ev: evEstablished | evReadable},

	// §3.10.4 CLOSE
	{rule: "3.10.4 CLOSE in LISTEN: enter CLOSED", from: StateListen, in: "close", want: StateClosed, ev: evEnd},
	{rule: "3.10.4 CLOSE in SYN-SENT: enter CLOSED, send nothing", from: StateSynSent, in: "close", want: StateClosed, ev: evEnd},
	{rule: "3.10.4 CLOSE in SYN-RECEIVED: FIN waits for ESTABLISHED, enter FIN-WAIT-1", from: StateSynReceived, in: "close", want: StateFinWait1},
	{rule: "3.10.4 CLOSE in ESTABLISHED: send FIN, enter FIN-WAIT-1 (active close)", from: StateEstablished,
		in: "close", out: []string{"F. 1:1(0) ack 1 win 65535"}, want: StateFinWait1},
	{rule: "3.10.4 CLOSE in CLOSE-WAIT: send FIN, enter LAST-ACK", from: StateCloseWait,
		in: "close", out: []string{"F. 1:1(0) ack 2 win 65534"}, want: StateLastAck},
	{rule: "3.10.4 CLOSE in FIN-WAIT-1: error connection closing", from: StateFinWait1,
		in: "close", want: StateFinWait1, callErr: errConnectionClosing},
	{rule: "3.10.4 CLOSE in CLOSED: error connection does not exist", from: StateClosed,
		in: "close", want: StateClosed, callErr: errNoConnection},

	// §3.10.2 SEND
	{rule: "3.10.2 SEND in FIN-WAIT-2: error connection closing", from: StateFinWait2,
		in: "send x", want: StateFinWait2, callErr: errConnectionClosing},
	{rule: "3.10.2 SEND in ESTABLISHED: data goes out with PSH (MUST-61)", from: StateEstablished,
		in: "send hello", out: []string{"P. 1:6(5) ack 1 win 65535 \"hello\""}, want: StateEstablished},

	// §3.10.5 ABORT
	{rule: "3.10.5 ABORT in ESTABLISHED: send <SEQ=SND.NXT><CTL=RST>", from: StateEstablished,
		in: "abort", out: []string{"R 1:1(0) win 0"}, want: StateClosed, ev: evEnd, err: syscall.ECONNABORTED},
	{rule: "3.10.5 ABORT in SYN-SENT: no segment", from: StateSynSent, in: "abort", want: StateClosed, ev: evEnd, err: syscall.ECONNABORTED},
	{rule: "3.10.5 ABORT in TIME-WAIT: no segment", from: StateTimeWait, in: "abort", want: StateClosed, ev: evEnd, err: syscall.ECONNABORTED},

	// §3.10.8 timeouts
	{rule: "3.10.8 retransmission timeout in SYN-SENT resends the SYN", from: StateSynSent,
		in: "timer", out: []string{"S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 1>"}, want: StateSynSent},
	{rule: "3.10.8 retransmission timeout in SYN-RECEIVED resends the SYN,ACK", from: StateSynReceived,
		in: "timer", out: []string{"S. 0:0(0) ack 1 win 65535 <mss 1460>"}, want: StateSynReceived},
	{rule: "3.10.8 retransmission timeout in FIN-WAIT-1 resends the FIN", from: StateFinWait1,
		in: "timer", out: []string{"F. 1:1(0) ack 1 win 65535"}, want: StateFinWait1},
	{rule: "3.10.8 time-wait timeout: after 2×MSL enter CLOSED (MUST-13)", from: StateTimeWait,
		in: "timer", want: StateClosed, ev: evEnd},
	{rule: "FinTimeout (Linux tcp_fin_timeout): FIN-WAIT-2 after Close times out with a RST", from: StateFinWait2,
		in: "closeread+timer", out: []string{"R 2:2(0) win 0"}, want: StateClosed, ev: evEnd, err: syscall.ETIMEDOUT},

	// ICMP errors (RFC 1122 §4.2.3.9, RFC 5927 §4; tcb_icmp.go)
	{rule: "RFC 1122 4.2.3.9 SHLD-26: port unreachable in SYN-SENT ends the dial with ECONNREFUSED", from: StateSynSent,
		in: "icmp unreach port seq 0", want: StateClosed, ev: evEnd, err: syscall.ECONNREFUSED},
	{rule: "RFC 1122 4.2.3.9 SHLD-26: protocol unreachable in SYN-SENT ends the dial with ENOPROTOOPT", from: StateSynSent,
		in: "icmp unreach proto seq 0", want: StateClosed, ev: evEnd, err: syscall.ENOPROTOOPT},
	{rule: "MUST-56: host unreachable in SYN-SENT is soft: the dial goes on", from: StateSynSent,
		in: "icmp unreach host seq 0", want: StateSynSent},
	{rule: "RFC 5927 4.2: port unreachable drops a passive child in SYN-RECEIVED, no RST", from: StateSynReceived,
		in: "icmp unreach port seq 0", want: StateClosed, ev: evEnd, err: syscall.ECONNREFUSED},
	{rule: "RFC 5927 4.2: port unreachable in SYN-RECEIVED from a simultaneous open ends the dial", from: StateSynReceived, active: true,
		in: "icmp unreach port seq 0", want: StateClosed, ev: evEnd, err: syscall.ECONNREFUSED},
	{rule: "RFC 5927 4.2: port unreachable in ESTABLISHED is soft", from: StateEstablished,
		in: "icmp unreach port seq 1", want: StateEstablished},
	{rule: "RFC 5927 4.1: a quoted SEQ outside SND.UNA..SND.NXT is ignored", from: StateSynSent,
		in: "icmp unreach port seq 2", want: StateSynSent},
	{rule: "RFC 5927 4.1: nothing is in flight in TIME-WAIT: ignored", from: StateTimeWait,
		in: "icmp unreach port seq 2", want: StateTimeWait},
	{rule: "RFC 1191 6.1: frag needed in ESTABLISHED sends nothing when nothing is in flight", from: StateEstablished,
		in: "icmp unreach frag-needed mtu 1200 seq 1", want: StateEstablished},
}

func TestTransitions(t *testing.T) {
	for _, tc := range transitions {
		t.Run(tc.rule, func(t *testing.T) {
			h := fixture(t, tc.from, !tc.active)
			got, err := h.do(tc.in)
			if tc.callErr != nil {
				assert.ErrorIs(t, err, tc.callErr, "the user call's error")
			} else {
				assert.NoError(t, err, "the user call")
			}
			assert.Equal(t, nonNil(tc.out), nonNil(got), "segments sent after %q in %v", tc.in, tc.from)
			assert.Equal(t, tc.want, h.c.state, "state after %q in %v", tc.in, tc.from)
			assert.Equal(t, fmtEvents(tc.ev), fmtEvents(h.events), "events raised")
			if tc.err != nil {
				assert.ErrorIs(t, h.c.err, tc.err, "the connection's error")
			} else {
				assert.NoError(t, h.c.err, "the connection's error")
			}
			checkInvariants(t, h.c)
		})
	}
}

// fmtEvents names the event bits, for failure messages.
func fmtEvents(e tcbEvents) string {
	var names []string
	for _, n := range []struct {
		bit  tcbEvents
		name string
	}{{evEstablished, "established"}, {evReadable, "readable"}, {evWritable, "writable"}, {evClosed, "closed"}} {
		if e&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// checkInvariants fails the test if the TCB's invariants do not hold.
func checkInvariants(t testing.TB, c *tcb) {
	t.Helper()
	assert.NoError(t, c.invariants(), "the TCB's invariants after a step in %v", c.state)
}

func TestReplyToClosed(t *testing.T) {
	cases := []struct {
		rule string
		in   string
		want string // "" means no reply
	}{
		{"3.10.7.1 a RST is discarded", "R 5:5(0) win 0", ""},
		{"3.10.7.1 no ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", "S 100:100(0) win 100", "R. 0:0(0) ack 101 win 0"},
		{"3.10.7.1 no ACK, with data and FIN", "F 100:110(10) win 100", "R. 0:0(0) ack 111 win 0"},
		{"3.10.7.1 ACK: <SEQ=SEG.ACK><CTL=RST>", ". 100:100(0) ack 77 win 100", "R 77:77(0) win 0"},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			seg, err := parseSegment(tc.in)
			require.NoError(t, err)
			seg.SrcPort, seg.DstPort = 1234, 80
			got, ok := replyToClosed(&seg)
			if tc.want == "" {
				assert.False(t, ok, "no reply to %q", tc.in)
				return
			}
			require.True(t, ok, "a reply to %q", tc.in)
			assert.Equal(t, tc.want, got.String())
			assert.Equal(t, uint16(1234), got.DstPort, "the reply goes back to the sender's port")
		})
	}
}

func TestCloseWithUnreadDataSendsRST_SHLD3(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	h.must("P. 1:6(5) ack 1 win 100 \"hello\"", ". 1:1(0) ack 6 win 65530")
	got, err := h.do("closefull")
	require.NoError(t, err)
	assert.Equal(t, []string{"R 1:1(0) win 0"}, got, "unread data turns Close into a reset (RFC 1122 4.2.2.13)")
	assert.Equal(t, StateClosed, h.c.state)
}

func TestDataAfterFullCloseSendsRST_SHLD3(t *testing.T) {
	h := fixture(t, StateFinWait2, true)
	h.c.closeRead(h.now)
	got := h.in("P. 1:6(5) ack 2 win 100 \"hello\"")
	assert.Equal(t, []string{"R 2:2(0) win 0"}, got, "data for an application that closed draws a RST")
	assert.Equal(t, StateClosed, h.c.state)
}

func TestRetransmitBackoff_RFC6298(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	start := h.now
	var gaps []time.Duration
	prev := start
	for range 4 {
		out := h.wait()
		require.Len(t, out, 1, "one SYN per timeout")
		gaps = append(gaps, h.now.Sub(prev))
		prev = h.now
	}
	assert.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, gaps,
		"RFC 6298 §2.1: initial RTO 1 s; §5.5: double it on each expiry")
}

func TestUserTimeoutGivesUp_MUST20(t *testing.T) {
	h := newCore(t, func(c *Config) { c.UserTimeout = 10 * time.Second })
	h.must("open", "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 1>")
	for h.c.state == StateSynSent {
		h.wait()
	}
	assert.Equal(t, StateClosed, h.c.state)
	assert.ErrorIs(t, h.c.err, syscall.ETIMEDOUT, "R2 expired: the user is told ETIMEDOUT")
	assert.GreaterOrEqual(t, h.now.Sub(testEpoch), 10*time.Second, "not before the user timeout")
}

func TestRTTEstimate_RFC6298(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.now = h.now.Add(100 * time.Millisecond)
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1460>", ". 1:1(0) ack 1 win 65535")
	assert.Equal(t, 100*time.Millisecond, h.c.rtt.srtt, "§2.2: SRTT <- R")
	assert.Equal(t, 50*time.Millisecond, h.c.rtt.rttvar, "§2.2: RTTVAR <- R/2")
	assert.Equal(t, time.Second, h.c.rtt.rto, "§2.4: the RTO is rounded up to the 1 s minimum")
}

func TestKarnNoSampleFromRetransmission_MUST18(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.wait() // the SYN goes again: its ACK is ambiguous
	h.now = h.now.Add(10 * time.Millisecond)
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1460>", ". 1:1(0) ack 1 win 65535")
	assert.False(t, h.c.rtt.hasSample, "Karn: no RTT sample from a retransmitted segment")
	assert.Equal(t, 3*time.Second, h.c.rtt.rto, "RFC 6298 §5.7: after a SYN timeout the RTO restarts at 3 s")
}

func TestMSS_MUST15_MUST16(t *testing.T) {
	h := fixture(t, StateListen, true)
	h.must("S 0:0(0) win 65535", "S. 0:0(0) ack 1 win 65535 <mss 1460>")
	assert.Equal(t, 536, h.c.snd.mss, "MUST-15: no MSS option means 536")
	h = fixture(t, StateListen, true)
	h.must("S 0:0(0) win 65535 <mss 9000>", "S. 0:0(0) ack 1 win 65535 <mss 1460>")
	assert.Equal(t, 1460, h.c.snd.mss, "MUST-16: never more than our own MTU carries")
}

func TestSegmentsRespectPeerMSSAndWindow(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.must("S. 0:0(0) ack 1 win 3000 <mss 1000>", ". 1:1(0) ack 1 win 65535")
	_, err := h.c.send(make([]byte, 5000))
	require.NoError(t, err)
	out := h.flush()
	assert.Equal(t, []string{". 1:1001(1000) ack 1 win 65535", ". 1001:2001(1000) ack 1 win 65535", ". 2001:3001(1000) ack 1 win 65535"}, out,
		"segments of the peer's MSS, and no more than its window (3000)")
	out = h.in(". 1:1(0) ack 2001 win 3000")
	assert.Equal(t, []string{". 3001:4001(1000) ack 1 win 65535", "P. 4001:5001(1000) ack 1 win 65535"}, out,
		"the window slides with the ACK; PSH marks the last queued segment")
}

func TestZeroWindowProbe_MUST36(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.must("S. 0:0(0) ack 1 win 0 <mss 1000>", ". 1:1(0) ack 1 win 65535")
	_, err := h.c.send([]byte("abc"))
	require.NoError(t, err)
	assert.Empty(t, h.flush(), "nothing fits a zero window")
	out := h.wait()
	assert.Equal(t, []string{". 1:2(1) ack 1 win 65535 \"a\""}, out, "SHLD-29: after one RTO, probe with one octet")
	out = h.in(". 1:1(0) ack 2 win 0")
	assert.Empty(t, out, "the probe was taken but the window is still shut")
	out = h.in(". 1:1(0) ack 2 win 100")
	assert.Equal(t, []string{"P. 2:4(2) ack 1 win 65535 \"bc\""}, out, "the window opened: the rest goes")
}

func TestFastRetransmit_RFC5681(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1000>", ". 1:1(0) ack 1 win 65535")
	_, err := h.c.send(make([]byte, 5000))
	require.NoError(t, err)
	require.Len(t, h.flush(), 5, "the initial window holds all five segments")
	assert.Empty(t, h.in(". 1:1(0) ack 1001 win 65535"), "a new ACK, nothing left to send")
	assert.Empty(t, h.in(". 1:1(0) ack 1001 win 65535"), "first duplicate ACK")
	assert.Empty(t, h.in(". 1:1(0) ack 1001 win 65535"), "second duplicate ACK")
	out := h.in(". 1:1(0) ack 1001 win 65535")
	assert.Equal(t, []string{". 1001:2001(1000) ack 1 win 65535"}, out, "the third duplicate ACK retransmits the hole")
	assert.True(t, h.c.rec.inRecovery, "and starts fast recovery")
	assert.Equal(t, uint64(1), h.c.stats.FastRetransmits)
	h.in(". 1:1(0) ack 5001 win 65535")
	assert.False(t, h.c.rec.inRecovery, "an ACK past the recovery point ends it (RFC 6582)")
	checkInvariants(t, h.c)
}

func TestOutOfOrderHeld_SHLD31(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	h.must("P. 6:11(5) ack 1 win 100 \"world\"", ". 1:1(0) ack 1 win 65535") // SHLD-14: the edge never moves left
	h.must("P. 1:6(5) ack 1 win 100 \"hello\"", ". 1:1(0) ack 11 win 65525")
	buf := make([]byte, 20)
	n, err := h.c.receive(buf)
	require.NoError(t, err)
	assert.Equal(t, "helloworld", string(buf[:n]), "the held segment fills in behind the hole")
}

func TestReceiveWindowClosesAndReopens_MUST39(t *testing.T) {
	h := newCore(t, func(c *Config) { c.RecvBuffer = 4000 })
	h.must("listen")
	h.must("S 0:0(0) win 65535 <mss 1000>", "S. 0:0(0) ack 1 win 4000 <mss 1460>")
	h.must(". 1:1(0) ack 1 win 65535")
	h.must(". 1:1001(1000) ack 1 win 65535", ". 1:1(0) ack 1001 win 3000")
	h.must(". 1001:4001(3000) ack 1 win 65535", ". 1:1(0) ack 4001 win 0")
	h.must(". 4001:4002(1) ack 1 win 65535", ". 1:1(0) ack 4001 win 0")
	buf := make([]byte, 100)
	_, err := h.c.receive(buf)
	require.NoError(t, err)
	assert.Empty(t, h.flush(), "MUST-39: a 100-octet opening is too small to announce")
	_, err = h.c.receive(make([]byte, 3000))
	require.NoError(t, err)
	assert.Equal(t, []string{". 1:1(0) ack 4001 win 3100"}, h.flush(), "a large opening is announced at once")
}

func TestStateNames(t *testing.T) {
	for s := StateClosed; s <= StateTimeWait; s++ {
		got, ok := parseState(s.String())
		assert.True(t, ok, "parseState(%q)", s.String())
		assert.Equal(t, s, got)
	}
	assert.Equal(t, "SYN-RECEIVED", StateSynReceived.String())
	assert.Equal(t, "State(99)", State(99).String())
}

// ExampleState shows the RFC's names.
func ExampleState() {
	fmt.Println(StateSynSent, StateTimeWait)
	// Output: SYN-SENT TIME-WAIT
}

func TestZeroWindowStillProcessesACK_MUST66(t *testing.T) {
	h := newCore(t, func(c *Config) { c.RecvBuffer = 1000 })
	h.must("listen")
	h.must("S 0:0(0) win 65535 <mss 1000>", "S. 0:0(0) ack 1 win 1000 <mss 1460>")
	h.must(". 1:1(0) ack 1 win 65535")
	h.must("send abc", "P. 1:4(3) ack 1 win 1000 \"abc\"")
	h.must(". 1:1001(1000) ack 1 win 65535", ". 4:4(0) ack 1001 win 0")
	got := h.in(". 1001:1101(100) ack 4 win 65535")
	assert.Equal(t, []string{". 4:4(0) ack 1001 win 0"}, got, "the text is refused at zero window, and an ACK says so")
	assert.Equal(t, testISS.Add(4), h.c.snd.una, "MUST-66: the ACK in the segment is still processed")
}

func TestOutOfOrderOverlapsHeldOnce_SHLD31(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	h.must("P. 11:21(10) ack 1 win 100 \"KLMNOPQRST\"", ". 1:1(0) ack 1 win 65535")
	h.must("P. 16:26(10) ack 1 win 100 \"PQRSTUVWXY\"", ". 1:1(0) ack 1 win 65535")
	h.must("F. 6:16(10) ack 1 win 100 \"FGHIJKLMNO\"", ". 1:1(0) ack 1 win 65535")
	assert.Equal(t, 20, h.c.rcv.ooo.bytes(), "overlapping segments are held once: octets 6-25")
	h.must("P. 1:6(5) ack 1 win 100 \"ABCDE\"", ". 1:1(0) ack 26 win 65510")
	buf := make([]byte, 64)
	n, err := h.c.receive(buf)
	require.NoError(t, err)
	assert.Equal(t, "ABCDEFGHIJKLMNOPQRSTUVWXY", string(buf[:n]), "the stream comes out whole and in order")
	assert.Equal(t, StateEstablished, h.c.state, "the FIN was not at the end of the stream, so it is not taken")
}

func TestKeepAliveOffByDefault_MUST25(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	assert.True(t, h.c.nextTimeout().IsZero(), "an idle connection without keep-alives arms no timer")
	assert.Equal(t, 2*time.Hour, h.cfg.KeepAlive.Idle, "MUST-28: the default interval is at least two hours")
}

func TestKeepAliveProbesIdleConnection_MUST26_MUST29(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	h.c.setKeepAlive(net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: time.Second, Count: 3})
	start := h.now
	assert.Equal(t, []string{". 0:0(0) ack 1 win 65535"}, h.wait(), "an idle connection is probed with <SEQ=SND.NXT-1>, no data (SHLD-12)")
	assert.Equal(t, 10*time.Second, h.now.Sub(start), "MUST-26: only after the idle interval")
	h.must(". 1:1(0) ack 1 win 65535") // the peer answers
	assert.Equal(t, 0, h.c.ka.unanswered, "an answer resets the count")

	h.must("send x", "P. 1:2(1) ack 1 win 65535 \"x\"")
	assert.True(t, h.c.keepAliveAt().IsZero(), "MUST-26: no probe while data is outstanding")
	h.must(". 1:1(0) ack 2 win 65535")

	for i := 1; i <= 3; i++ {
		require.Equal(t, []string{". 1:1(0) ack 1 win 65535"}, h.waitSend(), "probe %d", i)
		assert.Equal(t, StateEstablished, h.c.state, "MUST-29: %d unanswered probe(s) do not kill the connection", i)
	}
	assert.Equal(t, []string{"R 2:2(0) win 0"}, h.wait(),
		"after Count unanswered probes the connection is dropped, and a RST tells the peer (as Linux does)")
	assert.Equal(t, StateClosed, h.c.state)
	assert.ErrorIs(t, h.c.err, syscall.ETIMEDOUT)
}

// rawOut collects what the core sends, as segments with absolute numbers.
func (h *core) rawOut() []Segment {
	var out []Segment
	h.c.output(h.now, func(_ FourTuple, s *Segment) {
		cp := *s
		cp.Payload = append([]byte(nil), s.Payload...)
		out = append(out, cp)
	})
	h.events |= h.c.takeEvents()
	return out
}

// inRaw delivers a segment with absolute numbers.
func (h *core) inRaw(seq, ack Seq, flags Flags, payload string) []Segment {
	h.t.Helper()
	seg := Segment{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: ack, Flags: flags, Window: 65535, Payload: []byte(payload)}
	h.c.segmentArrives(h.now, &seg)
	checkInvariants(h.t, h.c)
	return h.rawOut()
}

// RFC 9293 §3.4: sequence numbers wrap, and after 2^32 octets SND.UNA and
// RCV.NXT come back to ISS and IRS. Nothing may take ISS for "SYN not yet
// acknowledged": here an ACK lands exactly on ISS, a retransmission timeout
// follows, and the data on both sides crosses ISS and IRS intact.
func TestSequenceSpaceWrapsThroughISSAndIRS(t *testing.T) {
	for _, isn := range []struct{ iss, irs Seq }{{testISS, testIRS}, {0xffffffd0, 0xfffffff0}} {
		t.Run(fmt.Sprintf("iss=%d irs=%d", isn.iss, isn.irs), func(t *testing.T) {
			h := fixtureISN(t, StateEstablished, true, isn.iss, isn.irs)
			teleport(h.c, 50) // as after 2^32-50 octets each way
			require.Equal(t, isn.iss.Add(^uint32(49)), h.c.snd.una)
			iss, irs := isn.iss, isn.irs

			_, err := h.c.send([]byte(strings.Repeat("a", 50) + strings.Repeat("b", 50)))
			require.NoError(t, err)
			out := h.rawOut()
			require.Len(t, out, 1)
			assert.Equal(t, iss.Add(^uint32(49)), out[0].Seq, "the data starts 50 octets before ISS")
			assert.False(t, out[0].Flags.Has(FlagSYN), "no SYN once synchronized")
			assert.Zero(t, out[0].Options.MSS, "MUST-65: no MSS option")

			assert.Empty(t, h.inRaw(irs.Add(^uint32(49)), iss, FlagACK, ""), "the ACK lands on ISS: half the data")
			assert.Equal(t, iss, h.c.snd.una)
			h.now = h.c.nextTimeout()
			h.c.handleTimeout(h.now)
			out = h.rawOut()
			require.Len(t, out, 1, "the retransmission timeout resends the rest")
			assert.False(t, out[0].Flags.Has(FlagSYN), "a retransmission at ISS is data, not our SYN")
			assert.Equal(t, iss, out[0].Seq)
			assert.Equal(t, strings.Repeat("b", 50), string(out[0].Payload))

			assert.Empty(t, h.inRaw(irs.Add(^uint32(49)), iss.Add(50), FlagACK, ""), "everything acknowledged")
			assert.Equal(t, 0, h.c.snd.buf.Len(), "nothing stale stays queued")
			_, err = h.c.send([]byte("world"))
			require.NoError(t, err)
			out = h.rawOut()
			require.Len(t, out, 1)
			assert.Equal(t, iss.Add(50), out[0].Seq)
			assert.Equal(t, "world", string(out[0].Payload), "new data is the new data (no stale octet resent)")

			out = h.inRaw(irs.Add(^uint32(49)), iss.Add(55), FlagACK|FlagPSH, strings.Repeat("x", 100))
			require.Len(t, out, 1)
			assert.Equal(t, irs.Add(50), out[0].Ack, "the peer's data crosses IRS")
			buf := make([]byte, 200)
			n, err := h.c.receive(buf)
			require.NoError(t, err)
			assert.Equal(t, strings.Repeat("x", 100), string(buf[:n]))
			assert.Equal(t, StateEstablished, h.c.state)
		})
	}
}

// SHUT_RD ends reading, not the connection: net.TCPConn.CloseRead does
// not reset the peer when data arrives later, and the window stays open.
func TestShutdownReadDropsDataWithoutReset(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	h.must("P. 1:6(5) ack 1 win 100 \"hello\"", ". 1:1(0) ack 6 win 65530")
	h.c.shutdownRead()
	assert.Empty(t, h.flush(), "a 5-octet opening is not worth a window update")
	assert.Equal(t, 0, h.c.rcv.buf.Len(), "the unread octets are dropped")
	h.must("P. 6:11(5) ack 1 win 100 \"world\"", ". 1:1(0) ack 11 win 65525")
	assert.Equal(t, StateEstablished, h.c.state, "no reset")
	assert.NoError(t, h.c.err)
	assert.Equal(t, 0, h.c.rcv.buf.Len(), "later data is acknowledged and dropped")
	assert.Equal(t, 65535, h.c.rcv.available(), "so the window stays open")
	h.must("F. 11:11(0) ack 1 win 100", ". 1:1(0) ack 12 win 65524")
	assert.Equal(t, StateCloseWait, h.c.state, "the peer's FIN still closes its side")
	checkInvariants(t, h.c)
}

// RFC 9293 §3.10.7.4 fifth check: the window update compares SND.WL1 with
// SEG.SEQ as the segment arrived, not after trimming. A segment that starts
// before the one that last set the window is older: its window is stale.
func TestWindowUpdateUsesArrivedSEQ(t *testing.T) {
	h := fixture(t, StateEstablished, true) // the handshake's ACK at SEQ 1 set the window
	h.must("P. 0:6(6) ack 1 win 300 \"xhello\"", ". 1:1(0) ack 6 win 65530")
	assert.Equal(t, testIRS.Add(1), h.c.snd.wl1, "SND.WL1 stays")
	assert.Equal(t, uint32(65535), h.c.snd.wnd, "the older segment's window is not taken")
	h.must("P. 6:7(1) ack 1 win 300 \"!\"", ". 1:1(0) ack 7 win 65529")
	assert.Equal(t, testIRS.Add(6), h.c.snd.wl1, "a newer segment's is")
	assert.Equal(t, uint32(300), h.c.snd.wnd)
}

// RFC 5681 §3.1: a lost SYN leaves the congestion state as it starts: no
// ssthresh of 2*536 for the life of the connection (Linux resets it when
// the handshake completes), and a one-segment initial window.
func TestLostSYNLeavesSSThresh_RFC5681(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.wait() // the SYN times out
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1460>", ". 1:1(0) ack 1 win 65535")
	assert.Equal(t, uint32(infiniteSSThresh), h.c.cc.ssthresh(), "ssthresh is arbitrarily high")
	assert.Equal(t, uint32(1460), h.c.cc.cwnd(), "IW is one segment after a lost SYN")

	h = fixture(t, StateListen, true)
	h.must("S 0:0(0) win 65535 <mss 1460>", "S. 0:0(0) ack 1 win 65535 <mss 1460>")
	h.wait() // our SYN,ACK times out
	h.must(". 1:1(0) ack 1 win 65535")
	assert.Equal(t, uint32(infiniteSSThresh), h.c.cc.ssthresh())
	assert.Equal(t, uint32(1460), h.c.cc.cwnd(), "IW is one segment after a lost SYN,ACK")
}
