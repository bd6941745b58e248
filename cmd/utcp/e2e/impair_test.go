package e2e

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/netsim"
	"github.com/utcp/utcp/tun/tuntest"
)

// The impairment tests run utcp on paths that lose, reorder, duplicate or
// corrupt packets, which this machine's kernel (without netem) cannot make:
// `utcp echo --impair SPEC` passes both directions through tun/netsim. The
// cases run in parallel, so each has its own TUN device and its own address
// pair 10.9.N.1 (kernel) and 10.9.N.2 (utcp): two point-to-point devices
// with the same peer address in one namespace would share one route.

// impairDeadline bounds one case: a stall fails it instead of the run. The
// slowest case (50 ms each way, 1% loss) takes about 95 s here, 180 s under
// the race detector; the bound leaves room for a slower machine.
const impairDeadline = 420 * time.Second

// pairAddrs is the address pair number n: the kernel's 10.9.n.1 and the
// other end's 10.9.n.2.
func pairAddrs(n int) (kernel, peer netip.Addr) {
	return netip.AddrFrom4([4]byte{10, 9, byte(n), 1}), netip.AddrFrom4([4]byte{10, 9, byte(n), 2})
}

// impairSize is how much each case echoes: 32 MiB, 4 MiB under -short,
// or UTCP_IMPAIR_MIB MiB.
func impairSize(t testing.TB) int64 {
	if s := os.Getenv("UTCP_IMPAIR_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "UTCP_IMPAIR_MIB")
		return int64(n) << 20
	}
	if testing.Short() {
		return 4 << 20
	}
	return 32 << 20
}

func TestImpairedEcho_32MiBEachWay(t *testing.T) {
	utcpBinary(t) // build once, before the cases start their clocks
	cases := []struct{ name, spec string }{
		{"loss_1%", "loss 1%"},
		{"loss_5%", "loss 5%"},
		{"reorder_25%_delay_5ms", "delay 5ms reorder 25%"},
		{"delay_50ms_loss_1%", "delay 50ms loss 1%"},
		{"duplicate_2%", "duplicate 2%"},
		{"corrupt_1%", "corrupt 1%"},
	}
	size := impairSize(t)
	// All at once, from goroutines rather than t.Parallel, whose limit is
	// GOMAXPROCS: the cases mostly wait for timers, and the slowest sets
	// the wall time.
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Go(func() {
			t.Run(tc.name, func(t *testing.T) { impairedEcho(t, 100+i, tc.spec, size) })
		})
	}
	wg.Wait()
}

// impairedEcho runs `utcp echo --impair spec` on address pair n and has the
// kernel write size bytes while it reads the echo back; the SHA-256 of
// both must match, the kernel must see utcp's FIN after the last byte, and
// utcp must have served the connection without error.
func impairedEcho(t *testing.T, n int, spec string, size int64) {
	kernel, addr := pairAddrs(n)
	const port = 4700
	u := startProcFor(t, impairDeadline+time.Minute, utcpBinary(t), "echo", strconv.Itoa(port), "--tun", fmt.Sprintf("utcpi%d", n),
		"--addr", addr.String(), "--peer", kernel.String(), "--impair", spec, "--impair-seed", strconv.Itoa(n), "-v")
	u.waitStderr(t, fmt.Sprintf("listening on %v:%d\n", addr, port))

	start := time.Now()
	d := net.Dialer{Timeout: waitTimeout, LocalAddr: &net.TCPAddr{IP: kernel.AsSlice()}}
	nc, err := d.Dial("tcp4", netip.AddrPortFrom(addr, port).String())
	require.NoError(t, err, "the kernel connects to utcp over the impaired path")
	c := nc.(*net.TCPConn)
	defer c.Close()
	require.NoError(t, c.SetDeadline(start.Add(impairDeadline)))

	var sent, got atomic.Int64
	var sendSum [sha256.Size]byte
	var sendErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(newPattern(uint64(n)), size), h)
		if _, sendErr = io.CopyBuffer(writeCounter{c, &sent}, src, make([]byte, 64<<10)); sendErr == nil {
			sendErr = c.CloseWrite()
		}
		copy(sendSum[:], h.Sum(nil))
	})
	h := sha256.New()
	_, recvErr := io.CopyBuffer(io.MultiWriter(h, writeCounter{io.Discard, &got}), c, make([]byte, 64<<10)) // to utcp's FIN
	wg.Wait()
	took := time.Since(start)
	if errors.Is(recvErr, os.ErrDeadlineExceeded) || errors.Is(sendErr, os.ErrDeadlineExceeded) {
		require.FailNowf(t, "deadline", "--impair %q: not done after %v: sent %d and got back %d of %d bytes (%.2f MiB/s)",
			spec, impairDeadline, sent.Load(), got.Load(), size, float64(got.Load())/(1<<20)/took.Seconds())
	}
	require.NoError(t, sendErr, "the kernel sends everything")
	require.NoError(t, recvErr, "the kernel reads the echo to EOF")
	assert.Equal(t, size, got.Load(), "every byte comes back, then utcp's FIN")
	assert.Equal(t, sendSum[:], h.Sum(nil), "the echo is byte-identical (SHA-256)")
	require.NoError(t, c.Close())

	u.waitStderr(t, fmt.Sprintf(": echoed %d bytes\n", size))
	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 128+int(syscall.SIGTERM), u.wait(t), "utcp stops on SIGTERM")
	assert.NotContains(t, u.stderr.String(), " after ", "no connection ended with an error")
	t.Logf("--impair %q: %d MiB each way in %v (%.2f MiB/s each way, race=%v)\n%s", spec, size>>20, took.Round(time.Millisecond),
		float64(size)/(1<<20)/took.Seconds(), tuntest.RaceEnabled(), impairLines(u.stderr.String()))
}

// writeCounter counts the bytes written through it.
type writeCounter struct {
	w io.Writer
	n *atomic.Int64
}

func (w writeCounter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// impairLines keeps the "impair" counter lines of utcp -v.
func impairLines(stderr string) string {
	var out string
	for _, l := range lines(stderr) {
		if len(l) > 7 && l[:7] == "impair " {
			out += l + "\n"
		}
	}
	return out
}

// ---- kernel to kernel, through a relay ----

// kernelPath is two kernels joined through netsim: the test's namespace
// has TUN A with 10.9.n.1, a second namespace made for it has TUN B with
// 10.9.n.2, and the relay's goroutines copy packets between the two
// devices' file descriptors through the impairments.
type kernelPath struct {
	ns    netns.NsHandle // the second namespace
	relay *netsim.Relayer
	near  netip.Addr // 10.9.n.1, in the test's namespace
	far   netip.Addr // 10.9.n.2, in the second namespace
}

// newKernelPath builds the path for address pair n; ab impairs packets from
// the test's namespace to the second one, ba the other way. Cleanup
// removes the devices, the relay and the namespace.
func newKernelPath(t testing.TB, n int, ab, ba netsim.Impairment) *kernelPath {
	t.Helper()
	tuntest.RequireNetns(t)
	near, far := pairAddrs(n)
	p := &kernelPath{near: near, far: far, ns: -1}
	devA, err := openTUN(tun.Config{Name: fmt.Sprintf("utcpka%d", n), KernelAddr: near, PeerAddr: far, MTU: 1500})
	require.NoError(t, err)
	var devB *tun.Device
	err = onNewThread(func() error {
		// netns.New unshares this thread into a fresh namespace; the
		// thread dies with the goroutine, so no other code runs there.
		ns, err := netns.New()
		if err != nil {
			return fmt.Errorf("new network namespace: %w", err)
		}
		p.ns = ns
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("lo up in the second namespace: %w", err)
		}
		devB, err = openTUN(tun.Config{Name: fmt.Sprintf("utcpkb%d", n), KernelAddr: far, PeerAddr: near, MTU: 1500})
		return err
	})
	if err != nil {
		devA.Close()
		if p.ns >= 0 {
			p.ns.Close()
		}
		require.NoError(t, err)
	}
	p.relay, err = netsim.Relay(devA, nsLink{Link: devB, ns: p.ns}, ab, ba)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, p.relay.Close(), "the relay closes both devices")
		assert.NoError(t, p.ns.Close())
	})
	return p
}

// listenFar listens on TCP port in the second namespace. The socket stays
// there whatever thread later uses it.
func (p *kernelPath) listenFar(t testing.TB, port int) net.Listener {
	t.Helper()
	var ln net.Listener
	err := p.inNS(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(p.far, uint16(port)).String())
		return err
	})
	require.NoError(t, err, "listen in the second namespace")
	t.Cleanup(func() { ln.Close() })
	return ln
}

// inNS runs f on a thread in the second namespace.
func (p *kernelPath) inNS(f func() error) error {
	return onNewThread(func() error {
		if err := netns.Set(p.ns); err != nil {
			return fmt.Errorf("enter the second namespace: %w", err)
		}
		return f()
	})
}

// onNewThread runs f on a goroutine locked to its own OS thread and never
// unlocked, so the thread, whatever namespace f left it in, ends with it.
func onNewThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- f()
	}()
	return <-done
}

// nsLink is a device of the second namespace: its Close, which deletes
// the interface by index, must run there.
type nsLink struct {
	tun.Link
	ns netns.NsHandle
}

func (l nsLink) Close() error {
	return onNewThread(func() error {
		if err := netns.Set(l.ns); err != nil {
			return err
		}
		return l.Link.Close()
	})
}

// The relay carries the kernel's TCP both ways through an impairment: a
// reference for utcp, and a check of the relay itself.
func TestKernelPath_TransferThroughImpairedRelay(t *testing.T) {
	im := netsim.Impairment{Delay: 5 * time.Millisecond, Loss: 0.01, Duplicate: 0.01, Seed: 1}
	p := newKernelPath(t, 99, im, im)
	ln := p.listenFar(t, 4800)
	const size = 4 << 20
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo until the client's FIN, then FIN
	}()
	c := dialKernel(t, netip.AddrPortFrom(p.far, 4800), 0)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	var wg sync.WaitGroup
	want := sha256.New()
	wg.Go(func() {
		_, err := io.Copy(c, io.TeeReader(io.LimitReader(newPattern(99), size), want))
		assert.NoError(t, err)
		assert.NoError(t, c.CloseWrite())
	})
	got := sha256.New()
	n, err := io.Copy(got, c)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, int64(size), n)
	assert.Equal(t, want.Sum(nil), got.Sum(nil), "kernel to kernel through the relay, intact")
	ab, ba := p.relay.Stats()
	assert.NotZero(t, ab.Lost+ba.Lost, "the relay lost packets")
	assert.NotZero(t, ab.Duplicated+ba.Duplicated, "and duplicated some")
	t.Logf("A→B %+v\nB→A %+v", ab, ba)
}
