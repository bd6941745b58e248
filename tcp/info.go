package tcp

import "time"

// Info describes a connection's TCP machinery at one moment, in the manner
// of Linux's TCP_INFO: the RTT estimator, congestion control and loss
// recovery, both windows, what the handshake negotiated, and the counters.
// Conn.Info returns it; `utcp -v` prints it at exit.
type Info struct {
	State State

	// RTT (RFC 6298) and the minimum seen (RFC 8985's min_RTT).
	SRTT, RTTVar, MinRTT, RTO time.Duration

	// Congestion control.
	Congestion Congestion
	Phase      Phase
	Cwnd       uint32 // octets
	SSThresh   uint32 // octets; 1<<30 before the first congestion event ("arbitrarily high")
	Pipe       uint32 // octets believed in the network (RFC 6675 §4)
	Flight     uint32 // octets sent and not acknowledged (FlightSize)

	// Loss recovery.
	SackedSegs     int    // segments the peer SACKed above SND.UNA
	LostSegs       int    // segments marked lost, not yet sent again
	Retransmits    uint64 // segments sent again
	FastRecoveries uint64 // recoveries begun by SACK, RACK or duplicate ACKs
	Undos          uint64 // recoveries the Eifel algorithm (RFC 3522) found spurious and undid
	Timeouts       uint64 // retransmission timeouts
	TLPProbes      uint64 // tail-loss probes sent
	ReorderingSeen bool   // RACK saw a segment delivered out of its sending order
	ReorderWindow  time.Duration
	DSACKs         uint64 // duplicate SACKs received

	// Delivery: the rate of the latest sample, and the totals each way.
	DeliveryRate       uint64 // octets per second
	BytesSent          uint64 // payload octets sent, retransmissions included
	BytesRetransmitted uint64
	BytesAcked         uint64 // octets the peer acknowledged or SACKed
	BytesReceived      uint64 // payload octets accepted
	SegsOut, SegsIn    uint64

	// Windows and buffers.
	SndWnd, RcvWnd         uint32 // the peer's window and ours, octets
	RcvMSS                 int    // the MSS we announced; the send MSS is Options.MSS
	SendBuffer             int    // the send buffer's size now (it grows with cwnd)
	RecvBuffer             int    // the receive buffer's size now (autotuned)
	SendQueued, RecvQueued int

	// What the SYNs negotiated: MSS, window scales, SACK, timestamps, ECN.
	// Options.MSS follows the path MTU.
	Options NegotiatedOptions

	// Path MTU discovery (RFC 1191, RFC 4821) and the latest soft error:
	// an ICMP error that did not end the connection, or ETIMEDOUT past R1
	// retransmissions (RFC 9293 SHLD-9, SHLD-25); nil once data is
	// acknowledged again. Conn.SoftError returns it too.
	PathMTU             int
	PMTUDecreases       uint64
	BlackHoleDetections uint64
	SoftError           error
}

// Phase is where congestion control stands.
type Phase uint8

// Phases of congestion control.
const (
	PhaseSlowStart           Phase = iota // cwnd < ssthresh (RFC 5681 §3.1; HyStart++'s CSS counts)
	PhaseCongestionAvoidance              // cwnd >= ssthresh
	PhaseRecovery                         // fast recovery (RFC 6675, RFC 6582) with PRR (RFC 6937)
	PhaseLoss                             // recovering from a retransmission timeout
)

func (p Phase) String() string {
	switch p {
	case PhaseSlowStart:
		return "slow-start"
	case PhaseCongestionAvoidance:
		return "congestion-avoidance"
	case PhaseRecovery:
		return "recovery"
	case PhaseLoss:
		return "loss"
	}
	return "Phase(?)"
}

// info returns the connection's Info.
func (c *tcb) info() Info {
	snd, q := &c.snd, &c.snd.recs
	in := Info{
		State: c.state,
		SRTT:  c.rtt.srtt, RTTVar: c.rtt.rttvar, MinRTT: c.rtt.minRTT, RTO: c.rtt.rto,
		Congestion: c.cc.algorithm(),
		Cwnd:       c.cc.cwnd(), SSThresh: c.cc.ssthresh(),
		Pipe: snd.pipe(), Flight: snd.flightSize(),
		SackedSegs:     q.sackedSegs,
		Retransmits:    c.stats.Retransmits,
		FastRecoveries: c.rec.recoveries,
		Undos:          c.rec.undos,
		Timeouts:       c.stats.Timeouts,
		TLPProbes:      c.stats.TLPProbes,
		ReorderingSeen: snd.rack.reorderingSeen,
		ReorderWindow:  c.reoWnd(),
		DSACKs:         c.stats.DSACKsReceived,
		DeliveryRate:   snd.deliveryRate,
		BytesSent:      c.stats.BytesOut, BytesRetransmitted: c.stats.BytesRetransmitted,
		BytesAcked:    snd.delivered,
		BytesReceived: c.stats.BytesIn,
		SegsOut:       c.stats.SegsOut, SegsIn: c.stats.SegsIn,
		SndWnd: snd.wnd, RcvWnd: c.rcv.window(),
		RcvMSS:     c.rcv.mss,
		SendBuffer: snd.buf.Cap(), RecvBuffer: c.rcv.buf.Cap() - c.rcv.slack(),
		SendQueued: snd.buf.Len(), RecvQueued: c.rcv.buf.Len(),
		Options: c.negotiated(),

		PathMTU:             c.pathMTU(),
		PMTUDecreases:       c.stats.PMTUDecreases,
		BlackHoleDetections: c.stats.BlackHoleDetections,
		SoftError:           c.softError(),
	}
	for i := range q.len() {
		if q.at(i).lost {
			in.LostSegs++
		}
	}
	switch {
	case c.rec.inRecovery:
		in.Phase = PhaseRecovery
	case c.rec.recoverSet:
		in.Phase = PhaseLoss
	case c.cc.slowStart():
		in.Phase = PhaseSlowStart
	default:
		in.Phase = PhaseCongestionAvoidance
	}
	return in
}
