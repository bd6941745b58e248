package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Multi-queue TUN: does one stack loop per queue raise the aggregate bulk
// throughput of several connections? BenchmarkMultiQueue moves bulk data
// over conns concurrent connections, opened by the kernel, either through
// one TUN queue and one tcp.Stack (ref_queues=1, the usual setup, tun.Open)
// or through a device with two queues (tun.OpenMultiQueue) and one Stack per
// queue, all with the same address and each listening on the same port, so
// that the kernel's flow hash shards the connections between the stacks
// (queues=2). mq_queues=1 is one stack on a multi-queue device with one
// queue: the cost of the flag alone. The kernel's ends are Go net.TCPConns
// in this process, so the rusage figures count the kernel's TCP for both
// ends as well as the stacks.
//
// Each connection moves mqPerConnMiB MiB per iteration (8 by default,
// UTCP_MQ_MIB to change it). -count repeats each sub-benchmark in a row, so
// to interleave the setups run the whole matrix several times:
//
//	go test -c -o /tmp/e2e.test ./cmd/utcp/e2e && cd cmd/utcp/e2e &&
//	for i in 1 2 3 4 5 6 7; do UTCP_MQ_MIB=64 /tmp/e2e.test -test.run '^$' \
//	    -test.bench '^BenchmarkMultiQueue$' -test.benchtime 1x -test.cpu 2; done |
//	    go run ../../benchtable
//
// UTCP_MQ_REVERSE=1 runs the setups in the opposite order (alternate it
// between the runs to cancel an effect of the order). The ratios
// benchtable prints are each setup over ref_queues=1.
// -test.cpu 1 gives the GOMAXPROCS=1 figures.

// mqQueues is the multi-queue setup's number of queues and stacks: one per core.
const mqQueues = 2

// mqBasePort is the first utcp port of the multi-queue benchmark; each
// setup takes the next, so no kernel four-tuple of a previous setup remains.
const mqBasePort = 5600

var mqSeq atomic.Uint32

// mqPerConnMiB is how many MiB each connection moves per iteration.
func mqPerConnMiB(b *testing.B) int {
	s := os.Getenv("UTCP_MQ_MIB")
	if s == "" {
		return 8
	}
	n, err := strconv.Atoi(s)
	require.NoError(b, err, "UTCP_MQ_MIB")
	require.Positive(b, n, "UTCP_MQ_MIB")
	return n
}

// BenchmarkMultiQueue is the aggregate rate of conns connections in MB/s,
// with the process's CPU time per MiB moved (cpu-ms/MiB), its CPU use in
// cores (cpu-cores), the whole machine's (machine-cores, which counts other
// processes too) and, for queues=2, how many connections each stack got
// (conns-q0, conns-q1).
func BenchmarkMultiQueue(b *testing.B) {
	per := mqPerConnMiB(b) << 20
	for _, dir := range []string{"kernel_to_utcp", "utcp_to_kernel"} {
		b.Run(dir, func(b *testing.B) {
			for _, conns := range []int{1, 4, 8, 16} {
				b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
					setups := []int{0, 1, mqQueues}
					if os.Getenv("UTCP_MQ_REVERSE") == "1" {
						slices.Reverse(setups)
					}
					for _, q := range setups {
						b.Run(mqSetupName(q), func(b *testing.B) { benchMQ(b, dir == "kernel_to_utcp", q, conns, per) })
					}
				})
			}
		})
	}
}

// mqSetupName names the setup with queues queues (0: tun.Open).
func mqSetupName(queues int) string {
	switch queues {
	case 0:
		return "ref_queues=1"
	case 1:
		return "mq_queues=1"
	}
	return fmt.Sprintf("queues=%d", queues)
}

// benchMQ opens queues queues with a stack each (0: one, with tun.Open),
// connects conns kernel sockets and times b.N rounds of per octets on every
// connection, from the kernel to utcp (toUtcp) or back.
func benchMQ(b *testing.B, toUtcp bool, queues, conns, per int) {
	seq := mqSeq.Add(1)
	name := fmt.Sprintf("utcpmq%d", seq)
	stacks := mqStacks(b, name, queues)
	port := uint16(mqBasePort + seq)
	kernel, utcp, split := mqConnect(b, stacks, port, conns)

	var src, dst []io.ReadWriter
	if toUtcp {
		src, dst = asRW(kernel), asRW(utcp)
	} else {
		src, dst = asRW(utcp), asRW(kernel)
	}
	cpu0, machine0 := rusageCPU(b), machineBusy(b)
	kre0, ure0, drop0 := kernelRetrans(b), utcpRetrans(utcp), tunTxDropped(b, name)
	b.SetBytes(int64(conns) * int64(per))
	b.ResetTimer()
	for range b.N {
		mqRound(b, src, dst, per)
	}
	b.StopTimer()
	wall := b.Elapsed()
	cpu, machine := rusageCPU(b)-cpu0, machineBusy(b)-machine0
	perOp := func(d uint64) float64 { return float64(d) / float64(b.N) }
	b.ReportMetric(perOp(kernelRetrans(b)-kre0), "kernel-retrans/op")
	b.ReportMetric(perOp(utcpRetrans(utcp)-ure0), "utcp-retrans/op")
	b.ReportMetric(perOp(tunTxDropped(b, name)-drop0), "tun-drops/op")
	mib := float64(b.N) * float64(conns) * float64(per) / (1 << 20)
	b.ReportMetric(float64(cpu.Milliseconds())/mib, "cpu-ms/MiB")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	b.ReportMetric(machine.Seconds()/wall.Seconds(), "machine-cores")
	if queues > 1 {
		for i, n := range split {
			b.ReportMetric(float64(n), fmt.Sprintf("conns-q%d", i))
		}
	}
}

// mqStacks opens the TUN device name with queues queues (tun.Open for 0)
// and starts a stack on each, all with utcp's address. Everything is closed
// at cleanup, the stacks first.
func mqStacks(b testing.TB, name string, queues int) []*tcp.Stack {
	b.Helper()
	tuntest.RequireNetns(b)
	tcfg := tun.Config{Name: name, KernelAddr: kernelIP, PeerAddr: utcpIP, MTU: 1500}
	var devs []*tun.Device
	if queues == 0 {
		dev, err := tun.Open(tcfg)
		require.NoError(b, err)
		devs = []*tun.Device{dev}
	} else {
		var err error
		devs, err = tun.OpenMultiQueue(tcfg, queues)
		require.NoError(b, err)
	}
	stacks := make([]*tcp.Stack, 0, len(devs))
	b.Cleanup(func() {
		for _, st := range stacks {
			assert.NoError(b, st.Close())
		}
		for i := len(devs) - 1; i >= 0; i-- { // the first queue's Close deletes the interface
			assert.NoError(b, devs[i].Close())
		}
	})
	for _, dev := range devs {
		st, err := tcp.NewStack(dev, tcp.Config{Addr: utcpIP})
		require.NoError(b, err)
		stacks = append(stacks, st)
	}
	return stacks
}

// mqConnect listens on port on every stack, dials conns connections from
// the kernel, and returns both ends of each and how many each stack
// accepted.
func mqConnect(b *testing.B, stacks []*tcp.Stack, port uint16, conns int) ([]*net.TCPConn, []*tcp.Conn, []int) {
	b.Helper()
	accepted := make(chan *tcp.Conn, conns)
	split := make([]int, len(stacks))
	var wg sync.WaitGroup
	lns := make([]*tcp.Listener, 0, len(stacks))
	for i, st := range stacks {
		ln, err := st.Listen(port)
		require.NoError(b, err)
		lns = append(lns, ln)
		wg.Go(func() {
			for {
				c, err := ln.AcceptTCP()
				if err != nil {
					return
				}
				split[i]++ // read after wg.Wait
				accepted <- c
			}
		})
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}()
	kernel := make([]*net.TCPConn, 0, conns)
	utcp := make([]*tcp.Conn, 0, conns)
	b.Cleanup(func() {
		for _, c := range utcp {
			c.Abort()
		}
		for _, k := range kernel {
			k.Close()
		}
	})
	for range conns {
		kernel = append(kernel, dialKernel(b, utcpAt(port), 0))
	}
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for range conns {
		select {
		case c := <-accepted:
			utcp = append(utcp, c)
		case <-timeout.C:
			require.FailNow(b, "accept", "%d of %d connections accepted after %v", len(utcp), conns, waitTimeout)
		}
	}
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
	return kernel, utcp, split
}

// asRW is conns as io.ReadWriters.
func asRW[C io.ReadWriter](conns []C) []io.ReadWriter {
	rw := make([]io.ReadWriter, len(conns))
	for i, c := range conns {
		rw[i] = c
	}
	return rw
}

// mqChunk is each sender's write size and each receiver's read buffer.
const mqChunk = 256 << 10

var mqData = func() []byte {
	b := make([]byte, mqChunk)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// mqRound sends per octets on every src connection at once and waits until
// every dst connection has read as many.
func mqRound(b *testing.B, src, dst []io.ReadWriter, per int) {
	errs := make(chan error, len(src)+len(dst))
	for _, c := range src {
		go func() {
			for left := per; left > 0; {
				n, err := c.Write(mqData[:min(left, mqChunk)])
				if err != nil {
					errs <- fmt.Errorf("write: %w", err)
					return
				}
				left -= n
			}
			errs <- nil
		}()
	}
	for _, c := range dst {
		go func() {
			buf := make([]byte, mqChunk)
			_, err := io.CopyBuffer(io.Discard, io.LimitReader(onlyReader{c}, int64(per)), buf)
			if err == nil {
				errs <- nil
			} else {
				errs <- fmt.Errorf("read: %w", err)
			}
		}()
	}
	timeout := time.NewTimer(procTimeout)
	defer timeout.Stop()
	for range len(src) + len(dst) {
		select {
		case err := <-errs:
			if err != nil {
				b.Fatal(err)
			}
		case <-timeout.C:
			b.Fatalf("a round of %d octets per connection took more than %v", per, procTimeout)
		}
	}
}

// onlyReader hides any WriterTo, so that io.CopyBuffer reads into its buffer.
type onlyReader struct{ io.Reader }

// kernelRetrans is the kernel's count of TCP segments retransmitted in
// this network namespace (RetransSegs in /proc/net/snmp).
func kernelRetrans(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/net/snmp")
	require.NoError(b, err)
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "Tcp: ")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		for i, v := range strings.Fields(rest) {
			if i < len(names) && names[i] == "RetransSegs" {
				n, err := strconv.ParseUint(v, 10, 64)
				require.NoError(b, err, "RetransSegs %q", v)
				return n
			}
		}
	}
	require.FailNow(b, "no Tcp RetransSegs in /proc/net/snmp")
	return 0
}

// utcpRetrans is the segments the utcp ends have retransmitted.
func utcpRetrans(conns []*tcp.Conn) uint64 {
	var n uint64
	for _, c := range conns {
		n += c.Stats().Retransmits
	}
	return n
}

// tunTxDropped is the packets the kernel dropped on the way into the TUN
// device name because its queues were full.
func tunTxDropped(b *testing.B, name string) uint64 {
	link, err := netlink.LinkByName(name)
	require.NoError(b, err)
	st := link.Attrs().Statistics
	require.NotNil(b, st, "no statistics for %s", name)
	return st.TxDropped
}

// rusageCPU is the process's user plus system CPU time so far.
func rusageCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the machine's CPU time so far, all cores, less idle and
// iowait, from /proc/stat (in USER_HZ ticks of 10 ms).
func machineBusy(b *testing.B) time.Duration {
	f, err := os.Open("/proc/stat")
	require.NoError(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	require.True(b, sc.Scan(), "/proc/stat is empty")
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	require.Greater(b, len(fields), 8, "/proc/stat: %q", sc.Text())
	var busy int64
	for i, s := range fields[1:] {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(b, err, "/proc/stat: %q", sc.Text())
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond
}
