package tcp

import (
	"math"
	"time"
)

// HyStart++ tuning constants (RFC 9406 §4.3, the recommended values).
const (
	hsMinRTTThresh  = 4 * time.Millisecond
	hsMaxRTTThresh  = 16 * time.Millisecond
	hsMinRTTDivisor = 8
	hsNRTTSample    = 8
	hsCSSGrowthDiv  = 4
	hsCSSRounds     = 5
	hsL             = 8 // RFC 9406 §4.3: "L = 8 if non-paced"; this stack does not pace
	hsInfiniteRTT   = time.Duration(math.MaxInt64)
)

// hsPhase is where HyStart++ has the sender.
type hsPhase uint8

const (
	hsPhaseSlowStart hsPhase = iota // standard slow start with the delay check
	hsPhaseCSS                      // Conservative Slow Start
	hsPhaseDone                     // slow start is over, or standard (RFC 5681) from now on
)

// hystart is HyStart++ (RFC 9406): slow start that leaves early, through
// Conservative Slow Start (CSS), when the round-trip delay rises. It runs
// in the initial slow start only (RFC 9406 §4.2: later slow starts use the
// ssthresh already found); cubic owns cwnd and asks hystart how much to
// grow it.
type hystart struct {
	mss   uint32
	phase hsPhase
	// windowEnd is SND.NXT at the start of the round: the round ends when
	// it is acknowledged (RFC 9406 §4.2). Meaningful only while inRound.
	windowEnd Seq
	inRound   bool

	lastRoundMinRTT    time.Duration
	currentRoundMinRTT time.Duration
	rttSampleCount     int
	cssBaselineMinRTT  time.Duration
	cssRounds          int
	// cssRem is the remainder of octets not yet credited by the CSS
	// division, so that small ACKs still add up to N/CSS_GROWTH_DIVISOR.
	cssRem uint32
}

// init sets the state of RFC 9406 §4.2: every RTT infinite, no round yet.
func (h *hystart) init(mss uint32) {
	*h = hystart{
		mss:                mss,
		lastRoundMinRTT:    hsInfiniteRTT,
		currentRoundMinRTT: hsInfiniteRTT,
		cssBaselineMinRTT:  hsInfiniteRTT,
	}
}

// active reports whether HyStart++ still runs slow start (SS or CSS).
func (h *hystart) active() bool { return h.phase != hsPhaseDone }

// inCSS reports whether the sender is in Conservative Slow Start.
func (h *hystart) inCSS() bool { return h.phase == hsPhaseCSS }

// stop ends HyStart++ for the connection: a loss, an ECN echo or an RTO
// ends slow start and ssthresh comes from the congestion controller (RFC
// 9406 §4.2), and later slow starts are standard (RFC 5681).
func (h *hystart) stop() { h.phase = hsPhaseDone }

// onAck runs HyStart++ for one ACK in slow start. It returns the octets
// by which cwnd grows, and whether CSS has run its CSS_ROUNDS rounds so
// that congestion avoidance begins (the caller sets ssthresh = cwnd).
func (h *hystart) onAck(s *ackSample) (grow uint32, enterCA bool) {
	if !h.active() {
		return 0, false
	}
	// RFC 9406 §4.2: "Define windowEnd as a sequence number initialized
	// to SND.NXT": the first ACK arms the first round.
	if !h.inRound {
		h.arm(s)
	}
	if s.cwndLimited { // RFC 7661: cwnd grows only while it is used
		grow = h.growth(s.delivered)
	}
	if s.rtt > 0 {
		// RFC 9406 §4.2: currentRoundMinRTT = min(currentRoundMinRTT, currRTT).
		h.currentRoundMinRTT = min(h.currentRoundMinRTT, s.rtt)
		h.rttSampleCount++
		h.checkDelay()
	}
	// RFC 9406 §4.2: "When windowEnd is ACKed, the current round ends";
	// the ACK that ends a round belongs to it.
	if h.inRound && s.ack.GreaterThanEq(h.windowEnd) {
		if h.phase == hsPhaseCSS {
			// RFC 9406 §4.2: CSS lasts at most CSS_ROUNDS rounds, the
			// partial round CSS began in included; then "ssthresh = cwnd".
			h.cssRounds++
			if h.cssRounds >= hsCSSRounds {
				h.stop()
				return grow, true
			}
		}
		h.nextRound(s)
	}
	return grow, false
}

// growth is RFC 9406 §4.2's increase for N newly acknowledged octets:
// min(N, L*SMSS) in slow start, and that divided by CSS_GROWTH_DIVISOR in
// CSS.
func (h *hystart) growth(n uint32) uint32 {
	n = min(n, hsL*h.mss)
	if h.phase != hsPhaseCSS {
		return n
	}
	n += h.cssRem
	h.cssRem = n % hsCSSGrowthDiv
	return n / hsCSSGrowthDiv
}

// checkDelay is RFC 9406 §4.2's test after an RTT sample, once a round has
// N_RTT_SAMPLE samples: in slow start, a round minimum RTT that rose by
// RttThresh enters CSS; in CSS, one that fell below the baseline shows the
// exit was spurious and slow start resumes.
func (h *hystart) checkDelay() {
	if h.rttSampleCount < hsNRTTSample {
		return
	}
	switch h.phase {
	case hsPhaseSlowStart:
		if h.lastRoundMinRTT == hsInfiniteRTT || h.currentRoundMinRTT == hsInfiniteRTT {
			return
		}
		// RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
		thresh := max(hsMinRTTThresh, min(h.lastRoundMinRTT/hsMinRTTDivisor, hsMaxRTTThresh))
		if h.currentRoundMinRTT >= h.lastRoundMinRTT+thresh {
			h.cssBaselineMinRTT = h.currentRoundMinRTT
			h.phase, h.cssRounds, h.cssRem = hsPhaseCSS, 0, 0
		}
	case hsPhaseCSS:
		if h.currentRoundMinRTT < h.cssBaselineMinRTT {
			h.cssBaselineMinRTT = hsInfiniteRTT
			h.phase = hsPhaseSlowStart
		}
	}
}

// nextRound starts a round (RFC 9406 §4.2): lastRoundMinRTT =
// currentRoundMinRTT, currentRoundMinRTT = infinity, rttSampleCount = 0,
// and "windowEnd is set to SND.NXT".
func (h *hystart) nextRound(s *ackSample) {
	h.lastRoundMinRTT = h.currentRoundMinRTT
	h.currentRoundMinRTT = hsInfiniteRTT
	h.rttSampleCount = 0
	h.arm(s)
}

// arm sets windowEnd = SND.NXT. With nothing outstanding there is no end
// to wait for: the next ACK arms the round from its SND.NXT instead.
func (h *hystart) arm(s *ackSample) {
	h.windowEnd = s.sndNxt
	h.inRound = s.sndNxt.GreaterThan(s.ack)
}
