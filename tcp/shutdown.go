package tcp

import (
	"context"
	"time"
)

// Shutdown stops the stack gracefully, as http.Server.Shutdown does a
// server. It closes every listener, so that new SYNs are answered with a
// RST (RFC 9293 §3.10.7.1) and connections not yet accepted are reset;
// refuses new Dials and Listens; closes every connection as Conn.Close
// does, so that queued data and the FIN go out (SetLinger does not apply:
// ctx bounds the wait); and waits until every
// connection is CLOSED or in TIME-WAIT (TIME-WAIT is not waited out). If
// ctx ends first, what is left is reset and Shutdown returns ctx.Err().
// Either way it ends by closing the stack, as Close does. It returns nil
// at once if the stack is closed already.
func (s *Stack) Shutdown(ctx context.Context) error {
	var drained chan struct{}
	if s.runOnLoop(func(now time.Time) {
		s.shuttingDown = true
		for _, ln := range s.listeners {
			ln.markClosed()
			ln.dl.stop()
			s.host.closeListener(now, ln.ls)
		}
		clear(s.listeners)
		for _, c := range s.conns {
			c.closeOnLoop(now)
		}
		if s.drained == nil { // a concurrent Shutdown waits on the same channel
			s.drained = make(chan struct{})
		}
		drained = s.drained
		s.checkDrained()
	}) != nil {
		return nil
	}
	var err error
	select {
	case <-drained:
	case <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Close() // RFC 9293 §3.10.5: ABORT, a RST to each peer still connected
	return err
}

// closeOnLoop is Conn.Close run as the loop, unless the Conn is closed.
func (c *Conn) closeOnLoop(now time.Time) {
	first := false
	c.once.Do(func() {
		close(c.closed)
		first = true
	})
	if !first {
		return
	}
	c.rdl.stop()
	c.wdl.stop()
	if !c.tcb.closeRead(now) {
		c.tcb.close(now)
	}
	c.s.update(now, c)
}

// checkDrained closes s.drained once no connection is left but in
// TIME-WAIT: what Shutdown waits for. flush calls it.
func (s *Stack) checkDrained() {
	if s.drained == nil {
		return
	}
	for _, t := range s.host.conns {
		if t.state != StateTimeWait {
			return
		}
	}
	close(s.drained)
	s.drained = nil
}
