package tcp

import (
	"math"
	"time"
)

// CUBIC constants (RFC 9438 §4.1, §4.2, §4.3, §4.6). Windows in the cubic
// function are in segments and times in seconds, as in the RFC; cwnd
// itself stays in octets.
const (
	cubicC    = 0.4 // RFC 9438 §5: C = 0.4 segments/second^3
	cubicBeta = 0.7 // RFC 9438 §4.6: beta_cubic SHOULD be 0.7
	// cubicAlpha is alpha_cubic = 3*(1-beta)/(1+beta) (RFC 9438 §4.3).
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
	// cubicMaxT bounds t-K so that an epoch left open for days still
	// gives a finite W_cubic; the target clamp to 1.5*cwnd does the rest.
	cubicMaxT = 1 << 20 // seconds
	// cubicMaxCwnd keeps cwnd, and every float converted to it, inside uint32.
	cubicMaxCwnd = math.MaxUint32 / 2
)

// cubic is the congestion control of RFC 9438 with HyStart++ (RFC 9406)
// in the initial slow start. As for NewReno, the TCB's PRR (RFC 6937)
// lowers cwnd during loss recovery: onCongestion only chooses ssthresh and
// the next epoch's W_max.
type cubic struct {
	mss   uint32
	cw    uint32 // cwnd, octets
	ssthr uint32 // ssthresh, octets
	hy    hystart
	// fastConvergence is RFC 9438 §4.7 (SHOULD be implemented; on, as on
	// Linux, since the stack cannot know it is the only flow).
	fastConvergence bool

	// The congestion avoidance stage (epoch), RFC 9438 §4.1. It begins at
	// the first ACK in congestion avoidance after slow start, a congestion
	// event or an idle restart.
	epochStarted bool
	tEpoch       time.Time
	k            float64 // K, seconds
	wMax         float64 // W_max, segments
	wEst         float64 // W_est, segments
	cwndPrior    float64 // cwnd_prior, segments
	// wMaxFromEpoch: the next epoch has K = 0 and W_max = cwnd_epoch, after
	// an RTO (RFC 9438 §4.8) or a slow start that ended without a
	// congestion event (§4.10: W_max is then undefined).
	wMaxFromEpoch bool
	// acc is the fraction of an octet of increase not yet added to cw.
	acc float64
	// appLimitedSince is when ACKs stopped being cwnd-limited in
	// congestion avoidance (zero while cwnd-limited): that time is left
	// out of t (RFC 9438 §4.2).
	appLimitedSince time.Time
}

func newCubic(mss int, iw uint32) *cubic {
	c := &cubic{mss: uint32(mss), cw: max(iw, uint32(mss)), ssthr: infiniteSSThresh, fastConvergence: true, wMaxFromEpoch: true}
	c.hy.init(c.mss)
	return c
}

func (c *cubic) algorithm() Congestion { return CUBIC }
func (c *cubic) cwnd() uint32          { return c.cw }
func (c *cubic) ssthresh() uint32      { return c.ssthr }
func (c *cubic) setCwnd(w uint32)      { c.cw = min(max(w, c.mss), cubicMaxCwnd) }

// setSSThresh takes over a connection whose ssthresh another controller
// chose: the next epoch starts from the window as it is (K = 0, as after an
// RTO, RFC 9438 §4.8).
func (c *cubic) setSSThresh(w uint32) {
	c.ssthr = max(w, 2*c.mss)
	c.epochStarted, c.wMaxFromEpoch = false, true
}

// slowStart: RFC 9438 §4.10, slow start below ssthresh; HyStart++'s CSS
// keeps ssthresh infinite, so it counts as slow start too.
func (c *cubic) slowStart() bool { return c.cw < c.ssthr }

// segs converts octets to segments for the cubic function.
func (c *cubic) segs(octets uint32) float64 { return float64(octets) / float64(c.mss) }

// octets converts a window in segments back to octets, within uint32.
func (c *cubic) octets(segs float64) uint32 {
	return uint32(min(max(segs*float64(c.mss), 0), cubicMaxCwnd))
}

func (c *cubic) onAck(s *ackSample) {
	if c.slowStart() {
		c.slowStartAck(s)
		return
	}
	if !s.cwndLimited {
		// RFC 7661 §4.3: no growth while the window is not used; RFC 9438
		// §4.2: t "MUST NOT include periods during which cwnd has not been
		// updated due to application-limited behavior".
		if c.epochStarted && c.appLimitedSince.IsZero() {
			c.appLimitedSince = s.now
		}
		return
	}
	c.avoidanceAck(s)
}

// slowStartAck grows cwnd in slow start (RFC 9438 §4.10): HyStart++ in
// the initial slow start, RFC 5681's at most one SMSS per ACK after it.
func (c *cubic) slowStartAck(s *ackSample) {
	if c.hy.active() {
		grow, enterCA := c.hy.onAck(s)
		c.cw = min(c.cw+min(grow, cubicMaxCwnd), cubicMaxCwnd)
		if enterCA {
			// RFC 9406 §4.2: after CSS_ROUNDS, "ssthresh = cwnd". RFC 9438
			// §4.10: cwnd_prior = cwnd, and the first epoch has K = 0 and
			// W_max = cwnd at its start.
			c.ssthr = c.cw
			c.cwndPrior = c.segs(c.cw)
			c.beginAvoidance(true)
		}
		return
	}
	if s.cwndLimited {
		// RFC 5681 §3.1 equation 2: cwnd += min(N, SMSS).
		c.cw = min(c.cw+min(s.delivered, c.mss), cubicMaxCwnd)
	}
}

// beginAvoidance ends the current epoch, so that the next ACK in
// congestion avoidance starts another from the cwnd of that moment.
func (c *cubic) beginAvoidance(wMaxFromEpoch bool) {
	c.epochStarted = false
	c.wMaxFromEpoch = wMaxFromEpoch
	c.acc = 0
	c.appLimitedSince = time.Time{}
}

// startEpoch begins a congestion avoidance stage at now (RFC 9438 §4.2):
// t_epoch = now, cwnd_epoch = cwnd, K = cubic_root((W_max -
// cwnd_epoch)/C) (equation 2; a cwnd_epoch above W_max gives K < 0, so
// W_cubic(0) = cwnd_epoch still), and W_est = cwnd_epoch (§4.3).
func (c *cubic) startEpoch(now time.Time) {
	cwndEpoch := c.segs(c.cw)
	if c.wMaxFromEpoch {
		// RFC 9438 §4.8 and §4.10: K = 0, W_max = cwnd_epoch.
		c.wMax = cwndEpoch
		c.wMaxFromEpoch = false
	}
	c.k = math.Cbrt((c.wMax - cwndEpoch) / cubicC)
	c.wEst = cwndEpoch
	c.tEpoch = now
	c.epochStarted = true
	c.acc = 0
}

// wCubic is RFC 9438 §4.2 equation 1: W_cubic(t) = C*(t-K)^3 + W_max, in
// segments, t in seconds since the epoch.
func (c *cubic) wCubic(t float64) float64 {
	d := min(max(t-c.k, -cubicMaxT), cubicMaxT)
	return cubicC*d*d*d + c.wMax
}

// avoidanceAck is congestion avoidance for one cwnd-limited ACK (RFC 9438
// §4.2–§4.5).
func (c *cubic) avoidanceAck(s *ackSample) {
	if !c.epochStarted {
		c.startEpoch(s.now)
	}
	if !c.appLimitedSince.IsZero() {
		// RFC 9438 §4.2: shift the epoch by the application-limited time.
		if gap := s.now.Sub(c.appLimitedSince); gap > 0 {
			c.tEpoch = c.tEpoch.Add(gap)
		}
		c.appLimitedSince = time.Time{}
	}
	t := max(s.now.Sub(c.tEpoch).Seconds(), 0)
	rtt := s.srtt // RFC 9438 §4.1: RTT is the smoothed RTT
	if rtt <= 0 {
		rtt = s.minRTT
	}
	if rtt <= 0 {
		rtt = max(s.rtt, 0) // no RTT yet: the target is W_cubic(t)
	}
	cwnd := c.segs(c.cw)
	acked := c.segs(s.delivered)

	// RFC 9438 §4.3 equation 4: W_est += alpha_cubic * segments_acked /
	// cwnd, with alpha_cubic = 1 once W_est >= cwnd_prior.
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst = min(c.wEst+alpha*acked/cwnd, cubicMaxCwnd)

	if c.wCubic(t) < c.wEst {
		// RFC 9438 §4.3: the Reno-friendly region, cwnd = W_est (never
		// lowered by an ACK).
		c.cw = max(c.cw, c.octets(c.wEst))
		return
	}
	// RFC 9438 §4.2: target = W_cubic(t+RTT) within [cwnd, 1.5*cwnd].
	target := min(max(c.wCubic(t+rtt.Seconds()), cwnd), 1.5*cwnd)
	// RFC 9438 §4.4, §4.5: in both the concave and the convex region cwnd
	// grows by (target - cwnd)/cwnd per segment acknowledged.
	c.acc += (target - cwnd) / cwnd * acked * float64(c.mss)
	whole := math.Floor(c.acc)
	c.acc -= whole
	c.cw = uint32(min(float64(c.cw)+whole, cubicMaxCwnd))
}

// onCongestion is RFC 9438 §4.6 and §4.7 at the start of a congestion
// event: W_max (with fast convergence), cwnd_prior and ssthresh; PRR then
// brings cwnd down to ssthresh.
func (c *cubic) onCongestion(_ time.Time, flight uint32) {
	cwnd := c.segs(c.cw)
	// RFC 9438 §4.7: W_max = cwnd*(1+beta)/2 if cwnd < W_max (the
	// saturation point fell), else W_max = cwnd.
	if c.fastConvergence && cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = cwnd
	}
	c.cwndPrior = cwnd // RFC 9438 §4.6: cwnd_prior = cwnd
	c.ssthr = c.decrease(flight)
	c.hy.stop() // RFC 9406 §4.2: a loss or ECN ends slow start and CSS
	c.beginAvoidance(false)
}

// decrease is RFC 9438 §4.6's ssthresh = max(flight_size * beta_cubic, 2)
// in octets. The RFC's equation takes flight_size; an implementation that
// takes cwnd instead must keep cwnd from outgrowing the flight, which the
// cwndLimited rule (RFC 7661) does here too.
func (c *cubic) decrease(flight uint32) uint32 {
	return uint32(min(max(uint64(flight)*7/10, 2*uint64(c.mss)), cubicMaxCwnd))
}

// onRecoveryEnd deflates the window to ssthresh (RFC 6937); the epoch
// starts at the next ACK.
func (c *cubic) onRecoveryEnd(time.Time) { c.cw = c.ssthr }

// onRTO is RFC 9438 §4.8: cwnd as Reno (one SMSS, RFC 5681 §3.1), ssthresh
// by beta_cubic as in §4.6, and the first congestion avoidance stage after
// it has K = 0 and W_max = cwnd at its start.
func (c *cubic) onRTO(_ time.Time, flight uint32) {
	c.cwndPrior = c.segs(c.cw) // §4.6 through §4.8: cwnd_prior = cwnd
	c.ssthr = c.decrease(flight)
	c.cw = c.mss
	c.hy.stop() // RFC 9406 §4.2: HyStart++ only in the initial slow start
	c.beginAvoidance(true)
}

// onIdle is RFC 5681 §4.1, cwnd = min(RW, cwnd), and a new epoch from the
// cwnd of the restart: its K = cubic_root((W_max - cwnd)/C) makes W_cubic
// start at cwnd, so the idle time cannot make the window jump.
func (c *cubic) onIdle(_ time.Time, restart uint32) {
	c.cw = max(min(c.cw, restart), c.mss)
	c.beginAvoidance(c.wMaxFromEpoch)
}
