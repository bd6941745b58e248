package tcp

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptInfer runs two PeerTrackers per connection of a packet script, fed
// with every segment in and out: one for the peer (the script), which
// "peer NAME" lines check, and one for utcp's own side, which must agree
// with the real TCB after every line except where the wire cannot tell
// (scriptWireInvisible).
type scriptInfer struct {
	peer, own map[uint16]*PeerTracker // by remote port
}

// scriptWireInvisible lists the differences between utcp's real state and
// the one inferred from the wire that the wire cannot resolve: a state
// change with no segment to show it. The key is {inferred, real}.
var scriptWireInvisible = map[[2]State]string{
	// RFC 9293 §3.10.8: TIME-WAIT ends when 2×MSL pass, with nothing sent.
	{StateTimeWait, StateClosed}: "TIME-WAIT expired (2×MSL)",
	// RFC 4987 §3.6: a SYN cookie answers from LISTEN, keeping no TCB.
	{StateSynReceived, StateListen}: "SYN-ACK from a SYN cookie",
	// The handshake's ACK is dropped while the accept queue is full.
	{StateEstablished, StateSynReceived}: "the ACK completing the handshake met a full accept queue",
	{StateEstablished, StateListen}:      "the ACK returning a SYN cookie met a full accept queue",
	{StateClosed, StateListen}:           "a listener without TCB refused with a RST an ACK that fits a SYN cookie's SYN-ACK",
	// Connections that end on a timer or an error with no RST on the wire.
	{StateSynSent, StateClosed}:     "SYN retries exhausted, an ICMP hard error (RFC 5927 §4.1) or CLOSE in SYN-SENT (RFC 9293 §3.10.4)",
	{StateSynReceived, StateClosed}: "SYN-ACK retries exhausted, an ICMP hard error, or a half-open connection evicted",
}

// inferTrackers returns the trackers of port, creating them: utcp's side starts
// in LISTEN if it listens, the peer's in CLOSED (unknown).
func (r *scriptRunner) inferTrackers(port uint16) (own, peer *PeerTracker) {
	in := &r.infer
	if in.own == nil {
		in.own, in.peer = make(map[uint16]*PeerTracker), make(map[uint16]*PeerTracker)
	}
	if in.own[port] == nil {
		initial := StateClosed
		if r.ln != nil && !r.ln.closed {
			initial = StateListen
		}
		in.own[port], in.peer[port] = NewPeerTracker(initial), NewPeerTracker(StateClosed)
	}
	return in.own[port], in.peer[port]
}

// inferSegment feeds one segment of the connection from port; out is true
// for one utcp sent.
func (r *scriptRunner) inferSegment(port uint16, seg *Segment, out bool) {
	own, peer := r.inferTrackers(port)
	own.Observe(seg, out)
	peer.Observe(seg, !out)
}

// inferCheck compares, after a line, utcp's inferred state with its real
// state on every connection seen on the wire.
func (r *scriptRunner) inferCheck() {
	for _, port := range slices.Sorted(maps.Keys(r.infer.own)) {
		got := r.infer.own[port].State()
		want := r.state(&scriptLine{port: port})
		if got == want {
			continue
		}
		if _, ok := scriptWireInvisible[[2]State{got, want}]; ok {
			scriptWireInvisibleUsed.Store([2]State{got, want}, r.name)
			continue
		}
		r.failf("utcp's state inferred from the wire is %s, its TCB's %s (port %d)", got, want, port)
	}
}

// inferPeer checks a "peer NAME" line.
func (r *scriptRunner) inferPeer(l *scriptLine) {
	_, peer := r.inferTrackers(r.port(l))
	if got := peer.State(); got != l.st {
		r.failf("got the peer's inferred state %s, want %s", got, l.st)
	}
}

// scriptWireInvisibleUsed records the exceptions the scripts have needed.
var scriptWireInvisibleUsed sync.Map

// Every exception of scriptWireInvisible is needed by some script: the list
// holds nothing the wire could tell after all.
func TestScriptWireInvisibleNeeded(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scriptDir, "*.pkt"))
	require.NoError(t, err)
	for _, path := range files {
		f, err := os.Open(path)
		require.NoError(t, err)
		err = scriptRun(filepath.Base(path), f)
		f.Close()
		require.NoError(t, err)
	}
	for k, why := range scriptWireInvisible {
		_, ok := scriptWireInvisibleUsed.Load(k)
		assert.True(t, ok, "no script needs the exception inferred %v, real %v (%s)", k[0], k[1], why)
	}
}
