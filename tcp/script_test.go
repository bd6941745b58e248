package tcp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

// scriptDir holds the packet scripts, relative to the tcp package.
const scriptDir = "../testdata/scripts"

// TestScripts runs the packet scripts: readable scenarios in packetdrill's
// notation that drive the sans-I/O host (host.go) and its TCBs with a fake
// clock, as the Stack would drive them. Each file in ../testdata/scripts is
// a subtest of TestScripts.
//
// A script is a list of lines "TIME ACTION"; '#' starts a comment.
//
//	option local=10.0.0.1:80 remote=10.0.0.2:40000 iss=1000 irs=5000 mss=1460 msl=1s rto=1s
//	0     listen
//	+0    < S 0:0(0) win 65535 <mss 1460>
//	+0    > S. 0:0(0) ack 1 <mss 1460>
//
// Option lines (before the first action) set the Config and the connection:
// local, remote (address:port), iss (our ISS, for every connection; a SYN
// that ends TIME-WAIT gets one above the old SND.NXT), irs (the peer's ISN,
// on every port), mss (our MSS: MTU-40), mtu, msl, rto (initial RTO),
// minrto, maxrto, usertimeout (R2), fintimeout (Config.FinTimeout), delack (delayed ACK; without it every
// segment is acknowledged at once) as Go durations, rcvbuf and sndbuf in
// octets (and rcvbufmax, sndbufmax: the autotuning bounds, off unless
// set), backlog (Config.Backlog) and halfopen (Config.MaxHalfOpen),
// maxconns, maxtimewait and memlimit (Config.MaxConns, MaxTimeWait,
// MemoryLimit), syncookies=on|off|always (Config.SYNCookies), synackretries
// (Config.SynAckRetries), ooomax (Config.OutOfOrderRanges), stackooo and
// stackooobytes (Config.StackOutOfOrderRanges, StackOutOfOrderBytes), cc
// (Config.Congestion: cubic or newreno), and
// noconn (the script neither listens nor connects: the host answers every
// segment from replyToClosed). nosack and nots turn off SACK-permitted and
// timestamps (Config.NoSACK, Config.NoTimestamps); ecn=on|off|accept sets
// Config.ECN. keepalive=IDLE,INTERVAL,COUNT turns keep-alive on.
// forward=accept|refuse|drop|wait turns forwarding mode on (Config.Forward)
// and decides each request as it is made (wait: never); maxforward sets
// Config.MaxForwardPending.
//
// Our timestamp clock is deterministic: TSval is the milliseconds since
// the script's start plus tsoffset (default 0), so a segment sent at +.1
// from the start carries "TS val 100". The peer's TS values are written
// as sent, with no base.
//
// TIME is absolute seconds from the start ("0", "1.5") or relative to the
// previous line ("+0", "+.01"). Before a line runs, the clock advances to its
// time and every timer of every connection due on the way fires, in order.
//
// A line acts on the connection from the remote address and port; ACTION@PORT
// names another remote port, so a script can drive several connections:
// "<@40001 S 0:0(0)", ">@40001 R. 0:0(0) ack 1", "state@40001 SYN-RECEIVED".
//
// Actions:
//
//	< SEGMENT        the peer sends a segment, which goes through host.input (win
//	                 defaults to 65535). SEG.SEQ is relative to irs, SEG.ACK to iss.
//	> SEGMENT        the next segment sent, by the host or any TCB, must match, must go
//	                 to the line's port and must have been sent at this line's time.
//	                 SEG.SEQ is relative to iss, SEG.ACK to irs. Fields left out (ack,
//	                 win, options, payload) are not compared.
//	> none           nothing is waiting to be matched.
//	listen           a listener on the local port (host.listen)
//	connect          an active OPEN from the local port to the line's port (host.dial)
//	accept           take the oldest connection of the accept queue (host.accept): there
//	                 must be one, and it must come from the line's port
//	write "txt"      SEND the text; all of it must be queued
//	write N          SEND N octets of 'x'
//	read N           RECEIVE with an N-octet buffer: expect N octets;
//	read N "txt"     ... expect exactly txt ("" means nothing, no error);
//	read N eof       ... expect io.EOF ("read eof" for short)
//	close | shutdown CLOSE (a half close); closefull: closeRead then CLOSE (Go's Conn.Close)
//	abort            ABORT
//	nagle            turn Nagle's algorithm on for the connection (Conn.SetNoDelay(false))
//	drop NAME|none   the reason an arriving segment was dropped (script_why_test.go)
//	setrcvbuf N      Conn.SetReadBuffer(N)
//	state NAME       the connection is in state NAME (as RFC 9293 spells it); with no
//	                 connection from the port it is LISTEN if a listener waits, else CLOSED
//	peer NAME        the peer's state, as a PeerTracker infers it from the segments
//	                 (script_infer_test.go), is NAME
//	< icmp TYPE ...  a router's ICMP error about a segment we sent (see scriptICMP):
//	                 "< icmp unreach frag-needed mtu 1200 seq 1 len 1500", the quoted
//	                 SEQ relative to iss
//	err NAME         the connection's error is ECONNRESET, ECONNREFUSED, ETIMEDOUT,
//	                 ECONNABORTED, or an ICMP errno (ENETUNREACH, EHOSTUNREACH,
//	                 ENOPROTOOPT, EPROTO, EOPNOTSUPP) (errors.Is), or none
//	softerr NAME     the connection's soft error (Conn.SoftError) is NAME or none
//	event NAME       established|readable|writable|closed|frozen was raised since the last check
//	                 (frozen: the host keeps the connection's TIME-WAIT as a compact record)
//	stat NAME N      the connection's ConnStats field NAME is N; stack.NAME is the host's
//	                 counter StackStats calls NAME (stack.RefusedMaxConns, ...), or its
//	                 out-of-order budget: stack.OutOfOrderRanges, ...Bytes, ...Dropped,
//	                 ...Reneged, ...Reclaimed
//
// A '>' line may end in why=NAME, the Reason the segment must carry; a '<'
// line in badcsum or badhdr (see script_why_test.go).
//
// The connection of a port is the last TCB a segment from it reached, or
// that connect or accept returned; it stays after the host has dropped it,
// so a script can check its final state. Every segment sent must be matched
// by a '>' line before the script ends.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scriptDir, "*.pkt"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no scripts in %s", scriptDir)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			if err := scriptRun(filepath.Base(path), f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// scriptLine is one parsed action line.
type scriptLine struct {
	num     int
	text    string        // the line as written, comment removed
	at      time.Duration // absolute time from the script's start
	op      string        // "<", ">", "listen", "read", ...
	port    uint16        // the remote port of ACTION@PORT; 0 for the script's
	pat     pattern       // for < and >
	none    bool          // "> none"
	data    []byte        // write's payload, read's expected text
	n       int           // read's buffer size
	eof     bool          // "read N eof"
	want    bool          // read has an expectation ("txt" or eof)
	st      State         // state NAME
	err     error         // err NAME (nil for none)
	ev      tcbEvents     // event NAME
	stat    string        // stat NAME N: a ConnStats or StackStats field
	icmp    *scriptICMP   // "< icmp ..."
	why     Reason        // "> ... why=NAME", "drop NAME" (script_why_test.go)
	corrupt string        // "< ... badcsum" or "badhdr"
}

// scriptOptions are what the option lines set.
type scriptOptions struct {
	cfg      Config
	id       FourTuple
	iss, irs Seq
	tsOffset uint32
	noconn   bool
	forward  string // forward=: what the script decides for each forwarded SYN
}

// scriptSent is a segment the host or a TCB emitted, waiting for a '>' line.
type scriptSent struct {
	id    FourTuple
	seg   Segment
	at    time.Time
	cause string // what made it go out: a line or a timer
}

// scriptRunner executes one script against one host.
type scriptRunner struct {
	name   string
	opt    scriptOptions
	cfg    Config // opt.cfg with its defaults, shared by the host and its TCBs
	start  time.Time
	now    time.Time
	h      *host
	ln     *listenState
	conns  map[uint16]*tcb // by remote port: see the file comment
	events map[*tcb]tcbEvents
	sent   []scriptSent
	trace  []string
	line   *scriptLine
	cause  string      // the input being processed, for scriptSent.cause
	ep     ip.Endpoint // the IP layer "< icmp" lines go through
	infer  scriptInfer // inferred states of both sides (script_infer_test.go)
	drops  []Reason    // the drops since the last '<' line, for "drop"
}

// scriptEpoch is the fake clock's start: any fixed instant will do.
var scriptEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// scriptFailure carries a failed check out of the runner (see failf).
type scriptFailure struct{ err error }

// scriptRun parses and runs the script read from src; name is its file name.
// It returns the first parse error or failed check, with name:line.
func scriptRun(name string, src io.Reader) (err error) {
	opt, lines, err := scriptParse(name, src)
	if err != nil {
		return err
	}
	r := &scriptRunner{name: name, opt: opt, start: scriptEpoch, now: scriptEpoch,
		conns: make(map[uint16]*tcb), events: make(map[*tcb]tcbEvents)}
	r.cfg = opt.cfg.withDefaults()
	r.cfg.Tracer = scriptTracer{r}
	r.cfg.ISN = func(FourTuple, time.Time) Seq { return opt.iss }
	r.cfg.TSOffset = func(FourTuple) uint32 { return opt.tsOffset }
	r.h = newHost(&r.cfg)
	r.h.tsEpoch = r.start // TSval: milliseconds since the start, plus tsoffset
	// The same SYN cookies on every run; their counter starts at the first SYN.
	r.h.cookies.k0, r.h.cookies.k1 = scriptCookieKey()
	// connect dials from the local port.
	p := opt.id.Local.Port()
	r.h.eph = &portAlloc{first: p, last: p}
	defer func() {
		switch p := recover().(type) {
		case nil:
		case scriptFailure:
			err = p.err
		default:
			panic(p)
		}
	}()
	for i := range lines {
		r.line = &lines[i]
		r.run(&lines[i])
		r.checkInvariants()
		r.inferCheck()
	}
	r.line = nil
	if len(r.sent) > 0 {
		var b strings.Builder
		for _, s := range r.sent {
			fmt.Fprintf(&b, "\n\t%s (%s)", r.fmtOut(&s), r.fmtSent(&s))
		}
		r.failf("end of script: segments sent but never expected by a '>' line:%s", b.String())
	}
	return nil
}

// scriptParse reads a script: the option lines, then the action lines.
func scriptParse(name string, src io.Reader) (scriptOptions, []scriptLine, error) {
	opt := scriptDefaultOptions()
	var lines []scriptLine
	var last time.Duration
	sc := bufio.NewScanner(src)
	for num := 1; sc.Scan(); num++ {
		text := strings.TrimSpace(scriptStripComment(sc.Text()))
		if text == "" {
			continue
		}
		fail := func(err error) error { return fmt.Errorf("%s:%d: `%s`: %w", name, num, text, err) }
		if rest, ok := strings.CutPrefix(text, "option "); ok {
			if len(lines) > 0 {
				return opt, nil, fail(errors.New("option after the first action"))
			}
			if err := scriptParseOptions(&opt, rest); err != nil {
				return opt, nil, fail(err)
			}
			continue
		}
		l, err := scriptParseLine(text, last)
		if err != nil {
			return opt, nil, fail(err)
		}
		l.num, l.text = num, text
		last = l.at
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return opt, nil, fmt.Errorf("%s: %w", name, err)
	}
	if opt.noconn {
		for _, l := range lines {
			if l.op == "listen" || l.op == "connect" {
				return opt, nil, fmt.Errorf("%s:%d: `%s`: option noconn: the script neither listens nor connects", name, l.num, l.text)
			}
		}
	}
	return opt, lines, nil
}

func scriptDefaultOptions() scriptOptions {
	return scriptOptions{
		cfg: Config{
			Addr:        netip.MustParseAddr("10.0.0.1"),
			MTU:         1500,
			MSL:         time.Second,
			InitialRTO:  time.Second,
			MinRTO:      time.Second,
			MaxRTO:      60 * time.Second,
			UserTimeout: 3 * time.Minute,
			DelayedACK:  -1, // scripts see every ACK at once unless they set delack
			SendBuffer:  256 << 10,
			RecvBuffer:  256 << 10,
			// Buffers stay as set unless a script sets rcvbufmax or sndbufmax.
			RecvBufferMax: -1,
			SendBufferMax: -1,
		},
		id: FourTuple{
			Local:  netip.MustParseAddrPort("10.0.0.1:80"),
			Remote: netip.MustParseAddrPort("10.0.0.2:40000"),
		},
		iss: 1000,
		irs: 5000,
	}
}

// scriptStripComment removes a '#' comment that is not inside a quoted string.
func scriptStripComment(s string) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == '#' && !inQuote:
			return s[:i]
		}
	}
	return s
}

func scriptParseOptions(o *scriptOptions, text string) error {
	for _, kv := range strings.Fields(text) {
		switch kv {
		case "noconn":
			o.noconn = true
			continue
		case "nosack":
			o.cfg.NoSACK = true
			continue
		case "nots":
			o.cfg.NoTimestamps = true
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("option %q: want key=value", kv)
		}
		var err error
		dur := func(d *time.Duration) {
			*d, err = time.ParseDuration(v)
		}
		num := func(n *int) {
			*n, err = strconv.Atoi(v)
			if err == nil && *n <= 0 {
				err = errors.New("must be positive")
			}
		}
		seq := func(s *Seq) {
			var u uint64
			u, err = strconv.ParseUint(v, 10, 32)
			*s = Seq(u)
		}
		switch k {
		case "local", "remote":
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(v)
			if k == "local" {
				o.id.Local, o.cfg.Addr = ap, ap.Addr()
			} else {
				o.id.Remote = ap
			}
		case "iss":
			seq(&o.iss)
		case "irs":
			seq(&o.irs)
		case "mss":
			var m int
			num(&m)
			o.cfg.MTU = m + 40 // RFC 9293 MUST-67: MSS = MTU - 40 for IPv4
		case "mtu":
			num(&o.cfg.MTU)
		case "msl":
			dur(&o.cfg.MSL)
		case "rto":
			dur(&o.cfg.InitialRTO)
		case "minrto":
			dur(&o.cfg.MinRTO)
		case "maxrto":
			dur(&o.cfg.MaxRTO)
		case "usertimeout":
			dur(&o.cfg.UserTimeout)
		case "fintimeout":
			dur(&o.cfg.FinTimeout)
		case "delack":
			dur(&o.cfg.DelayedACK)
		case "rcvbuf":
			num(&o.cfg.RecvBuffer)
		case "sndbuf":
			num(&o.cfg.SendBuffer)
		case "rcvbufmax":
			num(&o.cfg.RecvBufferMax)
		case "sndbufmax":
			num(&o.cfg.SendBufferMax)
		case "backlog":
			num(&o.cfg.Backlog)
		case "halfopen":
			num(&o.cfg.MaxHalfOpen)
		case "maxconns":
			num(&o.cfg.MaxConns)
		case "maxtimewait":
			num(&o.cfg.MaxTimeWait)
		case "memlimit":
			var m int
			num(&m)
			o.cfg.MemoryLimit = int64(m)
		case "forward":
			err = scriptParseForward(o, v)
		case "maxforward":
			num(&o.cfg.MaxForwardPending)
		case "syncookies":
			o.cfg.SYNCookies, err = ParseSYNCookies(v)
		case "synackretries":
			num(&o.cfg.SynAckRetries)
		case "ooomax":
			num(&o.cfg.OutOfOrderRanges)
		case "stackooo":
			num(&o.cfg.StackOutOfOrderRanges)
		case "stackooobytes":
			num(&o.cfg.StackOutOfOrderBytes)
		case "cc":
			o.cfg.Congestion, err = ParseCongestion(v)
		case "tsoffset":
			var u uint64
			u, err = strconv.ParseUint(v, 10, 32)
			o.tsOffset = uint32(u)
		case "ecn":
			o.cfg.ECN, err = ParseECN(v)
		case "keepalive":
			err = scriptParseKeepAlive(&o.cfg, v)
		default:
			return fmt.Errorf("unknown option %q", k)
		}
		if err != nil {
			return fmt.Errorf("option %s: %w", k, err)
		}
	}
	return nil
}

var scriptErrNames = map[string]error{
	"ECONNRESET":   syscall.ECONNRESET,
	"ECONNREFUSED": syscall.ECONNREFUSED,
	"ETIMEDOUT":    syscall.ETIMEDOUT,
	"ECONNABORTED": syscall.ECONNABORTED,
	"none":         nil,
}

var scriptEventNames = map[string]tcbEvents{
	"established": evEstablished,
	"readable":    evReadable,
	"writable":    evWritable,
	"closed":      evClosed,
	"frozen":      evFrozen,
}

// scriptParseLine parses "TIME ACTION ARGS"; last is the previous line's time.
func scriptParseLine(text string, last time.Duration) (scriptLine, error) {
	var l scriptLine
	timeTok, rest, _ := strings.Cut(text, " ")
	rest = strings.TrimSpace(rest)
	rel := strings.HasPrefix(timeTok, "+")
	secs, err := strconv.ParseFloat(strings.TrimPrefix(timeTok, "+"), 64)
	if err != nil || secs < 0 || math.IsInf(secs, 0) || secs > 1e6 {
		return l, fmt.Errorf("bad time %q: want seconds or +seconds", timeTok)
	}
	l.at = time.Duration(math.Round(secs * 1e9))
	if rel {
		l.at += last
	} else if l.at < last {
		return l, fmt.Errorf("time %q goes backwards", timeTok)
	}
	op, arg, _ := strings.Cut(rest, " ")
	arg = strings.TrimSpace(arg)
	op, port, hasPort := strings.Cut(op, "@")
	l.op = op
	if hasPort {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return l, fmt.Errorf("bad port %q after @: want 1-65535", port)
		}
		if op == "listen" {
			return l, errors.New("listen takes no @port: it listens on the local port")
		}
		l.port = uint16(p)
	}
	noArg := func() error {
		if arg != "" {
			return fmt.Errorf("%s takes no argument", op)
		}
		return nil
	}
	switch op {
	case "<", ">":
		if op == ">" && arg == "none" {
			l.none = true
			return l, nil
		}
		if op == "<" && strings.HasPrefix(arg, "icmp ") {
			l.icmp, err = scriptParseICMP(arg)
			return l, err
		}
		if arg, err = scriptCutWhy(&l, arg); err != nil {
			return l, err
		}
		l.pat, err = parsePattern(arg)
		return l, err
	case "drop":
		return l, scriptParseDrop(&l, arg)
	case "listen", "connect", "accept", "close", "shutdown", "closefull", "abort", "nagle":
		return l, noArg()
	case "setrcvbuf":
		l.n, err = strconv.Atoi(arg)
		if err != nil || l.n <= 0 {
			return l, fmt.Errorf("%s: want a positive size, got %q", op, arg)
		}
		return l, nil
	case "write":
		if strings.HasPrefix(arg, `"`) {
			s, err := strconv.Unquote(arg)
			if err != nil {
				return l, fmt.Errorf("write: bad quoted text %s", arg)
			}
			l.data = []byte(s)
			return l, nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n <= 0 || n > 1<<24 {
			return l, fmt.Errorf(`write: want "text" or a positive count, got %q`, arg)
		}
		l.data = []byte(strings.Repeat("x", n))
		return l, nil
	case "read":
		if arg == "eof" {
			arg = "1 eof" // "read eof" is short for "read 1 eof"
		}
		nTok, want, _ := strings.Cut(arg, " ")
		want = strings.TrimSpace(want)
		l.n, err = strconv.Atoi(nTok)
		if err != nil || l.n <= 0 || l.n > 1<<24 {
			return l, fmt.Errorf("read: want a positive buffer size, got %q", nTok)
		}
		switch {
		case want == "":
		case want == "eof":
			l.want, l.eof = true, true
		case strings.HasPrefix(want, `"`):
			s, err := strconv.Unquote(want)
			if err != nil {
				return l, fmt.Errorf("read: bad quoted text %s", want)
			}
			if len(s) > l.n {
				return l, fmt.Errorf("read: %d octets expected from a %d-octet buffer", len(s), l.n)
			}
			l.want, l.data = true, []byte(s)
		default:
			return l, fmt.Errorf(`read: want "text" or eof after the size, got %q`, want)
		}
		return l, nil
	case "state", "peer":
		st, ok := parseState(arg)
		if !ok {
			return l, fmt.Errorf("unknown state %q", arg)
		}
		l.st = st
		return l, nil
	case "err", "softerr":
		e, ok := scriptErrNames[arg]
		if !ok {
			e, ok = scriptICMPErrNames[arg]
		}
		if !ok {
			return l, fmt.Errorf("unknown error %q", arg)
		}
		l.err = e
		return l, nil
	case "stat":
		return l, scriptParseStat(&l, arg)
	case "event":
		ev, ok := scriptEventNames[arg]
		if !ok {
			return l, fmt.Errorf("unknown event %q", arg)
		}
		l.ev = ev
		return l, nil
	}
	return l, fmt.Errorf("unknown action %q", op)
}

// failf stops the script, naming the line being run and the recent trace.
// It panics with a scriptFailure, which scriptRun recovers.
func (r *scriptRunner) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	where := r.name
	if r.line != nil {
		where = fmt.Sprintf("%s:%d: `%s`", r.name, r.line.num, r.line.text)
	}
	tail := r.trace
	if len(tail) > 30 {
		tail = tail[len(tail)-30:]
	}
	panic(scriptFailure{fmt.Errorf("%s\n%s\ntrace (fake time, relative numbers):\n\t%s", where, msg, strings.Join(tail, "\n\t"))})
}

func (r *scriptRunner) fmtTime(t time.Time) string {
	return strconv.FormatFloat(t.Sub(r.start).Seconds(), 'f', 3, 64) + "s"
}

// fmtSent says when and why a segment was sent.
func (r *scriptRunner) fmtSent(s *scriptSent) string {
	return "sent at " + r.fmtTime(s.at) + " after " + s.cause
}

// fmtPort is "@PORT" for a remote port other than the script's, else "".
func (r *scriptRunner) fmtPort(port uint16) string {
	if port == r.opt.id.Remote.Port() {
		return ""
	}
	return "@" + strconv.Itoa(int(port))
}

// fmtOut prints a segment we sent, with its port if it is not the script's:
// SEG.SEQ relative to iss, SEG.ACK to irs.
func (r *scriptRunner) fmtOut(s *scriptSent) string {
	return strings.TrimPrefix(r.fmtPort(s.id.Remote.Port())+" ", " ") + s.seg.format(r.opt.iss, r.opt.irs)
}

// fmtIn prints a segment the peer sent: SEG.SEQ relative to irs, SEG.ACK to iss.
func (r *scriptRunner) fmtIn(s *Segment) string { return s.format(r.opt.irs, r.opt.iss) }

func (r *scriptRunner) tracef(format string, args ...any) {
	r.trace = append(r.trace, r.fmtTime(r.now)+" "+fmt.Sprintf(format, args...))
}

// scriptTracer records state changes and user events in the trace.
type scriptTracer struct{ r *scriptRunner }

func (tr scriptTracer) SegmentIn(time.Time, FourTuple, *Segment)  {}
func (tr scriptTracer) SegmentOut(time.Time, FourTuple, *Segment) {}
func (tr scriptTracer) StateChange(_ time.Time, id FourTuple, from, to State) {
	tr.r.tracef("state%s %s -> %s", tr.r.fmtPort(id.Remote.Port()), from, to)
}
func (tr scriptTracer) UserEvent(_ time.Time, _ FourTuple, ev UserEvent) { tr.r.tracef("user: %s", ev) }
func (tr scriptTracer) SegmentDropped(_ time.Time, id FourTuple, _ *Segment, why Reason) {
	tr.r.drops = append(tr.r.drops, why)
	tr.r.tracef("drop%s %s", tr.r.fmtPort(id.Remote.Port()), why.Name())
}
func (tr scriptTracer) Sender(time.Time, FourTuple, SenderState) {}
func (tr scriptTracer) Flush()                                   {}

// checkInvariants fails the script if any TCB of the host breaks its invariants.
func (r *scriptRunner) checkInvariants() {
	for id, c := range r.h.conns {
		if err := c.invariants(); err != nil {
			r.failf("invariants of %v in %v: %v", id, c.state, err)
		}
	}
	if err := r.h.budgetInvariants(); err != nil {
		r.failf("%v", err)
	}
}

// flush collects what the host and its TCBs send, and their events.
func (r *scriptRunner) flush() {
	r.decideForwards()
	r.h.flush(r.now, r.collect, r.wake)
}

// collect copies an emitted segment: its payload is reused by the next one.
func (r *scriptRunner) collect(id FourTuple, s *Segment) {
	if s.SrcPort != id.Local.Port() || s.DstPort != id.Remote.Port() {
		r.failf("segment %s from port %d to %d emitted for %v", s, s.SrcPort, s.DstPort, id)
	}
	cp := *s
	cp.Payload = append([]byte(nil), s.Payload...)
	cp.Options.SACKBlocks = append([]SACKBlock(nil), s.Options.SACKBlocks...)
	r.sent = append(r.sent, scriptSent{id: id, seg: cp, at: r.now, cause: r.cause})
	r.tracef(">%s %s why=%s", r.fmtPort(id.Remote.Port()), cp.format(r.opt.iss, r.opt.irs), s.Why.Name())
	if s.Why == ReasonNone || s.Why.Drop() {
		r.failf("segment %s sent with no reason to send (Why %s)", cp.format(r.opt.iss, r.opt.irs), s.Why.Name())
	}
	r.inferSegment(id.Remote.Port(), &cp, true)
}

// wake keeps the events the host reports, for event and accept.
func (r *scriptRunner) wake(_ time.Time, t *tcb, ev tcbEvents) { r.events[t] |= ev }

// advance moves the clock to t, firing each timer that falls due on the way.
func (r *scriptRunner) advance(t time.Time) {
	for i := 0; ; i++ {
		due := r.h.nextTimeout()
		if due.IsZero() || due.After(t) {
			break
		}
		if i == 10000 {
			r.failf("timer due at %s keeps firing without being cleared", r.fmtTime(due))
		}
		if due.After(r.now) {
			r.now = due
		}
		r.cause = "a timer"
		r.h.handleTimeout(r.now)
		r.flush()
	}
	if t.After(r.now) {
		r.now = t
	}
}

// port is the remote port a line acts on.
func (r *scriptRunner) port(l *scriptLine) uint16 {
	if l.port != 0 {
		return l.port
	}
	return r.opt.id.Remote.Port()
}

// remote is the peer's address and port for a line.
func (r *scriptRunner) remote(l *scriptLine) netip.AddrPort {
	return netip.AddrPortFrom(r.opt.id.Remote.Addr(), r.port(l))
}

// conn returns the connection a line acts on, failing if there is none.
func (r *scriptRunner) conn(l *scriptLine) *tcb {
	c := r.conns[r.port(l)]
	if c == nil {
		r.failf("no connection from port %d", r.port(l))
	}
	return c
}

// user finishes a user call into c: the host settles it and flushes.
func (r *scriptRunner) user(c *tcb) {
	r.h.touch(r.now, c)
	r.flush()
}

// run executes one line.
func (r *scriptRunner) run(l *scriptLine) {
	r.advance(r.start.Add(l.at))
	r.cause = fmt.Sprintf("line %d `%s`", l.num, l.text)
	if l.op != "<" && l.op != ">" {
		r.tracef("%s", strings.TrimSpace(strings.TrimPrefix(l.text, strings.Fields(l.text)[0])))
	}
	switch l.op {
	case "<":
		if l.icmp != nil {
			r.injectICMP(l)
			return
		}
		r.inject(l)
	case ">":
		r.expect(l)
	case "listen":
		ln, err := r.h.listen(r.opt.id.Local.Port())
		if err != nil {
			r.failf("listen: %v", err)
		}
		r.ln = ln
	case "connect":
		c, err := r.h.dial(r.now, r.remote(l))
		if err != nil {
			r.failf("connect: %v", err)
		}
		r.conns[r.port(l)] = c
		r.flush()
	case "accept":
		r.accept(l)
	case "write":
		c := r.conn(l)
		n, err := c.send(l.data)
		if err != nil || n != len(l.data) {
			r.failf("send: got (%d, %v), want (%d, nil)", n, err, len(l.data))
		}
		r.user(c)
	case "read":
		r.read(l)
	case "close", "shutdown":
		c := r.conn(l)
		if err := c.close(r.now); err != nil {
			r.failf("close: got %v, want nil", err)
		}
		r.user(c)
	case "closefull":
		c := r.conn(l)
		if !c.closeRead(r.now) {
			if err := c.close(r.now); err != nil {
				r.failf("close: got %v, want nil", err)
			}
		}
		r.user(c)
	case "abort":
		c := r.conn(l)
		c.abort(r.now)
		r.user(c)
	case "nagle":
		r.conn(l).noDelay = false // Conn.SetNoDelay(false)
	case "setrcvbuf":
		c := r.conn(l)
		c.setRecvBuffer(l.n)
		r.user(c)
	case "state":
		if got := r.state(l); got != l.st {
			r.failf("got state %s, want %s", got, l.st)
		}
	case "peer":
		r.inferPeer(l)
	case "err":
		var got error
		if c := r.conns[r.port(l)]; c != nil {
			got = c.err
		}
		switch {
		case l.err == nil && got != nil:
			r.failf("got error %v, want none", got)
		case l.err != nil && !errors.Is(got, l.err):
			r.failf("got error %v, want %v", got, l.err)
		}
	case "stat":
		r.checkStat(l)
	case "drop":
		r.checkDrop(l)
	case "softerr":
		r.scriptSoftErr(l)
	case "event":
		c := r.conns[r.port(l)]
		if r.events[c]&l.ev == 0 {
			r.failf("event %s: not raised since the last check (pending events: %s)", l.text[strings.LastIndex(l.text, " ")+1:], scriptFmtEvents(r.events[c]))
		}
		r.events[c] &^= l.ev
	}
}

// state is the state of a line's connection; see the file comment.
func (r *scriptRunner) state(l *scriptLine) State {
	if c := r.conns[r.port(l)]; c != nil {
		return r.h.stateOf(c)
	}
	if r.ln != nil && !r.ln.closed {
		return StateListen
	}
	return StateClosed
}

// accept takes the oldest connection of the accept queue.
func (r *scriptRunner) accept(l *scriptLine) {
	if r.ln == nil {
		r.failf("accept without listen")
	}
	c := r.h.accept(r.ln)
	if c == nil {
		r.failf("accept: the accept queue is empty (the connection from port %d is %s)", r.port(l), r.state(l))
	}
	if got := c.id.Remote.Port(); got != r.port(l) {
		r.failf("accept: got the connection from port %d, want port %d", got, r.port(l))
	}
	r.conns[r.port(l)] = c
	r.events[c] &^= evEstablished
}

func scriptFmtEvents(e tcbEvents) string {
	var names []string
	for name, bit := range scriptEventNames {
		if e&bit != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// inject delivers a '<' segment through the host, with numbers made absolute.
func (r *scriptRunner) inject(l *scriptLine) {
	seg := l.pat.Segment
	seg.Payload = append([]byte(nil), seg.Payload...)
	seg.SrcPort, seg.DstPort = r.port(l), r.opt.id.Local.Port()
	seg.Seq = seg.Seq.Add(uint32(r.opt.irs))
	if seg.Flags.Has(FlagACK) {
		seg.Ack = seg.Ack.Add(uint32(r.opt.iss))
	}
	if !l.pat.HasWindow {
		seg.Window = 65535
	}
	for i := range seg.Options.SACKBlocks {
		b := &seg.Options.SACKBlocks[i]
		b.Left, b.Right = b.Left.Add(uint32(r.opt.iss)), b.Right.Add(uint32(r.opt.iss))
	}
	r.tracef("<%s %s", r.fmtPort(r.port(l)), r.fmtIn(&seg))
	r.drops = r.drops[:0]
	if l.corrupt != "" {
		r.injectCorrupt(l, &seg)
		return
	}
	r.inferSegment(r.port(l), &seg, false)
	if c := r.h.input(r.now, r.opt.id.Remote.Addr(), r.opt.id.Local.Addr(), &seg); c != nil {
		r.conns[r.port(l)] = c
	}
	r.flush()
}

// expect matches the oldest unmatched segment against a '>' line.
func (r *scriptRunner) expect(l *scriptLine) {
	if l.none {
		if len(r.sent) > 0 {
			s := r.sent[0]
			r.failf("got %s (%s), want none", r.fmtOut(&s), r.fmtSent(&s))
		}
		return
	}
	if len(r.sent) == 0 {
		r.failf("got nothing sent, want %s", l.pat.String())
	}
	s := r.sent[0]
	r.sent = r.sent[1:]
	if want := (FourTuple{Local: r.opt.id.Local, Remote: r.remote(l)}); s.id != want {
		r.failf("got %s sent from %v to %v, want from %v to %v (%s)", s.seg.format(r.opt.iss, r.opt.irs),
			s.id.Local, s.id.Remote, want.Local, want.Remote, r.fmtSent(&s))
	}
	if err := l.pat.Match(&s.seg, r.opt.iss, r.opt.irs); err != nil {
		r.failf("%v\n(that segment was %s)", err, r.fmtSent(&s))
	}
	r.checkWhy(l, &s)
	if !s.at.Equal(r.now) {
		r.failf("got %s (%s), want it sent at %s", r.fmtOut(&s), r.fmtSent(&s), r.fmtTime(r.now))
	}
}

// read performs RECEIVE and checks what it returned.
func (r *scriptRunner) read(l *scriptLine) {
	c := r.conn(l)
	buf := make([]byte, l.n)
	n, err := c.receive(buf)
	r.user(c)
	got := buf[:n]
	switch {
	case l.eof:
		if n != 0 || !errors.Is(err, io.EOF) {
			r.failf("got (%q, %v), want EOF", got, err)
		}
	case l.want:
		if err != nil || string(got) != string(l.data) {
			r.failf("got (%q, %v), want (%q, nil)", got, err, l.data)
		}
	default:
		if err != nil || n != l.n {
			r.failf("got (%d octets, %v), want (%d octets, nil)", n, err, l.n)
		}
	}
}

// The runner itself: a script that is right passes, and each kind of
// mistake is reported with name:line and got/want.
func TestScriptRunner(t *testing.T) {
	const handshake = "0 listen\n+0 < S 0:0(0) win 65535 <mss 1460>\n"
	tests := []struct {
		name    string
		script  string
		wantErr []string // substrings of the error; none means the script passes
	}{
		{name: "a correct script passes",
			script: handshake + "+0 > S. 0:0(0) ack 1 <mss 1460>\n+.5 < . 1:1(0) ack 1\n+0 accept\n+0 state ESTABLISHED\n"},
		{name: "a timer fires while the clock advances",
			script: handshake + "+0 > S. 0:0(0) ack 1\n1 > S. 0:0(0) ack 1\n"},
		{name: "noconn answers from replyToClosed",
			script: "option noconn iss=0\n0 < . 1:1(0) ack 9\n+0 > R 9:9(0)\n"},
		{name: "a field differs",
			script:  handshake + "+0 > S. 0:0(0) ack 2\n",
			wantErr: []string{"t.pkt:3: `+0 > S. 0:0(0) ack 2`", "ack differs", `got "S. 0:0(0) ack 1`}},
		{name: "a segment is sent at another time",
			script:  handshake + "+.5 > S. 0:0(0) ack 1\n",
			wantErr: []string{"t.pkt:3", "sent at 0.000s", "want it sent at 0.500s"}},
		{name: "a segment comes when none is expected",
			script:  handshake + "+0 > none\n",
			wantErr: []string{"t.pkt:3", "want none", "after line 2 `+0 < S 0:0(0)"}},
		{name: "nothing comes when a segment is expected",
			script:  "0 listen\n+0 > S. 0:0(0)\n",
			wantErr: []string{"t.pkt:2", "got nothing sent"}},
		{name: "a segment is never expected",
			script:  handshake,
			wantErr: []string{"end of script", "S. 0:0(0) ack 1"}},
		{name: "wrong state", script: "0 listen\n+0 state CLOSED\n",
			wantErr: []string{"t.pkt:2", "got state LISTEN, want CLOSED"}},
		{name: "read eof, short for read 1 eof", script: "0 connect\n+0 > S 0:0(0)\n+0 read eof\n",
			wantErr: []string{"t.pkt:3", "want EOF"}},
		{name: "wrong read", script: "0 connect\n+0 > S 0:0(0)\n+0 read 5 eof\n",
			wantErr: []string{"t.pkt:3", "want EOF"}},
		{name: "missing event", script: "0 connect\n+0 > S 0:0(0)\n+0 event established\n",
			wantErr: []string{"t.pkt:3", "not raised"}},
		{name: "unknown action", script: "0 listen\n\n# comment\n+1 frobnicate\n",
			wantErr: []string{"t.pkt:4", "unknown action"}},
		{name: "bad time", script: "x listen\n", wantErr: []string{"t.pkt:1", "bad time"}},
		{name: "time goes backwards", script: "1 listen\n0.5 state LISTEN\n", wantErr: []string{"t.pkt:2", "backwards"}},
		{name: "bad segment", script: "0 listen\n+0 < S 0:1(0)\n", wantErr: []string{"t.pkt:2", "END-START"}},
		{name: "option after an action", script: "0 listen\noption iss=1\n", wantErr: []string{"t.pkt:2", "option after"}},
		{name: "unknown option", script: "option foo=1\n", wantErr: []string{"t.pkt:1", "unknown option"}},
		{name: "unknown state", script: "0 state OPEN\n", wantErr: []string{"t.pkt:1", "unknown state"}},
		{name: "@PORT drives another connection",
			script: "0 listen\n+0 <@40001 S 0:0(0)\n+0 >@40001 S. 0:0(0) ack 1\n+0 state@40001 SYN-RECEIVED\n+0 state LISTEN\n" +
				"+0 <@40001 . 1:1(0) ack 1\n+0 accept@40001\n+0 state@40001 ESTABLISHED\n"},
		{name: "a segment goes to another port",
			script:  handshake + "+0 >@40001 S. 0:0(0) ack 1\n",
			wantErr: []string{"t.pkt:3", "to 10.0.0.2:40000, want from 10.0.0.1:80 to 10.0.0.2:40001"}},
		{name: "accept with an empty queue",
			script:  handshake + "+0 > S. 0:0(0) ack 1\n+0 accept\n",
			wantErr: []string{"t.pkt:4", "accept queue is empty", "SYN-RECEIVED"}},
		{name: "accept from another port",
			script:  "0 listen\n+0 <@40001 S 0:0(0)\n+0 >@40001 S. 0:0(0) ack 1\n+0 <@40001 . 1:1(0) ack 1\n+0 accept\n",
			wantErr: []string{"t.pkt:5", "from port 40001, want port 40000"}},
		{name: "a user call with no connection", script: "0 listen\n+0 write \"x\"\n",
			wantErr: []string{"t.pkt:2", "no connection from port 40000"}},
		{name: "bad port", script: "0 state@x LISTEN\n", wantErr: []string{"t.pkt:1", "bad port"}},
		{name: "noconn forbids listen", script: "option noconn\n0 listen\n", wantErr: []string{"t.pkt:2", "noconn"}},
		{name: "backlog and halfopen set the bounds",
			script: "option halfopen=1 syncookies=off backlog=1\n0 listen\n+0 < S 0:0(0)\n+0 > S. 0:0(0) ack 1\n" +
				"+0 <@40001 S 0:0(0)\n+0 >@40001 S. 0:0(0) ack 1\n+0 state CLOSED\n+0 <@40001 . 1:1(0) ack 1\n+0 <@40002 S 0:0(0)\n+0 > none\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkScriptRun(t, tt.script, tt.wantErr) })
	}
}

// scriptCounter reads the host counter StackStats calls name; h may be nil
// to check only that the name is known.
func scriptCounter(h *host, name string) (uint64, bool) {
	var c *hostCounters
	if h != nil {
		c = &h.stats
	} else {
		c = new(hostCounters)
	}
	m := map[string]*atomic.Uint64{
		"NoPort": &c.noPort, "BadAddr": &c.badAddr,
		"SynDroppedBacklog": &c.synBacklog, "HalfOpenEvicted": &c.halfOpenEvicted,
		"SynCookiesSent": &c.cookiesSent, "SynCookiesAccepted": &c.cookiesAccepted,
		"SynCookiesRejected": &c.cookiesRejected, "SynAckRetriesExceeded": &c.synAckRetriesExceeded,
		"AcceptQueueOverflow": &c.overflow, "TimeWaitReopened": &c.timeWaitReopened,
		"TimeWaitOverflow": &c.timeWaitOverflow, "FinWait2Timeouts": &c.finWait2Timeouts,
		"RefusedMaxConns": &c.refusedMaxConns, "RefusedMemory": &c.refusedMemory,
		"ConnsDialed": &c.dialed, "ConnsAccepted": &c.accepted, "ConnsClosed": &c.closed,
	}
	v, ok := m[name]
	if !ok {
		return 0, false
	}
	return v.Load(), true
}
