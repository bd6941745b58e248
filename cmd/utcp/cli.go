package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/netsim"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // something went wrong while running
	exitUsage   = 2 // the command line is wrong
	// A signal exits with 128+signal, as a shell reports it: 130 for
	// SIGINT, 143 for SIGTERM.
	exitSignalBase = 128
)

// Defaults of the common flags.
const (
	defaultTUN  = "utcp0"
	defaultAddr = "10.9.0.2"
	defaultPeer = "10.9.0.1"
	defaultMTU  = 1500
	defaultMSL  = 30 * time.Second
)

// options is a parsed command line.
type options struct {
	cmd string // listen, dial, echo, http

	tun  string
	addr netip.Addr // utcp's own address
	peer netip.Addr // the kernel's address on the TUN
	// With --ipv6 (or --addr6/--peer6): the IPv6 pair, else zero.
	addr6, peer6 netip.Addr
	mtu          int
	trace        bool
	why          bool // --trace=why: the ladder says why each segment went or was dropped
	pcap         string
	offload      bool
	attach       bool // --attach: the existing device --tun, made by `utcp tun create`
	msl          time.Duration
	verbose      bool

	maxConns   int           // --max-conns: Config.MaxConns
	memLimit   int64         // --memory-limit, in MiB: Config.MemoryLimit
	finTimeout time.Duration // --fin-timeout: Config.FinTimeout

	// The impairments of --impair, --impair-out, --impair-in: out applies
	// to what utcp sends, in to what it receives. Zero: none.
	impairOut, impairIn netsim.Impairment

	web, traceHTML string // --web ADDR, --trace-html FILE (web.go)

	keepOpen bool          // listen -k
	dir      string        // http --dir
	timeout  time.Duration // dial --timeout; 0: the stack's user timeout

	host netip.Addr // dial
	port uint16

	explain explainOptions // explain FILE (explain.go)
	// forward
	allow       []netip.Prefix // --allow: the destinations relayed; none: all
	mark        int            // --mark: SO_MARK of the relay's own sockets
	bindIface   string         // --bind-interface: SO_BINDTODEVICE of the relay's own sockets
	socks5      string         // --socks5: dial through this SOCKS5 proxy
	dialTimeout time.Duration  // --dial-timeout
}

// usageError is a mistake on the command line: exit 2, one line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// errHelp asks for the help text of options.cmd ("" for the overview).
var errHelp = errors.New("help requested")

// command describes one subcommand.
type command struct {
	name, args, short string
	long              string // the paragraph of `utcp CMD --help`
	positional        []string
}

var commands = []command{
	{
		name: "listen", args: "[flags] PORT",
		short: "like `nc -l PORT`: accept one connection; it goes to stdout, stdin goes to it",
		long: `Listen on PORT at utcp's address and accept one connection, like ` + "`nc -l PORT`" + `.
Prints "listening on ADDR:PORT" and then "connection from IP:PORT" on stderr.
The connection's bytes go to stdout and stdin's bytes go to the connection;
EOF on stdin half-closes the connection (sends FIN). utcp exits 0 when both
directions are closed. If utcp sent its FIN first, it holds the connection in
TIME-WAIT for 2×MSL (see --msl) before it exits; Ctrl-C skips the wait.
With -k it accepts one connection after another until interrupted.`,
		positional: []string{"PORT"},
	},
	{
		name: "dial", args: "[flags] HOST PORT",
		short: "like `nc HOST PORT`: connect from utcp's address to a listener on the kernel side",
		long: `Connect from utcp's address to HOST:PORT (usually the kernel side, 10.9.0.1,
where ` + "`nc -l PORT`" + ` listens), like ` + "`nc HOST PORT`" + `. The connection's bytes go to
stdout and stdin's bytes go to the connection; EOF on stdin half-closes it
(sends FIN). utcp exits 0 when both directions are closed, after TIME-WAIT if
it closed first.`,
		positional: []string{"HOST", "PORT"},
	},
	{
		name: "echo", args: "[flags] PORT",
		short: "concurrent echo server: every connection gets its bytes back",
		long: `Serve the echo protocol on PORT until interrupted: every connection gets its
bytes back, and is closed (FIN) once the peer's FIN has arrived and all of its
bytes have been echoed. Connections are served concurrently.`,
		positional: []string{"PORT"},
	},
	{
		name: "http", args: "[flags] PORT",
		short: "HTTP server (Go's net/http over utcp) with a live status page",
		long: `Serve HTTP on PORT with Go's net/http running over utcp, until interrupted:
  /             status page: the stack's connections, their states and counters
  /status.json  the same as JSON
  /files/       the files under --dir, if given (http.FileServer)`,
		positional: []string{"PORT"},
	},
	{
		name: "explain", args: "[flags] FILE.pcap",
		short: "draw each TCP conversation of a capture as a ladder, with both sides' states",
		long: `Read a capture (pcap or pcapng, as tcpdump or Wireshark write it; link types
Ethernet, Linux cooked SLL/SLL2, raw IP, loopback) and draw each TCP conversation
(IPv4 or IPv6) as the --trace ladder: the side that sent the first SYN (else the
first segment) on the left, times from the capture's first packet. Both sides'
states are inferred from the segments (marked ~, RFC 9293 Figure 5); a state the
wire cannot show (TIME-WAIT's end, a silent timeout) stays as the last segment
left it. Remarks in (~ ...) are what the capture shows of a segment (a range seen
before, a duplicate ACK, a window update, a probe), never the sender's internal
reasons. Packets that are not TCP, IP fragments and malformed ones are skipped
and counted on the last line, as are segments past the first 262144. explain
needs no TUN device and takes only the flags below.`,
		positional: []string{"FILE"},
	},
	{
		name: "forward", args: "[flags]",
		short: "transparent TCP proxy: relay every connection that reaches the TUN to its destination",
		long: `Relay every TCP connection that reaches the TUN device, to any address and
port, to its original destination through this host's own network, like
tun2socks without SOCKS (or with it: --socks5). utcp answers each SYN from
the address it was sent to, only after its own dial to that address
succeeded: a refused or unreachable destination gets a RST, a dial that
times out gets no answer (the client's next SYN tries again), and a
destination outside --allow gets a RST at once.

The relay's own connections must not loop back into the TUN. Mark them and
route the marks around it, for example for 198.18.0.0/15:
  sudo utcp forward --mark 100 --allow 198.18.0.0/15 &
  ip route add 198.18.0.0/15 dev utcp0           # clients' traffic into utcp
  ip rule add fwmark 100 table 100               # utcp's own traffic ...
  ip route add 198.18.0.0/15 via GATEWAY table 100   # ... takes the real route
With strict reverse-path filtering (rp_filter=1) the replies to the marked
connections are dropped: use 0 or 2 on the outgoing interface. Or bind the
relay's sockets to the outgoing interface: --bind-interface eth0.`,
	},
}

func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// traceFlag is --trace: "on" (the bare flag) draws the ladder, "why" adds
// the reasons, "off" draws none.
type traceFlag struct{ o *options }

func (f *traceFlag) Set(v string) error {
	switch v {
	case "on", "true":
		f.o.trace, f.o.why = true, false
	case "why":
		f.o.trace, f.o.why = true, true
	case "off", "false":
		f.o.trace, f.o.why = false, false
	default:
		return fmt.Errorf("want --trace, --trace=why or --trace=off, not --trace=%s", v)
	}
	return nil
}

func (f *traceFlag) String() string {
	switch {
	case f.o == nil || !f.o.trace:
		return "" // off, the default
	case f.o.why:
		return "why"
	}
	return "on"
}

func (f *traceFlag) Type() string { return "" }

// flagSet defines the flags of cmd on o, with their defaults.
func flagSet(cmd string, o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("utcp "+cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, in one line
	fs.Usage = func() {}
	fs.SetInterspersed(true) // flags may follow the positional arguments
	fs.SortFlags = false
	if cmd == "explain" {
		fs.IntVar(&o.explain.conn, "conn", 0, "draw only conversation `N` (numbered from 1 in the order of their first packet)")
		fs.Uint16Var(&o.explain.port, "port", 0, "draw only the conversations with port `P` on either side")
		fs.BoolVar(&o.explain.html, "html", false, "write the web page instead of the ladder")
		fs.StringVarP(&o.explain.dest, "output", "o", "", "with --html, write the page to `FILE` instead of stdout")
		return fs
	}

	fs.StringVar(&o.tun, "tun", defaultTUN, "create the TUN device `NAME` (removed on exit)")
	fs.String("addr", defaultAddr, "utcp's own address: the kernel reaches utcp at this `IP`")
	fs.String("peer", defaultPeer, "the kernel side's address on the TUN: utcp reaches the kernel at this `IP`")
	fs.Bool("ipv6", false, "dual stack: also give utcp an IPv6 address ("+tun.DefaultPeerAddr6.String()+") and the kernel side one ("+tun.DefaultKernelAddr6.String()+")")
	fs.String("addr6", "", "utcp's own IPv6 address `IP` (implies --ipv6)")
	fs.String("peer6", "", "the kernel side's IPv6 address `IP` on the TUN (implies --ipv6)")
	fs.IntVar(&o.mtu, "mtu", defaultMTU, "the MTU: no packet in or out is larger than `N` bytes (68-65535)")
	fs.VarPF(&traceFlag{o}, "trace", "", "draw the conversation as a ladder diagram on stderr; --trace=why also gives the reason and RFC rule of each segment sent or dropped, and marks the application's calls").NoOptDefVal = "on"
	fs.StringVar(&o.pcap, "pcap", "", "write every IP packet in and out to `FILE` (pcap, LINKTYPE_RAW)")
	webFlags(fs, o)
	fs.BoolVar(&o.offload, "offload", false, "open the TUN device with checksum and segmentation offload (virtio-net header, TSO): the kernel and utcp pass TCP segments of up to 64 KiB, which --trace and --pcap then show whole")
	fs.BoolVar(&o.attach, "attach", false, "use the existing TUN device --tun made by `utcp tun create` (no sudo for its owner): not created, configured or removed; its MTU is the device's")
	fs.DurationVar(&o.msl, "msl", defaultMSL, "maximum segment lifetime `D`; TIME-WAIT lasts 2×D")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "print the stack's counters on stderr at exit")
	fs.IntVar(&o.maxConns, "max-conns", 0, "refuse new connections (a SYN is dropped) while the stack holds `N` (0: no bound)")
	fs.Int64Var(&o.memLimit, "memory-limit", 0, "refuse new connections while the connections hold more than `MiB` of memory (0: no bound)")
	fs.DurationVar(&o.finTimeout, "fin-timeout", 60*time.Second, "reset a connection closed by utcp whose peer has not sent its FIN after `D` in FIN-WAIT-2 (negative: wait for ever)")
	fs.String("impair", "", "impair both directions with netem `SPEC`, such as \"delay 25ms loss 1%\" (see below)")
	fs.String("impair-out", "", "impair only what utcp sends, with netem `SPEC` (overrides --impair for it)")
	fs.String("impair-in", "", "impair only what utcp receives, with netem `SPEC` (overrides --impair for it)")
	fs.Uint64("impair-seed", 1, "seed `N` of the impairments' random choices (out uses N, in N+1)")
	switch cmd {
	case "listen":
		fs.BoolVarP(&o.keepOpen, "keep-open", "k", false, "keep accepting, one connection after another, until interrupted")
	case "dial":
		fs.DurationVarP(&o.timeout, "timeout", "w", 0, "give up connecting after `D` (0: the stack's user timeout, 3m)")
	case "http":
		fs.StringVar(&o.dir, "dir", "", "also serve the files under `DIR` at /files/ (the status page stays at /, its JSON at /status.json)")
	case "forward":
		fs.StringArray("allow", nil, "relay only to destinations in `PREFIX` such as 198.18.0.0/15 (repeatable; default: all); others get a RST")
		fs.IntVar(&o.mark, "mark", 0, "set SO_MARK `N` on the relay's own connections, for a routing rule (ip rule add fwmark N) that keeps them off the TUN")
		fs.StringVar(&o.bindIface, "bind-interface", "", "bind the relay's own connections to interface `IFACE` (SO_BINDTODEVICE)")
		fs.StringVar(&o.socks5, "socks5", "", "dial through the SOCKS5 proxy at `HOST:PORT` instead of directly")
		fs.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "give up a dial to a destination after `D`; the client's SYN is then dropped, and its next SYN tries again")
	}
	return fs
}

// parseArgs parses the command line (without the program name). It
// returns errHelp, with o.cmd set to the command asked about, for a
// request for help, and a *usageError for a mistake.
func parseArgs(args []string) (*options, error) {
	o := &options{}
	if len(args) == 0 {
		return o, usagef("missing command: want listen, dial, echo, http or forward (see utcp --help)")
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help":
		if name == "help" && len(args) > 1 {
			if lookupCommand(args[1]) == nil {
				return o, usagef("unknown command %q: want listen, dial, echo, http or forward", args[1])
			}
			o.cmd = args[1]
		}
		return o, errHelp
	}
	if strings.HasPrefix(name, "-") {
		// Flags may come before the command too (utcp --offload echo 7):
		// move the command to the front.
		args = commandFirst(args)
		name = args[0]
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		if strings.HasPrefix(name, "-") {
			return o, usagef("the command comes first: utcp listen|dial|echo|http|forward [flags] ... (see utcp --help)")
		}
		return o, usagef("unknown command %q: want listen, dial, echo, http or forward (see utcp --help)", name)
	}
	o.cmd = name
	fs := flagSet(name, o)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return o, errHelp
		}
		return o, usagef("%v (see utcp %s --help)", oneLine(err.Error()), name)
	}
	if name == "explain" {
		return o, parseExplain(o, fs.Args())
	}
	var err error
	if o.addr, err = parseIPv4(fs, "addr"); err != nil {
		return o, err
	}
	if o.peer, err = parseIPv4(fs, "peer"); err != nil {
		return o, err
	}
	if o.addr == o.peer {
		return o, usagef("--addr and --peer are both %v: utcp and the kernel need different addresses", o.addr)
	}
	if o.addr6, o.peer6, err = parseIPv6Pair(fs); err != nil {
		return o, err
	}
	if o.addr6.IsValid() && o.mtu < 1280 {
		return o, usagef("bad MTU %d with --ipv6: IPv6 needs at least 1280 (RFC 8200 §5)", o.mtu)
	}
	if o.tun == "" || len(o.tun) > 15 || strings.ContainsAny(o.tun, "/ \t\n") {
		return o, usagef("bad TUN name %q: want 1-15 characters, no '/' or spaces", o.tun)
	}
	if o.mtu < 68 || o.mtu > 65535 {
		// RFC 791: every IPv4 host takes 68-octet datagrams; 65535 is the largest.
		return o, usagef("bad MTU %d: want 68-65535", o.mtu)
	}
	if o.attach && !fs.Changed("mtu") {
		o.mtu = 0 // the device's
	}
	if o.msl <= 0 {
		return o, usagef("bad MSL %v: want a positive duration such as 30s or 100ms", o.msl)
	}
	if o.timeout < 0 {
		return o, usagef("bad timeout %v: want a positive duration, or 0 for none", o.timeout)
	}
	if o.impairOut, o.impairIn, err = parseImpair(fs); err != nil {
		return o, err
	}
	if name == "forward" {
		if err := parseForward(fs, o); err != nil {
			return o, err
		}
	}

	pos := fs.Args()
	if len(pos) != len(cmd.positional) {
		if len(pos) < len(cmd.positional) {
			return o, usagef("missing %s: usage: utcp %s %s", strings.Join(cmd.positional[len(pos):], " "), name, cmd.args)
		}
		return o, usagef("unexpected argument %q: usage: utcp %s %s", pos[len(cmd.positional)], name, cmd.args)
	}
	if name == "dial" {
		h, err := netip.ParseAddr(pos[0])
		switch {
		case err == nil && h.Is6() && !h.Is4In6() && unicast(h) && !o.addr6.IsValid():
			return o, usagef("%v is an IPv6 address: dial it with --ipv6", h)
		case err != nil || !unicast(h) || h.Is4In6() || h.Zone() != "":
			return o, usagef("bad address %q: want a unicast address such as %s (or %s with --ipv6)", pos[0], defaultPeer, tun.DefaultKernelAddr6)
		}
		if h == o.addr || h == o.addr6 {
			return o, usagef("%v is utcp's own address: dial the kernel side (%v) or another host", h, o.peer)
		}
		o.host = h
		pos = pos[1:]
	}
	if len(pos) == 0 {
		return o, nil
	}
	if o.port, err = parsePort(pos[0]); err != nil {
		return o, err
	}
	return o, nil
}

// parseExplain checks explain's arguments.
func parseExplain(o *options, pos []string) error {
	switch {
	case len(pos) == 0:
		return usagef("missing FILE: usage: utcp explain [flags] FILE.pcap")
	case len(pos) > 1:
		return usagef("unexpected argument %q: usage: utcp explain [flags] FILE.pcap", pos[1])
	case o.explain.conn < 0:
		return usagef("bad --conn %d: want a conversation number from 1", o.explain.conn)
	}
	o.explain.file = pos[0]
	return nil
}

// parseForward reads the flags of forward.
func parseForward(fs *pflag.FlagSet, o *options) error {
	allow, _ := fs.GetStringArray("allow")
	for _, a := range allow {
		p, err := netip.ParsePrefix(a)
		if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return usagef("bad --allow %q: want an IPv4 or IPv6 prefix such as 198.18.0.0/15 or 2001:db8::/32", a)
		}
		o.allow = append(o.allow, p.Masked())
	}
	if o.mark < 0 || uint64(o.mark) > 0xffffffff {
		return usagef("bad --mark %d: want 1-4294967295, or 0 for none", o.mark)
	}
	if len(o.bindIface) > 15 {
		return usagef("bad --bind-interface %q: an interface name has at most 15 characters", o.bindIface)
	}
	if o.dialTimeout <= 0 {
		return usagef("bad --dial-timeout %v: want a positive duration such as 5s", o.dialTimeout)
	}
	return nil
}

// commandFirst returns args with the first argument after the leading
// flags (the command) moved to the front, or args itself when the leading
// flags do not parse or no command follows them.
func commandFirst(args []string) []string {
	fs := flagSet("", &options{})
	fs.SetInterspersed(false)
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || lookupCommand(fs.Arg(0)) == nil {
		return args
	}
	rest := fs.Args()
	lead := args[:len(args)-len(rest)]
	return append(append([]string{rest[0]}, lead...), rest[1:]...)
}

// parseImpair reads --impair, --impair-out, --impair-in and --impair-seed.
// A seed in a SPEC wins over --impair-seed.
func parseImpair(fs *pflag.FlagSet) (out, in netsim.Impairment, err error) {
	seed, _ := fs.GetUint64("impair-seed")
	both, _ := fs.GetString("impair")
	read := func(name string, seed uint64) (netsim.Impairment, error) {
		spec, _ := fs.GetString(name)
		if !fs.Changed(name) {
			name, spec = "impair", both
		}
		im, err := netsim.ParseNetem(spec)
		if err != nil {
			return im, usagef("bad --%s %q: %v", name, spec, strings.TrimPrefix(err.Error(), netsim.ErrInvalid.Error()+": "))
		}
		if im.Seed == 0 && !im.IsZero() {
			im.Seed = seed
		}
		return im, nil
	}
	if out, err = read("impair-out", seed); err != nil {
		return out, in, err
	}
	in, err = read("impair-in", seed+1)
	return out, in, err
}

// parseIPv4 reads the address flag name.
func parseIPv4(fs *pflag.FlagSet, name string) (netip.Addr, error) {
	s, _ := fs.GetString(name)
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || !unicast(a) {
		return netip.Addr{}, usagef("bad address %q for --%s: want an IPv4 unicast address such as %s", s, name, defaultAddr)
	}
	return a, nil
}

// parseIPv6Pair reads --ipv6, --addr6 and --peer6: zero addresses when
// none is given, else utcp's and the kernel's IPv6 addresses.
func parseIPv6Pair(fs *pflag.FlagSet) (addr6, peer6 netip.Addr, err error) {
	on, _ := fs.GetBool("ipv6")
	if !on && !fs.Changed("addr6") && !fs.Changed("peer6") {
		return netip.Addr{}, netip.Addr{}, nil
	}
	addr6, peer6 = tun.DefaultPeerAddr6, tun.DefaultKernelAddr6
	for _, f := range []struct {
		name string
		to   *netip.Addr
	}{{"addr6", &addr6}, {"peer6", &peer6}} {
		if !fs.Changed(f.name) {
			continue
		}
		s, _ := fs.GetString(f.name)
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || !unicast(a) {
			return addr6, peer6, usagef("bad address %q for --%s: want an IPv6 unicast address such as %s", s, f.name, tun.DefaultPeerAddr6)
		}
		*f.to = a
	}
	if addr6 == peer6 {
		return addr6, peer6, usagef("--addr6 and --peer6 are both %v: utcp and the kernel need different addresses", addr6)
	}
	return addr6, peer6, nil
}

// unicast reports whether a can be a host's address: not unspecified,
// multicast, loopback or the limited broadcast.
func unicast(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// parsePort reads a TCP port, 1-65535 (port 0 is reserved, RFC 9293 §3.1).
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, usagef("bad port %q: want 1-65535", s)
	}
	return uint16(n), nil
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// printHelp writes the overview (cmd "") or the help of one command.
func printHelp(w io.Writer, cmd string) {
	if c := lookupCommand(cmd); c != nil && c.name == "explain" {
		fmt.Fprintf(w, "Usage: utcp %s %s\n\n%s\n\nFlags:\n%s", c.name, c.args, c.long, flagSet(c.name, &options{}).FlagUsages())
		return
	}
	if c := lookupCommand(cmd); c != nil {
		fmt.Fprintf(w, "Usage: utcp %s %s\n\n%s\n\n", c.name, c.args, c.long)
		fmt.Fprint(w, addressNote)
		fmt.Fprintf(w, "\nFlags (before or after the arguments):\n%s", flagSet(c.name, &options{}).FlagUsages())
		fmt.Fprint(w, impairNote)
		fmt.Fprint(w, exitNote)
		return
	}
	fmt.Fprint(w, "utcp is a TCP/IPv4 stack in user space. It creates a TUN device and talks to\n"+
		"the Linux kernel's TCP through it, like netcat but with its own TCP.\n\n")
	fmt.Fprint(w, addressNote)
	fmt.Fprint(w, "\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  utcp %-7s %-18s %s\n", c.name, c.args, c.short)
	}
	fmt.Fprintf(w, "  utcp %-26s %s\n", "tun create|delete ...", "make a persistent TUN device for a user, once, so utcp --attach needs no sudo")
	fmt.Fprintf(w, "  utcp %-26s %s\n", "help [COMMAND]", "this text, or a command's")
	fmt.Fprint(w, `
Examples:
  sudo utcp listen 4567              then in another terminal: nc 10.9.0.2 4567
  nc -l 4567 & sudo utcp dial 10.9.0.1 4567
  sudo utcp echo 7 --trace           then: echo hi | nc -N 10.9.0.2 7
  sudo utcp listen 4567 --trace=why  the ladder with why each segment went or was dropped
  sudo utcp http 8080 --dir .        then: curl http://10.9.0.2:8080/  (also /status.json, /files/)
  sudo utcp listen 4567 --pcap utcp.pcap -v
  utcp explain utcp.pcap             the capture's conversations as ladders

Flags of every command but explain (before or after the arguments):
`)
	common := flagSet("", &options{})
	fmt.Fprint(w, common.FlagUsages())
	for _, c := range commands {
		own := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
		flagSet(c.name, &options{}).VisitAll(func(f *pflag.Flag) {
			if common.Lookup(f.Name) == nil {
				own.AddFlag(f)
			}
		})
		if own.HasFlags() {
			fmt.Fprintf(w, "\n%s also takes:\n%s", c.name, own.FlagUsages())
		}
	}
	fmt.Fprint(w, impairNote)
	fmt.Fprint(w, exitNote)
}

const addressNote = `Addresses: utcp takes 10.9.0.2 (--addr) and gives the kernel 10.9.0.1 (--peer)
on the TUN device utcp0 (--tun). From the kernel side, reach utcp with
` + "`nc 10.9.0.2 PORT`" + `; utcp reaches the kernel at 10.9.0.1. Creating the TUN device
needs CAP_NET_ADMIN: run utcp with sudo. The device is removed when utcp exits.
No sudo every time: ` + "`sudo utcp tun create --user $USER`" + ` once, then ` + "`utcp --attach ...`" + `
(see utcp tun --help).
`

const impairNote = `
Impairment (--impair SPEC): utcp passes its packets through a simulator with
the meanings of Linux netem, since a machine may have no netem qdisc. SPEC
is netem's syntax: delay TIME [JITTER], loss [random] P%, loss gemodel p% r%
1-h% 1-k% (bursts), duplicate P%, corrupt P%, reorder P% [gap N] (needs a
delay), rate RATE (100mbit, 10kbps), limit PACKETS (default 1000), seed N,
and, not netem's, mtu OCTETS (larger packets are dropped silently).
For example: --impair "delay 25ms 5ms loss 1%" makes a 50 ms round trip.
`

const exitNote = `
Exit status: 0 done, 1 runtime error (connection refused, reset, timeout, no
permission, ...), 2 usage error, 130/143 interrupted by SIGINT/SIGTERM (open
connections are reset and the TUN device is removed).
`
