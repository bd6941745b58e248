package tcp

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ccMSS = 1000

// ccDriver plays a bulk sender that always fills cwnd, against a path of a
// fixed RTT: one ACK per segment, a cwnd of ACKs per round trip, on a fake
// clock.
type ccDriver struct {
	c        *cubic
	now      time.Time
	una, nxt Seq
	srtt     time.Duration
	limited  bool // the cwndLimited of the samples
}

func newCCDriver(c *cubic, srtt time.Duration) *ccDriver {
	return &ccDriver{c: c, now: testEpoch, una: 1, nxt: Seq(1).Add(c.cw), srtt: srtt, limited: true}
}

// ack delivers the next segment, rtt its RTT sample; the ACKs of a round
// are spread evenly over the round trip.
func (d *ccDriver) ack(rtt time.Duration) {
	d.now = d.now.Add(time.Duration(int64(d.srtt) * ccMSS / int64(d.c.cw)))
	d.una = d.una.Add(ccMSS)
	s := ackSample{now: d.now, delivered: ccMSS, flight: uint32(d.nxt.Sub(d.una)) + ccMSS, rtt: rtt,
		srtt: d.srtt, minRTT: d.srtt, ack: d.una, sndNxt: d.nxt, cwndLimited: d.limited}
	d.c.onAck(&s)
	if end := d.una.Add(d.c.cw); end.GreaterThan(d.nxt) {
		d.nxt = end // the sender fills the window
	}
}

// round acknowledges what was outstanding when it began: one round trip.
func (d *ccDriver) round(rtt time.Duration) {
	for end := d.nxt; d.una.LessThan(end); {
		d.ack(rtt)
	}
}

// runUntil acknowledges segments until the clock reaches at.
func (d *ccDriver) runUntil(at time.Time) {
	for d.now.Before(at) {
		d.ack(d.srtt)
	}
}

// cubicAfterLoss is a CUBIC sender past slow start whose cwnd was wMax
// segments when a loss reduced it, after PRR and the end of recovery.
func cubicAfterLoss(wMax uint32) *cubic {
	c := newCubic(ccMSS, 10*ccMSS)
	c.hy.stop()
	c.cw = wMax * ccMSS
	c.onCongestion(testEpoch, c.cw)
	c.setCwnd(c.ssthr) // what PRR reaches
	c.onRecoveryEnd(testEpoch)
	return c
}

// wCubicRFC is RFC 9438 equation 1 with the K of equation 2, in segments.
func wCubicRFC(t, wMax, cwndEpoch float64) float64 {
	k := math.Cbrt((wMax - cwndEpoch) / 0.4)
	return 0.4*math.Pow(t-k, 3) + wMax
}

func TestCubic_K_RFC9438_4_2(t *testing.T) {
	for _, tc := range []struct {
		name          string
		wMax, flight  uint32 // segments
		wantK         float64
		wantEpochCwnd float64
	}{
		// cwnd_epoch = beta*W_max: K = cubic_root(W_max*(1-beta)/C).
		{"cwnd_epoch is beta*W_max", 100, 100, math.Cbrt(100 * 0.3 / 0.4), 70},
		{"large window", 10000, 10000, math.Cbrt(10000 * 0.3 / 0.4), 7000},
		// A smaller flight gives a cwnd_epoch below beta*W_max:
		// K = cubic_root((W_max - cwnd_epoch)/C).
		{"cwnd_epoch below beta*W_max", 100, 50, math.Cbrt((100 - 35) / 0.4), 35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCubic(ccMSS, 10*ccMSS)
			c.hy.stop()
			c.cw = tc.wMax * ccMSS
			c.onCongestion(testEpoch, tc.flight*ccMSS)
			c.onRecoveryEnd(testEpoch)
			c.onAck(&ackSample{now: testEpoch, delivered: ccMSS, srtt: 100 * time.Millisecond, cwndLimited: true})
			assert.InDelta(t, tc.wantEpochCwnd, c.segs(c.cw), 0.1, "cwnd_epoch = ssthresh = beta*flight")
			assert.InDelta(t, tc.wantK, c.k, 1e-9)
			assert.InDelta(t, tc.wantEpochCwnd, c.wCubic(0), 1e-6, "W_cubic(0) = cwnd_epoch")
			assert.InDelta(t, float64(tc.wMax), c.wCubic(c.k), 1e-6, "W_cubic(K) = W_max")
		})
	}
}

func TestCubic_WindowFollowsCurve_RFC9438_4_2(t *testing.T) {
	const wMax = 1000
	rtt := 100 * time.Millisecond
	c := cubicAfterLoss(wMax)
	d := newCCDriver(c, rtt)
	d.ack(rtt) // starts the epoch
	epoch := c.tEpoch
	cwndEpoch := 0.7 * wMax
	k := math.Cbrt((wMax - cwndEpoch) / 0.4) // 9.09 s
	for _, at := range []float64{1, 3, 6, 8, 10, 12, 14} {
		d.runUntil(epoch.Add(time.Duration(at * float64(time.Second))))
		got := c.segs(c.cw)
		// cwnd moves toward target = W_cubic(t+RTT) over each RTT, so it
		// lies between W_cubic(t) and W_cubic(t+RTT).
		lo := wCubicRFC(at, wMax, cwndEpoch)
		hi := wCubicRFC(at+rtt.Seconds(), wMax, cwndEpoch)
		t.Logf("t=%4.1fs cwnd %7.2f  W_cubic(t) %7.2f  W_cubic(t+RTT) %7.2f", at, got, lo, hi)
		assert.GreaterOrEqual(t, got, lo-0.5, "t=%vs: cwnd %.1f below W_cubic(t)=%.1f", at, got, lo)
		assert.LessOrEqual(t, got, hi+0.5, "t=%vs: cwnd %.1f above W_cubic(t+RTT)=%.1f", at, got, hi)
		if at < k {
			assert.Less(t, got, float64(wMax), "t=%vs: the concave region is below W_max", at)
		} else {
			assert.Greater(t, got, float64(wMax), "t=%vs: the convex region is above W_max", at)
		}
	}
}

func TestCubic_TargetAtMostOneAndAHalfCwnd_RFC9438_4_2(t *testing.T) {
	// Long after K, W_cubic(t+RTT) is far above cwnd: one RTT grows cwnd
	// by at most half (the target's upper bound, 1.5*cwnd).
	c := cubicAfterLoss(100)
	d := newCCDriver(c, 100*time.Millisecond)
	d.ack(d.srtt)
	c.tEpoch = c.tEpoch.Add(-time.Hour)
	before := c.cw
	d.round(d.srtt)
	assert.LessOrEqual(t, c.cw, before*3/2+ccMSS)
	assert.Greater(t, c.cw, before*5/4, "but grows fast")
}

func TestCubic_RenoFriendlyRegion_RFC9438_4_3(t *testing.T) {
	// On a 1 ms RTT the cubic function barely moves in 200 rounds, while
	// W_est grows by alpha_cubic = 3*(1-0.7)/(1+0.7) per round up to
	// cwnd_prior (100), then by 1 per round.
	const wMax = 100
	c := cubicAfterLoss(wMax)
	d := newCCDriver(c, time.Millisecond)
	d.round(d.srtt)
	alpha := 3 * (1 - 0.7) / (1 + 0.7)
	for range 199 {
		d.round(d.srtt)
	}
	roundsToPrior := (wMax - 0.7*wMax) / alpha
	want := wMax + (200 - roundsToPrior)
	t.Logf("cwnd %.1f segments, W_est %.1f, Reno estimate %.1f, W_cubic(t) %.1f",
		c.segs(c.cw), c.wEst, want, c.wCubic(d.now.Sub(c.tEpoch).Seconds()))
	assert.InEpsilon(t, want, c.segs(c.cw), 0.03, "cwnd follows W_est")
	assert.Less(t, c.wCubic(d.now.Sub(c.tEpoch).Seconds()), 80.0, "W_cubic is far below")
}

func TestCubic_RenoFriendlyAlpha_RFC9438_4_3(t *testing.T) {
	c := cubicAfterLoss(100)
	d := newCCDriver(c, time.Millisecond)
	d.ack(d.srtt)
	w := c.wEst
	d.ack(d.srtt)
	assert.InDelta(t, 3*(1-0.7)/(1+0.7)/70, c.wEst-w, 1e-3, "alpha_cubic/cwnd per segment below cwnd_prior")
	c.wEst = 100 // = cwnd_prior
	cwnd := c.segs(c.cw)
	d.ack(d.srtt)
	assert.InDelta(t, 1/cwnd, c.wEst-100, 1e-9, "alpha = 1 once W_est >= cwnd_prior")
}

func TestCubic_MultiplicativeDecrease_RFC9438_4_6(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		cwnd, flight          uint32
		wantSSThresh, wantMax uint32
	}{
		{"ssthresh = flight_size*beta", 100 * ccMSS, 100 * ccMSS, 70 * ccMSS, 100},
		{"a smaller flight gives a smaller ssthresh", 100 * ccMSS, 60 * ccMSS, 42 * ccMSS, 100},
		{"at least 2 MSS", 2 * ccMSS, ccMSS, 2 * ccMSS, 2},
		{"no overflow", cubicMaxCwnd, math.MaxUint32, cubicMaxCwnd, cubicMaxCwnd / ccMSS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCubic(ccMSS, 10*ccMSS)
			c.cw = tc.cwnd
			c.onCongestion(testEpoch, tc.flight)
			assert.InDelta(t, tc.wantSSThresh, c.ssthresh(), 1)
			assert.Equal(t, tc.cwnd, c.cwnd(), "cwnd is PRR's to lower")
			assert.InDelta(t, float64(tc.wantMax), c.wMax, 1, "W_max = cwnd before the reduction")
			assert.InDelta(t, float64(tc.wantMax), c.cwndPrior, 1, "cwnd_prior = cwnd")
			assert.False(t, c.hy.active(), "the loss ends HyStart++")
			c.onRecoveryEnd(testEpoch)
			assert.Equal(t, c.ssthresh(), c.cwnd(), "RFC 6937: cwnd = ssthresh when recovery ends")
		})
	}
}

func TestCubic_FastConvergence_RFC9438_4_7(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enabled bool
		want    float64
	}{
		{"enabled: W_max = cwnd*(1+beta)/2 below the last W_max", true, 90 * 1.7 / 2},
		{"disabled: W_max = cwnd", false, 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cubicAfterLoss(100)
			c.fastConvergence = tc.enabled
			c.cw = 90 * ccMSS
			c.onCongestion(testEpoch, c.cw)
			assert.InDelta(t, tc.want, c.wMax, 1e-9)
			assert.InDelta(t, 90, c.cwndPrior, 1e-9)
		})
	}
	c := cubicAfterLoss(100)
	c.cw = 120 * ccMSS
	c.onCongestion(testEpoch, c.cw)
	assert.InDelta(t, 120, c.wMax, 1e-9, "above the last W_max: W_max = cwnd")
}

func TestCubic_RTO_RFC9438_4_8(t *testing.T) {
	c := cubicAfterLoss(100)
	d := newCCDriver(c, 100*time.Millisecond)
	d.round(d.srtt)
	c.cw = 100 * ccMSS
	c.onRTO(d.now, 80*ccMSS)
	assert.Equal(t, uint32(56*ccMSS), c.ssthresh(), "ssthresh = flight_size*beta_cubic, as §4.6")
	assert.Equal(t, uint32(ccMSS), c.cwnd(), "cwnd = 1 SMSS, as Reno")
	assert.True(t, c.slowStart())
	assert.False(t, c.hy.active(), "slow start after an RTO is RFC 5681's")
	d.ack(d.srtt)
	assert.Equal(t, uint32(2*ccMSS), c.cwnd(), "slow start: one SMSS per ACK")
	for c.slowStart() {
		d.ack(d.srtt)
	}
	d.ack(d.srtt) // starts the first epoch after the RTO
	cwndEpoch := c.segs(c.cw)
	assert.Zero(t, c.k, "K = 0")
	assert.InDelta(t, cwndEpoch, c.wMax, 1.5, "W_max = cwnd at the start of congestion avoidance")
	assert.InDelta(t, cwndEpoch, c.wEst, 1.5, "W_est = cwnd at the start of congestion avoidance")
	d.runUntil(c.tEpoch.Add(2 * time.Second))
	assert.Less(t, c.segs(c.cw), cwndEpoch+15, "slow growth after the timeout: K = 0, no concave climb")
}

func TestCubic_HyStartExit_KZero_RFC9438_4_10(t *testing.T) {
	c := newCubic(ccMSS, 10*ccMSS)
	d := newCCDriver(c, 100*time.Millisecond)
	d.round(100 * time.Millisecond)
	d.round(100 * time.Millisecond)
	for i := 0; i < 100 && !c.hy.inCSS(); i++ {
		d.ack(130 * time.Millisecond) // the delay rises: CSS
	}
	require.True(t, c.hy.inCSS())
	for c.slowStart() {
		d.ack(130 * time.Millisecond)
	}
	assert.Equal(t, c.cwnd(), c.ssthresh(), "RFC 9406 §4.2: ssthresh = cwnd after CSS")
	assert.InDelta(t, c.segs(c.cw), c.cwndPrior, 1e-9, "cwnd_prior = cwnd")
	d.ack(130 * time.Millisecond)
	assert.Zero(t, c.k, "K = 0")
	assert.InDelta(t, c.segs(c.ssthr), c.wMax, 1.5, "W_max = cwnd at the start of congestion avoidance")
}

func TestCubic_IdleRestartsEpoch_RFC9438_4_2(t *testing.T) {
	c := cubicAfterLoss(100)
	d := newCCDriver(c, 100*time.Millisecond)
	d.runUntil(testEpoch.Add(3 * time.Second))
	before := c.cw
	// An hour idle, and a restart window above cwnd: cwnd stays, and the
	// new epoch continues from it instead of from W_cubic(3600 s).
	d.now = d.now.Add(time.Hour)
	c.onIdle(d.now, 200*ccMSS)
	assert.Equal(t, before, c.cwnd())
	d.round(d.srtt)
	assert.Less(t, c.cw, before+before/20, "no jump: less than 5%% in the first RTT after the idle period")
	assert.InDelta(t, c.segs(before), c.wCubic(0), 1.5, "the new epoch starts at the cwnd")

	c.onIdle(d.now, 10*ccMSS)
	assert.Equal(t, uint32(10*ccMSS), c.cwnd(), "RFC 5681 §4.1: cwnd = min(RW, cwnd)")
	assert.True(t, c.slowStart(), "back below ssthresh")
}

func TestCubic_AppLimitedTimeExcluded_RFC9438_4_2(t *testing.T) {
	c := cubicAfterLoss(100)
	d := newCCDriver(c, 100*time.Millisecond)
	d.runUntil(testEpoch.Add(2 * time.Second))
	t2 := c.tEpoch
	d.limited = false
	d.runUntil(d.now.Add(20 * time.Second))
	d.limited = true
	d.ack(d.srtt)
	assert.InDelta(t, 20, c.tEpoch.Sub(t2).Seconds(), 0.2, "the application-limited 20 s are not in t")
}

func TestCubic_NoGrowthWhenNotCwndLimited_RFC7661(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *cubic
	}{
		{"slow start", newCubic(ccMSS, 10*ccMSS)},
		{"congestion avoidance", cubicAfterLoss(100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newCCDriver(tc.c, 100*time.Millisecond)
			d.limited = false
			before := tc.c.cw
			for range 10 {
				d.round(d.srtt)
			}
			assert.Equal(t, before, tc.c.cwnd())
		})
	}
}

func TestCubic_SlowStart_RFC9406_4_3_L(t *testing.T) {
	c := newCubic(ccMSS, 10*ccMSS)
	assert.True(t, c.slowStart())
	assert.Equal(t, CUBIC, c.algorithm())
	assert.Equal(t, uint32(infiniteSSThresh), c.ssthresh())
	c.onAck(&ackSample{now: testEpoch, delivered: 20 * ccMSS, ack: 20 * ccMSS, sndNxt: 40 * ccMSS, cwndLimited: true})
	assert.Equal(t, uint32(18*ccMSS), c.cwnd(), "HyStart++ without pacing: at most L = 8 SMSS per ACK")
	c.onCongestion(testEpoch, 18*ccMSS)
	c.onRTO(testEpoch, 18*ccMSS)
	c.onAck(&ackSample{now: testEpoch, delivered: 5 * ccMSS, cwndLimited: true})
	assert.Equal(t, uint32(2*ccMSS), c.cwnd(), "later slow starts are RFC 5681's: at most one SMSS per ACK")
}

func TestNewCongestionControl_CUBICIsCubic(t *testing.T) {
	assert.IsType(t, &cubic{}, newCongestionControl(CUBIC, ccMSS, 10*ccMSS))
	assert.IsType(t, &newReno{}, newCongestionControl(NewReno, ccMSS, 10*ccMSS))
}

// TestCubic_RandomCalls: whatever the order of events, cwnd stays at
// least one MSS, nothing overflows and nothing panics.
func TestCubic_RandomCalls(t *testing.T) {
	for seed := range uint64(200) {
		cubicRandomCalls(t, seed)
	}
}

// FuzzCubic is TestCubic_RandomCalls from fuzzed seeds.
func FuzzCubic(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(1) << 40)
	f.Fuzz(cubicRandomCalls)
}

func cubicRandomCalls(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	mss := 1 + r.IntN(9000)
	c := newCubic(mss, initialWindow(mss, r.IntN(4) == 0))
	now := testEpoch
	var ack Seq
	for i := range 2000 {
		now = now.Add(time.Duration(r.Int64N(int64(time.Second))) >> r.IntN(20))
		if r.IntN(500) == 0 {
			now = now.Add(time.Duration(r.Int64N(int64(1000 * time.Hour))))
		}
		flight := r.Uint32() >> r.IntN(32)
		prev := c.cw
		switch op := r.IntN(20); {
		case op == 0:
			c.onCongestion(now, flight)
		case op == 1:
			c.onRecoveryEnd(now)
		case op == 2:
			c.onRTO(now, flight)
		case op == 3:
			c.onIdle(now, r.Uint32()>>r.IntN(32))
		case op == 4:
			c.setCwnd(r.Uint32() >> r.IntN(32))
		default:
			delivered := r.Uint32() >> r.IntN(32)
			ack = ack.Add(delivered)
			s := ackSample{now: now, delivered: delivered, flight: flight,
				rtt: time.Duration(r.Int64N(int64(time.Second))) >> r.IntN(30) * time.Duration(r.IntN(2)),
				ack: ack, sndNxt: ack.Add(r.Uint32() >> r.IntN(32)), cwndLimited: r.IntN(5) != 0}
			if r.IntN(3) != 0 {
				s.srtt, s.minRTT = s.rtt, s.rtt/2
			}
			c.onAck(&s)
			require.GreaterOrEqual(t, c.cw, prev, "seed %d step %d: an ACK never lowers cwnd", seed, i)
		}
		require.GreaterOrEqual(t, c.cw, uint32(mss), "seed %d step %d: cwnd >= 1 MSS", seed, i)
		require.LessOrEqual(t, c.cw, uint32(cubicMaxCwnd), "seed %d step %d", seed, i)
		require.GreaterOrEqual(t, c.ssthr, uint32(2*mss), "seed %d step %d: ssthresh >= 2 MSS", seed, i)
		require.False(t, math.IsNaN(c.k) || math.IsInf(c.k, 0) || math.IsNaN(c.wEst) || math.IsNaN(c.acc),
			"seed %d step %d: the cubic state stays finite", seed, i)
	}
}

func TestCubic_NoAllocationPerAck(t *testing.T) {
	c := cubicAfterLoss(100)
	d := newCCDriver(c, 50*time.Millisecond)
	allocs := testing.AllocsPerRun(1000, func() { d.ack(d.srtt) })
	assert.Zero(t, allocs)
	c2 := newCubic(ccMSS, 10*ccMSS)
	d2 := newCCDriver(c2, 50*time.Millisecond)
	allocs = testing.AllocsPerRun(100, func() { d2.ack(d2.srtt) })
	assert.Zero(t, allocs, "nor in slow start")
}
