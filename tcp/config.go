package tcp

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Config holds a Stack's settings. The zero value of each field selects the
// default given in its comment.
type Config struct {
	// Addr is the stack's own address, IPv4 or IPv6 (required unless
	// Addrs is set).
	Addr netip.Addr
	// Addrs are further addresses of the stack, of either family (dual
	// stack). The stack accepts segments to each, a Listener listens on all
	// of them, and a Dial goes out from the first address (Addr, then
	// Addrs) of the destination's family.
	Addrs []netip.Addr
	// MTU of the link; 0 takes Link.MTU(). The MSS we announce is MTU-40
	// over IPv4 and MTU-60 over IPv6 (RFC 9293 MUST-67; RFC 8200 §8.3). With
	// an IPv6 address it must be at least 1280 (RFC 8200 §5).
	MTU int
	// TTL of the packets the stack sends (RFC 9293 MUST-49: configurable). Default 64.
	TTL uint8
	// MSL is the maximum segment lifetime; TIME-WAIT lasts 2×MSL (RFC 9293 §3.6.1). Default 30s.
	MSL time.Duration
	// InitialRTO is the RTO before any RTT sample (RFC 6298 §2.1). Default 1s.
	InitialRTO time.Duration
	// MinRTO bounds the RTO from below (RFC 6298 §2.4). Default 1s.
	MinRTO time.Duration
	// MaxRTO bounds the RTO from above (RFC 6298 §2.5). Default 60s.
	MaxRTO time.Duration
	// UserTimeout is R2 (RFC 9293 §3.8.3): how long a segment may go
	// unacknowledged, retransmissions included, before the connection is
	// dropped with ETIMEDOUT. It applies to SYNs too. Default 3 minutes (MUST-23).
	UserTimeout time.Duration
	// DelayedACK is how long the ACK of in-order data may wait for a second
	// segment, or for data to ride on (RFC 9293 §3.8.6.3, SHLD-18; MUST-40:
	// under 0.5 s). Default 40 ms; negative acknowledges every segment at once.
	DelayedACK time.Duration
	// SendBuffer and RecvBuffer are the per-connection buffer sizes a
	// connection starts with. Default 256 KiB.
	SendBuffer, RecvBuffer int
	// RecvBufferMax bounds receive-buffer autotuning (as Linux's dynamic
	// right-sizing): the buffer grows toward it while the bandwidth-delay
	// product the connection measures needs more, and the window scale is
	// chosen for it. Default 6 MiB (Linux's tcp_rmem); negative turns
	// autotuning off, so the buffer stays RecvBuffer.
	RecvBufferMax int
	// SendBufferMax bounds send-buffer growth: the buffer grows to twice the
	// congestion window while that is larger, so a long round trip is not
	// limited by it. Default 4 MiB (Linux's tcp_wmem); negative turns growth off.
	SendBufferMax int
	// Backlog bounds a listener's accept queue: the connections whose
	// handshake completed, waiting for Accept. While it is full, as in Linux,
	// a new SYN is dropped (StackStats.SynDroppedBacklog) and so is the ACK
	// that would complete a handshake (AcceptQueueOverflow): that connection
	// stays in SYN-RECEIVED until a retransmission finds room. Default 128.
	Backlog int
	// MaxHalfOpen bounds a listener's connections in SYN-RECEIVED, apart
	// from Backlog. A SYN beyond it gets a SYN cookie (SYNCookies), or with
	// cookies off takes the slot of the oldest (StackStats.HalfOpenEvicted).
	// Default 256.
	MaxHalfOpen int
	// MaxConns bounds the connections the stack holds, TIME-WAIT records
	// aside (MaxTimeWait bounds those). At the bound a new SYN is dropped
	// (StackStats.RefusedMaxConns; the peer retries) and Dial fails with
	// ENOBUFS; no connection already open is affected. Default 0: no bound.
	MaxConns int
	// MemoryLimit bounds, in octets, the memory the stack's connections
	// hold: their buffers as allocated, plus a fixed cost per connection
	// and per TIME-WAIT record (StackStats.Memory). Over it, new SYNs are
	// dropped (StackStats.RefusedMemory), Dial fails with ENOBUFS, and
	// buffers stop growing their capacity; octets a connection has already
	// accepted, and the window it has offered, are kept, so the memory may
	// pass the limit by what those windows promise. Default 0: no bound.
	MemoryLimit int64
	// FinTimeout bounds FIN-WAIT-2 once the application has closed the
	// connection (Conn.Close; after CloseWrite it may still read, so no
	// bound applies): if the peer has not sent its FIN by then, the
	// connection is reset (StackStats.FinWait2Timeouts), as with Linux's
	// tcp_fin_timeout. Default 60 s; negative waits for ever, as RFC 9293 does.
	FinTimeout time.Duration
	// MaxTimeWait bounds the connections kept in TIME-WAIT, each as a
	// record of about 300 octets; past it a connection that enters TIME-WAIT
	// closes at once (StackStats.TimeWaitOverflow), as with Linux's
	// tcp_max_tw_buckets. Default 262144.
	MaxTimeWait int
	// SYNCookies selects when a listener answers a SYN with a SYN cookie
	// and keeps no state (RFC 4987 §3.6); the zero value sends them once
	// the half-open table is full, as Linux's tcp_syncookies=1.
	SYNCookies SYNCookieMode
	// SynAckRetries is how often a passive child in SYN-RECEIVED sends its
	// SYN-ACK again before it is freed, silently, at the next timeout
	// (Linux's tcp_synack_retries), apart from UserTimeout. Default 5;
	// negative means no retransmission.
	SynAckRetries int
	// OutOfOrderRanges bounds the ranges of out-of-order octets one
	// connection holds (RFC 9293 SHLD-31 lets a receiver hold them, not
	// without bound); the octets are bounded by its receive buffer. Over the
	// bound the octets furthest from RCV.NXT are dropped (ConnStats
	// OutOfOrderDropped, OutOfOrderReneged). Default 4096: a 6 MiB window
	// of 1448-octet segments with every other one lost.
	OutOfOrderRanges int
	// StackOutOfOrderRanges and StackOutOfOrderBytes bound the ranges and
	// octets held out of order by all connections together. When an arrival
	// goes over either, the connection holding the most drops its furthest
	// ranges, so one connection cannot take another's fair share (StackStats
	// OutOfOrderReclaimed). Defaults 65536 ranges and 64 MiB.
	StackOutOfOrderRanges, StackOutOfOrderBytes int
	// KeepAlive is the keep-alive setting of new connections (RFC 9293
	// §3.8.4): off unless Enable (MUST-25); Idle defaults to 2 hours
	// (MUST-28), Interval to 75 s, Count to 9. Conn.SetKeepAlive changes it
	// per connection (MUST-24).
	KeepAlive net.KeepAliveConfig
	// Congestion is the congestion control of new connections; the zero
	// value is CUBIC, as on Linux. Conn.SetCongestion changes it per connection.
	Congestion Congestion
	// NoSACK turns selective acknowledgments (RFC 2018) off: the SYN does
	// not offer them and a peer's offer is declined. SACK is on by default.
	NoSACK bool
	// NoTimestamps turns off the Timestamps option (RFC 7323), on by default.
	NoTimestamps bool
	// NoPMTUBlackHoleDetection turns off PMTU black-hole detection (RFC
	// 4821): on by default, a connection whose large segments time out
	// twice in a row, with no ICMP error, lowers its path MTU estimate to
	// 1280 and then 576, and tries the link's MTU again ten minutes later.
	NoPMTUBlackHoleDetection bool
	// ECN is Explicit Congestion Notification (RFC 3168); the zero value
	// accepts it when the peer asks and does not ask, as Linux.
	ECN ECN
	// ISN chooses initial sequence numbers; nil selects RFC 6528 with a random key.
	ISN func(id FourTuple, now time.Time) Seq
	// TSOffset chooses the offset of a connection's timestamp clock (RFC
	// 7323 §7.1); nil selects a keyed hash of the four-tuple.
	TSOffset func(id FourTuple) uint32
	// Tracer, if set, is told about segments, state changes and user events.
	Tracer Tracer
	// Unhandled, if set, is given every packet to the stack's addresses
	// that it does not handle (StackStats.Unhandled counts them either
	// way): protocols other than TCP and ICMP (ICMPv6), UDP above all; ICMP
	// messages other than echo requests and the errors about TCP segments.
	// pkt is the whole IPv4 or IPv6 packet. It runs on the stack's loop,
	// under its lock, so it must not block nor call into the stack, except
	// Stack.WritePacket (an answer); it must not retain pkt.
	Unhandled func(pkt []byte)
	// EphemeralPorts is the first and last local port Dial and Listen(0)
	// choose from, as Linux's ip_local_port_range. Default 49152–65535 (RFC 6335 §6).
	EphemeralPorts [2]uint16

	// Forward, if set, turns on forwarding mode (tcp/forward.go): the
	// stack takes IPv4 packets to any address (IPv6 only to its own), and
	// a SYN to any address and port that no listener of ours takes is
	// handed to Forward, on the
	// stack's loop, before any answer. Forward runs under the stack's
	// lock, so it must not block nor call into the stack (Accept, Dial,
	// a Conn's methods): it decides with Refuse or Drop, or starts a
	// goroutine or queues the request for one that Accepts it.
	Forward func(*ForwardRequest)
	// ForwardTimeout is how long a request may stay undecided; then it is
	// dropped (ForwardStats.Timeouts). Default 10 s.
	ForwardTimeout time.Duration
	// MaxForwardPending bounds the undecided requests; a SYN past it is
	// dropped (ForwardStats.Overflow). Default 1024.
	MaxForwardPending int
	// ForwardEcho, in forwarding mode, answers ICMP echo requests to any
	// address from that address. Off by default: only Addr answers.
	ForwardEcho bool
}

func (c *Config) withDefaults() Config {
	d := *c
	def := func(v *time.Duration, x time.Duration) {
		if *v == 0 {
			*v = x
		}
	}
	def(&d.MSL, 30*time.Second)
	def(&d.InitialRTO, time.Second)
	def(&d.MinRTO, time.Second)
	def(&d.MaxRTO, 60*time.Second)
	def(&d.UserTimeout, 3*time.Minute)
	def(&d.FinTimeout, 60*time.Second)
	def(&d.DelayedACK, 40*time.Millisecond)
	d.DelayedACK = min(d.DelayedACK, 500*time.Millisecond-time.Millisecond) // MUST-40
	def(&d.KeepAlive.Idle, 2*time.Hour)
	def(&d.KeepAlive.Interval, 75*time.Second)
	if d.KeepAlive.Count <= 0 {
		d.KeepAlive.Count = 9
	}
	if d.TTL == 0 {
		d.TTL = 64
	}
	if d.MTU == 0 {
		d.MTU = 1500
	}
	if d.SendBuffer <= 0 {
		d.SendBuffer = 256 << 10
	}
	if d.RecvBuffer <= 0 {
		d.RecvBuffer = 256 << 10
	}
	d.RecvBufferMax = bufferMax(d.RecvBufferMax, d.RecvBuffer, 6<<20)
	d.SendBufferMax = bufferMax(d.SendBufferMax, d.SendBuffer, 4<<20)
	if d.Backlog <= 0 {
		d.Backlog = 128
	}
	if d.MaxHalfOpen <= 0 {
		d.MaxHalfOpen = 256
	}
	if d.MaxTimeWait <= 0 {
		d.MaxTimeWait = 262144
	}
	if d.SynAckRetries == 0 {
		d.SynAckRetries = 5
	}
	if d.OutOfOrderRanges <= 0 {
		d.OutOfOrderRanges = 4096
	}
	if d.StackOutOfOrderRanges <= 0 {
		d.StackOutOfOrderRanges = 65536
	}
	def(&d.ForwardTimeout, 10*time.Second)
	if d.MaxForwardPending <= 0 {
		d.MaxForwardPending = 1024
	}
	if d.StackOutOfOrderBytes <= 0 {
		d.StackOutOfOrderBytes = 64 << 20
	}
	return d
}

// bufferMax is the autotuning bound of a buffer that starts at size:
// def when unset, size when negative (no autotuning), never below size.
func bufferMax(max_, size, def int) int {
	switch {
	case max_ == 0:
		max_ = def
	case max_ < 0:
		max_ = size
	}
	return max(max_, size)
}

// FourTuple identifies a connection: its local and remote address and port.
type FourTuple struct {
	Local, Remote netip.AddrPort
}

// UserEventKind is what the application did or saw on utcp's side.
type UserEventKind uint8

// User events reported to a Tracer.
const (
	EventDialReturned   UserEventKind = iota + 1 // connect() returns: the SYN-ACK arrived and was ACKed
	EventAcceptReturned                          // accept() has a connection: the third segment arrived
	EventReadEOF                                 // read() returns EOF: the peer's FIN was consumed
	EventReset                                   // the connection was reset
	EventWrite                                   // Write queued N octets
	EventRead                                    // Read returned N octets
	EventClose                                   // the application called Close
	EventCloseWrite                              // the application called CloseWrite (shutdown SHUT_WR)
	EventCloseRead                               // the application called CloseRead (shutdown SHUT_RD)
	EventAbort                                   // the application aborted the connection (Close with linger 0)
	EventError                                   // a call returned Err (ECONNRESET, ETIMEDOUT, ECONNREFUSED...)
)

func (k UserEventKind) String() string {
	switch k {
	case EventDialReturned:
		return "Dial returns"
	case EventAcceptReturned:
		return "Accept returns"
	case EventReadEOF:
		return "Read returns EOF"
	case EventReset:
		return "connection reset"
	case EventWrite:
		return "Write"
	case EventRead:
		return "Read"
	case EventClose:
		return "Close"
	case EventCloseWrite:
		return "CloseWrite"
	case EventCloseRead:
		return "CloseRead"
	case EventAbort:
		return "Abort"
	case EventError:
		return "error"
	}
	return "UserEvent(?)"
}

// UserEvent is a moment the application sees: a call on utcp's side. N is
// the octets of a Write or Read, and for Close and CloseRead the octets
// left unread (which a Close answers with a RST, RFC 9293 §3.6.1); FIN
// says that a Close or CloseWrite queued our FIN; Err is the error the
// application sees, for EventError.
type UserEvent struct {
	Kind UserEventKind
	N    int
	Err  error
	FIN  bool
}

func (e UserEvent) String() string {
	switch e.Kind {
	case EventWrite, EventRead:
		return e.Kind.String() + " " + strconv.Itoa(e.N)
	case EventError:
		if e.Err != nil {
			return "error: " + e.Err.Error()
		}
	}
	return e.Kind.String()
}

// SenderState is a connection's congestion state, as Tracer.Sender sees it.
type SenderState struct {
	Cwnd, SSThresh uint32 // octets; SSThresh is math.MaxUint32 while "arbitrarily high" (RFC 5681 §3.1)
	SndUna, SndNxt Seq
	SndWnd         uint32 // the peer's window, scaled
	InFlight       uint32 // the pipe of RFC 6675, octets
	SRTT           time.Duration
	Recovering     bool // in fast recovery (RFC 6582, RFC 6675)
}

// Tracer observes a stack. Its methods run one at a time, in order, under
// the stack's lock (on the loop's goroutine or a user call's), and must not
// block. The --trace ladder diagram and connection statistics are
// Tracers. Embed NopTracer to implement only some of the methods.
type Tracer interface {
	// SegmentIn is called for every valid segment that arrives, before it is processed.
	SegmentIn(now time.Time, id FourTuple, seg *Segment)
	// SegmentOut is called for every segment sent; seg.Why says why.
	SegmentOut(now time.Time, id FourTuple, seg *Segment)
	// SegmentDropped is called when an arriving segment is dropped or
	// ignored, after its SegmentIn if it parsed; for a bad checksum or a
	// malformed header seg holds what could be decoded.
	SegmentDropped(now time.Time, id FourTuple, seg *Segment, why Reason)
	// StateChange is called on every transition of a connection's state.
	StateChange(now time.Time, id FourTuple, from, to State)
	// UserEvent is called for an application call on utcp's side.
	UserEvent(now time.Time, id FourTuple, ev UserEvent)
	// Sender is called with the sender's congestion state after it
	// changed (an ACK, a loss, an RTO), at most once per batch per connection.
	Sender(now time.Time, id FourTuple, s SenderState)
	// Flush is called after each batch of work of the stack loop: the
	// calls before it belong to segments and calls that are complete.
	Flush()
}

// NopTracer is a Tracer that does nothing, to embed in a Tracer that
// implements only some of the methods.
type NopTracer struct{}

func (NopTracer) SegmentIn(time.Time, FourTuple, *Segment)              {}
func (NopTracer) SegmentOut(time.Time, FourTuple, *Segment)             {}
func (NopTracer) SegmentDropped(time.Time, FourTuple, *Segment, Reason) {}
func (NopTracer) StateChange(time.Time, FourTuple, State, State)        {}
func (NopTracer) UserEvent(time.Time, FourTuple, UserEvent)             {}
func (NopTracer) Sender(time.Time, FourTuple, SenderState)              {}
func (NopTracer) Flush()                                                {}
