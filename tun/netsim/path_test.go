package netsim

import (
	"encoding/binary"
	"math/bits"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// These tests check each impairment's meaning on a Path inside a synctest
// bubble, where time is fake: delays are exact and cost no wall time, and
// the statistics come from fixed seeds.

// arrival is a packet read from a path: its number and when it came.
type arrival struct {
	n    uint32
	at   time.Duration // since the first packet was sent
	data []byte
}

// packet is a test packet of size bytes carrying n in its first four.
func packet(n uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, n)
	for i := 4; i < size; i++ {
		b[i] = byte(n) ^ byte(i)
	}
	return b
}

// run sends count packets of size bytes on a fresh path impaired by im,
// one every gap (all at once if 0), and reads everything that comes out.
// Without a Limit the queue holds them all.
func run(t *testing.T, im Impairment, count, size int, gap time.Duration) ([]arrival, Stats) {
	t.Helper()
	if im.Limit == 0 {
		im.Limit = 2*count + 1
	}
	a, b, err := NewPath(65535, im, Impairment{})
	require.NoError(t, err)
	start := time.Now()
	var (
		mu  sync.Mutex
		got []arrival
	)
	done := make(chan struct{})
	go func() { // the receiver: every packet as it falls due
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, err := b.ReadPacket(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, arrival{n: binary.BigEndian.Uint32(buf), at: time.Since(start), data: append([]byte(nil), buf[:n]...)})
			mu.Unlock()
		}
	}()
	for i := range count {
		require.NoError(t, a.WritePacket(packet(uint32(i), size)))
		if gap > 0 {
			time.Sleep(gap) // the sender's pace, on the fake clock
		}
	}
	// Let the fake clock run to each packet still held until none is.
	for synctest.Wait(); heldCount(b.rx) > 0; synctest.Wait() {
		time.Sleep(time.Until(headDue(b.rx)))
	}
	a.Close()
	<-done
	return got, a.Stats()
}

// heldCount is how many packets d holds.
func heldCount(d *direction) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.q.Len()
}

// headDue is when d's first packet is due.
func headDue(d *direction) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	due, _ := d.q.Head()
	return due
}

func TestPath_PerfectByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got, st := run(t, Impairment{}, 100, 100, 0)
		require.Len(t, got, 100)
		for i, g := range got {
			assert.Equal(t, uint32(i), g.n, "in order")
			assert.Zero(t, g.at, "at once")
			assert.Equal(t, packet(uint32(i), 100), g.data, "unchanged")
		}
		assert.Equal(t, Stats{Sent: 100, Delivered: 100}, st)
	})
}

func TestPath_DelayIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got, _ := run(t, Impairment{Delay: 25 * time.Millisecond}, 50, 100, time.Millisecond)
		require.Len(t, got, 50)
		for i, g := range got {
			assert.Equal(t, uint32(i), g.n, "a fixed delay keeps the order")
			assert.Equal(t, 25*time.Millisecond+time.Duration(i)*time.Millisecond, g.at, "each packet takes 25 ms")
		}
	})
}

func TestPath_JitterIsUniformAroundDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5000
		got, _ := run(t, Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 1}, n, 100, time.Millisecond)
		require.Equal(t, n, len(got))
		var sum time.Duration
		inversions := 0
		for i, g := range got {
			lat := g.at - time.Duration(g.n)*time.Millisecond
			require.GreaterOrEqual(t, lat, 15*time.Millisecond, "netem: delay-jitter at least")
			require.Less(t, lat, 25*time.Millisecond, "and below delay+jitter")
			sum += lat
			if i > 0 && g.n < got[i-1].n {
				inversions++
			}
		}
		assert.InDelta(t, float64(20*time.Millisecond), float64(sum/n), float64(200*time.Microsecond), "mean latency is the delay")
		assert.Positive(t, inversions, "jitter larger than the gap between packets reorders them, as in netem")
	})
}

func TestPath_RandomLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20000
		got, st := run(t, Impairment{Loss: 0.05, Seed: 2}, n, 64, 0)
		assert.InDelta(t, 0.05, float64(n-len(got))/n, 0.006, "5%% ± 4σ lost")
		assert.Equal(t, uint64(n-len(got)), st.Lost)
		assert.Equal(t, uint64(len(got)), st.Delivered)
		assert.Zero(t, st.BurstLost)
	})
}

// lossRuns returns the loss rate and P(lost | the previous one lost).
func lossRuns(got []arrival, n int) (rate, afterLoss float64) {
	lost := make([]bool, n)
	for i := range lost {
		lost[i] = true
	}
	for _, g := range got {
		lost[g.n] = false
	}
	var losses, pairs int
	for i, l := range lost {
		if l {
			losses++
			if i+1 < n && lost[i+1] {
				pairs++
			}
		}
	}
	return float64(losses) / float64(n), float64(pairs) / float64(losses)
}

func TestPath_GilbertElliottIsBursty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 100000
		g := GilbertElliott{P: 0.01, R: 0.1, LossBad: 0.7, LossGood: 0.001}
		got, st := run(t, Impairment{GE: g, Seed: 3}, n, 64, 0)
		rate, after := lossRuns(got, n)
		// Stationary: P(bad) = p/(p+r); loss = P(good)(1-k) + P(bad)(1-h).
		bad := g.P / (g.P + g.R)
		want := (1-bad)*g.LossGood + bad*g.LossBad
		assert.InDelta(t, want, rate, 0.01, "the model's stationary loss rate")
		assert.Equal(t, uint64(n-len(got)), st.BurstLost)
		assert.Zero(t, st.Lost)
		// After a loss the chain is most likely still bad: P ≈ (1-r)(1-h).
		assert.Greater(t, after, 0.5, "losses come in bursts")

		got, _ = run(t, Impairment{Loss: want, Seed: 3}, n, 64, 0)
		randRate, randAfter := lossRuns(got, n)
		assert.InDelta(t, want, randRate, 0.01)
		assert.Less(t, randAfter, 0.1, "independent loss at the same rate is not bursty")
	})
}

func TestPath_ReorderSkipsTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4000
		got, st := run(t, Impairment{Delay: 10 * time.Millisecond, Reorder: 0.25, Seed: 4}, n, 100, time.Millisecond)
		require.Equal(t, n, len(got))
		var early, overtakes int
		for i, g := range got {
			lat := g.at - time.Duration(g.n)*time.Millisecond
			if lat == 0 {
				early++
			} else {
				require.Equal(t, 10*time.Millisecond, lat, "the others take the delay")
			}
			if i > 0 && g.n < got[i-1].n {
				overtakes++
			}
		}
		assert.Equal(t, int(st.Reordered), early, "a reordered packet goes out at once")
		assert.InDelta(t, 0.25, float64(early)/n, 0.03, "25%% of the packets")
		assert.Positive(t, overtakes, "and overtakes the delayed ones")
	})
}

func TestPath_ReorderGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got, st := run(t, Impairment{Delay: 10 * time.Millisecond, Reorder: 1, Gap: 4}, 40, 100, time.Millisecond)
		require.Len(t, got, 40)
		for _, g := range got {
			lat := g.at - time.Duration(g.n)*time.Millisecond
			assert.Equal(t, g.n%4 == 3, lat == 0, "packet %d: with gap 4 every fourth goes out at once", g.n)
		}
		assert.Equal(t, uint64(10), st.Reordered)
	})
}

func TestPath_Duplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20000
		got, st := run(t, Impairment{Duplicate: 0.1, Seed: 5}, n, 64, 0)
		assert.InDelta(t, 0.1, float64(len(got)-n)/n, 0.01, "10%% come twice")
		assert.Equal(t, uint64(len(got)-n), st.Duplicated)
		seen := map[uint32]int{}
		for _, g := range got {
			seen[g.n]++
			assert.Equal(t, packet(g.n, 64), g.data, "a copy is identical")
		}
		assert.Equal(t, n, len(seen), "nothing lost")
	})
}

func TestPath_CorruptFlipsOneBit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20000
		got, st := run(t, Impairment{Corrupt: 0.1, Seed: 6}, n, 64, 0)
		require.Equal(t, n, len(got))
		corrupted := 0
		for i, g := range got {
			flipped := 0
			for j, c := range packet(uint32(i), 64) {
				flipped += bits.OnesCount8(c ^ g.data[j])
			}
			require.LessOrEqual(t, flipped, 1, "at most one bit per packet")
			corrupted += flipped
		}
		assert.Equal(t, int(st.Corrupted), corrupted)
		assert.InDelta(t, 0.1, float64(corrupted)/n, 0.01)
	})
}

func TestPath_RateSerializes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 1250 bytes at 1 Mbit/s take 10 ms each; 5 ms of propagation on top.
		got, st := run(t, Impairment{Rate: 1e6, Delay: 5 * time.Millisecond}, 20, 1250, 0)
		require.Len(t, got, 20)
		for i, g := range got {
			assert.Equal(t, uint32(i), g.n)
			assert.Equal(t, 5*time.Millisecond+time.Duration(i+1)*10*time.Millisecond, g.at,
				"packet %d leaves after the %d before it and its own serialization", i, i)
		}
		assert.Zero(t, st.QueueDrops)
	})
}

func TestPath_RateSustained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Offered 2 Mbit/s into 1 Mbit/s: the queue fills to the limit and
		// the bottleneck delivers its rate, dropping the excess at the tail.
		const n = 2000 // 1000-byte packets every 4 ms for 8 s
		got, st := run(t, Impairment{Rate: 1e6, Limit: 50}, n, 1000, 4*time.Millisecond)
		last := got[len(got)-1].at
		delivered := float64(len(got)) * 1000 * 8 / last.Seconds()
		assert.InDelta(t, 1e6, delivered, 0.02e6, "the bottleneck's rate")
		assert.InDelta(t, n/2, int(st.QueueDrops), 60, "about half the offered packets are dropped")
		assert.Equal(t, uint64(n), st.Delivered+st.QueueDrops)
	})
}

func TestPath_DropTail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got, st := run(t, Impairment{Rate: 1e6, Limit: 10}, 50, 1250, 0)
		require.Len(t, got, 10, "the queue holds 10 packets")
		for i, g := range got {
			assert.Equal(t, uint32(i), g.n, "drop-tail keeps the first ones and drops the arrivals")
		}
		assert.Equal(t, uint64(40), st.QueueDrops)
	})
}

// fates is what a seeded path does to a fixed sequence of packets.
func fates(t *testing.T, seed uint64) []arrival {
	im := Impairment{Delay: 10 * time.Millisecond, Jitter: 3 * time.Millisecond, Loss: 0.05, Duplicate: 0.05,
		Corrupt: 0.05, Reorder: 0.1, Seed: seed}
	var got []arrival
	synctest.Test(t, func(t *testing.T) { got, _ = run(t, im, 2000, 200, time.Millisecond) })
	return got
}

func TestPath_ReproducibleFromSeed(t *testing.T) {
	a, b, c := fates(t, 7), fates(t, 7), fates(t, 8)
	assert.Equal(t, a, b, "the same seed gives the same fates")
	assert.NotEqual(t, a, c, "another seed gives others")
}

func TestPath_SetImpairmentReseeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, err := NewPath(1500, Impairment{}, Impairment{})
		require.NoError(t, err)
		defer a.Close()
		require.NoError(t, a.SetImpairment(Impairment{Loss: 1}))
		require.NoError(t, a.WritePacket(packet(1, 100)))
		assert.Equal(t, Stats{Sent: 1, Lost: 1}, a.Stats())
		assert.Equal(t, Stats{}, b.Stats())
		assert.ErrorIs(t, a.SetImpairment(Impairment{Loss: 2}), ErrInvalid)
	})
}

func TestPath_Close(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, err := NewPath(1500, Impairment{Delay: time.Second}, Impairment{})
		require.NoError(t, err)
		assert.Equal(t, 1500, a.MTU())
		assert.ErrorIs(t, a.WritePacket(make([]byte, 1501)), tun.ErrTooBig)
		require.NoError(t, a.WritePacket(packet(1, 100)))
		done := make(chan error)
		go func() {
			_, err := b.ReadPacket(make([]byte, 1500))
			done <- err
		}()
		synctest.Wait() // b's read waits for the delayed packet
		require.NoError(t, b.Close())
		assert.ErrorIs(t, <-done, net.ErrClosed, "Close unblocks a pending read")
		_, err = a.ReadPacket(make([]byte, 1500))
		assert.ErrorIs(t, err, net.ErrClosed, "and closes the other end too")
		assert.ErrorIs(t, a.WritePacket(packet(2, 100)), net.ErrClosed)
		assert.NoError(t, b.Close(), "twice is fine")
	})
}

func TestPath_ShortBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, err := NewPath(1500, Impairment{}, Impairment{})
		require.NoError(t, err)
		defer a.Close()
		require.NoError(t, a.WritePacket(packet(1, 100)))
		n, err := b.ReadPacket(make([]byte, 10))
		assert.Equal(t, 10, n)
		assert.ErrorContains(t, err, "short buffer")
	})
}

func TestNewPath_Invalid(t *testing.T) {
	_, _, err := NewPath(1500, Impairment{Loss: -1}, Impairment{})
	assert.ErrorIs(t, err, ErrInvalid)
	_, _, err = NewPath(1500, Impairment{}, Impairment{Loss: 0.1, GE: GilbertElliott{P: 0.1}})
	assert.ErrorIs(t, err, ErrInvalid)
	_, _, err = NewPath(10, Impairment{}, Impairment{})
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestPath_SetDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, err := NewPath(1500, Impairment{}, Impairment{})
		require.NoError(t, err)
		defer a.Close()
		a.SetDrop(func(p []byte) bool { return binary.BigEndian.Uint32(p)%2 == 1 })
		for i := range 4 {
			require.NoError(t, a.WritePacket(packet(uint32(i), 100)))
		}
		a.SetDrop(nil)
		require.NoError(t, a.WritePacket(packet(5, 100)))
		buf := make([]byte, 1500)
		for _, want := range []uint32{0, 2, 5} {
			_, err := b.ReadPacket(buf)
			require.NoError(t, err)
			assert.Equal(t, want, binary.BigEndian.Uint32(buf), "the odd ones were dropped while the hook was set")
		}
		assert.Equal(t, Stats{Sent: 5, Delivered: 3, Lost: 2}, a.Stats())
	})
}
