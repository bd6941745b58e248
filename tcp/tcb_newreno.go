package tcp

import "time"

// newReno is the congestion control of RFC 5681 with the NewReno
// modification of RFC 6582. Its fast-recovery window inflation is replaced
// by PRR (RFC 6937), which the TCB runs during recovery for every
// controller, as Linux does.
type newReno struct {
	mss   uint32
	cw    uint32 // cwnd
	ssthr uint32 // ssthresh
	// acc counts octets acknowledged in congestion avoidance toward the
	// next one-SMSS increase (RFC 5681 §3.1, appropriate byte counting).
	acc uint32
}

func newNewReno(mss int, iw uint32) *newReno {
	return &newReno{mss: uint32(mss), cw: iw, ssthr: infiniteSSThresh}
}

func (r *newReno) algorithm() Congestion { return NewReno }
func (r *newReno) cwnd() uint32          { return r.cw }
func (r *newReno) ssthresh() uint32      { return r.ssthr }
func (r *newReno) setCwnd(w uint32)      { r.cw = max(w, r.mss) }
func (r *newReno) setSSThresh(w uint32)  { r.ssthr = max(w, 2*r.mss) }
func (r *newReno) slowStart() bool       { return r.cw < r.ssthr }

// onAck grows cwnd: RFC 5681 §3.1 slow start while cwnd < ssthresh (by at
// most one SMSS per ACK, equation 2), congestion avoidance above it (one
// SMSS per cwnd of octets acknowledged: RFC 5681 equation 3 done by byte
// counting, as §3.1 recommends).
func (r *newReno) onAck(s *ackSample) {
	if !s.cwndLimited {
		return // RFC 7661 §4.3: no growth while the window is not used
	}
	if r.cw < r.ssthr {
		r.cw += min(s.delivered, r.mss)
		return
	}
	r.acc += s.delivered
	if r.acc >= r.cw {
		r.acc -= r.cw
		r.cw += r.mss
	}
}

// onCongestion is RFC 5681 §3.2 step 2 (equation 4): ssthresh =
// max(FlightSize/2, 2*SMSS).
func (r *newReno) onCongestion(_ time.Time, flight uint32) {
	r.ssthr = max(flight/2, 2*r.mss)
	r.acc = 0
}

// onRecoveryEnd deflates the window to ssthresh (RFC 6937: "cwnd =
// ssthresh" once recovery ends).
func (r *newReno) onRecoveryEnd(time.Time) { r.cw = r.ssthr }

// onRTO is RFC 5681 §3.1: ssthresh = max(FlightSize/2, 2*SMSS) (equation
// 4) and cwnd = the loss window, one SMSS.
func (r *newReno) onRTO(_ time.Time, flight uint32) {
	r.ssthr = max(flight/2, 2*r.mss)
	r.cw = r.mss
	r.acc = 0
}

// onIdle is RFC 5681 §4.1: cwnd = min(RW, cwnd) after an idle period.
func (r *newReno) onIdle(_ time.Time, restart uint32) { r.cw = min(r.cw, restart) }
