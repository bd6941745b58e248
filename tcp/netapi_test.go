package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// httpPair is an http.Server on B's listener and an http.Client whose
// Transport dials through A's DialContext, in real time. B's address is
// addrServer; with v6 both stacks have an IPv6 address too.
func httpPair(t *testing.T, addrServer netip.Addr, v6 bool) (*Stack, *Stack, *http.Client, uint16) {
	t.Helper()
	ea, eb := tun.Pipe(1500)
	cfg := func(a netip.Addr, a6 string) Config {
		c := Config{Addr: a, MinRTO: 200 * time.Millisecond}
		if v6 {
			c.Addrs = []netip.Addr{netip.MustParseAddr(a6)}
		}
		return c
	}
	a, err := NewStack(ea, cfg(addrA, "2001:db8::1"))
	require.NoError(t, err)
	b, err := NewStack(eb, cfg(addrServer, "2001:db8::2"))
	require.NoError(t, err)
	ln, err := b.ListenAddr("tcp", "[::]:0") // both families, as a kernel socket bound to ::
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.RemoteAddr, r.Host)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tr := &http.Transport{DialContext: a.DialContext}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		<-served
		a.Close()
		b.Close()
		ea.Close()
		eb.Close()
	})
	return a, b, &http.Client{Transport: tr, Timeout: 10 * time.Second}, ln.(*Listener).Port()
}

func getBody(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	return string(body)
}

// http.Transport dials through Stack.DialContext: an IPv4 literal, and a
// name net.DefaultResolver finds in /etc/hosts ("localhost", 127.0.0.1,
// which the server stack takes as its address).
func TestDialContext_HTTPTransport(t *testing.T) {
	_, _, client, port := httpPair(t, addrB, false)
	body := getBody(t, client, fmt.Sprintf("http://%v:%d/", addrB, port))
	assert.Contains(t, body, "hello 10.0.0.1:")
	body = getBody(t, client, fmt.Sprintf("http://%v:%d/again", addrB, port))
	assert.Contains(t, body, "hello 10.0.0.1:", "a second request, on the kept-alive connection")
}

func TestDialContext_HTTPTransportByName(t *testing.T) {
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost")
	if err != nil || len(addrs) == 0 || addrs[0].Unmap() != netip.MustParseAddr("127.0.0.1") {
		t.Skipf("localhost does not resolve to 127.0.0.1 offline: %v %v", addrs, err)
	}
	_, _, client, port := httpPair(t, netip.MustParseAddr("127.0.0.1"), false)
	body := getBody(t, client, fmt.Sprintf("http://localhost:%d/", port))
	assert.Contains(t, body, fmt.Sprintf("from localhost:%d", port))
}

// Over IPv6 too, on a dual-stack pair: "tcp" and "tcp6" with an IPv6 literal.
func TestDialContext_HTTPTransportIPv6(t *testing.T) {
	a, _, client, port := httpPair(t, addrB, true)
	body := getBody(t, client, fmt.Sprintf("http://[2001:db8::2]:%d/", port))
	assert.Contains(t, body, "hello [2001:db8::1]:")
	c, err := a.DialContext(context.Background(), "tcp6", fmt.Sprintf("[2001:db8::2]:%d", port))
	require.NoError(t, err)
	assert.Equal(t, "2001:db8::1", c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().String())
	c.Close()
}

// A canceled context fails the request and the Dial, with ctx's error.
func TestDialContext_Canceled(t *testing.T) {
	a, _, client, port := httpPair(t, addrB, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%v:%d/", addrB, port), nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	assert.ErrorIs(t, err, context.Canceled)

	_, err = a.DialContext(ctx, "tcp", fmt.Sprintf("%v:%d", addrB, port))
	assert.ErrorIs(t, err, context.Canceled)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)

	// A context that ends during the handshake: the SYN to a silent address goes unanswered.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = a.DialContext(ctx, "tcp4", "10.0.0.77:80")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDialContext_BadNetworkOrAddress(t *testing.T) {
	p := newPair(t, fastConfig(addrA), fastConfig(addrB))
	ctx := context.Background()
	tests := []struct {
		network, address string
		check            func(t *testing.T, err error)
	}{
		{"udp", "10.0.0.2:80", func(t *testing.T, err error) {
			var u net.UnknownNetworkError
			assert.ErrorAs(t, err, &u)
		}},
		{"tcp6", "10.0.0.2:80", func(t *testing.T, err error) { assert.ErrorContains(t, err, "wrong family for tcp6") }},
		{"tcp4", "[2001:db8::2]:80", func(t *testing.T, err error) { assert.ErrorContains(t, err, "wrong family for tcp4") }},
		{"tcp", "[2001:db8::2]:80", func(t *testing.T, err error) {
			assert.ErrorIs(t, err, syscall.ENETUNREACH, "an IPv4-only stack has no route to IPv6")
		}},
		{"tcp", "10.0.0.2", func(t *testing.T, err error) { assert.ErrorContains(t, err, "missing port") }},
		{"tcp", "10.0.0.2:http", func(t *testing.T, err error) { assert.ErrorContains(t, err, "invalid port") }},
		{"tcp", "10.0.0.2:70000", func(t *testing.T, err error) { assert.ErrorContains(t, err, "invalid port") }},
		{"tcp", ":80", func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrInvalidAddr) }},
		{"tcp", "no-such-host.invalid:80", func(t *testing.T, err error) {
			var d *net.DNSError
			assert.ErrorAs(t, err, &d)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.address, func(t *testing.T) {
			c, err := p.a.DialContext(ctx, tt.network, tt.address)
			assert.Nil(t, c)
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			assert.Equal(t, "dial", op.Op)
			tt.check(t, err)
		})
	}
}

func TestListenAddrPort(t *testing.T) {
	p := newPair(t, fastConfig(addrA), fastConfig(addrB))
	held, err := p.b.Listen(86)
	require.NoError(t, err)
	defer held.Close()
	tests := []struct {
		name    string
		addr    netip.AddrPort
		wantErr error
	}{
		{"own address", netip.AddrPortFrom(addrB, 81), nil},
		{"unspecified", netip.AddrPortFrom(netip.IPv4Unspecified(), 82), nil},
		{"mapped own address", netip.AddrPortFrom(netip.AddrFrom16(addrB.As16()), 83), nil},
		{"ephemeral", netip.AddrPortFrom(addrB, 0), nil},
		{"another address", netip.AddrPortFrom(addrA, 84), syscall.EADDRNOTAVAIL},
		{"IPv6 not ours", netip.MustParseAddrPort("[2001:db8::2]:85"), syscall.EADDRNOTAVAIL},
		{"IPv6 unspecified", netip.MustParseAddrPort("[::]:87"), nil},
		{"port in use", netip.AddrPortFrom(netip.IPv4Unspecified(), 86), syscall.EADDRINUSE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := p.b.ListenAddrPort(tt.addr)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				var op *net.OpError
				assert.ErrorAs(t, err, &op)
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
			if tt.addr.Port() != 0 {
				assert.Equal(t, tt.addr.Port(), ln.Port())
			} else {
				assert.NotZero(t, ln.Port())
			}
			assert.Equal(t, netip.AddrPortFrom(tt.addr.Addr().Unmap(), ln.Port()).String(), ln.Addr().String(), "the address it was bound to")
		})
	}
}

// A listener bound to one address takes connections to it only; 0.0.0.0
// takes IPv4 only and :: both families, as kernel sockets bound to them.
func TestListenAddrPort_BoundAddressOnly(t *testing.T) {
	p := newPair(t, Config{Addr: addrA, Addrs: []netip.Addr{addrA6}}, Config{Addr: addrB, Addrs: []netip.Addr{addrB6}})
	tests := []struct {
		bind     netip.Addr
		takes4   bool
		takes6   bool
		shownFor string
	}{
		{addrB, true, false, "10.0.0.2"},
		{addrB6, false, true, "fd00::2"},
		{netip.IPv4Unspecified(), true, false, "0.0.0.0"},
		{netip.IPv6Unspecified(), true, true, "::"},
	}
	for i, tt := range tests {
		port := uint16(7000 + i)
		t.Run(tt.shownFor, func(t *testing.T) {
			ln, err := p.b.ListenAddrPort(netip.AddrPortFrom(tt.bind, port))
			require.NoError(t, err)
			defer ln.Close()
			for _, c := range []struct {
				dst   netip.Addr
				takes bool
			}{{addrB, tt.takes4}, {addrB6, tt.takes6}} {
				conn, err := p.a.Dial(netip.AddrPortFrom(c.dst, port))
				if !c.takes {
					assert.ErrorIs(t, err, syscall.ECONNREFUSED, "a SYN to %v: no listener takes it, so a RST", c.dst)
					continue
				}
				require.NoError(t, err, "dial %v", c.dst)
				got, err := ln.AcceptTCP()
				require.NoError(t, err)
				assert.Equal(t, c.dst, got.ID().Local.Addr())
				got.Close()
				conn.Close()
			}
		})
	}
}

func TestListenAddr(t *testing.T) {
	p := newPair(t, fastConfig(addrA), fastConfig(addrB))
	ln, err := p.b.ListenAddr("tcp4", "10.0.0.2:90")
	require.NoError(t, err)
	defer ln.Close()
	assert.Equal(t, "10.0.0.2:90", ln.Addr().String())
	ln2, err := p.b.ListenAddr("tcp", ":0")
	require.NoError(t, err)
	defer ln2.Close()
	_, err = p.b.ListenAddr("udp", ":91")
	var u net.UnknownNetworkError
	assert.ErrorAs(t, err, &u)
	_, err = p.b.ListenAddr("tcp", "10.0.0.1:91")
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)

	// A connection to the listener's address comes out of its Accept.
	done := make(chan error, 1)
	go func() {
		c, err := p.a.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	c, err := ln.Accept()
	require.NoError(t, err)
	c.Close()
	require.NoError(t, <-done)
}

// AcceptContext returns ctx's error when ctx ends, and the connection that
// arrives after that is still there for the next Accept.
func TestAcceptContext(t *testing.T) {
	p := newPair(t, fastConfig(addrA), fastConfig(addrB))
	ln, err := p.b.Listen(80)
	require.NoError(t, err)
	defer ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := ln.AcceptContext(ctx)
		got <- err
	}()
	cancel()
	err = <-got
	assert.ErrorIs(t, err, context.Canceled)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "accept", op.Op)

	ca, err := p.a.Dial(netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	defer ca.Close()
	_, err = ln.AcceptContext(ctx)
	assert.ErrorIs(t, err, context.Canceled, "an ended context fails even with a connection queued")

	cb, err := ln.AcceptContext(context.Background())
	require.NoError(t, err, "the queued connection was not lost")
	defer cb.Close()
	assert.Equal(t, ca.LocalAddr().String(), cb.RemoteAddr().String())

	ln.Close()
	_, err = ln.AcceptContext(context.Background())
	assert.True(t, errors.Is(err, net.ErrClosed))
}
