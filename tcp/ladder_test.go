package tcp

import (
	"bytes"
	"strings"
	"testing"

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
		"[SYN] Seq=0 Win=64240 Len=0 MSS=1460 WS=128 SACK_PERM", "(handshake 1/3)", "LISTEN → SYN-RECEIVED",
		"[SYN, ACK] Seq=0 Ack=1", "(handshake 2/3)",
		"[ACK] Seq=1 Ack=1 Win=64256 Len=0", "(handshake 3/3)", "SYN-RECEIVED → ESTABLISHED",
		"==> Accept returns",
		"[FIN, ACK] Seq=1 Ack=1", "(close 1/4)", "ESTABLISHED → CLOSE-WAIT",
		"(close 2/4)",
		"==> Read returns EOF",
		"CLOSE-WAIT → LAST-ACK",
		"(close 3/4)",
		"(close 4/4)", "LAST-ACK → CLOSED",
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
