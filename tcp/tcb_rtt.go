package tcp

import "time"

// rttEstimator computes the retransmission timeout of RFC 6298 from RTT
// samples. Which samples are valid (Karn's algorithm, §3) is the send
// records' business; this only folds them in.
type rttEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	hasSample    bool
	minRTT       time.Duration // the least sample (RACK, HyStart++, Conn.Info)
	latest       time.Duration // the latest sample
	min, max     time.Duration // RFC 6298 §2.4 and §2.5 bounds
}

// newRTTEstimator starts at the initial RTO (RFC 6298 §2.1).
func newRTTEstimator(cfg *Config) rttEstimator {
	return rttEstimator{rto: cfg.InitialRTO, min: cfg.MinRTO, max: cfg.MaxRTO}
}

// sample folds one measurement into SRTT and RTTVAR and recomputes the RTO
// (RFC 6298 §2.2-2.5, with a clock granularity G of 1 ms).
func (e *rttEstimator) sample(r time.Duration) {
	r = max(r, time.Microsecond)
	e.latest = r
	if !e.hasSample || r < e.minRTT {
		e.minRTT = r
	}
	if !e.hasSample {
		// §2.2: SRTT <- R, RTTVAR <- R/2.
		e.srtt, e.rttvar, e.hasSample = r, r/2, true
	} else {
		// §2.3: RTTVAR <- (1 - 1/4) * RTTVAR + 1/4 * |SRTT - R'|,
		// SRTT <- (1 - 1/8) * SRTT + 1/8 * R'.
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	// §2.3: RTO <- SRTT + max (G, K*RTTVAR), K = 4; §2.4 and §2.5 bound it.
	e.rto = min(max(e.srtt+max(time.Millisecond, 4*e.rttvar), e.min), e.max)
}

// backoff doubles the RTO after an expiry (RFC 6298 §5.5), up to the maximum.
func (e *rttEstimator) backoff() { e.rto = min(2*e.rto, e.max) }

// synTimedOut applies RFC 6298 §5.7 when data transmission begins after a
// SYN timed out: "the RTO MUST be re-initialized to 3 seconds".
func (e *rttEstimator) synTimedOut() {
	e.rto = max(e.rto, 3*time.Second)
}
