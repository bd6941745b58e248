package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/proxy"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/tcp"
)

// forwarder is `utcp forward`: a transparent TCP proxy on the stack's
// forwarding mode. Every SYN that reaches the TUN device is relayed to its
// original destination through the host's own network: the dial comes
// first, and only a connection that succeeded is accepted.
type forwarder struct {
	s    *session
	dial func(ctx context.Context, addr string) (up, raw net.Conn, err error)

	ctx    context.Context // ends when the command does: pending dials give up
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[io.Closer]struct{} // both ends of every relay, to abort at the end

	stats forwardCounters
}

// forwardCounters are the relay's counters, printed by -v.
type forwardCounters struct {
	notAllowed, dialed, dialRefused, dialTimeouts, acceptFailed, relayed, done atomic.Uint64
	bytesUp, bytesDown                                                         atomic.Uint64
}

// ForwardCounters is a snapshot of forwardCounters, for printing.
type ForwardCounters struct {
	NotAllowed, Dialed, DialRefused, DialTimeouts, AcceptFailed, Relayed, Done, BytesUp, BytesDown uint64
}

func (c *forwardCounters) snapshot() ForwardCounters {
	return ForwardCounters{
		NotAllowed: c.notAllowed.Load(), Dialed: c.dialed.Load(), DialRefused: c.dialRefused.Load(),
		DialTimeouts: c.dialTimeouts.Load(), AcceptFailed: c.acceptFailed.Load(), Relayed: c.relayed.Load(),
		Done: c.done.Load(), BytesUp: c.bytesUp.Load(), BytesDown: c.bytesDown.Load(),
	}
}

// forwardSetup puts the stack in forwarding mode for `utcp forward`; setup
// calls it before the stack starts.
func (s *session) forwardSetup(cfg *tcp.Config) {
	if s.o.cmd != "forward" {
		return
	}
	f := &forwarder{s: s, conns: make(map[io.Closer]struct{})}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	base := &net.Dialer{Control: outgoingControl(s.o.mark, s.o.bindIface)}
	if s.o.socks5 == "" {
		f.dial = func(ctx context.Context, addr string) (net.Conn, net.Conn, error) {
			c, err := base.DialContext(ctx, "tcp", addr) // addr names the family
			return c, c, err
		}
	} else {
		f.dial = func(ctx context.Context, addr string) (net.Conn, net.Conn, error) {
			// The proxy's connection, kept to half-close it: the SOCKS
			// client's wrapper has no CloseWrite.
			var raw net.Conn
			d, err := proxy.SOCKS5("tcp", s.o.socks5, nil, contextDialer(func(ctx context.Context, network, a string) (net.Conn, error) {
				c, err := base.DialContext(ctx, network, a)
				raw = c
				return c, err
			}))
			if err != nil {
				return nil, nil, err
			}
			up, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
			if err != nil && raw != nil {
				raw.Close()
			}
			return up, raw, err
		}
	}
	s.fwd = f
	cfg.Forward = f.request
}

// contextDialer is a dial function as a proxy.Dialer and proxy.ContextDialer.
type contextDialer func(ctx context.Context, network, addr string) (net.Conn, error)

func (d contextDialer) Dial(network, addr string) (net.Conn, error) {
	return d(context.Background(), network, addr)
}

func (d contextDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}

// outgoingControl marks the relay's own sockets (SO_MARK, for a routing
// rule that keeps them off the TUN device) or binds them to an interface
// (SO_BINDTODEVICE), so that they do not loop back into utcp.
func outgoingControl(mark int, iface string) func(network, address string, c syscall.RawConn) error {
	if mark == 0 && iface == "" {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if mark != 0 {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark); serr != nil {
					serr = os.NewSyscallError("setsockopt SO_MARK", serr)
					return
				}
			}
			if iface != "" {
				serr = os.NewSyscallError("setsockopt SO_BINDTODEVICE", unix.BindToDevice(int(fd), iface))
			}
		})
		return errors.Join(err, serr)
	}
}

// request is Config.Forward: on the stack's loop, so it decides at once
// (a destination outside --allow is refused) or starts the relay's goroutine.
func (f *forwarder) request(req *tcp.ForwardRequest) {
	if !f.allowed(req.ID().Local.Addr()) {
		f.stats.notAllowed.Add(1)
		req.Refuse()
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Err() != nil {
		req.Drop() // the command is ending
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.relay(req)
	}()
}

// allowed reports whether --allow lets the relay reach dst; no --allow lets all.
func (f *forwarder) allowed(dst netip.Addr) bool {
	if len(f.s.o.allow) == 0 {
		return true
	}
	for _, p := range f.s.o.allow {
		if p.Contains(dst) {
			return true
		}
	}
	return false
}

// relay dials the request's original destination, then accepts (the dial
// succeeded), refuses (it failed: refused, unreachable) or drops (it timed
// out: the peer's next SYN tries again), and copies both ways.
func (f *forwarder) relay(req *tcp.ForwardRequest) {
	id := req.ID()
	ctx, cancel := context.WithTimeout(f.ctx, f.s.o.dialTimeout)
	up, raw, err := f.dial(ctx, id.Local.String())
	cancel()
	if err != nil {
		if isTimeout(err) || f.ctx.Err() != nil {
			f.stats.dialTimeouts.Add(1)
			req.Drop()
		} else {
			f.stats.dialRefused.Add(1)
			req.Refuse()
		}
		if f.s.o.verbose {
			fmt.Fprintf(f.s.stderr, "%v -> %v: %s\n", id.Remote, id.Local, describe(err))
		}
		return
	}
	f.stats.dialed.Add(1)
	c, err := req.Accept()
	if err != nil {
		f.stats.acceptFailed.Add(1)
		up.Close()
		return
	}
	if !f.track(c, up) {
		c.Abort()
		up.Close()
		return
	}
	f.stats.relayed.Add(1)
	var wg sync.WaitGroup
	var upN int64
	wg.Go(func() {
		var err error
		upN, err = io.Copy(up, c)
		f.stats.bytesUp.Add(uint64(upN))
		if err != nil {
			// The peer reset: so is the destination (SO_LINGER 0 makes
			// Close send a RST), which also ends the other copy.
			if tc, ok := raw.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			up.Close()
			return
		}
		closeWrite(raw) // the peer's FIN, passed on
	})
	n, err := io.Copy(c, up)
	f.stats.bytesDown.Add(uint64(n))
	if err != nil {
		c.Abort() // the destination failed: the peer learns it with a RST
		up.Close()
	} else {
		c.CloseWrite() // RFC 9293 §3.10.4: our FIN follows the destination's data
	}
	wg.Wait()
	c.Close()
	up.Close()
	f.untrack(c, up)
	f.stats.done.Add(1)
	if f.s.o.verbose {
		fmt.Fprintf(f.s.stderr, "%v -> %v: %d bytes up, %d down\n", id.Remote, id.Local, upN, n)
	}
}

// track records a relay's ends; false once the command is ending.
func (f *forwarder) track(a, b io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Err() != nil {
		return false
	}
	f.conns[a], f.conns[b] = struct{}{}, struct{}{}
	return true
}

func (f *forwarder) untrack(a, b io.Closer) {
	f.mu.Lock()
	delete(f.conns, a)
	delete(f.conns, b)
	f.mu.Unlock()
}

// closeWrite half-closes c if it can, else closes it.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// isTimeout reports whether a dial failed for want of an answer.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || errors.As(err, &ne) && ne.Timeout()
}

// forward runs until ctx ends, then resets the relays still open.
func (s *session) forward(ctx context.Context) error {
	f := s.fwd
	fmt.Fprintf(s.stderr, "forwarding every TCP connection that reaches %s\n", s.o.tun)
	<-ctx.Done()
	// f.mu orders this after any request being handed to a goroutine; the
	// ends are closed outside it, since the stack's loop takes it.
	f.mu.Lock()
	f.cancel()
	open := make([]io.Closer, 0, len(f.conns))
	for c := range f.conns {
		open = append(open, c)
	}
	f.mu.Unlock()
	for _, c := range open {
		if tc, ok := c.(*tcp.Conn); ok {
			tc.Abort() // interrupted: reset the relays still open
		} else {
			c.Close()
		}
	}
	f.wg.Wait()
	return ctx.Err()
}

// forwardVerbose prints the relay's counters for -v.
func (s *session) forwardVerbose(w io.Writer) {
	if s.fwd != nil {
		fmt.Fprintf(w, "forward: %s\n", counters(s.fwd.stats.snapshot()))
	}
}
