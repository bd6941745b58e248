package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hsDriver feeds one hystart ACKs in rounds of exactly n ACKs: each ACK
// acknowledges one segment and finds n segments outstanding beyond it,
// so the round armed at an ACK ends n ACKs later.
type hsDriver struct {
	h   hystart
	now time.Time
	una Seq
}

func newHSDriver() *hsDriver {
	d := &hsDriver{now: testEpoch, una: 1}
	d.h.init(ccMSS)
	return d
}

// ack acknowledges one segment with the given RTT sample (0: none) and
// returns what hystart answered.
func (d *hsDriver) ack(n int, rtt time.Duration) (grow uint32, enterCA bool) {
	d.now = d.now.Add(time.Millisecond)
	d.una = d.una.Add(ccMSS)
	s := ackSample{now: d.now, delivered: ccMSS, rtt: rtt, srtt: rtt, ack: d.una,
		sndNxt: d.una.Add(uint32(n) * ccMSS), cwndLimited: true}
	return d.h.onAck(&s)
}

// round runs one round of n ACKs, all with RTT rtt, and returns the
// octets of growth and whether congestion avoidance began.
func (d *hsDriver) round(n int, rtt time.Duration) (grow uint32, enterCA bool) {
	if !d.h.inRound {
		// windowEnd = SND.NXT as the connection starts: the first round
		// has n ACKs too.
		d.h.arm(&ackSample{ack: d.una, sndNxt: d.una.Add(uint32(n) * ccMSS)})
	}
	for range n {
		g, ca := d.ack(n, rtt)
		grow += g
		enterCA = enterCA || ca
	}
	return grow, enterCA
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestHyStart_DelayIncreaseEntersCSS_RFC9406_4_2(t *testing.T) {
	for _, tc := range []struct {
		name      string
		last, cur time.Duration
		wantCSS   bool
	}{
		// RttThresh = clamp(lastRoundMinRTT/8, 4 ms, 16 ms).
		{"100 ms: RttThresh 12.5 ms, a rise of 12.5 ms exits", ms(100), ms(112.5), true},
		{"100 ms: a rise of 12 ms does not", ms(100), ms(112), false},
		{"10 ms: RttThresh is at least 4 ms", ms(10), ms(14), true},
		{"10 ms: 3.9 ms is not enough", ms(10), ms(13.9), false},
		{"400 ms: RttThresh is at most 16 ms", ms(400), ms(416), true},
		{"400 ms: 15 ms is not enough", ms(400), ms(415), false},
		{"a falling RTT stays in slow start", ms(100), ms(50), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newHSDriver()
			d.round(10, tc.last) // the first ACK only arms the round
			d.round(10, tc.last)
			require.Equal(t, tc.last, d.h.lastRoundMinRTT)
			d.round(10, tc.cur)
			assert.Equal(t, tc.wantCSS, d.h.inCSS())
			if tc.wantCSS {
				assert.Equal(t, tc.cur, d.h.cssBaselineMinRTT, "cssBaselineMinRtt = currentRoundMinRTT")
			}
		})
	}
}

func TestHyStart_NoExitWithoutNRTTSample_RFC9406_4_2(t *testing.T) {
	d := newHSDriver()
	d.round(7, ms(100))
	d.round(7, ms(100))
	d.round(7, ms(200)) // 7 samples only, however high
	assert.False(t, d.h.inCSS(), "fewer than N_RTT_SAMPLE = 8 samples in the round")

	d = newHSDriver()
	d.round(8, ms(100))
	d.round(8, ms(100))
	d.round(8, ms(200))
	assert.True(t, d.h.inCSS(), "8 samples are enough")

	// ACKs without an RTT sample do not count.
	d = newHSDriver()
	d.round(20, ms(100))
	d.round(20, ms(100))
	for i := range 20 {
		rtt := time.Duration(0)
		if i%3 == 0 {
			rtt = ms(200)
		}
		d.ack(20, rtt)
	}
	assert.False(t, d.h.inCSS(), "7 of the 20 ACKs carried a sample")
}

func TestHyStart_NoExitInFirstRound_RFC9406_4_2(t *testing.T) {
	d := newHSDriver()
	d.round(30, ms(300))
	assert.False(t, d.h.inCSS(), "lastRoundMinRTT is still infinite")
}

func TestHyStart_CSSGrowthIsQuarter_RFC9406_4_2(t *testing.T) {
	d := newHSDriver()
	d.round(10, ms(100))
	d.round(10, ms(100))
	grow, _ := d.round(10, ms(100))
	assert.Equal(t, uint32(10*ccMSS), grow, "slow start: one SMSS per segment acknowledged")
	d.round(10, ms(120))
	require.True(t, d.h.inCSS())
	grow, _ = d.round(10, ms(120))
	assert.Equal(t, uint32(10*ccMSS/4), grow, "CSS: 1/CSS_GROWTH_DIVISOR of it")

	// Small ACKs add up: the remainder of the division is kept.
	var sum uint32
	for range 8 {
		d.una = d.una.Add(1)
		g, _ := d.h.onAck(&ackSample{delivered: 1, ack: d.una, sndNxt: d.una.Add(10 * ccMSS), cwndLimited: true})
		sum += g
	}
	assert.Equal(t, uint32(2), sum, "8 octets acknowledged one by one grow cwnd by 2")
}

func TestHyStart_L_RFC9406_4_3(t *testing.T) {
	d := newHSDriver()
	g, _ := d.h.onAck(&ackSample{delivered: 20 * ccMSS, ack: 20 * ccMSS, sndNxt: 40 * ccMSS, cwndLimited: true})
	assert.Equal(t, uint32(8*ccMSS), g, "a non-paced sender: L = 8, at most 8 SMSS per ACK")
	d.h.phase = hsPhaseCSS
	g, _ = d.h.onAck(&ackSample{delivered: 20 * ccMSS, ack: 20 * ccMSS, sndNxt: 40 * ccMSS, cwndLimited: true})
	assert.Equal(t, uint32(2*ccMSS), g, "in CSS min(N, L*SMSS)/4")
}

func TestHyStart_CSSRoundsThenAvoidance_RFC9406_4_2(t *testing.T) {
	d := newHSDriver()
	d.round(10, ms(100))
	d.round(10, ms(100))
	d.round(10, ms(100))
	d.round(10, ms(100))
	for range 7 {
		d.ack(10, ms(100))
	}
	for range 3 {
		d.ack(10, ms(120))
	}
	require.False(t, d.h.inCSS(), "the round's minimum is still 100 ms")

	d = newHSDriver()
	d.round(10, ms(100))
	d.round(10, ms(100))
	for range 8 {
		d.ack(10, ms(120))
	}
	require.True(t, d.h.inCSS(), "CSS enters on the 8th sample, mid-round")
	_, ca := d.ack(10, ms(120))
	assert.False(t, ca)
	_, ca = d.ack(10, ms(120)) // the partial round ends: 1
	assert.False(t, ca)
	for i := 2; i <= 4; i++ {
		_, ca = d.round(10, ms(120))
		assert.False(t, ca, "CSS round %d", i)
		assert.True(t, d.h.inCSS())
	}
	_, ca = d.round(10, ms(120))
	assert.True(t, ca, "CSS_ROUNDS = 5 rounds, the partial one included: congestion avoidance")
	assert.False(t, d.h.active())
	g, _ := d.ack(10, ms(120))
	assert.Zero(t, g, "HyStart++ is over")
}

func TestHyStart_CSSRoundsSetSSThresh_RFC9406_4_2(t *testing.T) {
	c := newCubic(ccMSS, 10*ccMSS)
	d := newCCDriver(c, 100*time.Millisecond)
	d.round(d.srtt)
	d.round(d.srtt)
	for i := 0; i < 100 && !c.hy.inCSS(); i++ {
		d.ack(130 * time.Millisecond)
	}
	require.True(t, c.hy.inCSS())
	assert.True(t, c.slowStart(), "CSS is slow start")
	entered := c.cw
	for i := 0; i < 10000 && c.slowStart(); i++ {
		d.ack(130 * time.Millisecond)
	}
	assert.False(t, c.slowStart())
	assert.Equal(t, c.cwnd(), c.ssthresh(), "ssthresh = cwnd")
	// Four and a part rounds at a quarter of slow start's rate: about
	// (1 + 1/4)^4.5 = 2.7.
	assert.InDelta(t, 2.7, float64(c.cw)/float64(entered), 0.4)
	t.Logf("CSS from %d to %d octets", entered, c.cw)
}

func TestHyStart_RTTDropInCSSResumesSlowStart_RFC9406_4_2(t *testing.T) {
	d := newHSDriver()
	d.round(10, ms(100))
	d.round(10, ms(100))
	d.round(10, ms(120))
	require.True(t, d.h.inCSS())
	d.round(10, ms(120))
	// Eight samples in a round, the least under the 120 ms baseline.
	for range 7 {
		d.ack(10, ms(125))
	}
	require.True(t, d.h.inCSS(), "7 samples are not enough to judge")
	d.ack(10, ms(110))
	assert.False(t, d.h.inCSS(), "currentRoundMinRTT < cssBaselineMinRtt: the exit was spurious")
	assert.True(t, d.h.active(), "slow start again, with HyStart++")
	assert.Equal(t, hsInfiniteRTT, d.h.cssBaselineMinRTT)
	grow, _ := d.round(10, ms(110))
	assert.Equal(t, uint32(10*ccMSS), grow, "full slow-start growth again")
}

func TestHyStart_StopsOnLoss_RFC9406_4_2(t *testing.T) {
	c := newCubic(ccMSS, 10*ccMSS)
	d := newCCDriver(c, 100*time.Millisecond)
	d.round(d.srtt)
	c.onCongestion(d.now, c.cw)
	assert.False(t, c.hy.active(), "a loss ends slow start: ssthresh is CUBIC's")
	assert.Equal(t, uint32(14*ccMSS), c.ssthresh())
}

func TestHyStart_NoAllocation(t *testing.T) {
	d := newHSDriver()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { d.ack(10, ms(100)) }))
}
