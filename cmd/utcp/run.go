package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/netsim"
)

// linkConfig is what run asks a linkOpener for.
type linkConfig struct {
	Name string     // TUN device name
	Addr netip.Addr // utcp's own address
	Peer netip.Addr // the kernel's address on the link
	// Addr6 and Peer6 are the IPv6 pair (--ipv6), zero without it.
	Addr6, Peer6 netip.Addr
	MTU          int
	// Offload opens the TUN device with checksum and segmentation offload
	// (--offload, tun.Config.Offload).
	Offload bool
}

// linkOpener makes the link the stack runs on: openTUN for real use, an
// in-memory pipe in tests.
type linkOpener func(linkConfig) (tcp.Link, error)

// interrupted is the cause main gives the context it cancels on a signal.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// pcapFlushEvery is how often a --pcap capture is flushed to its file while
// utcp runs, so the file is readable before utcp exits.
const pcapFlushEvery = time.Second

// run is the whole command: it parses args, opens the link through
// openLink, runs the subcommand until it finishes or ctx ends, tears
// everything down and returns the exit code. Errors are one line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, openLink linkOpener) int {
	stderr = &lockedWriter{w: stderr} // the stack's tracer and the command share it
	o, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		printHelp(stdout, o.cmd)
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if stdin == nil {
		stdin = eofReader{}
	}
	s := &session{o: o, stdin: stdin, stdout: stdout, stderr: stderr, done: make(chan struct{})}
	code := exitOK
	if err := s.setup(openLink); err != nil {
		fmt.Fprintln(stderr, err)
		code = exitRuntime
	} else {
		code = s.exitCode(ctx, s.command(ctx))
	}
	if err := s.teardown(); err != nil {
		fmt.Fprintln(stderr, oneLine(err.Error()))
		if code == exitOK {
			code = exitRuntime
		}
	}
	return code
}

// session holds what one run of a command set up.
type session struct {
	o      *options
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	link      tcp.Link // the device, or the impairment and sniffer around it
	impaired  *netsim.Wrapped
	offload   *tun.Device // the device, when opened with --offload
	pcapFile  *os.File
	pcapBuf   *bufio.Writer
	sniffer   *tun.Sniffer
	stopFlush chan struct{}
	flushDone chan struct{}
	stack     *tcp.Stack

	done      chan struct{} // closed by teardown
	stdinOnce sync.Once
	stdinCh   chan []byte // chunks of stdin; closed at EOF
}

// setup opens the pcap file, the link and the stack.
func (s *session) setup(openLink linkOpener) error {
	o := s.o
	if o.dir != "" {
		if err := checkDir(o.dir); err != nil {
			return err
		}
	}
	if o.pcap != "" {
		// Before the device: a bad path must not leave anything behind.
		f, err := os.Create(o.pcap)
		if err != nil {
			return fmt.Errorf("pcap: %v", describe(err))
		}
		s.pcapFile = f
	}
	link, err := openLink(linkConfig{Name: o.tun, Addr: o.addr, Peer: o.peer, Addr6: o.addr6, Peer6: o.peer6, MTU: o.mtu, Offload: o.offload})
	if err != nil {
		return linkError(o.tun, err)
	}
	s.link = link
	if d, ok := link.(*tun.Device); ok && d.OffloadSize() > 0 {
		s.offload = d
	}
	if !o.impairOut.IsZero() || !o.impairIn.IsZero() {
		// Between the device and the sniffer: the capture shows what the
		// stack sent and what reached it.
		w, err := netsim.Wrap(link, o.impairOut, o.impairIn)
		if err != nil {
			link.Close()
			s.link = nil
			return fmt.Errorf("impair: %v", err)
		}
		s.impaired, s.link, link = w, w, w
	}
	if s.pcapFile != nil {
		s.pcapBuf = bufio.NewWriterSize(s.pcapFile, 64<<10)
		sn, err := tun.Sniff(link, s.pcapBuf)
		if err != nil {
			return fmt.Errorf("pcap %s: %v", o.pcap, describe(err))
		}
		s.sniffer, s.link = sn, sn
		s.stopFlush, s.flushDone = make(chan struct{}), make(chan struct{})
		go s.flushPcap()
	}
	cfg := tcp.Config{Addr: o.addr, Addrs: addrs6(o.addr6), MTU: o.mtu, MSL: o.msl, MaxConns: o.maxConns, MemoryLimit: o.memLimit << 20, FinTimeout: o.finTimeout}
	if o.trace {
		cfg.Tracer = tcp.NewLadder(s.stderr)
	}
	st, err := tcp.NewStack(s.link, cfg)
	if err != nil {
		return fmt.Errorf("start the stack: %v", err)
	}
	s.stack = st
	return nil
}

// linkError turns an error of the TUN device into the line the user reads.
func linkError(name string, err error) error {
	switch {
	case errors.Is(err, tun.ErrPermission):
		return errors.New("utcp needs CAP_NET_ADMIN to create a TUN device; run it with sudo")
	case errors.Is(err, tun.ErrExists):
		return fmt.Errorf("TUN device %s already exists (another utcp running?); pick another with --tun", name)
	case errors.Is(err, tun.ErrNoTUN):
		return errors.New("/dev/net/tun is missing or unusable: load the TUN driver with `modprobe tun`")
	}
	return fmt.Errorf("create TUN device %s: %s", name, oneLine(err.Error()))
}

// flushPcap flushes the capture now and then, so that it can be read
// while utcp runs.
func (s *session) flushPcap() {
	defer close(s.flushDone)
	t := time.NewTicker(pcapFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.sniffer.Flush()
		case <-s.stopFlush:
			return
		}
	}
}

// command runs the subcommand.
func (s *session) command(ctx context.Context) error {
	switch s.o.cmd {
	case "listen":
		return s.listen(ctx)
	case "dial":
		return s.dial(ctx)
	case "echo":
		return s.echo(ctx)
	case "http":
		return s.serveHTTP(ctx)
	}
	return fmt.Errorf("unknown command %q", s.o.cmd)
}

// exitCode reports err and chooses the exit code. An interrupted run
// exits 128+signal whatever the command returned.
func (s *session) exitCode(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		var in interrupted
		if errors.As(context.Cause(ctx), &in) {
			return exitSignalBase + int(in.sig)
		}
		return exitSignalBase + int(syscall.SIGINT)
	}
	if err != nil {
		fmt.Fprintln(s.stderr, oneLine(err.Error()))
		return exitRuntime
	}
	return exitOK
}

// teardown resets what is still open, closes the stack and the link (which
// removes the TUN device), flushes the capture and prints the counters.
func (s *session) teardown() error {
	var errs []error
	close(s.done)
	if s.stack != nil {
		s.stack.Close() // RFC 9293 §3.10.5: open connections are reset
	}
	if s.stopFlush != nil {
		close(s.stopFlush)
		<-s.flushDone
	}
	if s.link != nil {
		// A Sniffer closes the device, then flushes the capture.
		if err := s.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %v", s.o.tun, err))
		}
	}
	if s.pcapFile != nil {
		if err := s.pcapFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pcap: %v", err))
		}
	}
	if s.stack != nil && s.o.verbose {
		printStats(s.stderr, s.stack.Stats())
		if s.impaired != nil {
			fmt.Fprintf(s.stderr, "impair out: %s\nimpair in: %s\n", counters(s.impaired.OutStats()), counters(s.impaired.InStats()))
		}
		if s.offload != nil {
			fmt.Fprintf(s.stderr, "offload: %s\n", counters(s.offload.Stats()))
		}
	}
	return errors.Join(errs...)
}

// printStats writes the stack's counters as "name=value" lines.
func printStats(w io.Writer, st tcp.StackStats) {
	fmt.Fprintf(w, "tcp: %s\n", counters(st))
	fmt.Fprintf(w, "ip: %s\n", st.IP)
}

// counters formats the counters of a struct as "snake_name=value".
func counters(v any) string {
	var parts []string
	for _, f := range counterFields(v) {
		parts = append(parts, fmt.Sprintf("%s=%v", f.name, f.value))
	}
	return strings.Join(parts, " ")
}

// counterField is one field of a counters struct.
type counterField struct {
	name  string // snake_case
	value any    // uint64, int64, time.Duration, bool, or the string of a fmt.Stringer
}

// counterFields lists the integer and duration fields of the struct v
// (tcp.StackStats, tcp.ConnStats, tcp.Info, ip.StatsSnapshot) by reflection, so a
// counter added there shows up here without a change.
func counterFields(v any) []counterField {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	var out []counterField
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := rv.Field(i)
		var val any
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			val = time.Duration(fv.Int())
		case fv.Kind() != reflect.Struct && f.Type.Implements(reflect.TypeFor[fmt.Stringer]()):
			val = fv.Interface().(fmt.Stringer).String() // State, Congestion, Phase
		case fv.Kind() == reflect.Bool:
			val = fv.Bool()
		case fv.Kind() == reflect.Struct && !f.Type.Implements(reflect.TypeFor[fmt.Stringer]()):
			out = append(out, counterFields(fv.Interface())...) // tcp.Info's Options
			continue
		case fv.CanUint():
			val = fv.Uint()
		case fv.CanInt():
			val = fv.Int()
		default:
			continue
		}
		out = append(out, counterField{name: snake(f.Name), value: val})
	}
	return out
}

// snake turns "SegsIn" into "segs_in" and "SRTT" into "srtt".
func snake(name string) string {
	var b strings.Builder
	r := []rune(name)
	for i, c := range r {
		// A word starts at an upper-case letter after a lower-case one, or
		// at the last capital of an acronym ("HTTPServer"), but a plural
		// acronym stays whole ("ChallengeACKs").
		plural := i+1 < len(r) && r[i+1] == 's' && (i+2 == len(r) || unicode.IsUpper(r[i+2]))
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && !plural) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// describe is the end of an error's text a user needs: the errno of a
// connection error ("connection refused"), else the error itself.
func describe(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + describe(pe.Err)
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return syscall.ETIMEDOUT.Error()
	case errors.Is(err, net.ErrClosed):
		return "connection closed"
	}
	return oneLine(err.Error())
}

// lockedWriter serialises writes, so that lines from several goroutines
// (the stack's tracer, connection handlers) do not tear.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// eofReader is an empty stdin.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// addrs6 is the stack's further addresses: the IPv6 one, if any.
func addrs6(a netip.Addr) []netip.Addr {
	if !a.IsValid() {
		return nil
	}
	return []netip.Addr{a}
}
