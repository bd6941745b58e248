package tcp

import (
	"fmt"
	"strings"
	"time"
)

// congestionControl sets the congestion window. The TCB detects
// acknowledgments, losses and ECN signals (tcb_recovery.go, tcb_rack.go)
// and tells the controller; during loss recovery the TCB's PRR (RFC 6937)
// paces cwnd down to the ssthresh the controller chose. The controller
// does the window arithmetic of its algorithm only. Sizes are octets of
// sequence space.
type congestionControl interface {
	// algorithm names the controller.
	algorithm() Congestion
	// onAck: an ACK outside loss recovery delivered s.delivered octets.
	// The controller may grow cwnd, but only while s.cwndLimited (RFC 7661).
	onAck(s *ackSample)
	// onCongestion: a congestion event begins (a loss found by duplicate
	// ACKs, SACK or RACK, or an ECN echo): the multiplicative decrease of
	// ssthresh. cwnd is left to the caller (PRR during recovery).
	onCongestion(now time.Time, flight uint32)
	// onRecoveryEnd: loss recovery ended; cwnd becomes ssthresh (RFC 6937).
	onRecoveryEnd(now time.Time)
	// onRTO: the retransmission timer expired with flight octets outstanding.
	onRTO(now time.Time, flight uint32)
	// onIdle: the connection sent nothing for an RTO; cwnd restarts from
	// restart (RFC 5681 §4.1, the restart window).
	onIdle(now time.Time, restart uint32)
	// setCwnd sets cwnd, for PRR.
	setCwnd(cwnd uint32)
	// setSSThresh sets ssthresh, for a controller that takes over a
	// connection from another (Conn.SetCongestion).
	setSSThresh(ssthresh uint32)
	cwnd() uint32
	ssthresh() uint32
	// slowStart reports whether the controller is in slow start (including
	// HyStart++'s conservative slow start).
	slowStart() bool
}

// ackSample is what one acknowledgment told the sender, for onAck.
type ackSample struct {
	now       time.Time
	delivered uint32        // octets newly acknowledged or SACKed by this ACK
	flight    uint32        // FlightSize before the ACK (RFC 5681 §2)
	rtt       time.Duration // an RTT sample taken from this ACK, or 0
	srtt      time.Duration // the smoothed RTT after it (0 before any sample)
	minRTT    time.Duration // the least RTT seen (0 before any sample)
	ack       Seq           // SEG.ACK
	sndNxt    Seq           // SND.NXT when the ACK arrived: the end of the round that starts now
	// cwndLimited reports that sending was limited by cwnd, not by the
	// application or the peer's window, in the last round trip (RFC 7661:
	// only then may cwnd grow).
	cwndLimited bool
}

// Congestion names a congestion control algorithm (Config.Congestion,
// Conn.SetCongestion).
type Congestion uint8

const (
	// CUBIC is RFC 9438 with HyStart++ (RFC 9406) in slow start, as on Linux. The default.
	CUBIC Congestion = iota
	// NewReno is RFC 5681 with RFC 6582.
	NewReno
)

func (a Congestion) String() string {
	switch a {
	case CUBIC:
		return "cubic"
	case NewReno:
		return "newreno"
	}
	return fmt.Sprintf("Congestion(%d)", uint8(a))
}

// ParseCongestion returns the algorithm named s ("cubic" or "newreno", any case).
func ParseCongestion(s string) (Congestion, error) {
	switch strings.ToLower(s) {
	case "cubic":
		return CUBIC, nil
	case "newreno", "reno":
		return NewReno, nil
	}
	return 0, fmt.Errorf("tcp: unknown congestion control %q (want cubic or newreno)", s)
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

// newCongestionControl returns a controller of algorithm a for a
// connection whose send MSS is mss and whose initial window is iw.
func newCongestionControl(a Congestion, mss int, iw uint32) congestionControl {
	switch a {
	case CUBIC:
		return newCubic(mss, iw)
	default:
		return newNewReno(mss, iw)
	}
}
