package tcp

import (
	"io"
	"time"
)

// userEvent tells the tracer about an application call on c. It runs under
// the stack's lock and allocates nothing.
func (c *Conn) userEvent(now time.Time, kind UserEventKind, n int) {
	if tr := c.s.cfg.Tracer; tr != nil {
		tr.UserEvent(now, c.id, UserEvent{Kind: kind, N: n})
	}
}

// userError tells the tracer about an error a call on c returns to the
// application (ECONNRESET, ETIMEDOUT, ECONNREFUSED, EPIPE...), once for each
// error in a row: a loop that retries a failed Read is reported once. It
// returns err.
func (c *Conn) userError(now time.Time, err error) error {
	if err == nil || err == io.EOF || err == c.errSeen {
		return err
	}
	c.errSeen = err
	if tr := c.s.cfg.Tracer; tr != nil {
		tr.UserEvent(now, c.id, UserEvent{Kind: EventError, Err: err})
	}
	return err
}

// unread is the octets a Close would find unread, and so reset for (RFC
// 9293 §3.6.1, SHLD-3).
func (c *Conn) unread() int { return c.tcb.rcv.buf.Len() + c.tcb.rcv.ooo.bytes() }
