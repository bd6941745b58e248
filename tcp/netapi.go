package tcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The shapes of package net: dialling and listening by network and
// address string, and Accept with a context.

// errIPv6 is the error for an IPv6 address: the stack is IPv4 only.
var errIPv6 = errors.New("tcp: IPv6 is not supported")

// DialContext connects to address on the named network, with the shape of
// net.Dialer.DialContext, so it fits http.Transport.DialContext. The
// network is "tcp" or "tcp4"; address is "host:port" where host is an IPv4
// literal or a name, resolved with net.DefaultResolver to its first IPv4
// address. When ctx ends before the handshake completes the attempt is
// abandoned (see DialAddrPort). Errors are *net.OpError values.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := s.resolve(ctx, "dial", network, address)
	if err != nil {
		return nil, err
	}
	c, err := s.DialAddrPort(ctx, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// resolve turns a network and "host:port" into an IPv4 address and port.
func (s *Stack) resolve(ctx context.Context, op, network, address string) (netip.AddrPort, error) {
	fail := func(err error) (netip.AddrPort, error) {
		return netip.AddrPort{}, &net.OpError{Op: op, Net: network, Err: err}
	}
	switch network {
	case "tcp", "tcp4":
	default:
		return fail(net.UnknownNetworkError(network))
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return fail(err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fail(&net.AddrError{Err: "invalid port", Addr: address})
	}
	var addr netip.Addr
	switch a, err := netip.ParseAddr(host); {
	case host == "":
		addr = netip.IPv4Unspecified()
	case err == nil:
		addr = a.Unmap()
	default:
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
		if err != nil {
			return fail(err)
		}
		for _, a := range addrs {
			if a = a.Unmap(); a.Is4() {
				addr = a
				break
			}
		}
		if !addr.IsValid() {
			return fail(&net.DNSError{Err: "no IPv4 address", Name: host, IsNotFound: true})
		}
	}
	if !addr.Is4() {
		return fail(&net.AddrError{Err: errIPv6.Error(), Addr: host})
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ListenAddrPort listens on addr, which is the stack's address or the
// unspecified address 0.0.0.0; port 0 picks an ephemeral port. Any other
// address fails with an error wrapping syscall.EADDRNOTAVAIL.
func (s *Stack) ListenAddrPort(addr netip.AddrPort) (*Listener, error) {
	if a := addr.Addr().Unmap(); a != s.cfg.Addr && a != netip.IPv4Unspecified() {
		return nil, opError("listen", nil, net.TCPAddrFromAddrPort(addr), syscall.EADDRNOTAVAIL)
	}
	return s.Listen(addr.Port())
}

// ListenAddr listens with the shape of net.Listen: network "tcp" or
// "tcp4", address "host:port" where host is empty, 0.0.0.0, the stack's
// address or a name that resolves to it (see ListenAddrPort).
func (s *Stack) ListenAddr(network, address string) (net.Listener, error) {
	ap, err := s.resolve(context.Background(), "listen", network, address)
	if err != nil {
		return nil, err
	}
	ln, err := s.ListenAddrPort(ap)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// AcceptContext waits, as AcceptTCP does, for the next connection, or until
// ctx ends: then it returns ctx.Err() in a *net.OpError, and the
// connection that arrives later stays queued for the next Accept.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	for {
		select {
		case <-l.closed:
			return nil, l.opError("accept", net.ErrClosed)
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, l.opError("accept", err)
		}
		if l.dl.expired() {
			return nil, l.opError("accept", os.ErrDeadlineExceeded)
		}
		var c *Conn
		if e := l.s.runOnLoop(func(now time.Time) { c = l.acceptOnLoop(now) }); e != nil {
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
		case <-ctx.Done():
		}
	}
}
