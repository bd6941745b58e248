package tcp

import "time"

// SoftError returns the latest trouble the connection has had that did not
// end it (RFC 9293 MUST-47, SHLD-25; SHLD-9): an ICMP error such as
// syscall.EHOSTUNREACH or ENETUNREACH, or syscall.ETIMEDOUT once a segment
// has been retransmitted R1 (3) times. It is nil when there is none, and
// again once new data is acknowledged. Should the connection time out, its
// error is this one rather than ETIMEDOUT, as on Linux.
func (c *Conn) SoftError() error {
	var err error
	c.s.runOnLoop(func(time.Time) { err = c.tcb.softError() })
	return err
}
