package tcp

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLadderDrawsHandshakeAndClose runs a passive open and a passive close
// through the core with a Ladder attached, as the stack would report them.
func TestLadderDrawsHandshakeAndClose(t *testing.T) {
	var buf bytes.Buffer
	l := NewLadder(&buf)
	h := newCore(t, func(c *Config) { c.Tracer = l })
	in := func(text string) {
		t.Helper()
		seg := h.segment(text)
		l.SegmentIn(h.now, h.c.id, seg)
		h.c.segmentArrives(h.now, seg)
		h.flush()
		l.Flush()
	}
	h.must("listen")
	in("S 0:0(0) win 64240 <mss 1460,sackOK,nop,wscale 7>")
	in(". 1:1(0) ack 1 win 502")
	l.UserEvent(h.now, h.c.id, UserEvent{Kind: EventAcceptReturned})
	in("F. 1:1(0) ack 1 win 502")
	l.UserEvent(h.now, h.c.id, UserEvent{Kind: EventReadEOF})
	require.NoError(t, h.c.close(h.now))
	h.flush()
	in(". 2:2(0) ack 2 win 502")

	out := buf.String()
	t.Log("\n" + out)
	want := []string{
		"peer 10.0.0.2:40000 (~ inferred)\n",
		"[SYN] Seq=0 Win=64240 Len=0 MSS=1460 WS=128 SACK_PERM", "(handshake 1/3)", "peer→ SYN-SENT~", "LISTEN → SYN-RECEIVED\n",
		"[SYN, ACK] Seq=0 Ack=1", "(handshake 2/3)", "peer→ ESTABLISHED~\n",
		"[ACK] Seq=1 Ack=1 Win=64256 Len=0", "(handshake 3/3)", "SYN-RECEIVED → ESTABLISHED\n",
		"==> Accept returns",
		"[FIN, ACK] Seq=1 Ack=1", "(close 1/4)", "peer→ FIN-WAIT-1~", "ESTABLISHED → CLOSE-WAIT\n",
		"(close 2/4)", "peer→ FIN-WAIT-2~\n",
		"==> Read returns EOF",
		"CLOSE-WAIT → LAST-ACK",
		"(close 3/4)", "peer→ TIME-WAIT~\n",
		"(close 4/4)", "LAST-ACK → CLOSED\n",
	}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if !assert.GreaterOrEqual(t, i, 0, "the ladder shows %q after what came before", w) {
			break
		}
		rest = rest[i+len(w):]
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if strings.Contains(line, "|") {
			assert.True(t, strings.Contains(line, "<-") || strings.Contains(line, "->|"), "every segment line has an arrow: %q", line)
		}
	}
}

// TestLadderLocalInferred draws a conversation from a capture: both sides'
// states are inferred, the local ones given through StateChange right after
// the segment that moved them, on its line.
func TestLadderLocalInferred(t *testing.T) {
	var buf bytes.Buffer
	l := NewLadder(&buf)
	l.LocalName, l.PeerName, l.LocalInferred = "client", "server", true
	id := FourTuple{Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.2:80")}
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	own := NewPeerTracker(StateClosed)
	feed := func(out bool, seg Segment) {
		at = at.Add(time.Millisecond)
		if out {
			l.SegmentOut(at, id, &seg)
		} else {
			l.SegmentIn(at, id, &seg)
		}
		from := own.State()
		if to, changed := own.Observe(&seg, out); changed {
			l.StateChange(at, id, from, to)
		}
		l.Flush()
	}
	feed(true, Segment{Seq: 100, Flags: FlagSYN, Window: 65535})
	feed(false, Segment{Seq: 500, Ack: 101, Flags: FlagSYN | FlagACK, Window: 65535})
	feed(true, Segment{Seq: 101, Ack: 501, Flags: FlagACK, Window: 65535})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	t.Log("\n" + buf.String())
	require.Len(t, lines, 4, "a header and one line per segment")
	assert.Contains(t, lines[0], "client 10.0.0.1:40000 (~ inferred)")
	assert.Contains(t, lines[0], "server 10.0.0.2:80 (~ inferred)")
	assert.True(t, strings.HasSuffix(lines[1], "(handshake 1/3)  client→ SYN-SENT~"), "the SYN's line: %q", lines[1])
	assert.True(t, strings.HasSuffix(lines[2], "(handshake 2/3)  server→ SYN-RECEIVED~  client→ ESTABLISHED~"), "the SYN-ACK's line: %q", lines[2])
	assert.True(t, strings.HasSuffix(lines[3], "(handshake 3/3)  server→ ESTABLISHED~"), "the ACK's line: %q", lines[3])
	assert.True(t, strings.HasPrefix(lines[1], " 0.000000"), "times from the first segment")
}
