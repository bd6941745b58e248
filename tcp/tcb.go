package tcp

import (
	"net"
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
//   - user calls: openActive, openPassive, send, receive, close, closeRead, abort (tcb_user.go)
//   - output: output, nextTimeout, takeEvents (tcb_output.go)
type tcb struct {
	cfg   *Config
	id    FourTuple
	state State
	// passive records that the connection came from a passive OPEN, so a
	// RST in SYN-RECEIVED returns it to LISTEN (RFC 9293 MUST-11).
	passive bool

	// Send sequence variables (RFC 9293 §3.3.1, Figure 4).
	iss       Seq
	sndUna    Seq    // oldest unacknowledged sequence number
	sndNxt    Seq    // next new sequence number to send: one past the highest ever sent
	sndWnd    uint32 // peer's window, scaled (RFC 7323 §2.3)
	sndWl1    Seq    // SEG.SEQ of the segment that last updated sndWnd
	sndWl2    Seq    // SEG.ACK of the segment that last updated sndWnd
	maxSndWnd uint32 // largest window the peer ever offered (sender SWS, RFC 9293 §3.8.6.2.1)
	sndMSS    int    // effective send MSS (RFC 9293 MUST-16)
	sndScale  uint8  // shift applied to SEG.WND (the peer's RFC 7323 window scale)

	// txNxt is where the next segment starts: equal to sndNxt, except after a
	// retransmission timeout, when sending goes back to sndUna (go-back-N).
	txNxt Seq

	// Receive sequence variables.
	irs      Seq
	rcvNxt   Seq
	rcvWnd   uint32 // RCV.WND as last advertised
	rcvAdv   Seq    // right edge advertised: rcvNxt+rcvWnd when it was sent
	rcvScale uint8  // our window scale, used only if the peer offered one too
	rcvMSS   int    // MSS we announce (RFC 9293 MUST-67: MTU-40)
	wsOK     bool   // both SYNs carried the window scale option (RFC 7323 §2.2)

	sndBuf ring // octets from the first unacknowledged data octet on
	rcvBuf ring // in-order octets the user has not read
	ooo    oooQueue

	finQueued  bool // the user called CLOSE: a FIN follows the queued data (§3.10.4)
	finSeq     Seq  // the FIN's sequence number, fixed when finQueued is set
	finRcvd    bool // the peer's FIN has been consumed: reads return EOF once rcvBuf drains
	readClosed bool // the user will read no more (SHLD-3)
	noDelay    bool // Nagle's algorithm off (MUST-17)

	// Retransmission (RFC 6298) and congestion control (RFC 5681).
	rto              time.Duration
	srtt             time.Duration
	rttvar           time.Duration
	hasRTT           bool
	rttTiming        bool // a segment ending at rttSeq is being timed (Karn: never a retransmitted one)
	rttSeq           Seq
	rttStart         time.Time
	rtxAt            time.Time // retransmission timer; zero when off
	rtxSince         time.Time // when the oldest outstanding segment was sent: the R2 clock
	synRetransmitted bool      // the SYN timer expired (RFC 6298 §5.7)
	cwnd             uint32
	ssthresh         uint32
	dupAcks          int
	recover          Seq  // NewReno recovery point (RFC 6582)
	inRecov          bool // in fast recovery
	fastRtx          bool // retransmit the segment at sndUna on the next output

	persistAt      time.Time // zero-window probe timer (RFC 9293 §3.8.6.1); zero when off
	persistBackoff int
	probe          bool // send one octet past a zero window on the next output

	timeWaitAt time.Time // 2×MSL timer (RFC 9293 §3.6.1)

	// Keep-alives (RFC 9293 §3.8.4), off unless the application asks (MUST-24, MUST-25).
	keepAlive   net.KeepAliveConfig // Enable, Idle, Interval, Count
	lastRecv    time.Time           // when a segment last arrived
	lastProbe   time.Time           // when the last keep-alive probe went out
	probesSent  int                 // unanswered probes
	sendProbe   bool                // a keep-alive probe is due on the next output
	userTimeout time.Duration

	ackNow         bool      // an ACK must go out with the next output
	delAckAt       time.Time // delayed-ACK timer (RFC 9293 §3.8.6.3); zero when off
	delAckBytes    int       // in-order octets received since our last ACK
	challengeStart time.Time // start of the current challenge-ACK budget period (RFC 5961 §7)
	challengeCount int       // challenge ACKs sent in it
	ctl            []Segment // RSTs queued by input or abort, sent before anything else
	scratch        []byte    // payload of the segment being emitted
	seg            Segment   // the segment being emitted
	events         tcbEvents
	err            error // why the connection ended abnormally (ECONNREFUSED, ECONNRESET, ETIMEDOUT)
	stats          ConnStats
}

// Events tell the shell which waiters to wake after a call into the core.
type tcbEvents uint8

// Event bits returned by takeEvents.
const (
	evEstablished tcbEvents = 1 << iota // the handshake completed
	evReadable                          // data, EOF or an error became readable
	evWritable                          // send buffer space was freed, or writing became impossible
	evClosed                            // the TCB reached CLOSED (or LISTEN): the shell drops it
)

// ConnStats are per-connection counters.
type ConnStats struct {
	SegsIn, SegsOut        uint64
	BytesIn, BytesOut      uint64 // payload octets accepted and sent (retransmissions included in BytesOut)
	Retransmits            uint64 // segments sent again
	Timeouts               uint64 // retransmission timer expirations
	FastRetransmits        uint64
	DroppedSegs            uint64 // unacceptable segments dropped (RFC 9293 §3.10.7.4)
	ChallengeACKs          uint64 // RFC 5961 challenge ACKs sent
	ChallengeACKsThrottled uint64 // challenge ACKs not sent (RFC 5961 §7)
	OutOfOrder             uint64 // segments queued out of order (SHLD-31)
	ZeroWindowProbes       uint64
	SRTT, RTO              time.Duration
	SndWnd, RcvWnd, Cwnd   uint32
	SendQueued, RecvQueued int
}

// newTCB makes a CLOSED TCB for the connection id with initial send sequence number iss.
func newTCB(cfg *Config, id FourTuple, iss Seq) *tcb {
	c := &tcb{
		cfg:         cfg,
		id:          id,
		iss:         iss,
		sndUna:      iss,
		sndNxt:      iss,
		txNxt:       iss,
		sndBuf:      newRing(cfg.SendBuffer),
		rcvBuf:      newRing(cfg.RecvBuffer),
		rto:         cfg.InitialRTO,
		rcvMSS:      cfg.MTU - 40,
		sndMSS:      536, // RFC 9293 MUST-15: without an MSS option assume 536 (IPv4)
		noDelay:     true,
		userTimeout: cfg.UserTimeout,
		ssthresh:    1 << 30,
		keepAlive:   cfg.KeepAlive,
	}
	// RFC 7323 §2.3: the smallest shift that lets the window describe the whole receive buffer.
	for c.rcvScale < 14 && cfg.RecvBuffer>>c.rcvScale > 0xffff {
		c.rcvScale++
	}
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
	case StateEstablished:
		// RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN
		// segment and the TCP implementation is using an RTO less than 3
		// seconds, the RTO MUST be re-initialized to 3 seconds when data
		// transmission begins."
		if c.synRetransmitted && c.rto < 3*time.Second {
			c.rto = 3 * time.Second
		}
	case StateClosed, StateListen:
		// Leaving the connection: every timer stops and every waiter wakes.
		c.rtxAt, c.persistAt, c.timeWaitAt, c.delAckAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		c.events |= evClosed | evReadable | evWritable
	case StateTimeWait:
		// RFC 9293 §3.10.7.4: in TIME-WAIT all timers but the 2×MSL one are off.
		c.rtxAt, c.persistAt, c.delAckAt = time.Time{}, time.Time{}, time.Time{}
		c.timeWaitAt = now.Add(2 * c.cfg.MSL)
	}
}

// reset ends the connection with err (ECONNRESET, ECONNREFUSED, ETIMEDOUT),
// flushing both queues (RFC 9293 §3.10.7.4 second check).
func (c *tcb) reset(now time.Time, err error) {
	c.err = err
	c.sndBuf.Discard(c.sndBuf.Len())
	c.finQueued = false
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
	s.SRTT, s.RTO = c.srtt, c.rto
	s.SndWnd, s.RcvWnd, s.Cwnd = c.sndWnd, c.rcvWnd, c.cwnd
	s.SendQueued, s.RecvQueued = c.sndBuf.Len(), c.rcvBuf.Len()
	return s
}

// bufStart is the sequence number of the first octet in sndBuf.
func (c *tcb) bufStart() Seq {
	if c.sndUna == c.iss {
		return c.iss.Add(1) // the SYN occupies ISS and is not in the buffer
	}
	return c.sndUna
}

// dataEnd is the sequence number after the last queued data octet; a queued FIN takes this number.
func (c *tcb) dataEnd() Seq { return c.bufStart().Add(uint32(c.sndBuf.Len())) }

// finSent reports whether our FIN has been sent.
func (c *tcb) finSent() bool { return c.finQueued && c.finSeq.LessThan(c.sndNxt) }

// finAcked reports whether our FIN has been acknowledged.
func (c *tcb) finAcked() bool { return c.finQueued && c.finSeq.LessThan(c.sndUna) }
