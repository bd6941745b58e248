package tcp

import (
	"encoding/binary"
	"io"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun/netsim"
)

// These tests check behaviour, not only integrity: what loss recovery and
// congestion control do on a simulated path, measured on the fake clock.

// simRTT is the round trip of the behaviour tests' path.
const simRTT = 20 * time.Millisecond

// defaultConfig is a Config as a user of the stack has it: default timers
// (RTO at least 1 s), buffers, CUBIC, SACK and timestamps.
func defaultConfig(a netip.Addr) Config { return Config{Addr: a, MSL: time.Second} }

// dropData returns a SetDrop hook that loses the first transmission of the
// data segments numbered in nth (1 for the first data segment sent), and
// lets every retransmission through.
func dropData(nth ...int) func([]byte) bool {
	var mu sync.Mutex
	count := 0
	seen := map[uint32]bool{}
	return func(pkt []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		hl := int(pkt[0]&0x0f) * 4
		if len(pkt) < hl+HeaderLen || pkt[9] != ip.ProtoTCP {
			return false
		}
		tcp := pkt[hl:]
		if len(tcp) <= int(tcp[12]>>4)*4 {
			return false // no payload
		}
		seq := binary.BigEndian.Uint32(tcp[4:])
		if seen[seq] {
			return false // a retransmission
		}
		seen[seq] = true
		count++
		for _, n := range nth {
			if n == count {
				return true
			}
		}
		return false
	}
}

// sendAndTime writes n octets on a, reads them on b, and returns how long
// the last one took to arrive.
func sendAndTime(t *testing.T, a, b *Conn, n int) time.Duration {
	t.Helper()
	start := time.Now()
	go func() {
		_, err := a.Write(make([]byte, n))
		assert.NoError(t, err)
	}()
	_, err := io.ReadFull(b, make([]byte, n))
	require.NoError(t, err)
	return time.Since(start)
}

// RFC 6675 with RFC 2018: two holes in one window are repaired within one
// round trip, with exactly two retransmissions.
func TestSim_TwoHolesOneRoundTrip_RFC6675(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ea, _, _, _, ca, cb := simConnect(t, netsim.Impairment{Delay: simRTT / 2}, 1, defaultConfig)
		mss := ca.Info().Options.MSS
		ea.SetDrop(dropData(3, 7))
		took := sendAndTime(t, ca, cb, 10*mss) // one initial window
		in := ca.Info()
		assert.Equal(t, uint64(2), in.Retransmits, "only the two holes are sent again")
		assert.Equal(t, uint64(1), in.FastRecoveries)
		assert.Zero(t, in.Timeouts)
		assert.Zero(t, in.TLPProbes)
		assert.LessOrEqual(t, took, 2*simRTT+simRTT/4,
			"the first round trip delivers the window but the holes, the second repairs them")
	})
}

// RFC 8985 §7: a lost last segment is repaired by the tail-loss probe well
// before the RTO of at least 1 s. With one segment left in flight the
// probe waits 2·SRTT plus WCDelAckT (200 ms), in case the peer delays its
// ACK; with several, 2·SRTT only, and the probe's SACK lets RACK find the
// others: the tail is repaired in a few round trips.
func TestSim_TailLossProbe_RFC8985(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lost   []int
		within time.Duration
	}{
		{"last segment", []int{10}, 2*simRTT + 2*simRTT + tlpWorstDelayedACK + simRTT},
		{"last three", []int{8, 9, 10}, 6 * simRTT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ea, _, _, _, ca, cb := simConnect(t, netsim.Impairment{Delay: simRTT / 2}, 1, defaultConfig)
				mss := ca.Info().Options.MSS
				ea.SetDrop(dropData(tc.lost...))
				took := sendAndTime(t, ca, cb, 10*mss)
				in := ca.Info()
				assert.Equal(t, uint64(1), in.TLPProbes, "one probe")
				assert.Equal(t, uint64(len(tc.lost)), in.Retransmits, "the lost segments, each once")
				assert.Zero(t, in.Timeouts, "no RTO")
				assert.LessOrEqual(t, took, tc.within, "repaired by the probe, not after the RTO (%v)", in.RTO)
				assert.GreaterOrEqual(t, in.RTO, time.Second)
			})
		})
	}
}

// A clean path: no loss, no reordering, so nothing may be sent twice, in
// either direction, over a bulk transfer with round trips of 20 ms.
func TestSim_CleanPathNoSpuriousRetransmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ea, eb, _, _, ca, cb := simConnect(t, netsim.Impairment{Delay: simRTT / 2}, 1, defaultConfig)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); transfer(t, ca, cb, 4<<20, 1) }()
		go func() { defer wg.Done(); transfer(t, cb, ca, 4<<20, 2) }()
		wg.Wait()
		for _, c := range []*Conn{ca, cb} {
			in := c.Info()
			assert.Zero(t, in.Retransmits, "%v: nothing sent twice", c.LocalAddr())
			assert.Zero(t, in.FastRecoveries)
			assert.Zero(t, in.Timeouts)
			assert.Zero(t, in.DSACKs)
		}
		assert.Zero(t, ea.Stats().Lost+eb.Stats().Lost)
	})
}

// RFC 9438 §4.2–4.3: after a loss, CUBIC's window follows W_cubic(t) =
// C·(t−K)³ + W_max, K = ∛(W_max·(1−β)/C), from ssthresh = β·W_max back to
// W_max and beyond it (concave, then convex), or the Reno-friendly estimate
// W_est where that is larger. Sampled over nine seconds at a 100 ms round
// trip, within 8%.
func TestSim_CubicCurveAfterLoss_RFC9438(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rtt = 100 * time.Millisecond
		ea, _, _, _, ca, cb := simConnect(t, netsim.Impairment{Delay: rtt / 2}, 1, defaultConfig)
		mss := float64(ca.Info().Options.MSS)
		go func() {
			_, _ = io.Copy(io.Discard, cb)
		}()
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := ca.Write(buf); err != nil {
					return
				}
			}
		}()
		// Slow start from 10 segments doubles each round trip; lose the
		// 400th data segment, sent while cwnd is about a hundred segments.
		ea.SetDrop(dropData(400))
		var wMax float64
		var lossAt time.Time
		for lossAt.IsZero() {
			time.Sleep(time.Millisecond)
			ca.s.runOnLoop(func(time.Time) {
				if ca.tcb.rec.inRecovery {
					wMax = ca.tcb.cc.(*cubic).wMax // the window when the loss was found, in segments
					lossAt = time.Now()
				}
			})
		}
		require.Greater(t, wMax, 60.0, "the loss came late in slow start")
		// The epoch starts when recovery ends, from cwnd_epoch = ssthresh,
		// β times the flight when the loss was found (RFC 9438 §4.6).
		var epochAt time.Time
		for epochAt.IsZero() {
			time.Sleep(time.Millisecond)
			if in := ca.Info(); in.Phase != PhaseRecovery {
				epochAt = time.Now()
			}
		}
		const c, beta = 0.4, 0.7
		cwndEpoch := float64(ca.Info().SSThresh) / mss
		k := math.Cbrt((wMax - cwndEpoch) / c) // §4.2, equation 2
		t.Logf("W_max %.1f segments, cwnd_epoch %.1f, K %.2f s, recovery %v", wMax, cwndEpoch, k, epochAt.Sub(lossAt))
		for _, at := range []float64{0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9} {
			time.Sleep(time.Until(lossAt.Add(time.Duration(at * float64(time.Second)))))
			got := float64(ca.Info().Cwnd) / mss
			e := time.Since(epochAt).Seconds()
			wCubic := c*math.Pow(e-k, 3) + wMax
			// §4.2: cwnd grows toward target = W_cubic(t+RTT), so it lies
			// between the curve now and one round trip ahead.
			wAhead := c*math.Pow(e+rtt.Seconds()-k, 3) + wMax
			// §4.3: the Reno-friendly estimate grows by α_cubic segments
			// per round trip, by one once it passes W_max; cwnd is the
			// larger of the two.
			alpha := 3 * (1 - beta) / (1 + beta)
			wEst := cwndEpoch + alpha*e/rtt.Seconds()
			if wEst > wMax {
				wEst = wMax + (wEst-wMax)/alpha
			}
			lo, hi := max(wCubic, wEst), max(wAhead, wEst)
			assert.True(t, got >= lo*0.92 && got <= hi*1.08,
				"cwnd %.1f s after the loss: %.1f segments; want %.1f to %.1f (W_cubic now and an RTT ahead, W_est %.1f)", at, got, lo, hi, wEst)
		}
		in := ca.Info()
		assert.Equal(t, uint64(1), in.FastRecoveries, "one loss, one recovery")
		assert.Zero(t, in.Timeouts)
		ca.Abort()
		cb.Abort()
	})
}

// Receive-buffer autotuning (Linux's dynamic right-sizing): on a path whose
// bandwidth-delay product is larger than the initial buffer, the buffer
// grows while the application keeps reading, and the window scale was
// chosen for the largest it may grow to; a reader that stops makes it
// grow no further.
func TestSim_ReceiveBufferAutotuning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rtt = 100 * time.Millisecond
		_, _, _, _, ca, cb := simConnect(t, netsim.Impairment{Delay: rtt / 2, Rate: 200e6}, 1, defaultConfig)
		initial := cb.Info().RecvBuffer
		assert.Equal(t, 256<<10, initial, "RecvBuffer's default")
		assert.Equal(t, uint8(7), cb.Info().Options.RecvWindowScale, "a scale for 6 MiB, not for 256 KiB")
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := ca.Write(buf); err != nil {
					return
				}
			}
		}()
		var read atomic.Int64
		stop := make(chan struct{})
		go func() {
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := cb.Read(buf)
				read.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		time.Sleep(3 * time.Second)
		grown := cb.Info()
		assert.Greater(t, grown.RecvBuffer, 4*initial, "the buffer grew toward the path's bandwidth-delay product")
		assert.LessOrEqual(t, grown.RecvBuffer, 6<<20, "up to RecvBufferMax")
		// 200 Mbit/s over 100 ms is 2.5 MB in flight: a 256 KiB window
		// would allow 2.6 MB/s; the grown one lets the path fill.
		before := read.Load()
		time.Sleep(time.Second)
		assert.Greater(t, read.Load()-before, int64(10<<20), "more than 10 MiB/s once the buffer has grown")
		close(stop)
		time.Sleep(2 * time.Second) // the reader is gone: the buffer fills
		size := cb.Info().RecvBuffer
		time.Sleep(2 * time.Second)
		assert.Equal(t, size, cb.Info().RecvBuffer, "nothing read, no growth")
		ca.Abort()
		cb.Abort()
	})
}
