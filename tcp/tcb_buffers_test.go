package tcp

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SetReadBuffer at the TCB: each row sets the buffer on an ESTABLISHED
// connection with an 8000-octet buffer and no window scale, then the peer
// sends and the user reads; the window advertised follows the buffer,
// never retracting the right edge (SHLD-14) nor passing 65535<<0.
func TestSetRecvBuffer(t *testing.T) {
	type step struct {
		in   string // a segment from the peer, "read N" or "set N"
		want []string
		cap  int // the buffer's size after the step (Info.RecvBuffer)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"grow: the next ACK offers it", []step{
			{"set 40000", nil, 40000}, // 8000 open: the peer is not held up, no update of its own
			{". 1:1001(1000) ack 1 win 65535", []string{". 1:1(0) ack 1001 win 39000"}, 40000},
		}},
		{"grow a shut window: an update at once", []step{
			{". 1:8001(8000) ack 1 win 65535", []string{". 1:1(0) ack 8001 win 0"}, 8000},
			{"set 40000", []string{". 1:1(0) ack 8001 win 32000"}, 40000},
		}},
		{"grow is bounded by the window field without scale", []step{
			{"set 100000", nil, 100000},
			{". 1:1001(1000) ack 1 win 65535", []string{". 1:1(0) ack 1001 win 65535"}, 100000},
		}},
		{"shrink keeps the window offered, takes effect as data is read", []step{
			{"set 2000", nil, 8000},
			{". 1:1001(1000) ack 1 win 65535", []string{". 1:1(0) ack 1001 win 7000"}, 8000},
			{"read 1000", nil, 7000},
			{". 1001:8001(7000) ack 1 win 65535", []string{". 1:1(0) ack 8001 win 0"}, 7000},
			{"read 3000", nil, 4000},
			{"read 4000", []string{". 1:1(0) ack 8001 win 2000"}, 2000},
			{". 8001:10001(2000) ack 1 win 65535", []string{". 1:1(0) ack 10001 win 0"}, 2000},
		}},
		{"shrink then grow again", []step{
			{"set 2000", nil, 8000},
			{"set 8000", nil, 8000},
			{". 1:8001(8000) ack 1 win 65535", []string{". 1:1(0) ack 8001 win 0"}, 8000},
			{"read 8000", []string{". 1:1(0) ack 8001 win 8000"}, 8000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCore(t, func(c *Config) { c.RecvBuffer = 8000 })
			h.must("listen")
			h.must("S 0:0(0) win 65535 <mss 1460>", "S. 0:0(0) ack 1 win 8000 <mss 1460>")
			h.must(". 1:1(0) ack 1 win 65535")
			for i, s := range tt.steps {
				var got []string
				switch word, arg, _ := strings.Cut(s.in, " "); word {
				case "set":
					h.c.setRecvBuffer(atoi(t, arg))
					got = h.flush()
				case "read":
					n, err := h.c.receive(make([]byte, atoi(t, arg)))
					require.NoError(t, err)
					require.Equal(t, atoi(t, arg), n)
					got = h.flush()
				default:
					got = h.in(s.in)
				}
				assert.Equal(t, nonNil(s.want), nonNil(got), "step %d: %s", i, s.in)
				assert.Equal(t, s.cap, h.c.info().RecvBuffer, "step %d: %s: the buffer's size", i, s.in)
				checkInvariants(t, h.c)
			}
		})
	}
}

// SetWriteBuffer at the TCB: the buffer holds unsent and unacknowledged
// octets; shrinking below them takes effect as ACKs free them, and the
// buffer stops growing with cwnd.
func TestSetSendBuffer(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	n, err := h.c.send(make([]byte, 10000))
	require.NoError(t, err)
	require.Equal(t, 10000, n)
	require.Len(t, h.flush(), 7, "10000 octets in flight: 6×1460 and 1240")

	h.c.setSendBuffer(4000)
	assert.Equal(t, 10000, h.c.snd.buf.Cap(), "the octets held stay")
	n, _ = h.c.send([]byte("x"))
	assert.Zero(t, n, "no room: the buffer is over its size")
	h.in(". 1:1(0) ack 4381 win 65535") // 4380 acknowledged, 5620 held
	n, _ = h.c.send([]byte("x"))
	assert.Zero(t, n, "still over 4000")
	assert.Equal(t, 5620, h.c.snd.buf.Cap(), "the size follows what is held down")
	h.in(". 1:1(0) ack 10001 win 65535")
	n, _ = h.c.send(make([]byte, 5000))
	assert.Equal(t, 4000, n, "the new size, reached")
	assert.Equal(t, 4000, h.c.info().SendBuffer)

	h.c.takeEvents()
	h.c.setSendBuffer(100000)
	assert.NotZero(t, h.c.takeEvents()&evWritable, "a larger buffer wakes a waiting writer")
	assert.Equal(t, 100000, h.c.snd.buf.Cap())
	for range 50 { // the window grows; the buffer does not follow it
		h.c.growSendBuffer()
	}
	assert.Equal(t, 100000, h.c.snd.buf.Cap())
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
