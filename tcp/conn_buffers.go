package tcp

import (
	"syscall"
	"time"
)

// Per-connection buffer sizes and linger, with the semantics of
// net.TCPConn's SetReadBuffer, SetWriteBuffer and SetLinger.

// SetReadBuffer sets the receive buffer to bytes octets, as SO_RCVBUF
// does, and turns receive-buffer autotuning off for the connection. A
// larger buffer opens the window at once (the next segment carries it, or a
// window update if the peer could be held up); a smaller one takes effect as
// the application reads what is held, since the window already offered is
// never taken back (RFC 9293 SHLD-14). The window scale is agreed at the
// SYN, from Config.RecvBufferMax, before a Conn exists: the window offered
// never passes 65535<<scale however large the buffer is (RFC 7323 §2.3).
func (c *Conn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	return c.onLoop("set", func(now time.Time) error {
		c.tcb.setRecvBuffer(bytes)
		c.s.update(now, c) // a window update may go out
		return nil
	})
}

// SetWriteBuffer sets the send buffer, which holds unsent and
// unacknowledged octets, to bytes octets, as SO_SNDBUF does; it no longer
// grows with the congestion window. A larger buffer lets a waiting Write
// go on at once; a smaller one takes effect as the peer acknowledges what
// is held.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	return c.onLoop("set", func(now time.Time) error {
		c.tcb.setSendBuffer(bytes)
		c.s.update(now, c) // wake a waiting Write
		return nil
	})
}

// SetLinger sets how Close treats data not yet sent or acknowledged, as
// net.TCPConn.SetLinger (SO_LINGER) does. With sec < 0, the default, Close
// returns at once and the stack sends the data and the FIN in the
// background. With sec == 0 Close discards the data and resets the
// connection (RFC 9293 §3.10.5 ABORT). With sec > 0 Close blocks until the
// data and the FIN are acknowledged, or sec seconds pass: then it resets
// the connection.
func (c *Conn) SetLinger(sec int) error {
	return c.onLoop("set", func(time.Time) error {
		c.lingerOn, c.linger = sec >= 0, sec
		return nil
	})
}

// lingerWait is a lingering Close: it waits until the FIN is acknowledged
// (FIN-WAIT-2, TIME-WAIT or CLOSED) or d passes, then aborts what is
// left. It holds the write lock, so that no Write takes the signals.
func (c *Conn) lingerWait(d time.Duration) {
	c.wsem <- struct{}{} // a pending Write returns at once: c is closed
	defer func() { <-c.wsem }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		done := true
		c.s.runOnLoop(func(time.Time) {
			switch c.s.host.stateOf(c.tcb) {
			case StateFinWait2, StateTimeWait, StateClosed:
			default:
				done = false
			}
		})
		if done {
			return
		}
		select {
		case <-c.writable:
		case <-c.s.done:
			return
		case <-timer.C:
			c.s.runOnLoop(func(now time.Time) {
				c.tcb.abort(now) // RFC 9293 §3.10.5: a RST for what is left
				c.s.update(now, c)
			})
			return
		}
	}
}
