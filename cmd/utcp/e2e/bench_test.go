package e2e

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// The benchmarks run the stack in-process on a TUN device (MTU 1500) with
// the kernel's TCP, through Go's net package, as the peer. Each family has
// references measured in the same run, named ref_*, so that the figures
// read as ratios: the kernel's TCP over loopback in the same namespace, and
// for latency also an ICMP echo through the TUN and utcp's IP layer without
// TCP. `make bench` prints the medians and the ratios (cmd/benchtable).

// Ports and TUN names of the benchmarks; each sub-benchmark has its own.
const (
	benchPort = 5000
	loopback  = "127.0.0.1"
)

// BenchmarkThroughput is one connection's bulk transfer rate, in MB/s.
func BenchmarkThroughput(b *testing.B) {
	const chunk = 1 << 20
	b.Run("kernel_to_utcp", func(b *testing.B) {
		st := stackOnTUN(b, "utcpb1", tcp.Config{})
		k, c := utcpPair(b, st, benchPort+1)
		benchStream(b, chunk, k, c)
	})
	b.Run("utcp_to_kernel", func(b *testing.B) {
		st := stackOnTUN(b, "utcpb2", tcp.Config{})
		k, c := utcpPair(b, st, benchPort+2)
		benchStream(b, chunk, c, k)
	})
	// The same over a device with offload (--offload): 64 KiB segments both ways.
	offloaded := tun.Config{KernelAddr: kernelIP, PeerAddr: utcpIP, MTU: 1500, Offload: true}
	b.Run("kernel_to_utcp_offload", func(b *testing.B) {
		offloaded.Name = "utcpb8"
		st, _ := stackOnDevice(b, offloaded, tcp.Config{})
		k, c := utcpPair(b, st, benchPort+8)
		benchStream(b, chunk, k, c)
	})
	b.Run("utcp_to_kernel_offload", func(b *testing.B) {
		offloaded.Name = "utcpb9"
		st, _ := stackOnDevice(b, offloaded, tcp.Config{})
		k, c := utcpPair(b, st, benchPort+9)
		benchStream(b, chunk, c, k)
	})
	b.Run("ref_kernel_loopback", func(b *testing.B) {
		client, server := loopbackPair(b)
		benchStream(b, chunk, client, server)
	})
}

// benchStream times sending b.N chunks from src until dst has read them all.
func benchStream(b *testing.B, chunk int, src io.Writer, dst io.Reader) {
	b.Helper()
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	want := int64(b.N) * int64(chunk)
	got := make(chan error, 1)
	b.SetBytes(int64(chunk))
	b.ResetTimer()
	go func() {
		_, err := io.CopyN(io.Discard, dst, want)
		got <- err
	}()
	for range b.N {
		if _, err := src.Write(buf); err != nil {
			b.Fatalf("write: %v", err)
		}
	}
	if err := <-got; err != nil {
		b.Fatalf("read: %v", err)
	}
	b.StopTimer()
}

// BenchmarkHandshake is a whole connection with no data: the client dials,
// the server accepts and closes first, the client reads the EOF and closes.
func BenchmarkHandshake(b *testing.B) {
	// A short MSL keeps the TIME-WAIT connections of the closing side few.
	cfg := tcp.Config{MSL: 50 * time.Millisecond}
	b.Run("kernel_dials_utcp", func(b *testing.B) {
		st := stackOnTUN(b, "utcpb3", cfg)
		ln, err := st.Listen(benchPort + 3)
		require.NoError(b, err)
		go closeEach(ln)
		b.Cleanup(func() { ln.Close() })
		d := net.Dialer{Timeout: waitTimeout}
		benchHandshakes(b, func() (net.Conn, error) { return d.Dial("tcp4", utcpAt(benchPort+3).String()) })
	})
	b.Run("utcp_dials_kernel", func(b *testing.B) {
		st := stackOnTUN(b, "utcpb4", cfg)
		// A fresh port for each run: the kernel keeps the four-tuples of the
		// last run in TIME-WAIT (it closes first), and a new stack's ISNs,
		// from a new RFC 6528 key, may lie below their RCV.NXT. Such a SYN
		// gets an ACK, utcp answers with a RST and resends the SYN after its
		// 1 s RTO, which would make a restart cost a second per collision.
		ln, err := net.Listen("tcp4", kernelAt(0).String())
		require.NoError(b, err)
		go closeEach(ln)
		b.Cleanup(func() { ln.Close() })
		to := netip.MustParseAddrPort(ln.Addr().String())
		benchHandshakes(b, func() (net.Conn, error) { return st.Dial(to) })
	})
	b.Run("ref_kernel_loopback", func(b *testing.B) {
		ln, err := net.Listen("tcp4", loopback+":0")
		require.NoError(b, err)
		go closeEach(ln)
		b.Cleanup(func() { ln.Close() })
		d := net.Dialer{Timeout: waitTimeout}
		benchHandshakes(b, func() (net.Conn, error) { return d.Dial("tcp4", ln.Addr().String()) })
	})
}

// serveEach accepts connections until ln closes, and runs handle on each
// in a goroutine of its own, closing the connection when handle returns.
func serveEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// closeEach accepts connections and closes each at once, until ln closes.
func closeEach(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func benchHandshakes(b *testing.B, dial func() (net.Conn, error)) {
	b.Helper()
	var one [1]byte
	b.ResetTimer()
	for range b.N {
		c, err := dial()
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		if _, err := c.Read(one[:]); !errors.Is(err, io.EOF) {
			b.Fatalf("want the server's FIN (EOF), got %v", err)
		}
		c.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// BenchmarkRTT is the round trip of a 1-byte request and its 1-byte
// response on an established connection, with its median and 99th
// percentile; ref_tun_icmp is a ping through the TUN device and utcp's IP
// layer, without TCP.
func BenchmarkRTT(b *testing.B) {
	b.Run("kernel_to_utcp_echo", func(b *testing.B) {
		st := stackOnTUN(b, "utcpb5", tcp.Config{})
		k, c := utcpPair(b, st, benchPort+5)
		go echo(c)
		benchRoundTrips(b, func() error { return pingPong(k) })
	})
	b.Run("utcp_to_kernel_echo", func(b *testing.B) {
		st := stackOnTUN(b, "utcpb6", tcp.Config{})
		k, c := utcpPair(b, st, benchPort+6)
		go echo(k)
		benchRoundTrips(b, func() error { return pingPong(c) })
	})
	b.Run("ref_kernel_loopback", func(b *testing.B) {
		client, server := loopbackPair(b)
		go echo(server)
		benchRoundTrips(b, func() error { return pingPong(client) })
	})
	b.Run("ref_tun_icmp", func(b *testing.B) {
		stackOnTUN(b, "utcpb7", tcp.Config{}) // answers echo requests in its IP layer
		pc, err := icmp.ListenPacket("ip4:icmp", kernelIP.String())
		require.NoError(b, err)
		b.Cleanup(func() { pc.Close() })
		p := &pinger{pc: pc, to: &net.IPAddr{IP: utcpIP.AsSlice()}}
		benchRoundTrips(b, p.ping)
	})
}

// benchRoundTrips times each round trip and reports the median and the 99th
// percentile besides the mean (ns/op).
func benchRoundTrips(b *testing.B, roundTrip func() error) {
	b.Helper()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := roundTrip(); err != nil {
			b.Fatalf("round trip: %v", err)
		}
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(samples)
	pct := func(p float64) float64 { return float64(samples[int(p*float64(len(samples)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}

// pingPong sends one byte on c and reads the one that comes back.
func pingPong(c io.ReadWriter) error {
	var one [1]byte
	if _, err := c.Write(one[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, one[:])
	return err
}

// echo returns every byte c receives, until an error.
func echo(c io.ReadWriter) { echoWith(c, make([]byte, 64)) }

// echoWith is echo reading into buf.
func echoWith(c io.ReadWriter, buf []byte) {
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pinger sends ICMP echo requests from the kernel and waits for each reply.
type pinger struct {
	pc  *icmp.PacketConn
	to  net.Addr
	seq atomic.Uint32
	buf [1500]byte
}

const pingID = 0x7e57

func (p *pinger) ping() error {
	seq := int(uint16(p.seq.Add(1)))
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: pingID, Seq: seq, Data: []byte("utcp")}}
	wb, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := p.pc.WriteTo(wb, p.to); err != nil {
		return err
	}
	if err := p.pc.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		return err
	}
	for {
		n, _, err := p.pc.ReadFrom(p.buf[:])
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(1, p.buf[:n]) // 1: ICMP for IPv4
		if err != nil {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && m.Type == ipv4.ICMPTypeEchoReply && e.ID == pingID && e.Seq == seq {
			return nil
		}
	}
}

// utcpPair connects the kernel to a utcp listener on port and returns both
// ends: the kernel's and utcp's.
func utcpPair(b *testing.B, st *tcp.Stack, port uint16) (*net.TCPConn, *tcp.Conn) {
	b.Helper()
	ln, err := st.Listen(port)
	require.NoError(b, err)
	defer ln.Close()
	k := dialKernel(b, utcpAt(port), 0)
	b.Cleanup(func() { k.Close() })
	c, err := ln.AcceptTCP()
	require.NoError(b, err)
	b.Cleanup(func() { c.Abort() })
	return k, c
}

// loopbackPair is a kernel TCP connection over loopback: client and server ends.
func loopbackPair(b *testing.B) (*net.TCPConn, *net.TCPConn) {
	b.Helper()
	ln, err := net.Listen("tcp4", loopback+":0")
	require.NoError(b, err)
	defer ln.Close()
	client := dialKernel(b, netip.MustParseAddrPort(ln.Addr().String()), 0)
	b.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	require.NoError(b, err)
	b.Cleanup(func() { server.Close() })
	return client, server.(*net.TCPConn)
}
