package tcp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tracked side's ISS is 100, the other side's 500: "> SEG" is a segment
// the tracked side sent, "< SEG" one it received, in the script notation
// with absolute numbers.
var (
	inferActiveOpen  = []string{"> S 100:100(0) win 65535", "< S. 500:500(0) ack 101 win 65535", "> . 101:101(0) ack 501 win 65535"}
	inferPassiveOpen = []string{"< S 500:500(0) win 65535", "> S. 100:100(0) ack 501 win 65535", "< . 501:501(0) ack 101 win 65535"}
)

func inferSteps(prefix []string, more ...string) []string {
	return append(append([]string(nil), prefix...), more...)
}

// inferRun feeds steps to a tracker and returns it.
func inferRun(t *testing.T, initial State, steps []string) *PeerTracker {
	t.Helper()
	p := NewPeerTracker(initial)
	for _, st := range steps {
		dir, text, _ := strings.Cut(st, " ")
		pat, err := parsePattern(text)
		require.NoError(t, err, "step %q", st)
		seg := pat.Segment
		if !pat.HasWindow {
			seg.Window = 65535
		}
		p.Observe(&seg, dir == ">")
	}
	return p
}

// TestPeerTrackerTransitions: one row per transition of RFC 9293 Figure 5
// the tracker infers, and the segments that must not move it.
func TestPeerTrackerTransitions(t *testing.T) {
	estab := func(more ...string) []string { return inferSteps(inferActiveOpen, more...) }
	finWait1 := estab("> F. 101:101(0) ack 501")
	closeWait := estab("< F. 501:501(0) ack 101", "> . 101:101(0) ack 502")
	tests := []struct {
		rule    string
		initial State
		steps   []string
		want    State
	}{
		{"RFC 9293 §3.10.1 OPEN: a SYN sent, SYN-SENT", StateClosed, []string{"> S 100:100(0)"}, StateSynSent},
		{"a retransmitted SYN leaves SYN-SENT", StateClosed, []string{"> S 100:100(0)", "> S 100:100(0)"}, StateSynSent},
		{"RFC 9293 §3.10.7.3: a SYN-ACK acking our SYN, ESTABLISHED", StateClosed, inferActiveOpen[:2], StateEstablished},
		{"RFC 9293 §3.10.7.3: a SYN-ACK with a bad ACK is dropped", StateClosed, []string{"> S 100:100(0)", "< S. 500:500(0) ack 105"}, StateSynSent},
		{"RFC 9293 §3.10.7.3: a SYN without ACK in SYN-SENT, SYN-RECEIVED (simultaneous open)", StateClosed,
			[]string{"> S 100:100(0)", "< S 500:500(0)"}, StateSynReceived},
		{"RFC 9293 Figure 7: simultaneous open, then the SYN-ACK, ESTABLISHED", StateClosed,
			[]string{"> S 100:100(0)", "< S 500:500(0)", "> S. 100:100(0) ack 501", "< S. 500:500(0) ack 101"}, StateEstablished},
		{"RFC 9293 Figure 7: the other SYN seen before ours crossed it, SYN-RECEIVED", StateClosed,
			[]string{"< S 500:500(0)", "> S 100:100(0)"}, StateSynReceived},
		{"a SYN received in LISTEN is no evidence yet", StateListen, inferPassiveOpen[:1], StateListen},
		{"RFC 9293 §3.10.7.2: SYN received in LISTEN and SYN-ACK sent, SYN-RECEIVED", StateListen, inferPassiveOpen[:2], StateSynReceived},
		{"a SYN-ACK sent from an unknown state shows a listener, SYN-RECEIVED", StateClosed, inferPassiveOpen[:2], StateSynReceived},
		{"RFC 9293 §3.10.7.4 fifth check: SYN-RECEIVED and an acceptable ACK, ESTABLISHED", StateListen, inferPassiveOpen, StateEstablished},
		{"RFC 9293 §3.10.7.4: SYN-RECEIVED answers an unacceptable ACK with a RST and stays", StateListen,
			inferSteps(inferPassiveOpen[:2], "< . 501:501(0) ack 99", "> R 99:99(0)"), StateSynReceived},
		{"RFC 9293 §3.10.7.4 second check, MUST-11: RST in SYN-RECEIVED of a passive open, LISTEN", StateListen,
			inferSteps(inferPassiveOpen[:2], "< R 501:501(0)"), StateListen},
		{"RFC 9293 §3.10.7.4 second check: RST in SYN-RECEIVED of an active open, CLOSED", StateClosed,
			[]string{"> S 100:100(0)", "< S 500:500(0)", "< R 501:501(0)"}, StateClosed},
		{"RFC 9293 §3.10.7.3: a RST acking our SYN in SYN-SENT, CLOSED", StateClosed, []string{"> S 100:100(0)", "< R. 0:0(0) ack 101"}, StateClosed},
		{"RFC 9293 §3.10.7.3: a RST without ACK in SYN-SENT is dropped", StateClosed, []string{"> S 100:100(0)", "< R 0:0(0)"}, StateSynSent},
		{"RFC 9293 §3.10.7.3: a RST with an unacceptable ACK in SYN-SENT is dropped", StateClosed, []string{"> S 100:100(0)", "< R. 0:0(0) ack 105"}, StateSynSent},
		{"RFC 9293 §3.10.4 CLOSE in ESTABLISHED: FIN sent, FIN-WAIT-1", StateClosed, finWait1, StateFinWait1},
		{"a retransmitted FIN leaves FIN-WAIT-1", StateClosed, inferSteps(finWait1, "> F. 101:101(0) ack 501"), StateFinWait1},
		{"an ACK short of the FIN leaves FIN-WAIT-1", StateClosed, inferSteps(finWait1, "< . 501:501(0) ack 101"), StateFinWait1},
		{"RFC 9293 §3.10.7.4 fifth check: an ACK beyond SND.NXT is dropped", StateClosed, inferSteps(finWait1, "< . 501:501(0) ack 103"), StateFinWait1},
		{"RFC 9293 §3.10.7.4 FIN-WAIT-1: our FIN ACKed, FIN-WAIT-2", StateClosed, inferSteps(finWait1, "< . 501:501(0) ack 102"), StateFinWait2},
		{"RFC 9293 §3.10.7.4 eighth check, FIN-WAIT-2: FIN received, TIME-WAIT", StateClosed,
			inferSteps(finWait1, "< . 501:501(0) ack 102", "< F. 501:501(0) ack 102"), StateTimeWait},
		{"RFC 9293 §3.10.7.4 eighth check, FIN-WAIT-1: FIN not acking ours, CLOSING", StateClosed,
			inferSteps(finWait1, "< F. 501:501(0) ack 101"), StateClosing},
		{"RFC 9293 §3.10.7.4 CLOSING: our FIN ACKed, TIME-WAIT", StateClosed,
			inferSteps(finWait1, "< F. 501:501(0) ack 101", "> . 102:102(0) ack 502", "< . 502:502(0) ack 102"), StateTimeWait},
		{"RFC 9293 §3.10.7.4 eighth check, FIN-WAIT-1: FIN acking ours, TIME-WAIT", StateClosed,
			inferSteps(finWait1, "< F. 501:501(0) ack 102"), StateTimeWait},
		{"RFC 9293 §3.10.7.4 eighth check, ESTABLISHED: FIN received, CLOSE-WAIT", StateClosed, closeWait, StateCloseWait},
		{"a FIN received again leaves CLOSE-WAIT", StateClosed, inferSteps(closeWait, "< F. 501:501(0) ack 101"), StateCloseWait},
		{"RFC 9293 §3.10.4 CLOSE in CLOSE-WAIT: FIN sent, LAST-ACK", StateClosed, inferSteps(closeWait, "> F. 101:101(0) ack 502"), StateLastAck},
		{"RFC 9293 §3.10.7.4 LAST-ACK: our FIN ACKed, CLOSED", StateClosed,
			inferSteps(closeWait, "> F. 101:101(0) ack 502", "< . 502:502(0) ack 102"), StateClosed},
		{"RFC 9293 Figure 13: FINs crossed (ours does not ack theirs), CLOSING", StateClosed,
			estab("< F. 501:501(0) ack 101", "> F. 101:101(0) ack 501"), StateClosing},
		{"RFC 9293 §3.10.7.4: a FIN after a hole waits for the text before it", StateClosed,
			estab("< F. 511:511(0) ack 101"), StateEstablished},
		{"the hole filled, the FIN is taken: CLOSE-WAIT", StateClosed,
			estab("< F. 511:511(0) ack 101", "< . 501:511(10) ack 101"), StateCloseWait},
		{"RFC 9293 §3.10.7.4 first check: a FIN outside the window is dropped", StateClosed,
			estab("< F. 70000:70000(0) ack 101"), StateEstablished},
		{"RFC 9293 MUST-66: a zero window refuses text, and a FIN behind it", StateClosed,
			estab("> . 101:101(0) ack 501 win 0", "< F. 501:511(10) ack 101"), StateEstablished},
		{"RFC 9293 MUST-66: a bare FIN at RCV.NXT fits a zero window", StateClosed,
			estab("> . 101:101(0) ack 501 win 0", "< F. 501:511(10) ack 101", "< F. 501:501(0) ack 101"), StateCloseWait},
		{"RFC 5961 §4.2: a SYN in ESTABLISHED draws a challenge ACK, no change", StateClosed, estab("< S 900:900(0)"), StateEstablished},
		{"RFC 5961 §3.2: a RST at RCV.NXT, CLOSED", StateClosed, estab("< R 501:501(0)"), StateClosed},
		{"RFC 5961 §3.2: a RST in the window but not at RCV.NXT draws a challenge ACK", StateClosed, estab("< R 600:600(0)"), StateEstablished},
		{"RFC 5961 §3.2: a RST outside the window is dropped", StateClosed, estab("< R 90000:90000(0)"), StateEstablished},
		{"RFC 9293 §3.10.5 ABORT: a RST sent in ESTABLISHED, CLOSED", StateClosed, estab("> R 101:101(0)"), StateClosed},
		{"RFC 9293 §3.10.7.4 TIME-WAIT: a RST at RCV.NXT, CLOSED", StateClosed,
			inferSteps(finWait1, "< F. 501:501(0) ack 102", "> . 102:102(0) ack 502", "< R 502:502(0)"), StateClosed},
		{"RFC 6191: a new SYN in TIME-WAIT answered with a SYN-ACK, SYN-RECEIVED", StateClosed,
			inferSteps(finWait1, "< F. 501:501(0) ack 102", "> . 102:102(0) ack 502", "< S 9000:9000(0)", "> S. 7000:7000(0) ack 9001"), StateSynReceived},
		{"RFC 9293 §3.10.1: a SYN with a new ISS after CLOSED opens again, SYN-SENT", StateClosed,
			estab("> R 101:101(0)", "> S 4000:4000(0)"), StateSynSent},
		{"RFC 9293 §3.10.7.1: a closed port's RST leaves CLOSED", StateClosed, []string{"< S 500:500(0)", "> R. 0:0(0) ack 501"}, StateClosed},
		{"RFC 9293 §3.10.7.2: LISTEN answers an ACK with a RST and stays", StateListen, []string{"< . 500:500(0) ack 7", "> R 7:7(0)"}, StateListen},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			p := inferRun(t, tt.initial, tt.steps)
			assert.Equal(t, tt.want.String(), p.State().String(), "after %q", tt.steps)
			assert.False(t, p.Guessed(), "the handshake was seen")
		})
	}
}

// A capture that starts mid-connection: the state is a guess, and says so.
func TestPeerTrackerMidConnection(t *testing.T) {
	p := inferRun(t, StateClosed, []string{"> P. 100:110(10) ack 500"})
	assert.Equal(t, StateEstablished, p.State(), "an ACK shows a synchronized side")
	assert.True(t, p.Guessed(), "no handshake was seen")
	assert.Equal(t, 1, p.LastEvidence(), "the first segment moved the state")
	p = inferRun(t, StateClosed, []string{"> P. 100:110(10) ack 500", "< F. 500:500(0) ack 110"})
	assert.Equal(t, StateCloseWait, p.State(), "the guessed numbers place the FIN")
	assert.Equal(t, 2, p.LastEvidence())
}

// Observe reports whether the state changed.
func TestPeerTrackerObserveChanged(t *testing.T) {
	p := NewPeerTracker(StateClosed)
	syn := Segment{Seq: 100, Flags: FlagSYN, Window: 65535}
	st, changed := p.Observe(&syn, true)
	assert.Equal(t, StateSynSent, st)
	assert.True(t, changed, "CLOSED → SYN-SENT")
	st, changed = p.Observe(&syn, true)
	assert.Equal(t, StateSynSent, st)
	assert.False(t, changed, "a retransmission changes nothing")
	assert.Equal(t, StateClosed, NewPeerTracker(StateEstablished).State(), "an initial state other than LISTEN is unknown: CLOSED")
}

// One segment can make several transitions; Steps lists them in order.
func TestPeerTrackerSteps(t *testing.T) {
	p := inferRun(t, StateClosed, inferSteps(inferActiveOpen, "> F. 101:101(0) ack 501"))
	assert.Equal(t, []State{StateFinWait1}, p.Steps())
	fin := Segment{Seq: 501, Ack: 102, Flags: FlagFIN | FlagACK, Window: 65535}
	p.Observe(&fin, false)
	assert.Equal(t, []State{StateFinWait2, StateTimeWait}, p.Steps(), "its FIN acknowledges ours: FIN-WAIT-2, then TIME-WAIT")
	p.Observe(&fin, false)
	assert.Empty(t, p.Steps(), "the FIN again changes nothing")
	p = inferRun(t, StateListen, inferSteps(inferPassiveOpen[:2], "< F. 501:501(0) ack 101"))
	assert.Equal(t, []State{StateEstablished, StateCloseWait}, p.Steps(), "the handshake's ACK carries a FIN")
}
