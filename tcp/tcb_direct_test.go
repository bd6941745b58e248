package tcp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// In-order data goes straight into a waiting Read's buffer while the
// receive buffer is empty; what does not fit, and data behind a hole, goes
// to the receive buffer.
func TestDirectRead_IntoWaitingBuffer(t *testing.T) {
	h := fixture(t, StateEstablished, true)
	b := make([]byte, 8)
	h.c.rcv.waitRead(b)
	h.in(`P. 1:6(5) ack 1 "hello"`)
	assert.Equal(t, "hello", string(b[:5]))
	assert.Zero(t, h.c.rcv.buf.Len(), "nothing went through the receive buffer")
	h.in(`P. 6:12(6) ack 1 " world"`)
	assert.Equal(t, "hello wo", string(b), "the buffer filled up")
	assert.Equal(t, 3, h.c.rcv.buf.Len(), "the rest waits in the receive buffer")
	assert.Equal(t, 8, h.c.rcv.takeDirect())
	assert.EqualValues(t, 8, h.c.stats.BytesDirect)
	assert.EqualValues(t, 11, h.c.stats.BytesIn)

	p := make([]byte, 8)
	n, err := h.c.receive(p)
	require.NoError(t, err)
	assert.Equal(t, "rld", string(p[:n]))

	// Behind a hole the data is held in place; the segment that fills the
	// hole goes to the buffer too, so the order is kept.
	h.c.rcv.waitRead(b)
	h.in(`P. 15:17(2) ack 1 "yz"`)
	h.in(`P. 12:15(3) ack 1 "abc"`)
	assert.Zero(t, h.c.rcv.takeDirect())
	n, err = h.c.receive(p)
	require.NoError(t, err)
	assert.Equal(t, "abcyz", string(p[:n]))
}

// A Read that waits takes the data straight into its buffer, and a read
// deadline that passes while data is being placed there loses none of it.
func TestStack_DirectReadKeepsEveryOctet(t *testing.T) {
	p := newPair(t, fastConfig(addrA), fastConfig(addrB))
	ca, cb := p.connect(t, 80)
	const total = 1 << 20
	want := make([]byte, total)
	for i := range want {
		want[i] = byte(i % 251)
	}
	waiting := func() (w bool) {
		cb.s.runOnLoop(func(time.Time) { w = cb.tcb.rcv.direct != nil })
		return w
	}
	go func() {
		for i := 0; i < total; i += 1000 {
			if i%4000 == 0 {
				for !waiting() { // now and then, write only once the Read waits
					runtime.Gosched()
				}
			}
			if _, err := ca.Write(want[i:min(i+1000, total)]); err != nil {
				return
			}
		}
		ca.CloseWrite()
	}()
	buf := make([]byte, 1500)
	got, timeouts := 0, 0
	for {
		// Deadlines short enough that many pass while data is being placed.
		require.NoError(t, cb.SetReadDeadline(time.Now().Add(time.Duration((got+timeouts)%7)*20*time.Microsecond)))
		n, err := cb.Read(buf)
		require.True(t, bytes.Equal(want[got:got+n], buf[:n]), "octets %d to %d", got, got+n)
		got += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
			continue
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.Equal(t, total, got)
	assert.Positive(t, cb.Stats().BytesDirect, "some data went straight into the waiting Read's buffer")
	t.Logf("%d deadlines passed; %d of %d octets placed directly", timeouts, cb.Stats().BytesDirect, total)
}
