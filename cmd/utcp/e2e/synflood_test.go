package e2e

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tcp"
)

// The SYN flood: spoofed sources in a range with no route back, at a
// fixed rate, for a bounded time. UTCP_SYNFLOOD_DURATION (a Go duration)
// sets the time; a few seconds by default, for CI.
const (
	floodRate     = 20000 // SYNs per second
	floodTick     = 5 * time.Millisecond
	floodMax      = 10 * time.Minute // the most UTCP_SYNFLOOD_DURATION may ask for
	floodInterval = 100 * time.Millisecond
)

var floodSources = netip.MustParsePrefix("10.77.0.0/16")

func floodDuration(t testing.TB) time.Duration {
	v := os.Getenv("UTCP_SYNFLOOD_DURATION")
	if v == "" {
		return 3 * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "UTCP_SYNFLOOD_DURATION")
	require.True(t, d > 0 && d <= floodMax, "UTCP_SYNFLOOD_DURATION %v: want (0, %v]", d, floodMax)
	return d
}

// requireNoWayBack checks that the SYN-ACKs to the flood's sources die in
// the namespace: forwarding is off and no route leads to them.
func requireNoWayBack(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	require.NoError(t, err)
	require.Equal(t, "0", strings.TrimSpace(string(b)), "forwarding is off in the test's namespace")
	routes, err := netlink.RouteGet(net.IP(floodSources.Addr().AsSlice()))
	if err == nil {
		for _, r := range routes {
			require.Nil(t, r.Gw, "no gateway toward the flood's sources: %v", r)
		}
	}
}

// flood sends spoofed SYNs to dst from a raw socket (IP_HDRINCL) at
// floodRate until ctx ends, each from another source address and port of
// floodSources, and returns how many went. It runs in its own goroutine;
// the result arrives on the channel.
func flood(t testing.TB, ctx context.Context, dst netip.AddrPort) <-chan int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW) // IPPROTO_RAW implies IP_HDRINCL
	require.NoError(t, err, "a raw socket (root in the test's namespace)")
	to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
	done := make(chan int, 1)
	go func() {
		defer unix.Close(fd)
		tick := time.NewTicker(floodTick)
		defer tick.Stop()
		start := time.Now()
		seg := tcp.Segment{DstPort: dst.Port(), Flags: tcp.FlagSYN, Window: 64240, Options: tcp.Options{
			MSS: 1460, SACKPermitted: true, HasTimestamp: true, HasWindowScale: true, WindowScale: 7}}
		base := floodSources.Addr().As4()
		var tcpBuf, pkt []byte
		sent, i := 0, 0
		for {
			select {
			case <-ctx.Done():
				done <- sent
				return
			case <-tick.C:
			}
			// As many as the rate allows since the start: a late tick catches up.
			for due := int(time.Since(start).Seconds() * floodRate); i < due; {
				i++
				src := base
				src[2], src[3] = byte(i>>8), byte(i)
				srcAddr := netip.AddrFrom4(src)
				seg.SrcPort, seg.Seq, seg.Options.TSVal = uint16(1024+i%60000), tcp.Seq(uint32(i)*2654435761), uint32(i)
				tcpBuf = tcp.AppendSegment(tcpBuf[:0], &seg, srcAddr, dst.Addr())
				pkt = ip.AppendPacket(pkt[:0], &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: srcAddr, Dst: dst.Addr()}, tcpBuf)
				// A full TUN queue drops a packet (ENOBUFS): that SYN is lost, as on a real link.
				if err := unix.Sendto(fd, pkt, 0, to); err == nil {
					sent++
				}
			}
		}
	}()
	return done
}

// connectDuringFlood connects from the kernel to dst, sends one byte and
// waits for the server's FIN: a connection whose cookie failed would be
// reset instead. It returns how long the connect took.
//
// The client speaks first, as in HTTP. A cookie keeps no state, so when
// the handshake's final ACK is lost (the TUN queue overflows under the
// flood) the server never learns of the connection and never retransmits
// anything (RFC 4987 §3.6). A client that only waited would sit idle until
// its keep-alive probe drew a RST. The byte's segment carries the same ACK,
// and the client retransmits it until it is acknowledged.
func connectDuringFlood(t testing.TB, dst netip.AddrPort) time.Duration {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	start := time.Now()
	c, err := d.Dial("tcp4", dst.String())
	took := time.Since(start)
	require.NoError(t, err, "a real client's connect during the flood")
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	_, err = c.Write([]byte{1})
	require.NoError(t, err)
	var one [1]byte
	_, err = c.Read(one[:])
	require.ErrorIs(t, err, io.EOF, "the connection is real: the server accepts it, reads the byte and closes it")
	return took
}

// readOne reads one byte from c, so that closing it then sends a FIN,
// not the RST that unread data would draw (RFC 9293 SHLD-3).
func readOne(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	var one [1]byte
	io.ReadFull(c, one[:])
}

// floodTarget starts a stack with the default configuration on the TUN
// device name, and a listener on port that reads one byte from each
// connection and closes it.
func floodTarget(t testing.TB, name string, port uint16) *tcp.Stack {
	t.Helper()
	st := stackOnTUN(t, name, tcp.Config{})
	requireNoWayBack(t)
	ln, err := st.Listen(port)
	require.NoError(t, err)
	go serveEach(ln, readOne)
	t.Cleanup(func() { ln.Close() })
	return st
}

// tunDropped is how many packets the kernel dropped on their way into the
// TUN device name (its queue was full): lost before the stack saw them.
func tunDropped(t testing.TB, name string) uint64 {
	t.Helper()
	l, err := netlink.LinkByName(name)
	require.NoError(t, err)
	if st := l.Attrs().Statistics; st != nil {
		return st.TxDropped
	}
	return 0
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestSYNFlood floods a listener of the in-process stack with spoofed SYNs
// at 20k/s while a kernel client connects every 100 ms: SYN cookies
// (RFC 4987 §3.6) answer the flood once the half-open table is full, so
// every real connect succeeds, and the stack's heap stays bounded.
func TestSYNFlood(t *testing.T) {
	const port = 7100
	st := floodTarget(t, "utcpsyn1", port)
	connectDuringFlood(t, utcpAt(port)) // warm up: the kernel's route and the stack's loop

	dur := floodDuration(t)
	before := heapInUse()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	sent := flood(t, ctx, utcpAt(port))
	var lat []time.Duration
	peak := before
	tick := time.NewTicker(floodInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		lat = append(lat, connectDuringFlood(t, utcpAt(port)))
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	n := <-sent
	after := heapInUse()
	s := st.Stats()
	t.Logf("flood: %d spoofed SYNs in %v (%.0f/s); stack: %d cookies sent, %d accepted, %d rejected, %d half-open evicted, %d freed after SYN-ACK retries",
		n, dur, float64(n)/dur.Seconds(), s.SynCookiesSent, s.SynCookiesAccepted, s.SynCookiesRejected, s.HalfOpenEvicted, s.SynAckRetriesExceeded)
	t.Logf("real connects: %d, all succeeded; latency p50 %v, p99 %v, max %v", len(lat),
		percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1))
	t.Logf("packets the kernel dropped at the TUN queue: %d", tunDropped(t, "utcpsyn1"))
	t.Logf("Go heap in use: %.1f MiB before, %.1f MiB peak, %.1f MiB after", mib(before), mib(peak), mib(after))
	assert.Greater(t, n, int(floodRate*dur.Seconds()/2), "the flood ran at about its rate")
	assert.NotZero(t, s.SynCookiesSent, "the half-open table filled, and cookies answered the rest")
	assert.NotZero(t, s.SynCookiesAccepted, "real clients came in with cookies")
	assert.Less(t, after, before+64<<20, "no state per spoofed SYN: the heap stays bounded")
	assert.Less(t, peak, before+128<<20, "nor does it grow during the flood")
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// BenchmarkSYNFloodConnect is a kernel client's connect to the stack, and
// the server's FIN, while spoofed SYNs arrive at 20k/s; p50, p99, the
// maximum and the connects that took 0.5 s or more are reported beside the mean.
func BenchmarkSYNFloodConnect(b *testing.B) {
	const port = 7101
	st := floodTarget(b, "utcpsyn2", port)
	ctx, cancel := context.WithTimeout(context.Background(), floodMax)
	defer cancel()
	sent := flood(b, ctx, utcpAt(port))
	// Let the flood fill the half-open table first.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(waitTimeout); st.Stats().SynCookiesSent == 0; <-poll.C {
		if time.Now().After(deadline) {
			b.Fatal("no SYN cookie sent: the flood did not reach the stack")
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		lat = append(lat, connectDuringFlood(b, utcpAt(port)))
	}
	b.StopTimer()
	cancel()
	if n := <-sent; n == 0 {
		b.Fatal("the flood sent nothing")
	}
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(percentile(lat, 1).Milliseconds()), "max-ms")
	slow := 0
	for _, d := range lat {
		if d >= 500*time.Millisecond {
			slow++ // a SYN lost on the way and sent again after the kernel's 1 s RTO
		}
	}
	b.ReportMetric(float64(slow), "slow-connects")
	b.ReportMetric(float64(tunDropped(b, "utcpsyn2")), "tun-drops")
}
