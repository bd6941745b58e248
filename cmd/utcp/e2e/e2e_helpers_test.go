// Package e2e tests the utcp command and the stack against the Linux
// kernel's own TCP: real kernel clients (nc, curl, tshark, ping, Go's net
// package) talk to utcp through a TUN device. Everything runs in a private
// network namespace made by tun/tuntest, so the machine's own interfaces,
// addresses and routes are never touched. The package holds tests only.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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

// TestMain moves the tests and benchmarks into a private network namespace
// when run as root; otherwise they skip (or fail when CI=true).
func TestMain(m *testing.M) { tuntest.Main(m) }

// The two ends of every TUN device the tests make: the kernel's address and
// utcp's, as the command's --peer and --addr defaults.
var (
	kernelIP = netip.MustParseAddr("10.9.0.1")
	utcpIP   = netip.MustParseAddr("10.9.0.2")
)

// Timeouts. None is a timed assertion: each bounds a wait that succeeds in
// milliseconds, so that a hang fails the test with its output instead of
// stalling the run.
const (
	procTimeout  = 3 * time.Minute  // the longest any started process may live
	waitTimeout  = 30 * time.Second // waiting for a line, an exit or a dial
	buildTimeout = 5 * time.Minute  // go build, cold cache, -race
)

// utcpAt is utcp's address and port p.
func utcpAt(p uint16) netip.AddrPort { return netip.AddrPortFrom(utcpIP, p) }

// kernelAt is the kernel's address and port p.
func kernelAt(p uint16) netip.AddrPort { return netip.AddrPortFrom(kernelIP, p) }

// ---- building the command ----

var built struct {
	once sync.Once
	path string
	err  error
	file *os.File // the binary, kept open: its directory is already removed
}

// utcpBinary builds cmd/utcp once per test process (with -race when the
// tests run with it) and returns a path that executes it. The build's
// directory is removed at once and the binary runs through its open file,
// /proc/PID/fd/N, so nothing is left behind however the test process ends.
// It skips t outside the private namespace.
func utcpBinary(t *testing.T) string {
	t.Helper()
	tuntest.RequireNetns(t)
	built.once.Do(func() { built.path, built.err = buildUtcp() })
	require.NoError(t, built.err, "cmd/utcp must build")
	return built.path
}

func buildUtcp() (string, error) {
	dir, err := os.MkdirTemp("", "utcp-e2e-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "utcp")
	args := []string{"build", "-o", out}
	if tuntest.RaceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "github.com/utcp/utcp/cmd/utcp")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	goCmd, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		goCmd = "/usr/local/go/bin/go"
	}
	if b, err := exec.CommandContext(ctx, goCmd, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		return "", err
	}
	built.file = f
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()), nil
}

// ---- processes ----

// output collects what a process writes to stdout or stderr and lets a test
// wait for it. It keeps the first limit bytes and counts the rest.
type output struct {
	mu      sync.Mutex
	buf     []byte
	n       int64
	limit   int
	changed chan struct{} // closed and replaced on every write
}

func newOutput(limit int) *output {
	return &output{limit: limit, changed: make(chan struct{})}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := o.limit - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(room, len(p))]...)
	}
	o.n += int64(len(p))
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

// String is everything kept so far.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

// snapshot returns the kept bytes, the total count and a channel closed at
// the next write.
func (o *output) snapshot() ([]byte, int64, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf), o.n, o.changed
}

// proc is a process a test started: nc, curl, ping or utcp.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *output
	stderr *output
	done   chan struct{} // closed when it has exited and its output is in
	code   int           // exit code, -1 if a signal ended it; valid after done
}

// startProc starts path with args, stdin a pipe the test writes to, and a
// deadline of procTimeout. At cleanup it is killed (by its PID) if still
// running, and its stderr is logged if the test failed.
func startProc(t *testing.T, path string, args ...string) *proc {
	t.Helper()
	return startProcFor(t, procTimeout, path, args...)
}

// startProcFor is startProc with a deadline of limit.
func startProcFor(t *testing.T, limit time.Duration, path string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = 10 * time.Second
	name := filepath.Base(path)
	if path == built.path {
		name = "utcp"
		cmd.Args[0] = "utcp"
	}
	p := &proc{name: name, cmd: cmd, stdout: newOutput(64 << 20), stderr: newOutput(1 << 20), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	p.stdin = stdin
	require.NoError(t, cmd.Start(), "start %s", name)
	go func() {
		defer cancel()
		cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		default:
			cmd.Process.Kill() // only this process, by its PID
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s: exit %d\nstderr:\n%s", name, strings.Join(args, " "), p.code, p.stderr.String())
		}
	})
	return p
}

// startUtcp runs the utcp command args[0] with the rest of args on its own
// TUN device, tunName.
func startUtcp(t *testing.T, tunName string, args ...string) *proc {
	t.Helper()
	bin := utcpBinary(t)
	args = append(args, "--tun", tunName)
	if offloadAll {
		args = append(args, "--offload")
	}
	return startProc(t, bin, args...)
}

// startTool runs a kernel-side program (nc, curl, ...), skipping t (failing
// it under CI) if it is not installed.
func startTool(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startProc(t, tuntest.RequireTool(t, name), args...)
}

// waitOutput waits until cond holds for what o has collected, the process
// exits without it, or waitTimeout passes; the last two fail t.
func (p *proc) waitOutput(t *testing.T, o *output, what string, cond func(b []byte, n int64) bool) {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		b, n, changed := o.snapshot()
		if cond(b, n) {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			if b, n, _ := o.snapshot(); cond(b, n) {
				return
			}
			require.FailNowf(t, "process exited", "%s exited (code %d) before %s; stderr:\n%s", p.name, p.code, what, p.stderr.String())
		case <-timeout.C:
			require.FailNowf(t, "timeout", "%s: no %s after %v; stderr:\n%s", p.name, what, waitTimeout, p.stderr.String())
		}
	}
}

// waitStderr waits for s on stderr.
func (p *proc) waitStderr(t *testing.T, s string) {
	t.Helper()
	p.waitOutput(t, p.stderr, fmt.Sprintf("%q on stderr", s), func(b []byte, _ int64) bool { return bytes.Contains(b, []byte(s)) })
}

// waitStdout waits for s on stdout.
func (p *proc) waitStdout(t *testing.T, s string) {
	t.Helper()
	p.waitOutput(t, p.stdout, fmt.Sprintf("%q on stdout", s), func(b []byte, _ int64) bool { return bytes.Contains(b, []byte(s)) })
}

// waitStdoutBytes waits until stdout has carried at least n bytes.
func (p *proc) waitStdoutBytes(t *testing.T, n int64) {
	t.Helper()
	p.waitOutput(t, p.stdout, fmt.Sprintf("%d bytes on stdout", n), func(_ []byte, got int64) bool { return got >= n })
}

// write writes s to the process's stdin.
func (p *proc) write(t *testing.T, s string) {
	t.Helper()
	_, err := io.WriteString(p.stdin, s)
	require.NoError(t, err, "write to %s's stdin", p.name)
}

// closeStdin closes the process's stdin: EOF.
func (p *proc) closeStdin(t *testing.T) {
	t.Helper()
	require.NoError(t, p.stdin.Close())
}

// wait waits for the process to exit and returns its exit code (-1 if a
// signal ended it).
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitTimeout):
		require.FailNowf(t, "timeout", "%s did not exit within %v; stderr:\n%s", p.name, waitTimeout, p.stderr.String())
		return 0
	}
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process, by its PID.
func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// lines splits s into its lines, without the newlines.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// requireInOrder checks that each of want occurs in s after the previous one.
func requireInOrder(t *testing.T, s string, want ...string) {
	t.Helper()
	rest, at := s, 0
	for i, w := range want {
		k := strings.Index(rest, w)
		require.GreaterOrEqualf(t, k, 0, "want %q (step %d of %v) after offset %d of:\n%s", w, i+1, want, at, s)
		rest = rest[k+len(w):]
		at += k + len(w)
	}
}

// ---- kernel-side clients ----

// dialKernel connects from the kernel's TCP to addr, optionally from the
// local port from (0: ephemeral). A local port still held by the kernel's
// previous connection on it (LAST-ACK: EADDRINUSE, EADDRNOTAVAIL) is retried
// with a short backoff until waitTimeout.
func dialKernel(t testing.TB, addr netip.AddrPort, from uint16) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout}
	if from != 0 {
		d.LocalAddr = net.TCPAddrFromAddrPort(kernelAt(from))
	}
	deadline := time.Now().Add(waitTimeout)
	backoff := time.Millisecond
	for {
		c, err := d.Dial("tcp4", addr.String())
		if err == nil {
			return c.(*net.TCPConn)
		}
		busy := errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)
		if !busy || time.Now().After(deadline) {
			require.NoError(t, err, "kernel dial %v from port %d", addr, from)
		}
		timer := time.NewTimer(backoff)
		<-timer.C
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// readAllString reads c to EOF.
func readAllString(t *testing.T, c net.Conn) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	return string(b)
}

// requireNoLink checks that the network interface name is gone.
func requireNoLink(t *testing.T, name string) {
	t.Helper()
	_, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	require.ErrorAs(t, err, &nf, "the TUN device %s must be removed", name)
}

// ---- the stack in-process ----

// stackOnTUN opens the TUN device name and starts a stack on it with cfg
// (Addr defaults to utcp's address). Both are closed at cleanup.
func stackOnTUN(t testing.TB, name string, cfg tcp.Config) *tcp.Stack {
	t.Helper()
	st, _ := stackOnDevice(t, tun.Config{Name: name, KernelAddr: kernelIP, PeerAddr: utcpIP, MTU: 1500}, cfg)
	return st
}

// stackOnDevice is stackOnTUN with the device's Config, returning the device too.
func stackOnDevice(t testing.TB, dc tun.Config, cfg tcp.Config) (*tcp.Stack, *tun.Device) {
	t.Helper()
	tuntest.RequireNetns(t)
	dev, err := openTUN(dc)
	require.NoError(t, err, "the private namespace has no device %s yet", dc.Name)
	if !cfg.Addr.IsValid() {
		cfg.Addr = utcpIP
	}
	st, err := tcp.NewStack(dev, cfg)
	if err != nil {
		dev.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		assert.NoError(t, st.Close())
		assert.NoError(t, dev.Close())
	})
	return st, dev
}
