package tcp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Conn is a TCP connection of a Stack. It implements net.Conn, with the
// extras of *net.TCPConn (CloseRead, CloseWrite) and a few of its own. All
// methods are safe for concurrent use.
//
// Errors are *net.OpError values wrapping what a kernel socket reports:
// syscall.ECONNRESET, ETIMEDOUT, EPIPE; net.ErrClosed after Close;
// os.ErrDeadlineExceeded when a deadline passes. Read returns io.EOF, bare,
// after the peer's FIN.
type Conn struct {
	s   *Stack
	tcb *tcb // guarded by the stack's mu
	id  FourTuple

	readable chan struct{} // the loop signals data, EOF or an error to read
	writable chan struct{} // the loop signals send buffer space, or an error
	estab    chan struct{} // closed when the handshake completes or fails
	closed   chan struct{} // closed by Close or Abort
	once     sync.Once     // closes closed
	rsem     chan struct{} // one Read at a time
	wsem     chan struct{} // one Write at a time: Writes do not interleave

	rdl, wdl deadline

	// Guarded by the stack's mu.
	estabDone bool  // estab is closed
	estabOK   bool  // the handshake completed
	eofSeen   bool  // EventReadEOF was reported
	readShut  bool  // CloseRead was called: Read returns io.EOF
	errSeen   error // the last error the tracer was told of (userError)
	lingerOn  bool  // SetLinger was called with sec >= 0
	linger    int   // SetLinger's seconds
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *Stack, t *tcb) *Conn {
	return &Conn{
		s:        s,
		tcb:      t,
		id:       t.id,
		readable: make(chan struct{}, 1),
		writable: make(chan struct{}, 1),
		estab:    make(chan struct{}),
		closed:   make(chan struct{}),
		rsem:     make(chan struct{}, 1),
		wsem:     make(chan struct{}, 1),
	}
}

// Dial opens a connection to addr; see DialAddrPort.
func (s *Stack) Dial(addr netip.AddrPort) (*Conn, error) {
	return s.DialAddrPort(context.Background(), addr)
}

// DialAddrPort opens a connection to addr (an active OPEN, RFC 9293
// §3.10.1) from an ephemeral port. It returns once the peer's SYN-ACK has
// arrived and been acknowledged. A RST in answer gives an error wrapping
// syscall.ECONNREFUSED; no answer within Config.UserTimeout gives
// ETIMEDOUT; when ctx ends first the attempt is abandoned and the error
// wraps ctx.Err().
func (s *Stack) DialAddrPort(ctx context.Context, addr netip.AddrPort) (*Conn, error) {
	raddr := net.TCPAddrFromAddrPort(addr)
	fail := func(local net.Addr, err error) (*Conn, error) {
		return nil, opError("dial", local, raddr, err)
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !validUnicast(addr.Addr()) || addr.Port() == 0 {
		// RFC 9293 MUST-46: an OPEN to a broadcast or multicast address is refused.
		return fail(nil, ErrInvalidAddr)
	}
	if err := ctx.Err(); err != nil {
		return fail(nil, err)
	}
	var c *Conn
	var err error
	if e := s.runOnLoop(func(now time.Time) { c, err = s.openActive(now, addr) }); e != nil {
		return fail(nil, e)
	}
	if err != nil {
		return fail(nil, err)
	}
	select {
	case <-c.estab:
	case <-ctx.Done():
	case <-s.done:
	}
	var ok bool
	e := s.runOnLoop(func(now time.Time) {
		if c.estabOK {
			ok = true
			if tr := s.cfg.Tracer; tr != nil {
				// "connect returns after the SYN-ACK has arrived and been ACKed".
				tr.UserEvent(now, c.id, UserEvent{Kind: EventDialReturned})
			}
			return
		}
		if !c.estabDone {
			// The context ended first: abandon the attempt (§3.10.5 ABORT in SYN-SENT).
			err = ctx.Err()
			c.tcb.abort(now)
			s.update(now, c)
			return
		}
		err = c.userError(now, dialError(c.tcb.err))
	})
	switch {
	case e != nil:
		return fail(c.LocalAddr(), e)
	case !ok:
		return fail(c.LocalAddr(), err)
	}
	return c, nil
}

// openActive makes a connection to addr; the flush after the call sends its
// SYN (on the loop).
func (s *Stack) openActive(now time.Time, addr netip.AddrPort) (*Conn, error) {
	if s.shuttingDown {
		return nil, net.ErrClosed
	}
	t, err := s.host.dial(now, addr)
	if err != nil {
		return nil, err
	}
	c := newConn(s, t)
	s.conns[t] = c
	return c, nil
}

// finishHandshake wakes Dial: the handshake completed (ok) or failed.
func (c *Conn) finishHandshake(ok bool) {
	if c.estabDone {
		return
	}
	c.estabDone, c.estabOK = true, ok
	close(c.estab)
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.id.Local) }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.id.Remote) }

// ID returns the connection's four-tuple.
func (c *Conn) ID() FourTuple { return c.id }

func (c *Conn) opError(op string, err error) error {
	return opError(op, c.LocalAddr(), c.RemoteAddr(), err)
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// acquire takes sem (rsem or wsem), giving up when the connection is
// closed, the deadline passes or the stack stops. It returns the error to
// report; the caller releases sem with <-sem.
func (c *Conn) acquire(sem chan struct{}, dl *deadline) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-c.closed:
		return net.ErrClosed
	case <-dl.wait():
		return os.ErrDeadlineExceeded
	case <-c.s.done:
		return net.ErrClosed
	}
}

// Read reads data the peer sent (RFC 9293 §3.10.3 RECEIVE). It blocks until
// some data, the end of the stream (io.EOF), an error or the read deadline.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.acquire(c.rsem, &c.rdl); err != nil {
		return 0, c.opError("read", err)
	}
	defer func() { <-c.rsem }()
	if len(b) == 0 {
		return 0, nil
	}
	for {
		// While it waits, the Read lends b to the core (readOnLoop); each
		// pass first takes what arrived in it, so nothing placed there is
		// lost to a deadline or a Close.
		expired := c.rdl.expired()
		var n int
		var err error
		if e := c.s.runOnLoop(func(now time.Time) { n, err = c.readOnLoop(now, b, !expired) }); e != nil {
			return 0, c.opError("read", e)
		}
		if n > 0 {
			return n, nil
		}
		if err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, c.opError("read", err)
		}
		if expired {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		select {
		case <-c.readable:
		case <-c.closed:
		case <-c.rdl.wait():
		case <-c.s.done:
		}
	}
}

// readOnLoop is Read's work, run as the loop (runOnLoop).
// With wait set and nothing to read, b is lent to the core until the next
// call, which returns what went into it.
func (c *Conn) readOnLoop(now time.Time, b []byte, wait bool) (int, error) {
	if n := c.tcb.rcv.takeDirect(); n > 0 {
		c.userEvent(now, EventRead, n)
		return n, nil
	}
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	if c.readShut {
		return 0, io.EOF
	}
	n, err := c.tcb.receive(b)
	if n > 0 {
		c.userEvent(now, EventRead, n)
		c.s.update(now, c) // reading may open the window: a window update goes out
	}
	if n == 0 && err == nil && wait {
		c.tcb.rcv.waitRead(b)
	}
	if err == io.EOF && !c.eofSeen {
		c.eofSeen = true
		if tr := c.s.cfg.Tracer; tr != nil {
			tr.UserEvent(now, c.id, UserEvent{Kind: EventReadEOF})
		}
	}
	return n, c.userError(now, readError(err))
}

// Write writes b to the connection (RFC 9293 §3.10.2 SEND). It blocks while
// the send buffer is full and returns when all of b is queued, or with an
// error and the count queued so far. Concurrent Writes do not interleave.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.acquire(c.wsem, &c.wdl); err != nil {
		return 0, c.opError("write", err)
	}
	defer func() { <-c.wsem }()
	n := 0
	for {
		switch {
		case c.isClosed():
			return n, c.opError("write", net.ErrClosed)
		case c.wdl.expired():
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		var k int
		var err error
		if e := c.s.runOnLoop(func(now time.Time) { k, err = c.writeOnLoop(now, b[n:]) }); e != nil {
			return n, c.opError("write", e)
		}
		n += k
		if err != nil {
			return n, c.opError("write", err)
		}
		if n == len(b) {
			return n, nil
		}
		select {
		case <-c.writable:
		case <-c.closed:
		case <-c.wdl.wait():
		case <-c.s.done:
		}
	}
}

// writeOnLoop is Write's work, run as the loop (runOnLoop).
func (c *Conn) writeOnLoop(now time.Time, b []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	if len(b) == 0 {
		// Report an error of the connection, but queue nothing.
		_, err := c.tcb.send(nil)
		return 0, c.userError(now, writeError(err))
	}
	n, err := c.tcb.send(b)
	if n > 0 {
		c.userEvent(now, EventWrite, n)
		c.s.update(now, c)
	}
	return n, c.userError(now, writeError(err))
}

// Close closes the connection (RFC 9293 §3.10.4 CLOSE). If data the
// application has not read is waiting, or arrives later, the connection is
// reset instead (RFC 9293 §3.6.1 SHLD-3). Close returns at once, as
// close(2) does without SO_LINGER: the stack goes on sending queued data
// and the FIN, and keeps the connection through FIN-WAIT and TIME-WAIT.
// SetLinger changes that. Pending and later calls return an error wrapping
// net.ErrClosed.
func (c *Conn) Close() error {
	var linger time.Duration
	err := c.closeWith("close", func(now time.Time) {
		if c.lingerOn && c.linger == 0 {
			c.userEvent(now, EventAbort, 0)
			c.tcb.abort(now) // SetLinger(0)
			return
		}
		if c.lingerOn {
			linger = time.Duration(c.linger) * time.Second
		}
		c.closeEvent(now, EventClose, c.unread())
		if !c.tcb.closeRead(now) {
			c.tcb.close(now) // an error means it is closing or closed already
		}
	})
	if err == nil && linger > 0 {
		c.lingerWait(linger)
	}
	return err
}

// Abort resets the connection (RFC 9293 §3.10.5 ABORT): a RST goes to the
// peer and queued data is dropped, like close(2) with SO_LINGER 0. It
// closes the Conn as Close does.
func (c *Conn) Abort() error {
	return c.closeWith("abort", func(now time.Time) {
		c.userEvent(now, EventAbort, 0)
		c.tcb.abort(now)
	})
}

// closeWith closes c, then runs f on the loop.
func (c *Conn) closeWith(op string, f func(now time.Time)) error {
	first := false
	c.once.Do(func() {
		close(c.closed)
		first = true
	})
	if !first {
		return c.opError(op, net.ErrClosed)
	}
	c.rdl.stop()
	c.wdl.stop()
	c.s.runOnLoop(func(now time.Time) {
		f(now)
		c.s.update(now, c)
	}) // a closed stack has reset the connection already
	return nil
}

// CloseWrite sends a FIN after the queued data (a half-close, shutdown(2)
// with SHUT_WR); reading goes on until the peer's FIN.
func (c *Conn) CloseWrite() error {
	return c.onLoop("close", func(now time.Time) error {
		c.closeEvent(now, EventCloseWrite, 0)
		if err := c.tcb.close(now); err != nil {
			return c.userError(now, writeError(err))
		}
		c.s.update(now, c)
		return nil
	})
}

// CloseRead shuts the reading side (shutdown(2) with SHUT_RD): Read returns
// io.EOF. The connection goes on: what is unread, and what arrives later,
// is acknowledged and dropped, as on Linux; nothing resets the peer. (Close
// is different: unread data resets the connection, RFC 9293 SHLD-3.)
func (c *Conn) CloseRead() error {
	return c.onLoop("close", func(now time.Time) error {
		c.userEvent(now, EventCloseRead, c.tcb.rcv.buf.Len())
		c.readShut = true
		c.tcb.shutdownRead()
		c.s.update(now, c)
		signal(c.readable)
		return nil
	})
}

// onLoop runs f on the loop unless c is closed, and wraps its error for op.
func (c *Conn) onLoop(op string, f func(now time.Time) error) error {
	var err error
	e := c.s.runOnLoop(func(now time.Time) {
		if c.isClosed() {
			err = net.ErrClosed
			return
		}
		err = f(now)
	})
	if e != nil {
		err = e
	}
	if err != nil {
		return c.opError(op, err)
	}
	return nil
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline for pending and future Reads; the zero
// time removes it. A Read that reaches it returns an error wrapping
// os.ErrDeadlineExceeded.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Writes; the
// zero time removes it. A Write that reaches it returns an error wrapping
// os.ErrDeadlineExceeded, with the count of octets queued before it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// State returns the connection's state (RFC 9293 §3.3.2). It stays
// meaningful after Close, through FIN-WAIT and TIME-WAIT; once the stack
// is closed it is CLOSED.
func (c *Conn) State() State {
	st := StateClosed
	c.s.runOnLoop(func(time.Time) { st = c.s.host.stateOf(c.tcb) })
	return st
}

// Stats returns a snapshot of the connection's counters.
func (c *Conn) Stats() ConnStats {
	var st ConnStats
	c.s.runOnLoop(func(time.Time) { st = c.tcb.Stats() })
	return st
}

// Info returns a snapshot of the connection's TCP machinery: RTT, congestion
// control, loss recovery, windows and what the handshake negotiated (in the
// manner of Linux's TCP_INFO).
func (c *Conn) Info() Info {
	var in Info
	c.s.runOnLoop(func(time.Time) {
		in = c.tcb.info()
		in.State = c.s.host.stateOf(c.tcb)
	})
	return in
}

// SetCongestion selects the connection's congestion control algorithm; the
// new one takes over the window as it is. Config.Congestion sets the
// default for new connections.
func (c *Conn) SetCongestion(a Congestion) error {
	if a != CUBIC && a != NewReno {
		return fmt.Errorf("tcp: SetCongestion: unknown algorithm %v", a)
	}
	return c.onLoop("set", func(time.Time) error {
		c.tcb.setCongestion(a)
		return nil
	})
}

// SetNoDelay turns Nagle's algorithm off (true, the default) or on (RFC
// 9293 §3.7.4, MUST-17).
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.onLoop("set", func(now time.Time) error {
		c.tcb.setNoDelay(noDelay)
		c.s.update(now, c) // data held back by Nagle may go now
		return nil
	})
}

// SetKeepAlive turns keep-alive probes on or off (RFC 9293 §3.8.4,
// MUST-24), as net.TCPConn.SetKeepAlive does. They are off by default.
func (c *Conn) SetKeepAlive(on bool) error {
	return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: on})
}

// SetKeepAlivePeriod sets both the idle time before the first probe and
// the time between probes, as net.TCPConn.SetKeepAlivePeriod does.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if d <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	return c.onLoop("set", func(now time.Time) error {
		c.tcb.setKeepAlive(net.KeepAliveConfig{Enable: c.tcb.ka.cfg.Enable, Idle: d, Interval: d})
		c.s.update(now, c) // re-arm the stack timer
		return nil
	})
}

// SetKeepAliveConfig sets keep-alives as net.TCPConn.SetKeepAliveConfig
// does: Enable, Idle, Interval and Count; zero durations and counts keep the
// current values. After Count unanswered probes the connection fails with
// ETIMEDOUT.
func (c *Conn) SetKeepAliveConfig(ka net.KeepAliveConfig) error {
	return c.onLoop("set", func(now time.Time) error {
		c.tcb.setKeepAlive(ka)
		c.s.update(now, c) // re-arm the stack timer
		return nil
	})
}

// SetUserTimeout sets R2 for this connection (RFC 9293 §3.8.3, MUST-21,
// like TCP_USER_TIMEOUT): how long data may stay unacknowledged before the
// connection is dropped with ETIMEDOUT.
func (c *Conn) SetUserTimeout(d time.Duration) error {
	if d <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	return c.onLoop("set", func(now time.Time) error {
		c.tcb.setUserTimeout(d)
		c.s.update(now, c) // re-arm the stack timer: R2 may now come sooner
		return nil
	})
}
