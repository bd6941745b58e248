package tcp

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Listener accepts connections on one port of a Stack (a passive OPEN, RFC
// 9293 §3.10.1). It implements net.Listener. Every SYN to the port gets a
// TCB of its own, while at most Config.MaxHalfOpen of them are in
// SYN-RECEIVED; those that complete the three-way handshake wait in a queue
// of at most Config.Backlog connections until Accept takes them.
type Listener struct {
	s    *Stack
	port uint16
	addr netip.Addr   // the address it was bound to; zero for Listen
	ls   *listenState // the host's listener; guarded by the stack's mu

	ready  chan struct{} // the loop signals a connection in the queue
	closed chan struct{} // closed by Close (or by the stack's Close)
	once   sync.Once
	dl     deadline
}

var _ net.Listener = (*Listener)(nil)

// Listen starts listening on port; port 0 picks a free ephemeral port. It
// fails with an error wrapping syscall.EADDRINUSE if the port already has a
// listener.
func (s *Stack) Listen(port uint16) (*Listener, error) {
	return s.listen(netip.Addr{}, port)
}

// listen is Listen for connections to addr only; a zero or unspecified
// addr takes every address of the stack (0.0.0.0: of IPv4 only, as a
// kernel socket bound to it).
func (s *Stack) listen(addr netip.Addr, port uint16) (*Listener, error) {
	ln := &Listener{s: s, ready: make(chan struct{}, 1), closed: make(chan struct{}), addr: addr}
	bound, only4 := addr, addr == netip.IPv4Unspecified()
	if addr.IsUnspecified() {
		bound = netip.Addr{}
	}
	var err error
	if e := s.runOnLoop(func(time.Time) {
		if s.shuttingDown {
			err = net.ErrClosed
			return
		}
		ln.ls, err = s.host.listenAt(bound, only4, port)
		if err == nil {
			ln.port = ln.ls.port
			s.listeners[ln.port] = ln
		}
	}); e != nil {
		err = e
	}
	if err != nil {
		return nil, opError("listen", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(ln.shownAddr(), port)), err)
	}
	return ln, nil
}

// Addr returns the listening address, a *net.TCPAddr: the address it was
// bound to, or for Listen the stack's first (Config.Addr).
func (l *Listener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.shownAddr(), l.port))
}

func (l *Listener) shownAddr() netip.Addr {
	if l.addr.IsValid() {
		return l.addr
	}
	return l.s.cfg.Addr
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
	return l.AcceptContext(context.Background())
}

// acceptOnLoop is Accept's work, run as the loop (runOnLoop): it takes the first
// connection of the queue and gives it a Conn.
func (l *Listener) acceptOnLoop(now time.Time) *Conn {
	if l.isClosed() {
		return nil
	}
	t := l.s.host.accept(l.ls)
	if t == nil {
		return nil
	}
	if len(l.ls.queue) > 0 {
		signal(l.ready) // for the next Accept
	}
	c := newConn(l.s, t)
	c.finishHandshake(true)
	if st := t.state; st != StateClosed {
		l.s.conns[t] = c // unless it was reset while queued: then the host has dropped it
	}
	if tr := l.s.cfg.Tracer; tr != nil {
		// "accept() has a connection": the third segment arrived.
		tr.UserEvent(now, c.id, UserEvent{Kind: EventAcceptReturned})
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
		l.s.host.closeListener(now, l.ls)
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
