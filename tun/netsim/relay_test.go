package netsim

import (
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// Wrap and Relay run on ordinary time, so in a bubble tun.Pipe stands in
// for the TUN devices and the delays are exact.

// readAt reads one packet from l and returns it with the time it came.
func readAt(t *testing.T, l tun.Link) ([]byte, time.Time) {
	t.Helper()
	buf := make([]byte, 1500)
	n, err := l.ReadPacket(buf)
	require.NoError(t, err)
	return buf[:n], time.Now()
}

func TestWrap_ImpairsBothDirections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stackSide, kernel := tun.Pipe(1500) // stackSide plays the TUN device
		w, err := Wrap(stackSide, Impairment{Delay: 10 * time.Millisecond}, Impairment{Delay: 30 * time.Millisecond})
		require.NoError(t, err)
		assert.Equal(t, 1500, w.MTU())

		start := time.Now()
		require.NoError(t, w.WritePacket(packet(1, 100)))
		got, at := readAt(t, kernel)
		assert.Equal(t, packet(1, 100), got, "stack → kernel")
		assert.Equal(t, 10*time.Millisecond, at.Sub(start), "through the out delay")

		start = time.Now()
		require.NoError(t, kernel.WritePacket(packet(2, 100)))
		got, at = readAt(t, w)
		assert.Equal(t, packet(2, 100), got, "kernel → stack")
		assert.Equal(t, 30*time.Millisecond, at.Sub(start), "through the in delay")
		assert.Equal(t, Stats{Sent: 1, Delivered: 1}, w.OutStats())
		assert.Equal(t, Stats{Sent: 1, Delivered: 1}, w.InStats())

		assert.ErrorIs(t, w.WritePacket(make([]byte, 1501)), tun.ErrTooBig)
		require.NoError(t, w.Close())
		_, err = w.ReadPacket(make([]byte, 1500))
		assert.ErrorIs(t, err, net.ErrClosed, "Close closes the inner link, and reads fail")
		assert.ErrorIs(t, w.WritePacket(packet(3, 100)), net.ErrClosed)
		kernel.Close()
	})
}

func TestWrap_ZeroImpairmentPassesThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stackSide, kernel := tun.Pipe(1500)
		w, err := Wrap(stackSide, Impairment{}, Impairment{Loss: 1})
		require.NoError(t, err)
		require.NoError(t, w.WritePacket(packet(1, 100)))
		got, _ := readAt(t, kernel)
		assert.Equal(t, packet(1, 100), got)
		require.NoError(t, kernel.WritePacket(packet(2, 100)))
		synctest.Wait()
		assert.Equal(t, Stats{Sent: 1, Lost: 1}, w.InStats(), "the in direction loses everything")
		assert.Equal(t, Stats{}, w.OutStats(), "the out direction has no queue")
		require.NoError(t, w.Close())
		kernel.Close()
	})
}

func TestWrap_Invalid(t *testing.T) {
	a, b := tun.Pipe(1500)
	defer a.Close()
	defer b.Close()
	_, err := Wrap(a, Impairment{Loss: 2}, Impairment{})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Wrap(a, Impairment{}, Impairment{Corrupt: -1})
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestRelay_BetweenTwoLinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hostA, tunA := tun.Pipe(1500)
		tunB, hostB := tun.Pipe(1500)
		r, err := Relay(tunA, tunB, Impairment{Delay: 20 * time.Millisecond}, Impairment{Delay: 5 * time.Millisecond, Duplicate: 1})
		require.NoError(t, err)

		start := time.Now()
		require.NoError(t, hostA.WritePacket(packet(1, 200)))
		got, at := readAt(t, hostB)
		assert.Equal(t, packet(1, 200), got, "A → B")
		assert.Equal(t, 20*time.Millisecond, at.Sub(start))

		start = time.Now()
		require.NoError(t, hostB.WritePacket(packet(2, 200)))
		for range 2 {
			got, at = readAt(t, hostA)
			assert.Equal(t, packet(2, 200), got, "B → A, twice")
			assert.Equal(t, 5*time.Millisecond, at.Sub(start))
		}
		ab, ba := r.Stats()
		assert.Equal(t, Stats{Sent: 1, Delivered: 1}, ab)
		assert.Equal(t, Stats{Sent: 1, Delivered: 2, Duplicated: 1}, ba)

		require.NoError(t, r.Close())
		assert.NoError(t, hostA.WritePacket(packet(3, 10)), "a pipe whose far end is closed discards")
		hostA.Close()
		hostB.Close()
	})
}

func TestRelay_Invalid(t *testing.T) {
	a, b := tun.Pipe(1500)
	defer a.Close()
	defer b.Close()
	_, err := Relay(a, b, Impairment{Reorder: 2}, Impairment{})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Relay(a, b, Impairment{}, Impairment{Limit: -1})
	assert.ErrorIs(t, err, ErrInvalid)
}
