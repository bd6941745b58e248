package tcp

import (
	"time"
)

// tcb is a connection's Transmission Control Block (RFC 9293 §3.3.1) and the
// state machine that drives it. It is the sans-I/O core: every input is one
// method call that takes the current time, and every output is collected for
// the caller (segments through output, wake-ups through takeEvents, the next
// deadline through nextTimeout). It never reads a clock, starts a goroutine,
// takes a lock or touches the network.
//
// Method families, as in quinn-proto:
//   - input:  segmentArrives (tcb_input.go), handleTimeout (tcb_timer.go)
//   - user calls: openActive, openPassive, send, receive, close, closeRead,
//     shutdownRead, abort (tcb_user.go)
//   - output: output, nextTimeout, takeEvents (tcb_output.go)
//
// Its state is grouped by concern, each group in a file of its own: the send
// sequence space and its per-segment records (tcb_send.go), the receive
// sequence space and the window it offers (tcb_recv.go), the RTT estimator
// (tcb_rtt.go), congestion control (tcb_cc.go, tcb_newreno.go), loss
// recovery (tcb_recovery.go), keep-alive (tcb_keepalive.go) and the timers
// (tcb_timer.go).
type tcb struct {
	cfg   *Config
	id    FourTuple
	state State
	// passive records that the connection came from a passive OPEN, so a
	// RST in SYN-RECEIVED returns it to LISTEN (RFC 9293 MUST-11).
	passive bool

	snd    sendSpace
	rcv    recvSpace
	rtt    rttEstimator
	cc     congestionControl
	sample ackSample // what an ACK told the sender, for cc.onAck: a field, so the interface call does not allocate it
	rec    recovery
	ka     keepAlive
	timers timerTable
	opt    negotiated // what the SYNs agreed (tcb_options.go)
	ts     tsState    // timestamps (tcb_ts.go)
	ecn    ecnState   // ECN (tcb_ecn.go)
	icmp   icmpState  // ICMP errors, path MTU (tcb_icmp.go)

	// rtxSince is when the oldest unacknowledged segment was first sent:
	// the R2 clock (RFC 9293 §3.8.3). Zero when nothing is outstanding.
	rtxSince    time.Time
	userTimeout time.Duration
	noDelay     bool // Nagle's algorithm off (MUST-17)

	ackWhy    Reason          // why an ACK must go out with the next output; ReasonNone if none is due (ackFor)
	synWhy    Reason          // why the SYN or SYN-ACK that synDue asks for goes out
	finWhy    Reason          // which call queued the FIN: Close or CloseWrite
	traced    senderTrace     // the congestion state the tracer last saw (tcb_why.go)
	challenge challengeBudget // RFC 5961 §7 throttle
	ctl       []Segment       // RSTs queued by input or abort, sent before anything else
	scratch   *[]byte         // payload of the segment being emitted: the host shares one among its TCBs
	sackBuf   [maxSACKBlocks]SACKBlock
	seg       *Segment // the segment being emitted: the host shares one among its TCBs
	// tsoMax is the most payload one emitted segment may carry when the
	// link cuts large segments up (TSO); 0 when it does not.
	tsoMax int
	events tcbEvents
	err    error // why the connection ended abnormally (ECONNREFUSED, ECONNRESET, ETIMEDOUT)
	// finTimedOut records that FIN-WAIT-2 timed out (armFinWait2), for the host's counter.
	finTimedOut bool
	stats       ConnStats

	// The host's timer heap (host_timers.go): this TCB's slot, -1 when it
	// is not there, and the deadline it is filed under.
	heapIdx int32
	heapAt  time.Time

	ooo oooCharge // what the stack's out-of-order budget counts against this TCB (tcb_ooo.go)
}

// tcbEvents tell the shell which waiters to wake after a call into the core.
type tcbEvents uint8

// Event bits returned by takeEvents.
const (
	evEstablished tcbEvents = 1 << iota // the handshake completed
	evReadable                          // data, EOF or an error became readable
	evWritable                          // send buffer space was freed, or writing became impossible
	evClosed                            // a live connection ended: CLOSED, or a passive child back in LISTEN
	evFrozen                            // the host keeps the connection's TIME-WAIT as a record: this TCB is detached
)

// ConnStats are per-connection counters.
type ConnStats struct {
	SegsIn, SegsOut        uint64
	BytesIn, BytesOut      uint64 // payload octets accepted and sent (retransmissions included in BytesOut)
	BytesDirect            uint64 // of BytesIn, octets copied straight into a waiting Read's buffer, past the receive buffer
	Retransmits            uint64 // segments sent again
	BytesRetransmitted     uint64 // payload octets sent again
	Timeouts               uint64 // retransmission timer expirations
	FastRetransmits        uint64
	DroppedSegs            uint64 // unacceptable segments dropped (RFC 9293 §3.10.7.4)
	ChallengeACKs          uint64 // RFC 5961 challenge ACKs sent
	ChallengeACKsThrottled uint64 // challenge ACKs not sent (RFC 5961 §7)
	OutOfOrder             uint64 // segments queued out of order (SHLD-31)
	OutOfOrderDropped      uint64 // out-of-order segments not held: over a bound (Config.OutOfOrderRanges, StackOutOfOrder*)
	OutOfOrderReneged      uint64 // ranges held out of order, then dropped for room (RFC 2018 §8)
	DSACKsReceived         uint64 // ACKs whose first SACK block reported a duplicate (RFC 2883)
	RACKLosses             uint64 // segments RACK deemed lost (RFC 8985)
	TLPProbes              uint64 // tail-loss probes sent (RFC 8985 §7)
	TLPRecoveries          uint64 // losses a probe repaired (RFC 8985 §7.4)
	RecvBufferGrown        uint64 // times autotuning grew the receive buffer
	SendBufferGrown        uint64 // times the send buffer grew with cwnd
	ZeroWindowProbes       uint64
	PAWSRejected           uint64 // segments with an old timestamp, answered and dropped (RFC 7323 §5.3 R1)
	TSMissing              uint64 // segments without the agreed timestamps, dropped (RFC 7323 §3.2)
	CEReceived             uint64 // segments with the CE codepoint (RFC 3168 §6.1.3)
	ECEReceived            uint64 // ACKs with ECE (RFC 3168 §6.1.2)
	CWRSent                uint64 // segments with CWR (RFC 3168 §6.1.2)
	PMTUDecreases          uint64 // fragmentation-needed messages that lowered the path MTU (RFC 1191)
	BlackHoleDetections    uint64 // path MTU lowered after timeouts without ICMP (RFC 4821)
	SRTT, RTO              time.Duration
	SndWnd, RcvWnd, Cwnd   uint32
	SendQueued, RecvQueued int
}

// newTCB makes a CLOSED TCB for the connection id with initial send sequence number iss.
func newTCB(cfg *Config, id FourTuple, iss Seq) *tcb {
	c := &tcb{
		cfg:         cfg,
		id:          id,
		noDelay:     true,
		userTimeout: cfg.UserTimeout,
		rtt:         newRTTEstimator(cfg),
		ka:          keepAlive{cfg: cfg.KeepAlive},
		heapIdx:     -1,
	}
	c.scratch, c.seg = new([]byte), new(Segment)
	c.snd.init(cfg, iss)
	c.rcv.init(cfg, headersLen(id))
	// Until the handshake settles the MSS, the controller works with 536
	// octets (MUST-15); establish replaces it.
	c.cc = newCongestionControl(cfg.Congestion, c.snd.mss, initialWindow(c.snd.mss, false))
	return c
}

// setState moves to a new state and tells the tracer.
func (c *tcb) setState(now time.Time, s State) {
	if c.state == s {
		return
	}
	from := c.state
	c.state = s
	if tr := c.cfg.Tracer; tr != nil {
		tr.StateChange(now, c.id, from, s)
	}
	switch s {
	case StateClosed, StateListen:
		// Leaving the connection: every timer stops and every waiter wakes.
		// Opening a CLOSED TCB for LISTEN ends nothing.
		c.timers.stopAll()
		if from != StateClosed {
			c.events |= evClosed | evReadable | evWritable
		}
	case StateFinWait2:
		c.armFinWait2(now)
		c.events |= evWritable // our FIN is acknowledged: a lingering Close returns
	case StateTimeWait:
		if from != StateFinWait2 {
			c.events |= evWritable // from FIN-WAIT-1 or CLOSING: our FIN is acknowledged
		}
		// RFC 9293 §3.10.7.4: in TIME-WAIT all timers but the 2×MSL one are off.
		c.timers.stopAll()
		c.timers.set(timerTimeWait, now.Add(2*c.cfg.MSL))
	}
}

// reset ends the connection with err (ECONNRESET, ECONNREFUSED, ETIMEDOUT),
// flushing both queues (RFC 9293 §3.10.7.4 second check).
func (c *tcb) reset(now time.Time, err error) {
	c.err = err
	c.snd.flush()
	c.setState(now, StateClosed)
}

// takeEvents returns the events since the last call and clears them.
func (c *tcb) takeEvents() tcbEvents {
	e := c.events
	c.events = 0
	return e
}

// State returns the connection state.
func (c *tcb) State() State { return c.state }

// Stats returns a snapshot of the connection's counters.
func (c *tcb) Stats() ConnStats {
	s := c.stats
	s.SRTT, s.RTO = c.rtt.srtt, c.rtt.rto
	s.SndWnd, s.RcvWnd, s.Cwnd = c.snd.wnd, c.rcv.wnd, c.cc.cwnd()
	s.SendQueued, s.RecvQueued = c.snd.buf.Len(), c.rcv.buf.Len()
	return s
}

// challengeBudget throttles RFC 5961 challenge ACKs and the ACKs that answer
// unacceptable segments in TIME-WAIT: at most challengeACKLimit per
// challengeACKPeriod per connection (RFC 5961 §7). A per-connection budget
// leaks nothing about other connections, unlike the global one of
// CVE-2016-5696.
type challengeBudget struct {
	start time.Time // start of the current period
	count int       // ACKs sent in it
}

const (
	challengeACKLimit  = 10
	challengeACKPeriod = 5 * time.Second
)

// take reports whether one more throttled ACK may go at now.
func (b *challengeBudget) take(now time.Time) bool {
	if now.Sub(b.start) >= challengeACKPeriod {
		b.start, b.count = now, 0
	}
	if b.count >= challengeACKLimit {
		return false
	}
	b.count++
	return true
}

// headersLen is the IP and TCP header octets, without options, in front
// of each segment of connection id: RFC 9293 MUST-67's 40 over IPv4, and
// 60 over IPv6, whose fixed header is 40 (RFC 8200 §8.3).
func headersLen(id FourTuple) int {
	if id.Local.Addr().Is6() {
		return 60
	}
	return 40
}
