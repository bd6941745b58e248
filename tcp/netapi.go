package tcp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The shapes of package net: dialling and listening by network and
// address string, and Accept with a context.

// DialContext connects to address on the named network, with the shape of
// net.Dialer.DialContext, so it fits http.Transport.DialContext. The
// network is "tcp", "tcp4" or "tcp6"; address is "host:port" where host is
// an IP literal or a name, resolved with net.DefaultResolver: the first
// address of the network's family ("tcp": of a family the stack has an
// address of) is dialled. When ctx ends before the handshake completes the
// attempt is abandoned (see DialAddrPort). Errors are *net.OpError values.
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

// resolve turns a network and "host:port" into an address and port. An
// empty host is the unspecified address of the network's family.
func (s *Stack) resolve(ctx context.Context, op, network, address string) (netip.AddrPort, error) {
	fail := func(err error) (netip.AddrPort, error) {
		return netip.AddrPort{}, &net.OpError{Op: op, Net: network, Err: err}
	}
	var lookup string // the resolver's network
	switch network {
	case "tcp":
		lookup = "ip"
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
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
	fits := func(a netip.Addr) bool { // of the network's family
		return lookup == "ip" || (lookup == "ip4") == a.Is4()
	}
	var addr netip.Addr
	switch a, err := netip.ParseAddr(host); {
	case host == "" && network == "tcp4":
		addr = netip.IPv4Unspecified()
	case host == "":
		// As net.Listen: an empty host listens on both families.
		addr = netip.IPv6Unspecified()
	case err == nil:
		addr = a.Unmap()
		if !fits(addr) {
			return fail(&net.AddrError{Err: "address of the wrong family for " + network, Addr: host})
		}
	default:
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, lookup, host)
		if err != nil {
			return fail(err)
		}
		for _, a := range addrs {
			if _, ours := s.host.localFor(a.Unmap()); ours && fits(a.Unmap()) {
				addr = a.Unmap()
				break
			}
		}
		if !addr.IsValid() {
			return fail(&net.DNSError{Err: "no address of a family the stack has", Name: host, IsNotFound: true})
		}
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ListenAddrPort listens on addr's port for connections to addr, one of
// the stack's addresses, or, with an unspecified address, to every address
// of the stack: of IPv4 only for 0.0.0.0 and of both families for ::, as
// kernel sockets bound to them. Any other address fails with an error
// wrapping syscall.EADDRNOTAVAIL. Port 0 picks an ephemeral port. A port
// has one listener, whatever its address (EADDRINUSE).
func (s *Stack) ListenAddrPort(addr netip.AddrPort) (*Listener, error) {
	if a := addr.Addr().Unmap(); !a.IsUnspecified() && !s.ep.IsLocal(a) {
		return nil, opError("listen", nil, net.TCPAddrFromAddrPort(addr), syscall.EADDRNOTAVAIL)
	}
	return s.listen(addr.Addr().Unmap(), addr.Port())
}

// ListenAddr listens with the shape of net.Listen: network "tcp", "tcp4"
// or "tcp6", address "host:port" where host is empty, unspecified, an
// address of the stack or a name that resolves to one (see
// ListenAddrPort).
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
