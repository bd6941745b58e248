package tcp

import "time"

// newReno is the congestion control of RFC 5681 with the NewReno
// modification to fast recovery of RFC 6582.
type newReno struct {
	mss   uint32
	cw    uint32 // cwnd
	ssthr uint32 // ssthresh
}

func newNewReno(mss int, iw uint32) *newReno {
	return &newReno{mss: uint32(mss), cw: iw, ssthr: infiniteSSThresh}
}

func (r *newReno) cwnd() uint32     { return r.cw }
func (r *newReno) ssthresh() uint32 { return r.ssthr }

// onAck grows cwnd: RFC 5681 §3.1 slow start while cwnd < ssthresh (by at
// most one SMSS per ACK, equation 2), congestion avoidance above it
// (equation 3: about one SMSS per RTT).
func (r *newReno) onAck(_ time.Time, acked, _ uint32) {
	if r.cw < r.ssthr {
		r.cw += min(acked, r.mss)
		return
	}
	r.cw += max(1, r.mss*r.mss/r.cw)
}

// onLoss is RFC 5681 §3.2 steps 2 and 3: ssthresh = max(FlightSize/2,
// 2*SMSS), cwnd = ssthresh + 3*SMSS, as the three duplicate ACKs say three
// segments have left the network.
func (r *newReno) onLoss(_ time.Time, flight uint32) {
	r.ssthr = max(flight/2, 2*r.mss)
	r.cw = r.ssthr + 3*r.mss
}

// onDupAck is RFC 5681 §3.2 step 4: inflate cwnd by one SMSS per further
// duplicate ACK.
func (r *newReno) onDupAck(time.Time) { r.cw += r.mss }

// onPartialAck is RFC 6582 §3.2 step 5: deflate cwnd by the amount
// acknowledged, then add back one SMSS.
func (r *newReno) onPartialAck(_ time.Time, acked uint32) {
	r.cw = r.cw - min(r.cw, acked) + r.mss
}

// onRecoveryEnd is RFC 6582 §3.2 step 6, option 1: cwnd =
// min(ssthresh, max(FlightSize, SMSS) + SMSS), which avoids a burst.
func (r *newReno) onRecoveryEnd(_ time.Time, flight uint32) {
	r.cw = min(r.ssthr, max(flight, r.mss)+r.mss)
}

// onRTO is RFC 5681 §3.1: ssthresh = max(FlightSize/2, 2*SMSS) (equation
// 4) and cwnd = the loss window, one SMSS.
func (r *newReno) onRTO(_ time.Time, flight uint32) {
	r.ssthr = max(flight/2, 2*r.mss)
	r.cw = r.mss
}
