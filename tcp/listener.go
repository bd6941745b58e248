package tcp

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Listener accepts connections on one port of a Stack (a passive OPEN, RFC
// 9293 §3.10.1). It implements net.Listener. Every SYN to the port gets a
// TCB of its own; those that complete the three-way handshake wait in a
// queue of at most Config.Backlog connections (half-open ones hold a slot
// too) until Accept takes them.
type Listener struct {
	s    *Stack
	port uint16

	ready  chan struct{} // the loop signals a connection in the queue
	closed chan struct{} // closed by Close (or by the stack's Close)
	once   sync.Once
	dl     deadline

	// Owned by the stack loop.
	queue    []*Conn // established, not yet accepted
	halfOpen int     // children in SYN-RECEIVED
}

var _ net.Listener = (*Listener)(nil)

// Listen starts listening on port; port 0 picks a free ephemeral port. It
// fails with an error wrapping syscall.EADDRINUSE if the port already has a
// listener.
func (s *Stack) Listen(port uint16) (*Listener, error) {
	ln := &Listener{s: s, ready: make(chan struct{}, 1), closed: make(chan struct{})}
	var err error
	if e := s.runOnLoop(func(time.Time) {
		if port == 0 {
			p, ok := s.allocPort()
			if !ok {
				err = ErrNoPorts
				return
			}
			port = p
		}
		if s.listeners[port] != nil {
			err = syscall.EADDRINUSE
			return
		}
		ln.port = port
		s.listeners[port] = ln
	}); e != nil {
		err = e
	}
	if err != nil {
		addr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.cfg.Addr, port))
		return nil, opError("listen", nil, addr, err)
	}
	return ln, nil
}

// Addr returns the listening address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.s.cfg.Addr, l.port))
}

// Port returns the listening port.
func (l *Listener) Port() uint16 { return l.port }

// Accept waits for the next connection; see AcceptTCP.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP waits for the next connection that has completed the three-way
// handshake and returns it. After Close it returns an error wrapping
// net.ErrClosed; when the deadline passes, one wrapping
// os.ErrDeadlineExceeded.
func (l *Listener) AcceptTCP() (*Conn, error) {
	for {
		select {
		case <-l.closed:
			return nil, l.opError("accept", net.ErrClosed)
		default:
		}
		if l.dl.expired() {
			return nil, l.opError("accept", os.ErrDeadlineExceeded)
		}
		var c *Conn
		if e := l.s.runOnLoop(func(now time.Time) { c = l.pop(now) }); e != nil {
			return nil, l.opError("accept", e)
		}
		if c != nil {
			return c, nil
		}
		select {
		case <-l.ready:
		case <-l.closed:
		case <-l.dl.wait():
		case <-l.s.done:
		}
	}
}

// pop takes the first connection of the queue (on the loop).
func (l *Listener) pop(now time.Time) *Conn {
	if len(l.queue) == 0 || l.isClosed() {
		return nil
	}
	c := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	if len(l.queue) == 0 {
		l.queue = nil
	} else {
		signal(l.ready) // for the next Accept
	}
	c.ln = nil
	if tr := l.s.cfg.Tracer; tr != nil {
		// "accept() has a connection": the third segment arrived.
		tr.UserEvent(now, c.id, EventAcceptReturned)
	}
	return c
}

// SetDeadline sets the deadline for pending and future Accept calls; the
// zero time removes it.
func (l *Listener) SetDeadline(t time.Time) error {
	if l.isClosed() {
		return l.opError("set", net.ErrClosed)
	}
	l.dl.set(t)
	return nil
}

// Close stops listening. Pending and later Accepts return an error
// wrapping net.ErrClosed. Connections not yet accepted, established or
// half-open, are reset. Accepted connections are not affected.
func (l *Listener) Close() error {
	if !l.markClosed() {
		return l.opError("close", net.ErrClosed)
	}
	l.dl.stop()
	l.s.runOnLoop(func(now time.Time) {
		if l.s.listeners[l.port] == l {
			delete(l.s.listeners, l.port)
		}
		for _, c := range l.s.conns {
			if c.ln == l {
				c.tcb.abort(now) // RFC 9293 §3.10.5: RST to an established peer
				l.s.update(now, c)
			}
		}
		l.queue = nil
	}) // a closed stack has closed the listener already
	return nil
}

// markClosed closes l.closed; it reports false if it was closed already.
func (l *Listener) markClosed() bool {
	first := false
	l.once.Do(func() {
		close(l.closed)
		first = true
	})
	return first
}

func (l *Listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

func (l *Listener) opError(op string, err error) error {
	return opError(op, nil, l.Addr(), err)
}
