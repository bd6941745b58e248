package e2e

import (
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// The IPv6 pair on the test TUN devices: the kernel's side and utcp's.
var (
	kernelIP6 = tun.DefaultKernelAddr6
	utcpIP6   = tun.DefaultPeerAddr6
)

// stackOnDualTUN opens a TUN device with both address pairs and a
// dual-stack stack on it.
func stackOnDualTUN(t *testing.T, name string) *tcp.Stack {
	t.Helper()
	st, _ := stackOnDevice(t, tun.Config{Name: name, KernelAddr: kernelIP, PeerAddr: utcpIP, KernelAddr6: kernelIP6, PeerAddr6: utcpIP6, MTU: 1500},
		tcp.Config{Addrs: []netip.Addr{utcpIP6}})
	return st
}

// The kernel's IPv6 and utcp's move 8 MiB each way through the TUN,
// intact, with the MSS an IPv6 header leaves (RFC 8200 §8.3).
func TestIPv6_KernelBothWays(t *testing.T) {
	st := stackOnDualTUN(t, "utcp6a")
	size := int64(8 << 20)
	if testing.Short() {
		size = 2 << 20
	}

	// Kernel → utcp.
	ln, err := st.Listen(4601)
	require.NoError(t, err)
	defer ln.Close()
	got := hashAccepted(ln)
	d := net.Dialer{Timeout: waitTimeout}
	kc, err := d.Dial("tcp6", netip.AddrPortFrom(utcpIP6, 4601).String())
	require.NoError(t, err, "the kernel connects to utcp's IPv6 address")
	require.NoError(t, kc.SetDeadline(time.Now().Add(waitTimeout)))
	want := sha256.New()
	_, err = io.Copy(kc, io.TeeReader(io.LimitReader(newPattern(6), size), want))
	require.NoError(t, err)
	require.NoError(t, kc.(*net.TCPConn).CloseWrite())
	sum, ok := <-got
	require.True(t, ok, "utcp accepted the connection")
	kc.Close()
	assert.Equal(t, [32]byte(want.Sum(nil)), sum, "kernel → utcp over IPv6, intact")

	// utcp → kernel.
	kl, err := net.Listen("tcp6", netip.AddrPortFrom(kernelIP6, 4602).String())
	require.NoError(t, err)
	defer kl.Close()
	serveSHA256(kl)
	before, after, took := sendForSHA256(t, st, netip.AddrPortFrom(kernelIP6, 4602), size)
	assert.Equal(t, 1500-60-12, before.Options.MSS, "the kernel's MSS over IPv6, less the timestamps")
	t.Logf("utcp → kernel over IPv6: %d MiB in %v; %d retransmits", size>>20, took.Round(time.Millisecond), after.Retransmits)
}

// The kernel, routing to a second namespace over a 1280-octet hop, answers
// utcp's full-sized IPv6 packets with packet too big; utcp's MSS follows
// and the transfer completes (RFC 8201 §4).
func TestIPv6_KernelRouterPacketTooBig_RFC8201(t *testing.T) {
	st := stackOnDualTUN(t, "utcp6p")
	server := newPMTUServer(t)
	var ln net.Listener
	require.NoError(t, server.inNS(func() (err error) {
		ln, err = listenWhenReady("tcp6", netip.AddrPortFrom(pmtuServerAddr6, pmtuPort))
		return err
	}))
	defer ln.Close()
	serveSHA256(ln)
	size := pmtuSize()
	before, after, took := sendForSHA256(t, st, netip.AddrPortFrom(pmtuServerAddr6, pmtuPort), size)
	assert.Equal(t, 1500-60-12, before.Options.MSS, "the server's MSS over IPv6, less the timestamps")
	assert.Equal(t, pmtuHopMTU, after.PathMTU, "the router's MTU from its packet too big")
	assert.Equal(t, pmtuHopMTU-60-12, after.Options.MSS, "the MSS fits the narrower hop")
	assert.NotZero(t, after.PMTUDecreases)
	assert.Zero(t, after.BlackHoleDetections, "the router spoke: no guessing")
	t.Logf("%d MiB over IPv6 through a %d-octet hop in %v: MSS %d → %d, %d retransmits, %d timeouts",
		size>>20, pmtuHopMTU, took.Round(time.Millisecond), before.Options.MSS, after.Options.MSS, after.Retransmits, after.Timeouts)
}

// listenWhenReady listens on addr, retrying while an address just added is
// not yet usable (the kernel brings it up in a work queue).
func listenWhenReady(network string, addr netip.AddrPort) (net.Listener, error) {
	deadline := time.Now().Add(waitTimeout)
	for {
		ln, err := net.Listen(network, addr.String())
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// `utcp echo --ipv6` serves both families on one port: the kernel's IPv6
// and IPv4 clients get their bytes back.
func TestIPv6_EchoCommandDualStack(t *testing.T) {
	p := startUtcp(t, "utcp6e", "echo", "--ipv6", "7601")
	p.waitStderr(t, "listening on 10.9.0.2:7601 and [fd00:9::2]:7601")
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(utcpIP6, 7601), utcpAt(7601)} {
		network := "tcp4"
		if to.Addr().Is6() {
			network = "tcp6"
		}
		c, err := (&net.Dialer{Timeout: waitTimeout}).Dial(network, to.String())
		require.NoError(t, err, "dial %v", to)
		require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
		data := make([]byte, 1<<20)
		_, err = io.ReadFull(newPattern(uint64(to.Port())), data)
		require.NoError(t, err)
		go func() {
			c.Write(data)
			c.(*net.TCPConn).CloseWrite()
		}()
		back, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, sha256.Sum256(data), sha256.Sum256(back), "the echo over %s", network)
		c.Close()
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t)
}
