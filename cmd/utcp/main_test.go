package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/netsim"
)

// waitLimit bounds every wait of these tests: a failure guard, not a delay.
const waitLimit = 20 * time.Second

var (
	utcpAddr   = netip.MustParseAddr(defaultAddr)
	kernelAddr = netip.MustParseAddr(defaultPeer)
)

// syncBuffer is an io.Writer for stdout and stderr that tests can read
// while the command writes, and wait on for some text.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer holds want.
func (s *syncBuffer) waitFor(t testing.TB, want string) {
	t.Helper()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	for {
		s.mu.Lock()
		has, changed := strings.Contains(s.b.String(), want), s.changed
		s.mu.Unlock()
		if has {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			require.FailNowf(t, "timeout", "waiting for %q; have:\n%s", want, s.String())
		}
	}
}

// countingLink wraps the command's end of the pipe and counts the packets
// that pass, as the pcap sniffer above it should record them.
type countingLink struct {
	tcp.Link
	reads, writes atomic.Int64
	maxWritten    atomic.Int64
	closed        atomic.Bool
}

func (l *countingLink) ReadPacket(b []byte) (int, error) {
	n, err := l.Link.ReadPacket(b)
	if err == nil {
		l.reads.Add(1)
	}
	return n, err
}

func (l *countingLink) WritePacket(b []byte) error {
	err := l.Link.WritePacket(b)
	if err == nil {
		l.writes.Add(1)
		for {
			m := l.maxWritten.Load()
			if int64(len(b)) <= m || l.maxWritten.CompareAndSwap(m, int64(len(b))) {
				break
			}
		}
	}
	return err
}

func (l *countingLink) Close() error {
	l.closed.Store(true)
	return l.Link.Close()
}

// testNet is the world of one test: an in-memory pipe whose far end runs a
// second stack in place of the kernel (10.9.0.1), and the opener that gives
// the command its near end.
type testNet struct {
	peer    *tcp.Stack
	cmdEnd  *countingLink
	opened  chan linkConfig // what the command asked for
	peerCfg tcp.Config
}

type netOpts struct {
	mtu        int
	kernelAddr netip.Addr
}

func newTestNet(t *testing.T, o netOpts) *testNet {
	t.Helper()
	if o.mtu == 0 {
		o.mtu = defaultMTU
	}
	if !o.kernelAddr.IsValid() {
		o.kernelAddr = kernelAddr
	}
	a, b := tun.Pipe(o.mtu)
	cfg := tcp.Config{Addr: o.kernelAddr, MSL: 20 * time.Millisecond}
	peer, err := tcp.NewStack(b, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		peer.Close()
		b.Close()
		a.Close()
	})
	return &testNet{peer: peer, cmdEnd: &countingLink{Link: a}, opened: make(chan linkConfig, 1), peerCfg: cfg}
}

func (n *testNet) open(c linkConfig) (tcp.Link, error) {
	n.opened <- c
	return n.cmdEnd, nil
}

// dial connects the peer stack to utcp's port.
func (n *testNet) dial(t testing.TB, port uint16) *tcp.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := n.peer.DialAddrPort(ctx, netip.AddrPortFrom(utcpAddr, port))
	require.NoError(t, err)
	return c
}

// cmd is one run of the command in a goroutine.
type cmd struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelCauseFunc
	exit           chan int
}

// start runs the command with args; stdin may be nil.
func start(t *testing.T, open linkOpener, stdin io.Reader, args ...string) *cmd {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &cmd{stdout: newSyncBuffer(), stderr: newSyncBuffer(), cancel: cancel, exit: make(chan int, 1)}
	go func() { c.exit <- run(ctx, args, stdin, c.stdout, c.stderr, open) }()
	t.Cleanup(func() {
		cancel(errors.New("test over"))
		select {
		case <-c.exit:
		case <-time.After(waitLimit):
			t.Error("the command did not stop")
		}
	})
	return c
}

// wait returns the exit code.
func (c *cmd) wait(t testing.TB) int {
	t.Helper()
	select {
	case code := <-c.exit:
		c.exit <- code // for Cleanup
		return code
	case <-time.After(waitLimit):
		require.FailNowf(t, "timeout", "the command did not exit; stderr:\n%s", c.stderr.String())
		return -1
	}
}

// interrupt stops the command as the signal sig would.
func (c *cmd) interrupt(sig syscall.Signal) { c.cancel(interrupted{sig: sig}) }

// noLink is an opener for runs that must fail before opening the link.
func noLink(t *testing.T) linkOpener {
	return func(linkConfig) (tcp.Link, error) {
		t.Error("the link was opened")
		return nil, errors.New("no link in this test")
	}
}

// runSync runs the command to the end and returns its exit code, stdout and stderr.
func runSync(t *testing.T, open linkOpener, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, nil, &stdout, &stderr, open)
	return code, stdout.String(), stderr.String()
}

func TestParseArgs_FlagsBeforeAndAfterPositionals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want options
	}{
		{"defaults", []string{"listen", "4567"}, options{cmd: "listen", port: 4567}},
		{"flags before", []string{"listen", "--msl", "10ms", "-v", "--trace", "4567"},
			options{cmd: "listen", port: 4567, msl: 10 * time.Millisecond, verbose: true, trace: true}},
		{"flags after", []string{"listen", "4567", "--msl=10ms", "-v", "--trace"},
			options{cmd: "listen", port: 4567, msl: 10 * time.Millisecond, verbose: true, trace: true}},
		{"trace why", []string{"listen", "--trace=why", "4567"},
			options{cmd: "listen", port: 4567, trace: true, why: true}},
		{"trace off", []string{"listen", "--trace=off", "4567"}, options{cmd: "listen", port: 4567}},
		{"flags between", []string{"dial", "-w", "1s", "10.9.0.1", "--pcap", "x.pcap", "--offload", "80"},
			options{cmd: "dial", port: 80, host: kernelAddr, timeout: time.Second, pcap: "x.pcap", offload: true}},
		{"flags before the command", []string{"--offload", "--tun", "echo", "--mtu", "9000", "listen", "4567"},
			options{cmd: "listen", port: 4567, offload: true, tun: "echo", mtu: 9000}},
		{"keep-open", []string{"listen", "-k", "1"}, options{cmd: "listen", port: 1, keepOpen: true}},
		{"keep-open long", []string{"listen", "65535", "--keep-open"}, options{cmd: "listen", port: 65535, keepOpen: true}},
		{"http dir", []string{"http", "8080", "--dir", "/srv"}, options{cmd: "http", port: 8080, dir: "/srv"}},
		{"limits", []string{"echo", "7", "--max-conns", "1000", "--memory-limit", "512", "--fin-timeout", "5s"},
			options{cmd: "echo", port: 7, maxConns: 1000, memLimit: 512, finTimeout: 5 * time.Second}},
		{"echo link flags", []string{"echo", "--tun", "t1", "--addr", "192.168.7.2", "--peer", "192.168.7.1", "--mtu", "576", "7"},
			options{cmd: "echo", port: 7, tun: "t1", addr: netip.MustParseAddr("192.168.7.2"),
				peer: netip.MustParseAddr("192.168.7.1"), mtu: 576}},
		{"double dash", []string{"listen", "--", "4567"}, options{cmd: "listen", port: 4567}},
		{"impair both", []string{"echo", "7", "--impair", "delay 5ms loss 1%"}, options{cmd: "echo", port: 7,
			impairOut: netsim.Impairment{Delay: 5 * time.Millisecond, Loss: 0.01, Seed: 1},
			impairIn:  netsim.Impairment{Delay: 5 * time.Millisecond, Loss: 0.01, Seed: 2}}},
		{"impair in overrides", []string{"echo", "7", "--impair", "loss 1%", "--impair-in", "corrupt 2% seed 9", "--impair-seed", "5"},
			options{cmd: "echo", port: 7, impairOut: netsim.Impairment{Loss: 0.01, Seed: 5}, impairIn: netsim.Impairment{Corrupt: 0.02, Seed: 9}}},
		{"impair out only", []string{"echo", "7", "--impair-out", "duplicate 2%"},
			options{cmd: "echo", port: 7, impairOut: netsim.Impairment{Duplicate: 0.02, Seed: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want.tun == "" {
				want.tun = defaultTUN
			}
			if !want.addr.IsValid() {
				want.addr = utcpAddr
			}
			if !want.peer.IsValid() {
				want.peer = kernelAddr
			}
			if want.mtu == 0 {
				want.mtu = defaultMTU
			}
			if want.msl == 0 {
				want.msl = defaultMSL
			}
			if want.finTimeout == 0 {
				want.finTimeout = 60 * time.Second
			}
			got, err := parseArgs(tt.args)
			require.NoError(t, err)
			assert.Equal(t, want, *got)
		})
	}
}

func TestRun_UsageErrorsAreOneLineExit2(t *testing.T) {
	tests := []struct {
		args []string
		want string // the whole line
	}{
		{nil, "missing command: want listen, dial, echo, http or forward (see utcp --help)"},
		{[]string{"serve", "80"}, `unknown command "serve": want listen, dial, echo, http or forward (see utcp --help)`},
		{[]string{"--trace", "80"}, "the command comes first: utcp listen|dial|echo|http|forward [flags] ... (see utcp --help)"},
		{[]string{"--trace"}, "the command comes first: utcp listen|dial|echo|http|forward [flags] ... (see utcp --help)"},
		{[]string{"listen", "x"}, `bad port "x": want 1-65535`},
		{[]string{"listen", "0"}, `bad port "0": want 1-65535`},
		{[]string{"listen", "65536"}, `bad port "65536": want 1-65535`},
		{[]string{"listen", "-1"}, "unknown shorthand flag: '1' in -1 (see utcp listen --help)"},
		{[]string{"echo", "4567", "--bogus"}, "unknown flag: --bogus (see utcp echo --help)"},
		{[]string{"listen", "1", "--trace=bogus"}, `invalid argument "bogus" for "--trace" flag: want --trace, --trace=why or --trace=off, not --trace=bogus (see utcp listen --help)`},
		{[]string{"dial", "-k", "10.9.0.1", "80"}, "unknown shorthand flag: 'k' in -k (see utcp dial --help)"},
		{[]string{"listen"}, "missing PORT: usage: utcp listen [flags] PORT"},
		{[]string{"listen", "1", "2"}, `unexpected argument "2": usage: utcp listen [flags] PORT`},
		{[]string{"dial", "80"}, "missing PORT: usage: utcp dial [flags] HOST PORT"},
		{[]string{"dial", "example.com", "80"}, `bad address "example.com": want a unicast address such as 10.9.0.1 (or fd00:9::1 with --ipv6)`},
		{[]string{"dial", "::1", "80"}, `bad address "::1": want a unicast address such as 10.9.0.1 (or fd00:9::1 with --ipv6)`},
		{[]string{"dial", "fd00:9::1", "80"}, "fd00:9::1 is an IPv6 address: dial it with --ipv6"},
		{[]string{"dial", "--ipv6", "fd00:9::2", "80"}, "fd00:9::2 is utcp's own address: dial the kernel side (10.9.0.1) or another host"},
		{[]string{"listen", "80", "--addr6", "10.9.0.5"}, `bad address "10.9.0.5" for --addr6: want an IPv6 unicast address such as fd00:9::2`},
		{[]string{"listen", "80", "--ipv6", "--peer6", "fd00:9::2"}, "--addr6 and --peer6 are both fd00:9::2: utcp and the kernel need different addresses"},
		{[]string{"listen", "80", "--ipv6", "--mtu", "1200"}, "bad MTU 1200 with --ipv6: IPv6 needs at least 1280 (RFC 8200 §5)"},
		{[]string{"dial", "10.9.0.2", "80"}, "10.9.0.2 is utcp's own address: dial the kernel side (10.9.0.1) or another host"},
		{[]string{"listen", "80", "--addr", "10.9.0"}, `bad address "10.9.0" for --addr: want an IPv4 unicast address such as 10.9.0.2`},
		{[]string{"listen", "80", "--peer", "224.0.0.1"}, `bad address "224.0.0.1" for --peer: want an IPv4 unicast address such as 10.9.0.2`},
		{[]string{"listen", "80", "--peer", "10.9.0.2"}, "--addr and --peer are both 10.9.0.2: utcp and the kernel need different addresses"},
		{[]string{"listen", "80", "--mtu", "67"}, "bad MTU 67: want 68-65535"},
		{[]string{"listen", "80", "--mtu", "big"}, `invalid argument "big" for "--mtu" flag: strconv.ParseInt: parsing "big": invalid syntax (see utcp listen --help)`},
		{[]string{"listen", "80", "--msl", "0s"}, "bad MSL 0s: want a positive duration such as 30s or 100ms"},
		{[]string{"listen", "80", "--tun", "a-very-long-name0"}, `bad TUN name "a-very-long-name0": want 1-15 characters, no '/' or spaces`},
		{[]string{"help", "nope"}, `unknown command "nope": want listen, dial, echo, http or forward`},
		{[]string{"echo", "7", "--impair", "loss 2"}, `bad --impair "loss 2": loss "2": want a percentage in [0%, 100%], such as 1%`},
		{[]string{"echo", "7", "--impair-in", "reorder 5%"}, `bad --impair-in "reorder 5%": reorder needs a delay: a reordered packet is one sent without it`},
		{[]string{"echo", "7", "--impair-out", "wobble"}, `bad --impair-out "wobble": unknown netem option "wobble": want delay, loss, duplicate, corrupt, reorder, gap, rate, limit, mtu or seed`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runSync(t, noLink(t), tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Equal(t, tt.want+"\n", stderr, "one line on stderr")
		})
	}
}

func TestRun_Help(t *testing.T) {
	allFlags := []string{"--tun", "--addr", "--peer", "--mtu", "--trace", "--pcap", "--offload", "--msl", "-v, --verbose",
		"-k, --keep-open", "-w, --timeout", "--dir", "--impair SPEC", "--impair-out", "--impair-in", "--impair-seed", "loss gemodel"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, append([]string{"utcp listen", "utcp dial", "utcp echo", "utcp http"}, allFlags...)},
		{[]string{"-h"}, []string{"utcp listen", "utcp dial", "utcp echo", "utcp http"}},
		{[]string{"help"}, append([]string{"utcp listen", "utcp dial", "utcp echo", "utcp http"}, allFlags...)},
		{[]string{"help", "dial"}, []string{"Usage: utcp dial [flags] HOST PORT", "--timeout", "--msl"}},
		{[]string{"listen", "--help"}, []string{"Usage: utcp listen [flags] PORT", "--keep-open", "TIME-WAIT", "--pcap"}},
		{[]string{"http", "-h", "80"}, []string{"Usage: utcp http [flags] PORT", "--dir", "/status.json", "/files/"}},
		{[]string{"echo", "--help"}, []string{"Usage: utcp echo [flags] PORT", "--trace"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runSync(t, noLink(t), tt.args...)
			assert.Equal(t, exitOK, code)
			assert.Empty(t, stderr)
			for _, w := range append(tt.want, "10.9.0.2", "nc 10.9.0.2 PORT", "sudo") {
				assert.Contains(t, stdout, w)
			}
		})
	}
}

func TestRun_LinkErrorsAreOneLineExit1(t *testing.T) {
	tests := []struct {
		err  error
		args []string
		want string
	}{
		{fmt.Errorf("tun: create utcp0: %w (operation not permitted)", tun.ErrPermission), nil,
			"utcp needs CAP_NET_ADMIN to create a TUN device; run it with sudo"},
		{fmt.Errorf("tun: open utcp0: %w", tun.ErrExists), nil,
			"TUN device utcp0 already exists (another utcp running?); pick another with --tun"},
		{fmt.Errorf("tun: open t9: %w", tun.ErrExists), []string{"--tun", "t9"},
			"TUN device t9 already exists (another utcp running?); pick another with --tun"},
		{fmt.Errorf("tun: create utcp0: %w (no such file or directory)", tun.ErrNoTUN), nil,
			"/dev/net/tun is missing or unusable: load the TUN driver with `modprobe tun`"},
		{errors.New("tun: configure utcp0: set link up: device busy\nmore"), nil,
			"create TUN device utcp0: tun: configure utcp0: set link up: device busy"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			open := func(linkConfig) (tcp.Link, error) { return nil, tt.err }
			code, stdout, stderr := runSync(t, open, append([]string{"listen", "4567"}, tt.args...)...)
			assert.Equal(t, exitRuntime, code)
			assert.Empty(t, stdout)
			assert.Equal(t, tt.want+"\n", stderr)
		})
	}
}

func TestRun_BadPcapPathFailsBeforeTheLink(t *testing.T) {
	code, _, stderr := runSync(t, noLink(t), "listen", "4567", "--pcap", t.TempDir()+"/no/such/dir/x.pcap")
	assert.Equal(t, exitRuntime, code)
	assert.Regexp(t, `^pcap: .*/no/such/dir/x.pcap: no such file or directory\n$`, stderr)
}

func TestRun_BadDirFailsBeforeTheLink(t *testing.T) {
	code, _, stderr := runSync(t, noLink(t), "http", "80", "--dir", t.TempDir()+"/missing")
	assert.Equal(t, exitRuntime, code)
	assert.Regexp(t, `^--dir: .*/missing: no such file or directory\n$`, stderr)
}

func TestRun_LinkConfigFromFlags(t *testing.T) {
	n := newTestNet(t, netOpts{mtu: 576, kernelAddr: netip.MustParseAddr("192.168.7.1")})
	c := start(t, n.open, nil, "echo", "7", "--tun", "t7", "--addr", "192.168.7.2", "--peer", "192.168.7.1", "--mtu", "576")
	assert.Equal(t, linkConfig{Name: "t7", Addr: netip.MustParseAddr("192.168.7.2"),
		Peer: netip.MustParseAddr("192.168.7.1"), MTU: 576}, <-n.opened)
	c.stderr.waitFor(t, "listening on 192.168.7.2:7\n")
	c.interrupt(syscall.SIGINT)
	assert.Equal(t, 130, c.wait(t))
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"SegsIn": "segs_in", "SRTT": "srtt", "RTO": "rto", "ChallengeACKs": "challenge_acks",
		"SynDroppedHalfOpen": "syn_dropped_half_open", "HTTPServer": "http_server", "IP": "ip",
	} {
		assert.Equal(t, want, snake(in), in)
	}
}

func TestCounters(t *testing.T) {
	got := counters(tcp.ConnStats{SegsIn: 3, SRTT: 1500 * time.Microsecond, SendQueued: 7})
	assert.Contains(t, got, "segs_in=3 ")
	assert.Contains(t, got, "srtt=1.5ms ")
	assert.Contains(t, got, "send_queued=7")
}
