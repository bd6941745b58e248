package tcp

import (
	"errors"
	"net"
	"sync"
)

// MultiListener accepts the connections of one port on several stacks: the
// stacks of a multi-queue TUN device (tun.OpenMultiQueue), one per queue,
// all with the same address. The kernel hands each connection it opens to
// one queue by a hash of its four-tuple, so each stack holds its share and
// no state is shared. It implements net.Listener.
//
// Only connections the kernel opens are sharded this way: the kernel sends
// the SYN-ACK for a Dial on one of the stacks to the queue its hash picks,
// and the stack there resets it (one Dial in n succeeds with n queues). Dial
// from a stack on a device of its own.
type MultiListener struct {
	lns    []*Listener
	conns  chan *Conn
	errs   chan error
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

var _ net.Listener = (*MultiListener)(nil)

// ListenAll listens on port on every stack; port 0 picks a free port on the
// first and uses it on the others.
func ListenAll(stacks []*Stack, port uint16) (*MultiListener, error) {
	if len(stacks) == 0 {
		return nil, errors.New("tcp: ListenAll: no stacks")
	}
	m := &MultiListener{conns: make(chan *Conn), errs: make(chan error, len(stacks)), closed: make(chan struct{})}
	for _, s := range stacks {
		ln, err := s.Listen(port)
		if err != nil {
			m.closeListeners()
			return nil, err
		}
		port = ln.Port()
		m.lns = append(m.lns, ln)
	}
	for _, ln := range m.lns {
		m.wg.Add(1)
		go m.acceptFrom(ln)
	}
	return m, nil
}

// acceptFrom hands ln's connections to Accept until ln fails.
func (m *MultiListener) acceptFrom(ln *Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			select {
			case m.errs <- err:
			case <-m.closed:
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.closed:
			c.Abort() // accepted after Close: nobody will take it
			return
		}
	}
}

// Accept waits for the next connection on any of the stacks.
func (m *MultiListener) Accept() (net.Conn, error) {
	c, err := m.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP waits for the next connection on any of the stacks. After
// Close, or once one of the listeners has failed (its stack closed), it
// returns an error wrapping net.ErrClosed.
func (m *MultiListener) AcceptTCP() (*Conn, error) {
	select {
	case <-m.closed:
		return nil, m.lns[0].opError("accept", net.ErrClosed)
	default:
	}
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		m.errs <- err // every later Accept fails alike; the buffer has room for it
		return nil, err
	case <-m.closed:
		return nil, m.lns[0].opError("accept", net.ErrClosed)
	}
}

// Addr returns the listening address, the same on every stack.
func (m *MultiListener) Addr() net.Addr { return m.lns[0].Addr() }

// Port returns the listening port.
func (m *MultiListener) Port() uint16 { return m.lns[0].Port() }

// Listeners returns the listener of each stack, in the order of the stacks.
func (m *MultiListener) Listeners() []*Listener { return m.lns }

// Close closes every listener and waits for their accept goroutines.
func (m *MultiListener) Close() error {
	first := false
	m.once.Do(func() {
		close(m.closed)
		first = true
	})
	if !first {
		return m.lns[0].opError("close", net.ErrClosed)
	}
	m.closeListeners()
	m.wg.Wait()
	return nil
}

func (m *MultiListener) closeListeners() {
	for _, ln := range m.lns {
		ln.Close()
	}
}
