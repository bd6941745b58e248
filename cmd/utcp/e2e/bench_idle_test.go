package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/tuntest"
)

// Idle connections: many established connections from the kernel to an
// in-process stack that carry nothing. The kernel's ends live in helper
// processes (this test binary again, TestIdleClientHelper), so that their
// sockets and Go objects are not in the figures: this process holds only
// the stack, its TUN device and, in the last step, the echo server. A
// process may hold 20,000 descriptors here (RLIMIT_NOFILE's hard limit,
// which only CAP_SYS_RESOURCE raises), so each helper opens at most
// idleClientMax connections, each to a utcp port of its own: the kernel
// also has only 28,232 ephemeral ports (32768–60999) per destination.

// idleClientMax is how many connections one helper process opens.
const idleClientMax = 12_500

// idleBasePort is the first utcp port the helpers connect to.
const idleBasePort = 5200

// echoBufSize is the read buffer of each echo connection, that of `utcp
// echo` (cmd/utcp's copyBufSize).
const echoBufSize = 32 << 10

// idleSizes are the connection counts of the idle benchmarks: 10,000, and
// 100,000 with UTCP_STRESS=1 (make stress).
func idleSizes() []int {
	if stress() {
		return []int{10_000, 100_000}
	}
	return []int{10_000}
}

// BenchmarkIdleConns is the memory an idle established connection costs:
// the stack's own (its TCB and Conn, accepted and left unread), and then an
// echo server's on top (a goroutine blocked in Read with its buffer, as
// `utcp echo`). Each is the growth of the Go heap in use and of the RSS,
// after a GC that returns free pages, divided by the connections. The
// issue's targets: stack-heap and stack-rss at most 4096 B/conn, and
// total-rss-MiB under 1024 at 100,000 connections.
func BenchmarkIdleConns(b *testing.B) {
	for _, n := range idleSizes() {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			for b.Loop() {
				before := measure(b)
				idle := openIdle(b, n, tcp.Config{})
				stackOnly := measure(b)
				idle.startEcho()
				withEcho := measure(b)
				b.StopTimer()
				b.ReportMetric(perConn(before.heap, stackOnly.heap, n), "stack-heap-B/conn")
				b.ReportMetric(perConn(before.rss, stackOnly.rss, n), "stack-rss-B/conn")
				b.ReportMetric(perConn(stackOnly.heap, withEcho.heap, n), "echo-heap-B/conn")
				b.ReportMetric(perConn(stackOnly.rss, withEcho.rss, n), "echo-rss-B/conn")
				b.ReportMetric(float64(withEcho.rss)/(1<<20), "total-rss-MiB")
				idle.close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkKeepAliveCPU is the CPU the process spends per second of wall
// time (getrusage, user and system) while its idle connections only keep
// alive. With a short idle time each connection is probed once per idle
// period and the kernel answers, so the figure holds the timers'
// bookkeeping and the probes' packets (probes/s and acks/s say how many).
// The idle time is longer than opening the connections takes (5 s for
// 10,000, 30 s for 100,000), so no probe competes with the handshakes;
// the window starts one idle period after the last connection opened,
// when every connection is probing, and lasts one period. With idle=2h
// (the default, RFC 9293 MUST-28) the timers are armed and none is due.
// lost-conns counts the connections keep-alive gave up on (Count probes
// unanswered): a stack that cannot keep up loses some.
func BenchmarkKeepAliveCPU(b *testing.B) {
	for _, n := range idleSizes() {
		short := 5 * time.Second
		if n > 20_000 {
			short = 30 * time.Second
		}
		for _, idle := range []time.Duration{short, 2 * time.Hour} {
			b.Run(fmt.Sprintf("conns=%d/idle=%s", n, strings.TrimSuffix(idle.String(), "0m0s")), func(b *testing.B) {
				window := 5 * time.Second
				cfg := tcp.Config{KeepAlive: net.KeepAliveConfig{Enable: true, Idle: idle, Interval: idle}}
				for b.Loop() {
					c := openIdle(b, n, cfg)
					closed0 := c.st.Stats().ConnsClosed
					if idle < time.Hour {
						window = idle
						wait(idle)
					}
					st0, ru0, k0, t0 := c.st.Stats(), rusage(b), kernelCounters(b), time.Now()
					wait(window)
					st1, ru1, k1, elapsed := c.st.Stats(), rusage(b), kernelCounters(b), time.Since(t0).Seconds()
					b.StopTimer()
					user, sys := (ru1.user - ru0.user).Seconds(), (ru1.sys - ru0.sys).Seconds()
					b.ReportMetric((user+sys)/elapsed, "cpu-s/s")
					b.ReportMetric(user/elapsed, "user-s/s")
					b.ReportMetric(sys/elapsed, "sys-s/s")
					b.ReportMetric(float64(st1.SegsOut-st0.SegsOut)/elapsed, "probes/s")
					b.ReportMetric(float64(st1.SegsIn-st0.SegsIn)/elapsed, "acks/s")
					b.ReportMetric(float64(st1.ConnsClosed-closed0), "lost-conns")
					// Where unanswered probes went: dropped by the TUN device on the
					// way to utcp (its queue full), or answers the kernel withheld
					// (out-of-window ACKs rate-limited, tcp_invalid_ratelimit).
					b.ReportMetric(float64(k1.tunDrops-k0.tunDrops), "tun-drops")
					b.ReportMetric(float64(k1.ackSkipped-k0.ackSkipped), "kernel-acks-skipped")
					c.close()
					b.StartTimer()
				}
			})
		}
	}
}

// kernelStats are counters of the kernel's side of the TUN device.
type kernelStats struct{ tunDrops, ackSkipped uint64 }

// kernelCounters reads the idle benchmarks' TUN device's tx_dropped (packets
// toward utcp it could not queue, by netlink: /sys shows another
// namespace) and TcpExt TCPACKSkippedSeq of the
// namespace (/proc/net/netstat).
func kernelCounters(b *testing.B) kernelStats {
	var k kernelStats
	link, err := netlink.LinkByName("utcpidle")
	require.NoError(b, err)
	if st := link.Attrs().Statistics; st != nil {
		k.tunDrops = st.TxDropped
	}
	raw, err := os.ReadFile("/proc/net/netstat")
	require.NoError(b, err)
	var names []string
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, f := range fields {
			if i < len(names) && names[i] == "TCPACKSkippedSeq" {
				k.ackSkipped, _ = strconv.ParseUint(f, 10, 64)
			}
		}
	}
	return k
}

// wait lets d of wall time pass: the benchmark's measurement window.
func wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// cpuTimes is the process's CPU time so far.
type cpuTimes struct{ user, sys time.Duration }

func rusage(b *testing.B) cpuTimes {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return cpuTimes{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// idleSet is n idle connections from helper processes to a stack.
type idleSet struct {
	b      *testing.B
	st     *tcp.Stack
	dev    *tun.Device
	closed bool
	conns  []*tcp.Conn
	stdins []io.Closer // the helpers exit at EOF
	echoes sync.WaitGroup
}

// openIdle starts a stack with cfg on a TUN device, has helper processes
// open n connections to it, and returns once every helper has its
// connections established and the stack has accepted them all.
func openIdle(b *testing.B, n int, cfg tcp.Config) *idleSet {
	b.Helper()
	cfg.Backlog = 1024 // the helpers connect faster than one Accept at a time takes them
	tuntest.RequireNetns(b)
	dev, err := openTUN(tun.Config{Name: "utcpidle", KernelAddr: kernelIP, PeerAddr: utcpIP, MTU: 1500})
	require.NoError(b, err)
	cfg.Addr = utcpIP
	st, err := tcp.NewStack(dev, cfg)
	if err != nil {
		dev.Close()
		require.NoError(b, err)
	}
	s := &idleSet{b: b, st: st, dev: dev, conns: make([]*tcp.Conn, 0, n)}
	b.Cleanup(s.close) // if the benchmark fails before it closes s
	var (
		mu        sync.Mutex
		accepting sync.WaitGroup
		lns       []*tcp.Listener
		ready     []<-chan error
	)
	for i := 0; i*idleClientMax < n; i++ {
		count := min(idleClientMax, n-i*idleClientMax)
		port := uint16(idleBasePort + i)
		ln, err := st.Listen(port)
		require.NoError(b, err)
		lns = append(lns, ln)
		accepting.Go(func() {
			for range count {
				c, err := ln.AcceptTCP()
				if err != nil {
					return
				}
				mu.Lock()
				s.conns = append(s.conns, c)
				mu.Unlock()
			}
		})
		ready = append(ready, s.startClient(port, count))
	}
	for _, r := range ready {
		require.NoError(b, <-r)
	}
	accepted := make(chan struct{})
	go func() { accepting.Wait(); close(accepted) }()
	select {
	case <-accepted:
	case <-time.After(waitTimeout):
		for _, ln := range lns {
			ln.Close()
		}
		<-accepted
		states := map[tcp.State]int{}
		for _, ci := range st.Conns() {
			states[ci.State]++
		}
		b.Fatalf("accepted %d of %d established connections; the stack's connections by state: %v; %+v",
			len(s.conns), n, states, st.Stats())
	}
	for _, ln := range lns {
		ln.Close() // the accepted connections stay
	}
	require.Len(b, s.conns, n)
	if st := st.Stats(); st.SynDroppedBacklog+st.AcceptQueueOverflow > 0 {
		b.Logf("SYNs dropped at the listeners (backlog %d, overflow %d; %d SYN cookies): the helpers waited for retransmissions",
			st.SynDroppedBacklog, st.AcceptQueueOverflow, st.SynCookiesSent)
	}
	return s
}

// startClient starts a helper that opens count connections to utcp's
// port; the channel reports when they are established, or the failure.
func (s *idleSet) startClient(port uint16, count int) <-chan error {
	b := s.b
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIdleClientHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%v,%d", idleClientEnv, utcpAt(port), count))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	s.stdins = append(s.stdins, stdin)
	b.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill() // this helper only, by its PID
		cmd.Wait()
		cancel()
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- nil
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("the helper for port %d exited before its connections were established", port)
	}()
	return ready
}

// startEcho puts an echo server on every connection, as `utcp echo` does:
// a goroutine each, with its read buffer, blocked in Read. It returns when
// all are started.
func (s *idleSet) startEcho() {
	var started sync.WaitGroup
	started.Add(len(s.conns))
	for _, c := range s.conns {
		s.echoes.Go(func() {
			buf := make([]byte, echoBufSize)
			started.Done()
			echoWith(c, buf)
		})
	}
	started.Wait()
}

// close resets the connections, ends the echo goroutines and the helpers,
// and closes the stack and its device. It may be called again.
func (s *idleSet) close() {
	if s.closed {
		return
	}
	s.closed = true
	for _, c := range s.conns {
		c.Abort()
	}
	s.echoes.Wait()
	for _, in := range s.stdins {
		in.Close()
	}
	s.conns = nil
	assert.NoError(s.b, s.st.Close())
	assert.NoError(s.b, s.dev.Close())
}

// idleClientEnv tells TestIdleClientHelper what to connect to: ADDR:PORT,COUNT.
const idleClientEnv = "UTCP_IDLE_CLIENT"

// TestIdleClientHelper is the kernel side of the idle benchmarks, run in a
// process of its own by startClient; without idleClientEnv it does
// nothing. It opens the connections one after another, says "ready", and
// holds them until stdin ends.
func TestIdleClientHelper(t *testing.T) {
	spec := os.Getenv(idleClientEnv)
	if spec == "" {
		t.Skip("the kernel side of BenchmarkIdleConns, run by it")
	}
	addr, countText, _ := strings.Cut(spec, ",")
	count, err := strconv.Atoi(countText)
	require.NoError(t, err, "%s=%q", idleClientEnv, spec)
	// KeepAlive -1: Go's Dialer would probe every 15 s, and the idle
	// connections must carry nothing but what utcp sends.
	d := net.Dialer{Timeout: waitTimeout, KeepAlive: -1}
	conns := make([]net.Conn, 0, count)
	for range count {
		c, err := d.Dial("tcp4", addr)
		require.NoError(t, err, "connection %d to %s", len(conns), addr)
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
