package e2e

import (
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/netsim"
	"github.com/utcp/utcp/tun/tuntest"
)

// impairCells are the paths of BenchmarkImpairedGoodput: random loss each
// way and a round trip split evenly between the two directions.
var impairCells = []struct {
	loss float64
	rtt  time.Duration
}{
	{0, 20 * time.Millisecond}, {0.01, 20 * time.Millisecond}, {0.05, 20 * time.Millisecond},
	{0, 100 * time.Millisecond}, {0.01, 100 * time.Millisecond}, {0.05, 100 * time.Millisecond},
}

// cellImpairment is one direction of a cell. The limit is well above the
// kernel's largest window at 100 ms, so only the loss drops packets.
func cellImpairment(loss float64, rtt time.Duration, seed uint64) netsim.Impairment {
	return netsim.Impairment{Delay: rtt / 2, Loss: loss, Limit: 20000, Seed: seed}
}

// goodputWindow is how long each measurement sends: a fixed time, not a
// fixed size, since at 100 ms and 5% loss a few MiB take minutes.
func goodputWindow() time.Duration {
	if s := os.Getenv("UTCP_GOODPUT_WINDOW"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return 4 * time.Second
}

// BenchmarkImpairedGoodput is one connection's goodput, kernel → utcp, on
// an impaired path, in MiB/s received, both ways: utcp receives from the
// kernel, and utcp_sends sends to it. The references are the kernel's own
// TCP on both ends of the same impairment (two namespaces and a relay):
// ref_kernel with the kernel's default congestion control (net.ipv4.
// tcp_congestion_control, BBR on some machines), ref_kernel_cubic with
// CUBIC set on the sending socket, the algorithm utcp sends with.
// UTCP_GOODPUT_INFO=1 logs both ends' TCP state.
func BenchmarkImpairedGoodput(b *testing.B) {
	for i, cell := range impairCells {
		name := fmt.Sprintf("loss=%g%%_rtt=%v", cell.loss*100, cell.rtt)
		b.Run(name, func(b *testing.B) {
			b.Run("utcp", func(b *testing.B) {
				n := 120 + i
				kernel, addr := pairAddrs(n)
				st := impairedStackOnTUN(b, fmt.Sprintf("utcpg%d", n), kernel, addr,
					cellImpairment(cell.loss, cell.rtt, 1), cellImpairment(cell.loss, cell.rtt, 2))
				ln, err := st.Listen(5100)
				require.NoError(b, err)
				defer ln.Close()
				benchGoodput(b, netip.AddrPortFrom(addr, 5100), "", func() (io.ReadCloser, error) { return ln.AcceptTCP() })
			})
			b.Run("utcp_sends", func(b *testing.B) {
				n := 160 + i
				kernel, addr := pairAddrs(n)
				st := impairedStackOnTUN(b, fmt.Sprintf("utcps%d", n), kernel, addr,
					cellImpairment(cell.loss, cell.rtt, 1), cellImpairment(cell.loss, cell.rtt, 2))
				ln, err := net.Listen("tcp4", netip.AddrPortFrom(kernel, 5100).String())
				require.NoError(b, err)
				defer ln.Close()
				benchGoodputSend(b, st, netip.AddrPortFrom(kernel, 5100), ln)
			})
			for j, cc := range []string{"", "cubic"} {
				name := "ref_kernel"
				if cc != "" {
					name += "_" + cc
				}
				b.Run(name, func(b *testing.B) {
					p := newKernelPath(b, 140+20*j+i, cellImpairment(cell.loss, cell.rtt, 1), cellImpairment(cell.loss, cell.rtt, 2))
					ln := p.listenFar(b, 5100)
					benchGoodput(b, netip.AddrPortFrom(p.far, 5100), cc, func() (io.ReadCloser, error) { return ln.Accept() })
					if os.Getenv("UTCP_GOODPUT_INFO") != "" {
						ab, ba := p.relay.Stats()
						b.Logf("relay a→b %+v\nb→a %+v", ab, ba)
					}
				})
			}
		})
	}
}

// impairedStackOnTUN is stackOnTUN on address pair kernel/addr with the
// TUN device wrapped in netsim: out for what the stack sends, in for what
// it receives.
func impairedStackOnTUN(b *testing.B, name string, kernel, addr netip.Addr, out, in netsim.Impairment) *tcp.Stack {
	b.Helper()
	tuntest.RequireNetns(b)
	dev, err := openTUN(tun.Config{Name: name, KernelAddr: kernel, PeerAddr: addr, MTU: 1500})
	require.NoError(b, err)
	link, err := netsim.Wrap(dev, out, in)
	if err != nil {
		dev.Close()
		require.NoError(b, err)
	}
	st, err := tcp.NewStack(link, tcp.Config{Addr: addr})
	if err != nil {
		link.Close()
		require.NoError(b, err)
	}
	b.Cleanup(func() {
		st.Close()
		link.Close()
	})
	return st
}

// benchGoodput measures b.N times: the kernel dials to, accept gives the
// receiving end, the kernel sends for goodputWindow and the bytes received
// in that window are counted. It reports their mean rate in MiB/s.
func benchGoodput(b *testing.B, to netip.AddrPort, cc string, accept func() (io.ReadCloser, error)) {
	window := goodputWindow()
	var total int64
	b.ResetTimer()
	for range b.N {
		total += measureGoodput(b, to, cc, accept, window)
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/(1<<20)/(window.Seconds()*float64(b.N)), "MiB/s")
}

func measureGoodput(b *testing.B, to netip.AddrPort, cc string, accept func() (io.ReadCloser, error), window time.Duration) int64 {
	b.Helper()
	c := dialKernel(b, to, 0)
	defer c.Close()
	if cc != "" {
		rc, err := c.SyscallConn()
		require.NoError(b, err)
		var serr error
		require.NoError(b, rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
		}))
		require.NoError(b, serr, "TCP_CONGESTION %s on the kernel's sending socket", cc)
	}
	r, err := accept()
	require.NoError(b, err)
	defer r.Close()
	var got atomic.Int64
	readDone := countReads(r, &got)
	start := time.Now()
	if os.Getenv("UTCP_GOODPUT_INFO") != "" {
		rc, _ := c.SyscallConn()
		go func() {
			for time.Since(start) < window {
				time.Sleep(200 * time.Millisecond)
				rc.Control(func(fd uintptr) {
					if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
						b.Logf("t=%v cwnd=%d ssthresh=%d rtt=%dus total_retrans=%d lost=%d sacked=%d ca_state=%d unacked=%d dsack_dups=%d reord_seen=%d reordering=%d", time.Since(start).Round(time.Millisecond), ti.Snd_cwnd, ti.Snd_ssthresh, ti.Rtt, ti.Total_retrans, ti.Lost, ti.Sacked, ti.Ca_state, ti.Unacked, ti.Dsack_dups, ti.Reord_seen, ti.Reordering)
					}
				})
			}
		}()
	}
	require.NoError(b, c.SetWriteDeadline(start.Add(window)))
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			require.ErrorIs(b, err, os.ErrDeadlineExceeded, "the kernel sends until the window ends")
			break
		}
	}
	n := got.Load()
	if os.Getenv("UTCP_GOODPUT_INFO") != "" {
		if rc, err := c.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
					b.Logf("kernel sender: cwnd=%d ssthresh=%d rtt=%dus retrans=%d total_retrans=%d lost=%d sacked=%d reord=%d ca_state=%d mss=%d", ti.Snd_cwnd, ti.Snd_ssthresh, ti.Rtt, ti.Retrans, ti.Total_retrans, ti.Lost, ti.Sacked, ti.Reordering, ti.Ca_state, ti.Snd_mss)
				}
			})
		}
	}
	if tc, ok := r.(*tcp.Conn); ok && os.Getenv("UTCP_GOODPUT_INFO") != "" {
		b.Logf("utcp receiver: %+v\n%+v", tc.Info(), tc.Stats())
	}
	if ab, ok := r.(interface{ Abort() error }); ok {
		ab.Abort() // utcp: no need to drain what is still in flight
	}
	c.SetLinger(0)
	c.Close()
	r.Close()
	<-readDone
	return n
}

var _ net.Conn = (*tcp.Conn)(nil)

// benchGoodputSend is benchGoodput the other way: utcp sends to a kernel
// listener for goodputWindow, and the bytes the kernel received count.
func benchGoodputSend(b *testing.B, st *tcp.Stack, to netip.AddrPort, ln net.Listener) {
	window := goodputWindow()
	var total int64
	b.ResetTimer()
	for range b.N {
		c, err := st.Dial(to)
		require.NoError(b, err)
		r, err := ln.Accept()
		require.NoError(b, err)
		var got atomic.Int64
		readDone := countReads(r, &got)
		require.NoError(b, c.SetWriteDeadline(time.Now().Add(window)))
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				require.ErrorIs(b, err, os.ErrDeadlineExceeded, "utcp sends until the window ends")
				break
			}
		}
		total += got.Load()
		if os.Getenv("UTCP_GOODPUT_INFO") != "" {
			b.Logf("utcp sender: %+v", c.Info())
		}
		c.Abort()
		r.Close()
		<-readDone
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/(1<<20)/(window.Seconds()*float64(b.N)), "MiB/s")
}

// countReads reads r until it fails, adding what it read to got; the
// channel closes when it stops.
func countReads(r io.Reader, got *atomic.Int64) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return done
}
