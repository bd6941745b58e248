package tcp

import "time"

// congestionControl sets the congestion window (RFC 5681). The TCB detects
// acknowledgments and losses (tcb_recovery.go) and tells the controller;
// the controller only does the window arithmetic. Sizes are octets of
// sequence space; flight is FlightSize of RFC 5681 §2.
type congestionControl interface {
	// onAck: acked octets were newly acknowledged outside loss recovery.
	onAck(now time.Time, acked, flight uint32)
	// onLoss: a loss was detected by duplicate ACKs; recovery begins.
	onLoss(now time.Time, flight uint32)
	// onDupAck: one more duplicate ACK arrived during recovery.
	onDupAck(now time.Time)
	// onPartialAck: an ACK during recovery acknowledged acked octets, not all of the recovery window.
	onPartialAck(now time.Time, acked uint32)
	// onRecoveryEnd: an ACK covered everything outstanding when recovery began.
	onRecoveryEnd(now time.Time, flight uint32)
	// onRTO: the retransmission timer expired with flight octets outstanding.
	onRTO(now time.Time, flight uint32)
	cwnd() uint32
	ssthresh() uint32
}

// infiniteSSThresh is the initial slow-start threshold: "arbitrarily high"
// (RFC 5681 §3.1).
const infiniteSSThresh = 1 << 30

// initialWindow is IW of RFC 5681 §3.1 with RFC 6928: min(10*MSS,
// max(2*MSS, 14600)), or one segment if the SYN or SYN,ACK was lost ("the
// initial window used by a sender after a correctly transmitted SYN MUST be
// one segment").
func initialWindow(mss int, synLost bool) uint32 {
	if synLost {
		return uint32(mss)
	}
	return uint32(min(10*mss, max(2*mss, 14600)))
}

// newCongestionControl returns the controller of a connection whose send
// MSS is mss. synLost reports whether the handshake lost a SYN.
func newCongestionControl(mss int, synLost bool) congestionControl {
	return newNewReno(mss, initialWindow(mss, synLost))
}
