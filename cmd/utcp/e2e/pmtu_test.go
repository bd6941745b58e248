package e2e

import (
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/netsim"
	"github.com/utcp/utcp/tun/tuntest"
)

// The first PMTU test puts the kernel between utcp and a server, as a router
// whose next hop has a smaller MTU than utcp's link:
//
//	utcp 10.9.0.2 ─TUN, 1500─ 10.9.0.1 [test namespace, forwarding]
//	    10.11.0.1 ─veth, 1280 out─ 10.11.0.2 [second namespace: the server]
//
// The router's side of the veth pair has MTU 1280 and the server's 1500,
// so the server announces an MSS of 1460 and only the router knows of the
// narrower hop: it answers utcp's 1500-octet datagrams (DF set) with
// fragmentation needed, next-hop MTU 1280 (RFC 1191).

const (
	pmtuHopMTU   = 1280 // the router's next hop
	pmtuPort     = 4900
	pmtuDeadline = 60 * time.Second // the whole transfer: a stall fails the test
)

var (
	pmtuRouterAddr = netip.MustParseAddr("10.11.0.1")
	pmtuServerAddr = netip.MustParseAddr("10.11.0.2")
	// The same path over IPv6 (ipv6_test.go).
	pmtuRouterAddr6 = netip.MustParseAddr("fd00:11::1")
	pmtuServerAddr6 = netip.MustParseAddr("fd00:11::2")
)

// pmtuSize is how much utcp sends: 16 MiB, 4 MiB under -short.
func pmtuSize() int64 {
	if testing.Short() {
		return 4 << 20
	}
	return 16 << 20
}

func TestPMTU_KernelRouterFragNeeded_RFC1191(t *testing.T) {
	st := stackOnTUN(t, "utcpp0", tcp.Config{})
	server := newPMTUServer(t)
	serveSHA256(server.listenFar(t, pmtuPort))
	size := pmtuSize()
	before, after, took := sendForSHA256(t, st, netip.AddrPortFrom(pmtuServerAddr, pmtuPort), size)
	assert.Equal(t, 1460-12, before.Options.MSS, "the MSS the server announced, less the timestamps")
	assert.Equal(t, pmtuHopMTU, after.PathMTU, "the router's next-hop MTU")
	assert.Equal(t, pmtuHopMTU-40-12, after.Options.MSS, "the MSS fits the narrower hop")
	assert.NotZero(t, after.PMTUDecreases)
	assert.Zero(t, after.BlackHoleDetections, "the router spoke: no guessing")
	stats := st.Stats()
	assert.NotZero(t, stats.ICMPErrorsAccepted, "fragmentation needed reached the connection")
	t.Logf("%d MiB through a %d-octet hop in %v (%.1f MiB/s): MSS %d before, %d after; path MTU %d; %d PMTU decreases, %d retransmits, %d timeouts; ICMP errors accepted %d, ignored %d; ip %v",
		size>>20, pmtuHopMTU, took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds(),
		before.Options.MSS, after.Options.MSS, after.PathMTU, after.PMTUDecreases, after.Retransmits, after.Timeouts,
		stats.ICMPErrorsAccepted, stats.ICMPErrorsIgnored, stats.IP)
}

// A PMTU black hole against the kernel: utcp's packets to it pass through
// netsim, which drops those over 1280 octets without a word (RFC 4821,
// RFC 8899 §4.3). Black-hole detection lowers the MSS after two timeouts;
// the transfer completes intact.
func TestPMTU_BlackHoleToKernel_RFC4821(t *testing.T) {
	tuntest.RequireNetns(t)
	dev, err := openTUN(tun.Config{Name: "utcpb0", KernelAddr: kernelIP, PeerAddr: utcpIP, MTU: 1500})
	require.NoError(t, err)
	link, err := netsim.Wrap(dev, netsim.Impairment{MTU: pmtuHopMTU}, netsim.Impairment{})
	if err != nil {
		dev.Close()
		require.NoError(t, err)
	}
	st, err := tcp.NewStack(link, tcp.Config{Addr: utcpIP})
	if err != nil {
		link.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		assert.NoError(t, st.Close())
		assert.NoError(t, link.Close(), "closes the device too")
	})
	ln, err := net.Listen("tcp4", kernelAt(pmtuPort).String())
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	serveSHA256(ln)
	size := pmtuSize() / 4
	before, after, took := sendForSHA256(t, st, kernelAt(pmtuPort), size)
	assert.Equal(t, 1460-12, before.Options.MSS)
	assert.Equal(t, uint64(1), after.BlackHoleDetections, "one step down")
	assert.Equal(t, pmtuHopMTU, after.PathMTU)
	assert.Equal(t, pmtuHopMTU-40-12, after.Options.MSS)
	assert.Zero(t, after.PMTUDecreases, "no ICMP came")
	out := link.OutStats()
	assert.NotZero(t, out.TooBig, "the path dropped the large segments")
	t.Logf("%d MiB into a %d-octet black hole in %v (%.1f MiB/s): MSS %d before, %d after; %d black-hole steps, %d timeouts, %d retransmits; path %+v",
		size>>20, pmtuHopMTU, took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds(),
		before.Options.MSS, after.Options.MSS, after.BlackHoleDetections, after.Timeouts, after.Retransmits, out)
}

// serveSHA256 accepts one connection on ln, reads it to EOF and answers
// with the SHA-256 of what it read.
func serveSHA256(ln net.Listener) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(pmtuDeadline))
		h := sha256.New()
		if _, err := io.Copy(h, c); err == nil {
			c.Write(h.Sum(nil))
		}
	}()
}

// sendForSHA256 dials to from st, sends size bytes of a pattern, and
// checks the SHA-256 the server answers, all within pmtuDeadline. It
// returns the connection's Info after the handshake and at the end.
func sendForSHA256(t *testing.T, st *tcp.Stack, to netip.AddrPort, size int64) (before, after tcp.Info, took time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := st.Dial(to)
	require.NoError(t, err, "utcp dials the server")
	defer c.Close()
	before = c.Info()
	require.NoError(t, c.SetDeadline(start.Add(pmtuDeadline)))
	want := sha256.New()
	_, err = io.CopyBuffer(c, io.TeeReader(io.LimitReader(newPattern(uint64(to.Port())), size), want), make([]byte, 64<<10))
	require.NoError(t, err, "utcp sends everything before the deadline")
	require.NoError(t, c.CloseWrite())
	got, err := io.ReadAll(c)
	took = time.Since(start)
	require.NoError(t, err, "the server's answer, then its FIN")
	assert.Equal(t, want.Sum(nil), got, "the server read every byte intact (SHA-256)")
	return before, c.Info(), took
}

// newPMTUServer makes the second namespace and the veth pair to it, turns
// forwarding on in the test's namespace (only there: it is the test
// binary's own), and returns the server's side, whose listenFar and inNS
// work as a kernelPath's. Cleanup deletes the pair and the namespace.
func newPMTUServer(t *testing.T) *kernelPath {
	t.Helper()
	p := &kernelPath{near: pmtuRouterAddr, far: pmtuServerAddr, ns: -1}
	require.NoError(t, onNewThread(func() error {
		// netns.New unshares this thread into a fresh namespace; the
		// thread dies with the goroutine.
		ns, err := netns.New()
		p.ns = ns
		return err
	}), "the second namespace")
	t.Cleanup(func() { assert.NoError(t, p.ns.Close()) })

	const near, far = "pmtur", "pmtus"
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: near, MTU: pmtuHopMTU}, PeerName: far}
	require.NoError(t, netlink.LinkAdd(veth), "the veth pair")
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(near); err == nil {
			assert.NoError(t, netlink.LinkDel(l), "deleting one end deletes both")
		}
	})
	peer, err := netlink.LinkByName(far)
	require.NoError(t, err)
	require.NoError(t, netlink.LinkSetMTU(peer, 1500), "the server's end: it announces MSS 1460")
	require.NoError(t, netlink.LinkSetNsFd(peer, int(p.ns)))
	link, err := netlink.LinkByName(near)
	require.NoError(t, err)
	require.NoError(t, netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(pmtuRouterAddr, 24))}))
	require.NoError(t, netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(pmtuRouterAddr6, 64)), Flags: unix.IFA_F_NODAD}))
	require.NoError(t, netlink.LinkSetUp(link))
	require.NoError(t, p.inNS(func() error {
		for _, name := range []string{"lo", far} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if name == far {
				if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(pmtuServerAddr, 24))}); err != nil {
					return err
				}
				if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(pmtuServerAddr6, 64)), Flags: unix.IFA_F_NODAD}); err != nil {
					return err
				}
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		// Back to utcp through the router, over either family.
		if err := netlink.RouteAdd(&netlink.Route{Dst: prefixNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0)), Gw: pmtuRouterAddr.AsSlice()}); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Dst: prefixNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0)), Gw: pmtuRouterAddr6.AsSlice()})
	}), "configure the second namespace")
	setSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	setSysctl(t, "/proc/sys/net/ipv6/conf/all/forwarding", "1")
	return p
}

// setSysctl writes v to the sysctl file path of the test's namespace and
// restores the old value at cleanup.
func setSysctl(t *testing.T, path, v string) {
	t.Helper()
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(v), 0o644))
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
}

// prefixNet is p as a *net.IPNet, for netlink.
func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
