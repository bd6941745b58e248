package tcp

import (
	"errors"
	"io"
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
	c.setState(now, StateSynSent)
	// The SYN itself goes out with the next output, which also arms the retransmission timer.
}

// openPassive is the passive OPEN: the TCB waits in LISTEN for a SYN. The
// stack makes one such TCB per arriving SYN; see handleListen.
func (c *tcb) openPassive(now time.Time) {
	c.passive = true
	c.setState(now, StateListen)
}

// send is the SEND call (RFC 9293 §3.10.2). It queues as much of p as the
// send buffer holds and returns how much that was; 0 with a nil error means
// the buffer is full and the caller should wait for EvWritable.
func (c *tcb) send(p []byte) (int, error) {
	switch c.state {
	case StateClosed, StateListen:
		if c.err != nil {
			return 0, c.err
		}
		return 0, errNoConnection
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
		if c.finQueued {
			return 0, errConnectionClosing
		}
		// Queued before ESTABLISHED, data goes out once the handshake completes.
		return c.sndBuf.Write(p), nil
	default:
		// FIN-WAIT-1, FIN-WAIT-2, CLOSING, LAST-ACK, TIME-WAIT.
		return 0, errConnectionClosing
	}
}

// receive is the RECEIVE call (RFC 9293 §3.10.3). It returns buffered data;
// io.EOF once the peer's FIN has been consumed and the buffer is empty; the
// connection's error after a reset; and (0, nil) when the caller must wait
// for EvReadable.
func (c *tcb) receive(p []byte) (int, error) {
	if c.rcvBuf.Len() > 0 {
		n := c.rcvBuf.Read(p)
		// RFC 9293 §3.8.6.2.2: reading opens the window. Send a window update
		// when the right edge can move by 2×MSS or half the buffer (as BSD
		// does); smaller steps ride on the next ACK (receiver SWS avoidance).
		if c.state.synchronized() && !c.finRcvd {
			grow := int(c.rcvNxt.Add(uint32(c.windowSpace())).Sub(c.rcvAdv))
			if grow >= 2*c.rcvMSS || 2*grow >= c.rcvBuf.Cap() {
				c.ackNow = true
			}
		}
		return n, nil
	}
	if c.finRcvd {
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

func (c *tcb) queueFIN() {
	if !c.finQueued {
		c.finQueued = true
		c.finSeq = c.dataEnd()
	}
}

// closeRead records that the application will read no more (Go's Close).
// RFC 9293 §3.6.1 (SHLD-3), RFC 1122 §4.2.2.13: if data is still unread, or
// arrives later, the connection is reset rather than closed gracefully.
// It reports whether it aborted the connection.
func (c *tcb) closeRead(now time.Time) bool {
	c.readClosed = true
	if c.rcvBuf.Len() > 0 || c.ooo.bytes > 0 {
		c.abort(now)
		return true
	}
	return false
}

// abort is the ABORT call (RFC 9293 §3.10.5).
func (c *tcb) abort(now time.Time) {
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// "Send a reset segment: <SEQ=SND.NXT><CTL=RST>"; queues are flushed
		// and pending calls get "connection reset".
		c.ctl = append(c.ctl, Segment{Seq: c.sndNxt, Flags: FlagRST})
	}
	// LISTEN, SYN-SENT: no segment. CLOSING, LAST-ACK, TIME-WAIT: "respond
	// with ok and delete the TCB". All of them end in CLOSED.
	c.sndBuf.Discard(c.sndBuf.Len())
	c.rcvBuf.Discard(c.rcvBuf.Len())
	c.ooo.clear()
	if c.err == nil {
		c.err = errAborted
	}
	c.setState(now, StateClosed)
}

// errAborted is the error of calls on a connection the user aborted.
var errAborted = syscall.ECONNABORTED

// setUserTimeout sets R2 for this connection (RFC 9293 MUST-21).
func (c *tcb) setUserTimeout(d time.Duration) { c.userTimeout = d }

// swsThreshold is the receiver SWS step: min(buffer/2, MSS) (RFC 9293 §3.8.6.2.2).
func (c *tcb) swsThreshold() int { return min(c.rcvBuf.Cap()/2, c.rcvMSS) }

// rcvWindowSpace is the receive window the buffer could offer right now.
func (c *tcb) rcvWindowSpace() int { return max(0, c.rcvBuf.Free()-c.ooo.bytes) }

// windowSpace is rcvWindowSpace limited to what the window field can carry
// with our scale (RFC 7323 §2.3).
func (c *tcb) windowSpace() int { return min(c.rcvWindowSpace(), 0xffff<<c.rcvScale) }
