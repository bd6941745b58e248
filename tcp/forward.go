package tcp

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ForwardRequest is a SYN that arrived in forwarding mode (Config.Forward),
// waiting for the application to decide, before any answer goes out,
// whether to Accept, Refuse or Drop it. Exactly one decision counts; the
// others return at once. Its methods are safe for use from any goroutine.
type ForwardRequest struct {
	s       *Stack
	p       *fwdPending // the host's record; guarded by the stack's mu
	id      FourTuple
	decided atomic.Bool
}

// fwdDecision is a Refuse or Drop waiting for the loop.
type fwdDecision struct {
	r      *ForwardRequest
	refuse bool
}

// stackForward is the Stack's side of forwarding mode: the decisions made
// off the loop (Refuse and Drop may run inside Config.Forward, while the
// loop holds mu), and the signal that some are queued.
type stackForward struct {
	mu    sync.Mutex
	queue []fwdDecision
	wake  chan struct{}
}

// ID returns the SYN's four-tuple: Local is the address and port the peer
// asked for (the original destination), Remote the peer.
func (r *ForwardRequest) ID() FourTuple { return r.id }

// Accept answers the SYN with a SYN-ACK from the original destination and
// returns the connection once the handshake completes. It fails if the
// request was decided already, timed out (Config.ForwardTimeout) or was
// reset by the peer, if the handshake fails (a RST, or no ACK after
// Config.SynAckRetries), or if the stack is closed. It blocks, so it must
// not be called inside Config.Forward.
func (r *ForwardRequest) Accept() (*Conn, error) {
	s := r.s
	laddr, raddr := net.TCPAddrFromAddrPort(r.id.Local), net.TCPAddrFromAddrPort(r.id.Remote)
	fail := func(err error) (*Conn, error) { return nil, opError("accept", laddr, raddr, err) }
	if !r.decided.CompareAndSwap(false, true) {
		return fail(errForwardDecided)
	}
	var c *Conn
	var err error
	if e := s.runOnLoop(func(now time.Time) {
		var t *tcb
		if t, err = s.host.forwardAccept(now, r.p); err == nil {
			c = newConn(s, t)
			s.conns[t] = c
		}
	}); e != nil {
		return fail(e)
	}
	if err != nil {
		return fail(err)
	}
	select {
	case <-c.estab:
	case <-s.done:
	}
	ok := false
	if e := s.runOnLoop(func(now time.Time) {
		if ok = c.estabOK; ok {
			if tr := s.cfg.Tracer; tr != nil {
				tr.UserEvent(now, c.id, UserEvent{Kind: EventAcceptReturned})
			}
			return
		}
		err = c.tcb.err
		if err == nil {
			// A passive TCB reset in SYN-RECEIVED goes back to LISTEN with no error (§3.10.7.4).
			err = syscall.ECONNRESET
		}
	}); e != nil {
		return fail(e)
	}
	if !ok {
		return fail(err)
	}
	return c, nil
}

// Refuse answers the SYN with a RST from the original destination, as a
// closed port does. It does not block.
func (r *ForwardRequest) Refuse() { r.decide(true) }

// Drop forgets the SYN without an answer; the peer will send it again,
// and that SYN makes a new request. It does not block.
func (r *ForwardRequest) Drop() { r.decide(false) }

// decide queues a Refuse or Drop for the loop, if no decision came first.
func (r *ForwardRequest) decide(refuse bool) {
	if !r.decided.CompareAndSwap(false, true) {
		return
	}
	f := &r.s.fwd
	f.mu.Lock()
	f.queue = append(f.queue, fwdDecision{r, refuse})
	f.mu.Unlock()
	signal(f.wake)
}

// forwardDispatch runs on the loop before each flush: it hands the new
// requests to Config.Forward and applies the Refuses and Drops queued
// since the last time, so that a decision made inside Config.Forward
// goes out in the same flush.
func (s *Stack) forwardDispatch() {
	if s.cfg.Forward == nil {
		return
	}
	for _, p := range s.host.takeFresh() {
		if p.gone == nil {
			s.cfg.Forward(&ForwardRequest{s: s, p: p, id: p.id})
		}
	}
	f := &s.fwd
	f.mu.Lock()
	q := f.queue
	f.queue = nil
	f.mu.Unlock()
	for _, d := range q {
		if d.refuse {
			s.host.forwardRefuse(d.r.p)
		} else {
			s.host.forwardDrop(d.r.p)
		}
	}
}

// forwardShutdown ends the pending requests as the stack closes.
func (s *Stack) forwardShutdown() {
	s.host.forwardClear(net.ErrClosed)
}
