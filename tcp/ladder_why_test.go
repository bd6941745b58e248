package tcp

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for a tracer to write while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestLadderWhy runs a connection between two stacks with NewLadderWhy on
// A: each segment A sends carries its reason and rule, a segment A drops is
// marked, and A's socket calls and the error it sees have lines.
func TestLadderWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		cfgA := fastConfig(addrA)
		cfgA.Tracer = NewLadderWhy(&out)
		p := newPair(t, cfgA, fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		_, err := ca.Write([]byte("hello"))
		require.NoError(t, err)
		_, err = io.ReadFull(cb, make([]byte, 5))
		require.NoError(t, err)
		_, err = cb.Write([]byte("x"))
		require.NoError(t, err)
		_, err = io.ReadFull(ca, make([]byte, 1))
		require.NoError(t, err)
		require.NoError(t, ca.CloseWrite())
		require.NoError(t, cb.Abort())
		_, err = ca.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ECONNRESET, "B's abort resets A")
		_, err = p.b.Dial(netip.AddrPortFrom(addrA, 81))
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "A has no listener on 81")
		synctest.Wait()

		text := out.String()
		t.Log("\n" + text)
		for _, want := range []string{
			"why: SYN: active open (connect) (RFC 9293 §3.10.1)",
			"==> Dial (connect) returns",
			"==> Write: 5 octets queued",
			"why: data: new data in the window (RFC 9293 §3.8.6)",
			"==> Read returns 1 octets",
			"==> CloseWrite: FIN queued",
			"why: FIN: the application called CloseWrite (RFC 9293 §3.10.4)",
			"==> error: connection reset by peer (ECONNRESET)",
			"DROPPED: no listener or connection: answered with a RST (RFC 9293 §3.10.7.1)",
			"why: RST: no listener or connection (RFC 9293 §3.10.7.1)",
		} {
			assert.Contains(t, text, want, "the ladder says why")
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "->|") {
				assert.Contains(t, line, "why: ", "every segment sent has its reason: %q", line)
			}
		}
	})
}

// TestLadder_PlainHasNoReasons checks that NewLadder draws as before: no
// reasons, no drops, no socket-call markers.
func TestLadder_PlainHasNoReasons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		cfgA := fastConfig(addrA)
		cfgA.Tracer = NewLadder(&out)
		p := newPair(t, cfgA, fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		_, err := ca.Write([]byte("hello"))
		require.NoError(t, err)
		_, err = p.b.Dial(netip.AddrPortFrom(addrA, 81))
		require.Error(t, err)
		synctest.Wait()
		text := out.String()
		assert.NotContains(t, text, "why:", "no reasons")
		assert.NotContains(t, text, "DROPPED", "no drops")
		assert.NotContains(t, text, "==> Write", "no socket-call markers")
		assert.Contains(t, text, "==> Dial (connect) returns", "the handshake markers stay")
	})
}

// TestConn_UserEvents checks the socket-call markers a Tracer gets from Conn.
func TestConn_UserEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		_, err := ca.Write([]byte("hello"))
		require.NoError(t, err)
		_, err = io.ReadFull(cb, make([]byte, 5))
		require.NoError(t, err)
		require.NoError(t, cb.CloseRead())
		require.NoError(t, cb.Abort())
		for range 2 { // the error is reported once
			_, err = ca.Read(make([]byte, 1))
			require.ErrorIs(t, err, syscall.ECONNRESET)
		}
		require.NoError(t, ca.Close())
		synctest.Wait()
		assert.Equal(t, []UserEventKind{EventDialReturned, EventWrite, EventReset, EventError, EventClose}, p.ra.eventsOf(ca.ID()),
			"A: Dial, Write, the reset, the error it sees once, Close")
		assert.Equal(t, []UserEventKind{EventAcceptReturned, EventRead, EventCloseRead, EventAbort}, p.rb.eventsOf(cb.ID()),
			"B: Accept, Read, CloseRead, Abort")
	})
}
