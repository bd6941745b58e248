package tun_test

import (
	"bytes"
	"io"
	"math/bits"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/utcp/utcp/tun"
)

// newPipe returns a pipe whose ends are closed, and checked for leaked
// goroutines, at cleanup.
func newPipe(t *testing.T, mtu int) (a, b *tun.PipeEnd) {
	t.Helper()
	before := goleak.IgnoreCurrent() // goroutines that existed before the pipe
	a, b = tun.Pipe(mtu)
	t.Cleanup(func() {
		assert.NoError(t, a.Close())
		assert.NoError(t, b.Close())
		goleak.VerifyNone(t, before)
	})
	return a, b
}

// readN reads n packets from e.
func readN(t *testing.T, e *tun.PipeEnd, n int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, e.MTU())
	for range n {
		m, err := e.ReadPacket(buf)
		require.NoError(t, err)
		got = append(got, append([]byte(nil), buf[:m]...))
	}
	return got
}

// drain reads every packet from has delivered to to so far.
func drain(t *testing.T, from, to *tun.PipeEnd) [][]byte {
	t.Helper()
	return readN(t, to, int(from.Stats().Delivered))
}

func TestPipeDeliversBothWays(t *testing.T) {
	a, b := newPipe(t, 1500)
	p1, p2 := echoPacket(t, 1, 100), echoPacket(t, 2, 200)

	buf := append([]byte(nil), p1...)
	require.NoError(t, a.WritePacket(buf))
	buf[0] = 0xff // callers reuse buffers: the pipe must have copied
	require.NoError(t, b.WritePacket(p2))

	assert.Equal(t, [][]byte{p1}, readN(t, b, 1), "a's packet arrives at b unchanged")
	assert.Equal(t, [][]byte{p2}, readN(t, a, 1), "b's packet arrives at a unchanged")
	assert.Equal(t, tun.PipeStats{Sent: 1, Delivered: 1}, a.Stats())
	assert.Equal(t, 1500, a.MTU())
}

func TestPipeMTUAndShortBuffer(t *testing.T) {
	a, b := newPipe(t, 100)
	assert.ErrorIs(t, a.WritePacket(make([]byte, 101)), tun.ErrTooBig, "packets above the MTU are a caller bug")
	assert.Equal(t, uint64(0), a.Stats().Sent, "a rejected packet is not sent")

	require.NoError(t, a.WritePacket(bytes.Repeat([]byte{9}, 100)))
	n, err := b.ReadPacket(make([]byte, 10))
	assert.ErrorIs(t, err, io.ErrShortBuffer, "a truncated read is reported, not silent")
	assert.Equal(t, 10, n)
}

func TestPipeOverflowDropsInsteadOfBlocking(t *testing.T) {
	a, b := newPipe(t, 1500)
	p := echoPacket(t, 1, 10)
	for range tun.PipeQueueLen + 10 {
		require.NoError(t, a.WritePacket(p), "a full queue drops, it does not fail the writer")
	}
	st := a.Stats()
	assert.Equal(t, uint64(tun.PipeQueueLen+10), st.Sent)
	assert.Equal(t, uint64(tun.PipeQueueLen), st.Delivered)
	assert.Equal(t, uint64(10), st.Overflow, "packets beyond the queue are counted as overflow")
	assert.Len(t, drain(t, a, b), tun.PipeQueueLen)
}

func TestPipeCloseUnblocksRead(t *testing.T) {
	for _, closeEnd := range []string{"reader", "both"} {
		t.Run(closeEnd, func(t *testing.T) {
			a, b := newPipe(t, 1500)
			done := make(chan error, 1)
			go func() {
				_, err := b.ReadPacket(make([]byte, 1500))
				done <- err
			}()
			waitBlockedIn(t, "(*PipeEnd).ReadPacket")
			if closeEnd == "both" {
				require.NoError(t, a.Close())
			}
			require.NoError(t, b.Close())
			assert.ErrorIs(t, <-done, net.ErrClosed, "Close wakes the pending ReadPacket")
			assert.ErrorIs(t, b.WritePacket([]byte{0x45}), net.ErrClosed, "writes on a closed end fail")
			_, err := b.ReadPacket(make([]byte, 1500))
			assert.ErrorIs(t, err, net.ErrClosed, "reads on a closed end fail")
			assert.NoError(t, b.Close(), "Close is idempotent")
		})
	}
}

func TestPipeWriteToClosedPeerIsDiscarded(t *testing.T) {
	a, b := newPipe(t, 1500)
	require.NoError(t, b.Close())
	assert.NoError(t, a.WritePacket(echoPacket(t, 1, 10)), "a wire to a switched-off host accepts packets")
	assert.Equal(t, uint64(0), a.Stats().Delivered, "but nothing is delivered")
}

func TestPipeFaults(t *testing.T) {
	const n = 200
	tests := []struct {
		name   string
		faults tun.Faults
		check  func(t *testing.T, sent, got [][]byte, st tun.PipeStats)
	}{
		{
			name:   "no faults",
			faults: tun.Faults{},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				assert.Equal(t, sent, got, "a perfect wire delivers everything in order")
			},
		},
		{
			name:   "loss all",
			faults: tun.Faults{Loss: 1},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				assert.Empty(t, got)
				assert.Equal(t, uint64(n), st.Lost)
			},
		},
		{
			name:   "loss some",
			faults: tun.Faults{Seed: 1, Loss: 0.3},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				assert.InDelta(t, 0.3*n, float64(st.Lost), 0.1*n, "about 30%% lost")
				assert.Equal(t, uint64(n), st.Lost+st.Delivered)
				assert.Subset(t, sent, got, "what arrives is unchanged")
			},
		},
		{
			name:   "duplicate all",
			faults: tun.Faults{Duplicate: 1},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				require.Len(t, got, 2*n)
				for i := range sent {
					assert.Equal(t, sent[i], got[2*i])
					assert.Equal(t, sent[i], got[2*i+1], "each packet arrives twice in a row")
				}
				assert.Equal(t, uint64(n), st.Duplicated)
			},
		},
		{
			name:   "reorder all",
			faults: tun.Faults{Reorder: 1},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				require.Len(t, got, n, "nothing stays held when an even number was written")
				for i := 0; i < n; i += 2 {
					assert.Equal(t, sent[i+1], got[i], "the second of each pair overtakes the first")
					assert.Equal(t, sent[i], got[i+1])
				}
				assert.Equal(t, uint64(n/2), st.Reordered)
			},
		},
		{
			name:   "corrupt all",
			faults: tun.Faults{Seed: 3, Corrupt: 1},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				require.Len(t, got, n)
				for i := range sent {
					assert.Equal(t, 1, bitDiff(sent[i], got[i]), "exactly one bit flipped")
				}
				assert.Equal(t, uint64(n), st.Corrupted)
			},
		},
		{
			name: "drop hook",
			faults: tun.Faults{Drop: func(pkt []byte) bool {
				return pkt[27]%2 == 0 // even ICMP sequence numbers (low byte at 20+7)
			}},
			check: func(t *testing.T, sent, got [][]byte, st tun.PipeStats) {
				for _, p := range got {
					assert.Equal(t, byte(1), p[27]%2, "the hook dropped exactly the packets it chose")
				}
				assert.Equal(t, uint64(n), st.Lost+st.Delivered)
				assert.Equal(t, uint64(len(got)), st.Delivered)
				assert.Equal(t, uint64(n/2), st.Lost, "the hook dropped every even sequence number")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newPipe(t, 1500)
			a.SetFaults(tt.faults)
			var sent [][]byte
			for i := range n {
				p := echoPacket(t, uint16(i), 1+i%50)
				sent = append(sent, p)
				require.NoError(t, a.WritePacket(p))
			}
			st := a.Stats()
			assert.Equal(t, uint64(n), st.Sent)
			tt.check(t, sent, drain(t, a, b), st)
		})
	}
}

// bitDiff counts the bits that differ between two equal-length slices.
func bitDiff(x, y []byte) int {
	d := 0
	for i := range x {
		d += bits.OnesCount8(x[i] ^ y[i])
	}
	return d
}

func TestPipeFaultsAreReproducible(t *testing.T) {
	run := func() ([][]byte, tun.PipeStats) {
		a, b := newPipe(t, 1500)
		a.SetFaults(tun.Faults{Seed: 42, Loss: 0.2, Duplicate: 0.2, Reorder: 0.2, Corrupt: 0.2})
		for i := range 300 {
			require.NoError(t, a.WritePacket(echoPacket(t, uint16(i), 20)))
		}
		return drain(t, a, b), a.Stats()
	}
	got1, st1 := run()
	got2, st2 := run()
	assert.Equal(t, st1, st2, "the same seed gives the same fates")
	assert.Equal(t, got1, got2, "and the same packets in the same order")
	for _, c := range []uint64{st1.Lost, st1.Duplicated, st1.Reordered, st1.Corrupted} {
		assert.NotZero(t, c, "every fault fired at 20%% over 300 packets: %+v", st1)
	}
}

func TestPipeDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := tun.Pipe(1500)
		defer b.Close()
		defer a.Close()
		a.SetFaults(tun.Faults{Delay: 50 * time.Millisecond})

		start := time.Now()
		require.NoError(t, a.WritePacket(echoPacket(t, 1, 10)))
		require.NoError(t, a.WritePacket(echoPacket(t, 2, 10)))
		got := readN(t, b, 2)
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "packets arrive after exactly Delay (fake clock)")
		assert.Equal(t, [][]byte{echoPacket(t, 1, 10), echoPacket(t, 2, 10)}, got, "equal delays keep the order")
	})
}

func TestPipeJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := tun.Pipe(1500)
		defer b.Close()
		defer a.Close()
		a.SetFaults(tun.Faults{Seed: 5, Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond})

		start := time.Now()
		for i := range 20 {
			require.NoError(t, a.WritePacket(echoPacket(t, uint16(i), 10)))
		}
		buf := make([]byte, 1500)
		for range 20 {
			_, err := b.ReadPacket(buf)
			require.NoError(t, err)
			d := time.Since(start)
			assert.GreaterOrEqual(t, d, 10*time.Millisecond, "never earlier than Delay")
			assert.Less(t, d, 30*time.Millisecond, "never later than Delay+Jitter")
		}
	})
}

func TestPipeCloseStopsDelayedDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := tun.Pipe(1500)
		a.SetFaults(tun.Faults{Delay: time.Hour})
		b.SetFaults(tun.Faults{Delay: time.Hour})
		require.NoError(t, a.WritePacket(echoPacket(t, 1, 10)))
		require.NoError(t, b.WritePacket(echoPacket(t, 2, 10)))
		// Closing one end stops both directions' delay goroutines; synctest
		// fails the test if any goroutine is left behind.
		require.NoError(t, a.Close())
		synctest.Wait()
		assert.Equal(t, uint64(0), a.Stats().Delivered)
		assert.Equal(t, uint64(0), b.Stats().Delivered)
		require.NoError(t, b.Close())
	})
	goleak.VerifyNone(t)
}

func TestPipeConcurrent(t *testing.T) {
	a, b := newPipe(t, 1500)
	a.SetFaults(tun.Faults{Seed: 9, Duplicate: 0.1, Reorder: 0.1, Delay: time.Microsecond})
	const writers, each = 4, 100
	var writing, reading sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			for i := range each {
				assert.NoError(t, a.WritePacket(echoPacket(t, uint16(w*each+i), 10)))
				_ = a.Stats() // Stats may be called concurrently
			}
		})
	}
	reading.Go(func() {
		buf := make([]byte, 1500)
		for {
			if _, err := b.ReadPacket(buf); err != nil {
				return
			}
		}
	})
	writing.Wait()
	// Close while the delay goroutine may still be delivering: the race
	// detector checks the hand-over, goleak that everything stops.
	require.NoError(t, b.Close())
	reading.Wait()
	assert.Equal(t, uint64(writers*each), a.Stats().Sent)
}
