package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
)

// kernelEcho is an echo server on the loopback of the test's own host: the
// "real destination" the relay dials. It echoes to EOF, then half-closes.
func kernelEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// echoThrough dials dst from the test net's peer stack, the client on the
// TUN's kernel side, sends size seeded octets, half-closes and checks that
// the same octets come back (SHA-256).
func echoThrough(t *testing.T, n *testNet, dst netip.AddrPort, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := n.peer.DialAddrPort(ctx, dst)
	require.NoError(t, err, "dial %v through utcp forward", dst)
	defer c.Close()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(dst.Port())}).Read(data)
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	h := sha256.New()
	got, err := io.Copy(h, c)
	require.NoError(t, err)
	assert.Equal(t, int64(size), got)
	assert.Equal(t, sha256.Sum256(data), [32]byte(h.Sum(nil)), "the echo is intact")
}

// dialRefused checks that a dial to dst through utcp forward gets a RST.
func dialRefused(t *testing.T, n *testNet, dst netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := n.peer.DialAddrPort(ctx, dst)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "a dial to %v is refused", dst)
}

func TestForward_DirectRelayAllowAndRefusal(t *testing.T) {
	echo := kernelEcho(t)
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	closedAt := closed.Addr().(*net.TCPAddr).AddrPort()
	closed.Close() // a port nobody listens on: the kernel refuses the relay's dial

	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "forward", "--allow", "127.0.0.0/8", "-v")
	c.stderr.waitFor(t, "forwarding every TCP connection")

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { echoThrough(t, n, echo, 256<<10+i) })
	}
	wg.Wait()
	dialRefused(t, n, netip.MustParseAddrPort("192.0.2.1:80")) // outside --allow
	dialRefused(t, n, closedAt)                                // the destination refused

	c.interrupt(syscall.SIGINT)
	assert.Equal(t, exitSignalBase+int(syscall.SIGINT), c.wait(t))
	out := c.stderr.String()
	assert.Contains(t, out, "forward: not_allowed=1 dialed=4 dial_refused=1")
	assert.Contains(t, out, "relayed=4 done=4")
	assert.Contains(t, out, "requests=6", "the stack counted every request")
}

// socks5Server is a SOCKS5 server (RFC 1928, CONNECT, no authentication)
// that connects every request to target, except port 7, which it
// answers with "connection refused". It records the destinations asked for.
type socks5Server struct {
	addr   string
	target netip.AddrPort
	mu     sync.Mutex
	asked  []netip.AddrPort
}

func newSOCKS5Server(t *testing.T, target netip.AddrPort) *socks5Server {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	s := &socks5Server{addr: ln.Addr().String(), target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *socks5Server) serve(c net.Conn) {
	defer c.Close()
	var b [262]byte
	// Greeting: VER NMETHODS METHODS; we choose "no authentication".
	if _, err := io.ReadFull(c, b[:2]); err != nil || b[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, b[:b[1]]); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	// Request: VER CMD RSV ATYP=1 DST.ADDR(4) DST.PORT(2).
	if _, err := io.ReadFull(c, b[:10]); err != nil || b[1] != 1 || b[3] != 1 {
		return
	}
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[8:10]))
	s.mu.Lock()
	s.asked = append(s.asked, dst)
	s.mu.Unlock()
	reply := []byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0}
	if dst.Port() == 7 {
		reply[1] = 5 // connection refused
		c.Write(reply)
		return
	}
	up, err := net.Dial("tcp4", s.target.String())
	if err != nil {
		reply[1] = 5
		c.Write(reply)
		return
	}
	defer up.Close()
	c.Write(reply)
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

func TestForward_SOCKS5(t *testing.T) {
	socks := newSOCKS5Server(t, kernelEcho(t))
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "forward", "--socks5", socks.addr, "--allow", "198.18.0.0/15", "--trace")
	c.stderr.waitFor(t, "forwarding every TCP connection")

	dst := netip.MustParseAddrPort("198.18.0.7:80")
	echoThrough(t, n, dst, 1<<20)
	dialRefused(t, n, netip.MustParseAddrPort("198.18.0.7:7")) // the proxy refused
	dialRefused(t, n, netip.MustParseAddrPort("10.1.2.3:80"))  // outside --allow: the proxy is not asked

	socks.mu.Lock()
	assert.Equal(t, []netip.AddrPort{dst, netip.MustParseAddrPort("198.18.0.7:7")}, socks.asked,
		"the proxy is asked for the original destinations")
	socks.mu.Unlock()
	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, exitSignalBase+int(syscall.SIGTERM), c.wait(t))
	ladder := c.stderr.String()
	assert.Contains(t, ladder, "utcp 198.18.0.7:80", "--trace draws the connection from the original destination")
	assert.Contains(t, ladder, "[RST, ACK] Seq=0 Ack=1 Win=0 Len=0", "and the refusals")
}

func TestParseArgs_Forward(t *testing.T) {
	o, err := parseArgs([]string{"forward", "--allow", "198.18.0.1/15", "--allow", "10.0.0.0/8", "--allow", "2001:db8::1/32", "--mark", "100"})
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}, o.allow)
	assert.Equal(t, 100, o.mark)
	for _, args := range [][]string{
		{"forward", "--allow", "nope"},
		{"forward", "--allow", "::ffff:10.0.0.0/104"},
		{"forward", "--allow", "fe80::/10%eth0"},
		{"forward", "--mark", "-1"},
		{"forward", "--dial-timeout", "0s"},
		{"forward", "80"},
	} {
		_, err := parseArgs(args)
		var ue *usageError
		assert.ErrorAs(t, err, &ue, "%v", args)
	}
}

// TestForward_ResetsPassThrough: a reset on either side of a relay resets
// the other side.
func TestForward_ResetsPassThrough(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dst := ln.Addr().(*net.TCPAddr).AddrPort()
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "forward")
	c.stderr.waitFor(t, "forwarding every TCP connection")
	// relay opens a relayed connection and returns its two ends: the
	// client's, on the peer stack, and the destination's.
	relay := func() (*tcp.Conn, *net.TCPConn) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		cc, err := n.peer.DialAddrPort(ctx, dst)
		require.NoError(t, err)
		t.Cleanup(func() { cc.Close() })
		sc, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { sc.Close() })
		_, err = cc.Write([]byte("hi"))
		require.NoError(t, err)
		require.NoError(t, sc.SetDeadline(time.Now().Add(waitLimit)))
		require.NoError(t, cc.SetDeadline(time.Now().Add(waitLimit)))
		b := make([]byte, 2)
		_, err = io.ReadFull(sc, b)
		require.NoError(t, err, "the relay carries the client's bytes")
		return cc, sc.(*net.TCPConn)
	}
	b := make([]byte, 8)

	cc, sc := relay()
	require.NoError(t, cc.Abort())
	_, err = sc.Read(b)
	assert.ErrorIs(t, err, syscall.ECONNRESET, "the client reset: the destination is reset")

	cc, sc = relay()
	require.NoError(t, sc.SetLinger(0))
	require.NoError(t, sc.Close()) // a RST
	_, err = cc.Read(b)
	assert.ErrorIs(t, err, syscall.ECONNRESET, "the destination reset: the client is reset")
}
