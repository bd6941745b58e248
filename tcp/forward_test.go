package tcp_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// forwardPair is a forwarding stack (10.0.0.1, fd00::1) and a client stack
// (10.0.0.2, fd00::2) joined by a tun.Pipe: every packet the client sends,
// to any address of either family, reaches the forwarding stack.
type forwardPair struct {
	fwd, client    *tcp.Stack
	fwdEnd, cliEnd *tun.PipeEnd
}

func newForwardPair(t *testing.T, cfg tcp.Config) *forwardPair {
	t.Helper()
	p := &forwardPair{}
	p.fwdEnd, p.cliEnd = tun.Pipe(1500)
	cfg.Addr = netip.MustParseAddr("10.0.0.1")
	cfg.Addrs = []netip.Addr{netip.MustParseAddr("fd00::1")}
	var err error
	p.fwd, err = tcp.NewStack(p.fwdEnd, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { p.fwd.Close(); p.fwdEnd.Close() })
	return p
}

func (p *forwardPair) startClient(t *testing.T) {
	t.Helper()
	var err error
	p.client, err = tcp.NewStack(p.cliEnd, tcp.Config{Addr: netip.MustParseAddr("10.0.0.2"), Addrs: []netip.Addr{netip.MustParseAddr("fd00::2")}})
	require.NoError(t, err)
	t.Cleanup(func() { p.client.Close(); p.cliEnd.Close() })
}

// seeded returns n pseudo-random octets from seed.
func seeded(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// TestForward_StackTransfers: a client dials two destinations through a
// forwarding stack, which accepts each and sends data that depends on the
// destination; both arrive intact, and each connection's local address is
// the original destination.
func TestForward_StackTransfers(t *testing.T) {
	const size = 1 << 20
	seeds := map[netip.AddrPort]uint64{
		netip.MustParseAddrPort("198.18.0.7:80"):         1,
		netip.MustParseAddrPort("203.0.113.5:443"):       2,
		netip.MustParseAddrPort("[2001:db8:18::7]:8080"): 3, // forwarded over IPv6 too
	}
	accepted := make(chan netip.AddrPort, len(seeds))
	p := newForwardPair(t, tcp.Config{Forward: func(req *tcp.ForwardRequest) {
		go func() {
			c, err := req.Accept()
			if !assert.NoError(t, err) {
				return
			}
			accepted <- c.ID().Local
			c.Write(seeded(seeds[req.ID().Local], size))
			c.Close()
		}()
	}})
	p.startClient(t)
	done := make(chan struct{})
	for dst, seed := range seeds {
		go func() {
			defer func() { done <- struct{}{} }()
			c, err := p.client.Dial(dst)
			if !assert.NoError(t, err, "dial %v", dst) {
				return
			}
			defer c.Close()
			assert.Equal(t, dst, c.ID().Remote, "the client sees the address it dialled")
			h := sha256.New()
			n, err := io.Copy(h, c)
			assert.NoError(t, err)
			assert.Equal(t, int64(size), n)
			assert.Equal(t, sha256.Sum256(seeded(seed, size)), [32]byte(h.Sum(nil)), "SHA-256 of what %v sent", dst)
		}()
	}
	for range seeds {
		<-done
	}
	close(accepted)
	var got []netip.AddrPort
	for a := range accepted {
		got = append(got, a)
	}
	assert.ElementsMatch(t, []netip.AddrPort{netip.MustParseAddrPort("198.18.0.7:80"), netip.MustParseAddrPort("203.0.113.5:443"),
		netip.MustParseAddrPort("[2001:db8:18::7]:8080")}, got,
		"each connection's local address is its original destination")
	st := p.fwd.Stats().Forward
	assert.Equal(t, uint64(3), st.Requests)
	assert.Equal(t, uint64(3), st.Accepted)
}

// TestForward_Decisions: Refuse gives the client ECONNREFUSED at once;
// Drop lets its SYN come again, which makes a second request; a second
// decision is refused.
func TestForward_Decisions(t *testing.T) {
	reqs := make(chan *tcp.ForwardRequest, 8)
	p := newForwardPair(t, tcp.Config{Forward: func(req *tcp.ForwardRequest) { reqs <- req }})
	p.startClient(t)

	errc := make(chan error, 1)
	go func() {
		_, err := p.client.Dial(netip.MustParseAddrPort("198.18.0.9:25"))
		errc <- err
	}()
	req := <-reqs
	req.Refuse()
	require.ErrorIs(t, <-errc, syscall.ECONNREFUSED)
	_, err := req.Accept()
	require.Error(t, err, "a second decision fails")

	conns := make(chan *tcp.Conn, 1)
	go func() {
		c, err := p.client.Dial(netip.MustParseAddrPort("198.18.0.9:80"))
		assert.NoError(t, err)
		conns <- c
	}()
	(<-reqs).Drop()
	req = <-reqs // the retransmitted SYN, after the initial RTO
	c, err := req.Accept()
	require.NoError(t, err)
	defer c.Close()
	cc := <-conns
	require.NotNil(t, cc)
	defer cc.Close()
	assert.Equal(t, c.ID().Local, cc.ID().Remote)
	st := p.fwd.Stats().Forward
	assert.Equal(t, tcp.ForwardStats{Requests: 3, Refused: 1, Dropped: 1, Accepted: 1}, st)
}

// TestForward_AcceptAfterClose: an undecided request fails its Accept once
// the stack is closed.
func TestForward_AcceptAfterClose(t *testing.T) {
	reqs := make(chan *tcp.ForwardRequest, 1)
	p := newForwardPair(t, tcp.Config{Forward: func(req *tcp.ForwardRequest) { reqs <- req }})
	p.startClient(t)
	go p.client.Dial(netip.MustParseAddrPort("198.18.0.9:80"))
	req := <-reqs
	p.fwd.Close()
	_, err := req.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestForward_Echo: with ForwardEcho an echo request to any address is
// answered from that address; without it only the stack's own address answers.
func TestForward_Echo(t *testing.T) {
	for _, echo := range []bool{false, true} {
		p := newForwardPair(t, tcp.Config{Forward: func(r *tcp.ForwardRequest) { r.Drop() }, ForwardEcho: echo})
		src := netip.MustParseAddr("10.0.0.2")
		for _, dst := range []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("198.18.0.7")} {
			require.NoError(t, p.cliEnd.WritePacket(ip.AppendEchoRequest(nil, src, dst, 7, 1, []byte("ping"))))
			want := echo || dst == p.fwd.Addr()
			b := make([]byte, 1500)
			if !want {
				require.Eventually(t, func() bool { return p.fwd.Stats().IP.NotForUs == 1 }, 5*time.Second, time.Millisecond,
					"the request to %v is dropped", dst)
				continue
			}
			n, err := p.cliEnd.ReadPacket(b)
			require.NoError(t, err)
			h, payload, err := ip.Parse(b[:n])
			require.NoError(t, err)
			m, err := ip.ParseICMP(payload)
			require.NoError(t, err)
			assert.Equal(t, dst, h.Src, "the reply comes from the address asked")
			assert.Equal(t, uint8(ip.ICMPTypeEchoReply), m.Type)
		}
	}
}
