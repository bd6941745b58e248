package tcp

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// Errors of user calls, as RFC 9293 §3.10 words them.
var (
	errConnectionClosing = errors.New("connection closing")        // SEND or CLOSE after CLOSE (§3.10.2, §3.10.4)
	errNoConnection      = errors.New("connection does not exist") // a call on a CLOSED TCB
)

// openActive is the active OPEN call (RFC 9293 §3.10.1, CLOSED state):
// select an ISS (done by the caller), send a SYN, enter SYN-SENT.
func (c *tcb) openActive(now time.Time) {
	c.passive = false
	c.snd.synDue, c.synWhy = true, ReasonSyn // the next output sends it and arms the retransmission timer
	c.setState(now, StateSynSent)
}

// openPassive is the passive OPEN: the TCB waits in LISTEN for a SYN. The
// host makes one such TCB per arriving SYN; see handleListen.
func (c *tcb) openPassive(now time.Time) {
	c.passive = true
	c.setState(now, StateListen)
}

// send is the SEND call (RFC 9293 §3.10.2). It queues as much of p as the
// send buffer holds and returns how much that was; 0 with a nil error means
// the buffer is full and the caller should wait for evWritable.
func (c *tcb) send(p []byte) (int, error) {
	switch c.state {
	case StateClosed, StateListen:
		if c.err != nil {
			return 0, c.err
		}
		return 0, errNoConnection
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
		if c.snd.finQueued {
			return 0, errConnectionClosing
		}
		c.applySendBuffer()
		// Queued before ESTABLISHED, data goes out once the handshake completes.
		return c.snd.buf.Write(p), nil
	default:
		// FIN-WAIT-1, FIN-WAIT-2, CLOSING, LAST-ACK, TIME-WAIT.
		return 0, errConnectionClosing
	}
}

// receive is the RECEIVE call (RFC 9293 §3.10.3). It returns buffered data;
// io.EOF once the peer's FIN has been consumed and the buffer is empty; the
// connection's error after a reset; and (0, nil) when the caller must wait
// for evReadable.
func (c *tcb) receive(p []byte) (int, error) {
	if c.rcv.buf.Len() > 0 {
		n := c.rcv.buf.Read(p)
		c.rcv.copied += uint64(n)
		if c.rcv.bufWant > 0 {
			c.rcv.applyBufWant()
		}
		// RFC 9293 §3.8.6.2.2: reading opens the window; a window update
		// goes out if the opening is worth a segment (see recvSpace).
		if c.state.synchronized() && !c.rcv.finRcvd && c.rcv.windowUpdateWorthIt() {
			c.ackFor(ReasonWindowUpdate)
		}
		return n, nil
	}
	if c.rcv.finRcvd {
		return 0, io.EOF
	}
	switch c.state {
	case StateClosed:
		if c.err != nil {
			return 0, c.err
		}
		return 0, errNoConnection
	case StateCloseWait, StateLastAck, StateClosing, StateTimeWait:
		// The FIN arrived (finRcvd covers these); kept for completeness.
		return 0, io.EOF
	}
	return 0, nil
}

// close is the CLOSE call (RFC 9293 §3.10.4): "I have no more data to send".
// Receiving goes on (a half-close) until the peer's FIN.
func (c *tcb) close(now time.Time) error {
	switch c.state {
	case StateClosed:
		return errNoConnection
	case StateListen, StateSynSent:
		// "Delete the TCB, enter CLOSED state"; pending SENDs get "closing".
		c.snd.flush()
		c.setState(now, StateClosed)
		return nil
	case StateSynReceived:
		// "If no SENDs have been issued and there is no pending data to send,
		// then form a FIN segment and send it, and enter FIN-WAIT-1 state;
		// otherwise, queue for processing after entering ESTABLISHED state."
		// The FIN is queued behind the data either way; output sends it only
		// once synchronized.
		c.queueFIN()
		c.setState(now, StateFinWait1)
		return nil
	case StateEstablished:
		// "Queue this until all preceding SENDs have been segmentized, then
		// form a FIN segment and send it. In any case, enter FIN-WAIT-1 state."
		c.queueFIN()
		c.setState(now, StateFinWait1)
		return nil
	case StateCloseWait:
		// "Queue this request until all preceding SENDs have been segmentized;
		// then send a FIN segment, enter LAST-ACK state."
		c.queueFIN()
		c.setState(now, StateLastAck)
		return nil
	default:
		// FIN-WAIT-1/2: "error: connection closing" (an "ok" is acceptable
		// too); CLOSING, LAST-ACK, TIME-WAIT: "error: connection closing".
		return errConnectionClosing
	}
}

// queueFIN queues our FIN after the data, noting which call asked for it:
// Go's Close (closeRead came first) or CloseWrite.
func (c *tcb) queueFIN() {
	c.snd.queueFIN()
	c.finWhy = ReasonFINCloseWrite
	if c.rcv.readClosed {
		c.finWhy = ReasonFINClose
	}
}

// closeRead records that the application will read no more because it
// closed the connection (Go's Close). RFC 9293 §3.6.1 (SHLD-3), RFC 1122
// §4.2.2.13: if data is still unread, or arrives later, the connection is
// reset rather than closed gracefully. It reports whether it aborted the
// connection.
func (c *tcb) closeRead(now time.Time) bool {
	c.rcv.readClosed = true
	if c.rcv.buf.Len() > 0 || c.rcv.ooo.bytes() > 0 {
		c.abortWith(now, ReasonRstUnreadData)
		return true
	}
	c.armFinWait2(now)
	return false
}

// shutdownRead is shutdown(SHUT_RD): the application reads no more, but the
// connection goes on. What is unread and what arrives later is
// acknowledged and dropped, so the peer is neither reset nor stalled by a
// window that never opens.
func (c *tcb) shutdownRead() {
	c.rcv.discard = true
	if c.rcv.buf.Len() > 0 {
		c.rcv.buf.Discard(c.rcv.buf.Len())
		if c.state.synchronized() && c.rcv.windowUpdateWorthIt() {
			c.ackFor(ReasonWindowUpdate)
		}
	}
}

// abort is the ABORT call (RFC 9293 §3.10.5).
func (c *tcb) abort(now time.Time) { c.abortWith(now, ReasonRstAbort) }

// abortWith aborts the connection; why is the reason of its RST.
func (c *tcb) abortWith(now time.Time, why Reason) {
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// "Send a reset segment: <SEQ=SND.NXT><CTL=RST>"; queues are flushed
		// and pending calls get "connection reset".
		c.ctl = append(c.ctl, Segment{Seq: c.rstSeq(), Flags: FlagRST, Why: why})
	}
	// LISTEN, SYN-SENT: no segment. CLOSING, LAST-ACK, TIME-WAIT: "respond
	// with ok and delete the TCB". All of them end in CLOSED.
	c.snd.flush()
	c.rcv.flush()
	if c.err == nil {
		c.err = errAborted
	}
	c.setState(now, StateClosed)
}

// errAborted is the error of calls on a connection the user aborted.
var errAborted = syscall.ECONNABORTED

// setUserTimeout sets R2 for this connection (RFC 9293 MUST-21).
func (c *tcb) setUserTimeout(d time.Duration) { c.userTimeout = d }

// setNoDelay turns Nagle's algorithm off (true) or on (MUST-17).
func (c *tcb) setNoDelay(on bool) { c.noDelay = on }

// setKeepAlive applies a keep-alive configuration (MUST-24, MUST-27).
func (c *tcb) setKeepAlive(ka net.KeepAliveConfig) { c.ka.set(ka) }

// setCongestion switches the connection to algorithm a. The new controller
// takes over cwnd and ssthresh as they are.
func (c *tcb) setCongestion(a Congestion) {
	if a == c.cc.algorithm() {
		return
	}
	cw, ss := c.cc.cwnd(), c.cc.ssthresh()
	c.cc = newCongestionControl(a, c.snd.mss, cw)
	if ss < infiniteSSThresh {
		c.cc.setSSThresh(ss)
	}
}

// rstSeq is the sequence number of a RST we send of our own accord (ABORT,
// a timeout): RFC 9293 §3.10.5's SND.NXT, unless that lies past the
// peer's window (known once our SYN is acknowledged), as after a
// zero-window probe's octet it never took. Then
// the window's right edge, which an RFC 5961 §3.2 peer accepts where it
// would answer SND.NXT with a challenge ACK (Linux's tcp_acceptable_seq).
func (c *tcb) rstSeq() Seq {
	if end := c.snd.una.Add(c.snd.wnd); c.snd.synAcked && end.LessThan(c.snd.nxt) {
		return end
	}
	return c.snd.nxt
}
