package tcp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/utcp/utcp/ip"
)

// Sizes of the stack loop's queues.
const (
	// inQueueLen is how many packets the link reader may queue for the loop.
	inQueueLen = 256
	// maxBatch is how many queued packets the loop processes before it
	// sends anything, so that one ACK answers several segments (RFC 9293
	// MUST-58, MUST-59).
	maxBatch = 64
)

// The ephemeral port range (RFC 6335 §6, IANA's dynamic ports).
const (
	ephemeralFirst = 49152
	ephemeralLast  = 65535
)

// Stack is a TCP/IPv4 host with one address on one Link. It runs two
// goroutines: a reader that blocks in Link.ReadPacket, and the loop that
// owns every connection, the demultiplexing tables, the port allocator and
// the one timer. User calls (Dial, Listen, and the methods of Conn and
// Listener) run short closures on the loop.
//
// The Stack does not own its Link: the caller closes the link after
// Stack.Close. The reader goroutine exits when ReadPacket fails, that is,
// when the link is closed.
type Stack struct {
	link Link
	cfg  Config
	ep   ip.Endpoint
	isn  *isnGen

	in    chan []byte   // packets from the reader
	free  chan []byte   // spare packet buffers, returned by the loop
	bufSz int           // size of a packet buffer
	calls chan *call    // closures to run on the loop
	quit  chan struct{} // closed by Close
	done  chan struct{} // closed when the loop has finished
	once  sync.Once

	stats stackCounters

	// Owned by the loop.
	conns     map[FourTuple]*Conn
	listeners map[uint16]*Listener
	ports     map[uint16]int // connections per local port
	nextPort  uint16
	touched   []*Conn // connections to flush after the current batch
	timer     *time.Timer
	timerAt   time.Time // when timer fires; zero when stopped
	idle      chan struct{}
	pkt       []byte                    // the outgoing packet buffer, reused
	reply     []byte                    // ICMP echo reply buffer, reused
	seg       Segment                   // the segment being processed, reused
	emitFn    func(FourTuple, *Segment) // writeSegment, bound once so output does not allocate
}

// call is a closure a user goroutine runs on the loop (runOnLoop).
type call struct {
	f    func(now time.Time)
	done chan struct{}
}

// StackStats are a Stack's counters.
type StackStats struct {
	IP ip.StatsSnapshot // the IPv4 layer: packets received, echo requests answered, ...

	SegsIn      uint64 // valid TCP segments received
	SegsOut     uint64 // TCP segments sent
	BadChecksum uint64 // segments dropped for a bad checksum (RFC 9293 MUST-3)
	Malformed   uint64 // segments dropped because the header did not parse
	BadAddr     uint64 // SYNs dropped for a broadcast, multicast or invalid source (MUST-57, MUST-63)
	NoPort      uint64 // RSTs sent for segments to no connection or listener (§3.10.7.1, §3.10.7.2)

	SynDroppedBacklog  uint64 // SYNs dropped because the accept queue was full
	SynDroppedHalfOpen uint64 // SYNs dropped because too many connections were half-open
	TimeWaitReopened   uint64 // TIME-WAIT connections ended by a new SYN (MAY-2)

	ConnsDialed   uint64 // active opens
	ConnsAccepted uint64 // passive opens that completed the handshake
	ConnsClosed   uint64 // connections removed (CLOSED, reset or returned to LISTEN)

	LinkReadErrors  uint64 // packets lost to read errors (a too-short buffer)
	LinkWriteErrors uint64 // packets the link refused
}

// stackCounters are the atomic counters behind StackStats; the loop writes
// them and Stats reads them from any goroutine.
type stackCounters struct {
	segsIn, segsOut, badChecksum, malformed, badAddr, noPort  atomic.Uint64
	synBacklog, synHalfOpen, timeWaitReopened                 atomic.Uint64
	dialed, accepted, closed, linkReadErrors, linkWriteErrors atomic.Uint64
}

// ConnInfo describes one connection, for a status page.
type ConnInfo struct {
	ID    FourTuple
	State State
	Stats ConnStats
}

// NewStack starts a stack with address cfg.Addr on link. Zero fields of cfg
// take their defaults; an MTU of 0 takes link.MTU().
func NewStack(link Link, cfg Config) (*Stack, error) {
	if link == nil {
		return nil, errors.New("tcp: NewStack: nil link")
	}
	if !validUnicast(cfg.Addr) {
		return nil, fmt.Errorf("tcp: NewStack: address %v: %w", cfg.Addr, ErrInvalidAddr)
	}
	cfg.Addr = cfg.Addr.Unmap()
	if cfg.MTU == 0 {
		cfg.MTU = link.MTU()
	}
	if m := link.MTU(); m > 0 && cfg.MTU > m {
		return nil, fmt.Errorf("tcp: NewStack: MTU %d exceeds the link's %d", cfg.MTU, m)
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		// RFC 791: every IPv4 host handles 68-octet datagrams; 65535 is the most a datagram can be.
		return nil, fmt.Errorf("tcp: NewStack: MTU %d out of range [68, 65535]", cfg.MTU)
	}
	s := &Stack{
		link:      link,
		cfg:       cfg.withDefaults(),
		isn:       newISNGen(),
		in:        make(chan []byte, inQueueLen),
		free:      make(chan []byte, inQueueLen),
		calls:     make(chan *call),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		conns:     make(map[FourTuple]*Conn),
		listeners: make(map[uint16]*Listener),
		ports:     make(map[uint16]int),
		timer:     time.NewTimer(time.Hour),
	}
	s.timer.Stop()
	s.ep.Addr = s.cfg.Addr
	s.ep.TTL = s.cfg.TTL
	s.bufSz = max(s.cfg.MTU, link.MTU())
	s.pkt = make([]byte, 0, s.cfg.MTU+ip.HeaderLen+HeaderLen+MaxOptionsLen)
	s.nextPort = ephemeralFirst + uint16(s.isn.k0%(ephemeralLast-ephemeralFirst+1))
	s.emitFn = s.writeSegment
	go s.readLink()
	go s.run()
	return s, nil
}

// Addr returns the stack's IPv4 address.
func (s *Stack) Addr() netip.Addr { return s.cfg.Addr }

// Close resets every connection, closes every listener and stops the
// stack. Calls on its connections and listeners then fail with an error
// wrapping net.ErrClosed. Close does not close the link; the caller does,
// which also ends the reader goroutine. Close always returns nil.
func (s *Stack) Close() error {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	return nil
}

// Stats returns a snapshot of the stack's counters.
func (s *Stack) Stats() StackStats {
	c := &s.stats
	return StackStats{
		IP:                 s.ep.Stats.Snapshot(),
		SegsIn:             c.segsIn.Load(),
		SegsOut:            c.segsOut.Load(),
		BadChecksum:        c.badChecksum.Load(),
		Malformed:          c.malformed.Load(),
		BadAddr:            c.badAddr.Load(),
		NoPort:             c.noPort.Load(),
		SynDroppedBacklog:  c.synBacklog.Load(),
		SynDroppedHalfOpen: c.synHalfOpen.Load(),
		TimeWaitReopened:   c.timeWaitReopened.Load(),
		ConnsDialed:        c.dialed.Load(),
		ConnsAccepted:      c.accepted.Load(),
		ConnsClosed:        c.closed.Load(),
		LinkReadErrors:     c.linkReadErrors.Load(),
		LinkWriteErrors:    c.linkWriteErrors.Load(),
	}
}

// Conns lists the stack's connections (TIME-WAIT ones included), sorted by
// local then remote address. It returns nil once the stack is closed.
func (s *Stack) Conns() []ConnInfo {
	var out []ConnInfo
	s.runOnLoop(func(time.Time) {
		out = make([]ConnInfo, 0, len(s.conns))
		for id, c := range s.conns {
			out = append(out, ConnInfo{ID: id, State: c.tcb.state, Stats: c.tcb.Stats()})
		}
	})
	slices.SortFunc(out, func(a, b ConnInfo) int {
		return cmp.Or(a.ID.Local.Compare(b.ID.Local), a.ID.Remote.Compare(b.ID.Remote))
	})
	return out
}

// Wait blocks until the stack has no connections left, TIME-WAIT included,
// or ctx ends (it returns ctx.Err()). Listeners do not count. It returns
// nil at once if the stack is closed.
func (s *Stack) Wait(ctx context.Context) error {
	for {
		var idle chan struct{}
		if s.runOnLoop(func(time.Time) {
			if len(s.conns) > 0 {
				if s.idle == nil {
					s.idle = make(chan struct{})
				}
				idle = s.idle
			}
		}) != nil || idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runOnLoop runs f on the stack loop and waits for it, after which the
// segments f caused have been written to the link. It returns net.ErrClosed,
// without running f, once the stack is closed.
func (s *Stack) runOnLoop(f func(now time.Time)) error {
	c := &call{f: f, done: make(chan struct{})}
	select {
	case s.calls <- c:
	case <-s.done:
		return net.ErrClosed
	}
	<-c.done // the loop runs every call it receives
	return nil
}

// readLink is the reader goroutine: it hands each packet to the loop in a
// buffer of its own. It ends when the link fails (is closed) or, after the
// next packet, when the stack is closed.
func (s *Stack) readLink() {
	for {
		var b []byte
		select {
		case b = <-s.free:
		case <-s.done:
			return
		default:
			b = make([]byte, s.bufSz)
		}
		n, err := s.link.ReadPacket(b)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				s.stats.linkReadErrors.Add(1)
				continue
			}
			return // the link is closed
		}
		select {
		case s.in <- b[:n]:
		case <-s.done:
			return
		}
	}
}

// run is the stack loop.
func (s *Stack) run() {
	defer close(s.done)
	for {
		select {
		case p := <-s.in:
			now := time.Now()
			s.input(now, p)
			// RFC 9293 MUST-58/MUST-59: process every queued segment
			// (up to a batch) before sending, so ACKs aggregate.
		batch:
			for range maxBatch - 1 {
				select {
				case p := <-s.in:
					s.input(now, p)
				default:
					break batch
				}
			}
			s.flush(now)
		case c := <-s.calls:
			now := time.Now()
			c.f(now)
			s.flush(now)
			close(c.done)
		case <-s.timer.C:
			now := time.Now()
			s.timerAt = time.Time{}
			s.fireTimers(now)
			s.flush(now)
		case <-s.quit:
			s.shutdown(time.Now())
			return
		}
	}
}

// shutdown resets every connection and closes every listener (Close).
func (s *Stack) shutdown(now time.Time) {
	for _, ln := range s.listeners {
		ln.markClosed()
	}
	clear(s.listeners)
	for _, c := range s.conns {
		c.tcb.abort(now) // RFC 9293 §3.10.5: RST to every synchronized peer
		s.update(now, c)
	}
	s.flush(now)
	s.timer.Stop()
	if s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// input processes one packet from the link and recycles its buffer.
func (s *Stack) input(now time.Time, pkt []byte) {
	s.handlePacket(now, pkt)
	s.putBuf(pkt)
}

// handlePacket is the receive path: IPv4, checksum, decoding, then the
// connection, the listener or the closed-port reply.
func (s *Stack) handlePacket(now time.Time, pkt []byte) {
	h, tcpSeg, out := s.ep.Input(pkt, s.reply)
	if out != nil {
		s.reply = out[:0]
		s.write(out) // an ICMP echo reply
		return
	}
	if tcpSeg == nil {
		return // dropped and counted by the IP layer
	}
	// RFC 9293 MUST-3: verify the checksum; drop the segment if it fails.
	if !VerifyChecksum(tcpSeg, h.Src, h.Dst) {
		s.stats.badChecksum.Add(1)
		return
	}
	seg := &s.seg
	if err := DecodeSegmentInto(seg, tcpSeg); err != nil {
		s.stats.malformed.Add(1)
		return
	}
	defer func() { seg.Payload = nil }() // do not keep the packet buffer alive
	s.stats.segsIn.Add(1)
	id := FourTuple{Local: netip.AddrPortFrom(h.Dst, seg.DstPort), Remote: netip.AddrPortFrom(h.Src, seg.SrcPort)}
	if seg.Flags.Has(FlagSYN) && (!validUnicast(h.Src) || seg.SrcPort == 0 || seg.DstPort == 0) {
		// RFC 9293 MUST-57/MUST-63 (§3.9.2.3): silently discard a SYN from a
		// broadcast or multicast (or otherwise invalid) source. The IP layer
		// only delivers packets sent to our own unicast address.
		s.stats.badAddr.Add(1)
		return
	}
	if tr := s.cfg.Tracer; tr != nil {
		tr.SegmentIn(now, id, seg)
	}
	if c := s.conns[id]; c != nil {
		if oldNxt, ok := s.reopenTimeWait(now, c, seg); ok {
			s.listenInput(now, s.listeners[id.Local.Port()], id, seg, oldNxt, true)
			return
		}
		c.tcb.segmentArrives(now, seg)
		s.update(now, c)
		return
	}
	if ln := s.listeners[id.Local.Port()]; ln != nil {
		s.listenInput(now, ln, id, seg, 0, false)
		return
	}
	// RFC 9293 §3.10.7.1: no connection; answer anything but a RST with a RST.
	if rst, ok := replyToClosed(seg); ok {
		s.stats.noPort.Add(1)
		s.sendControl(now, id, &rst)
	}
}

// reopenTimeWait decides whether a SYN ends TIME-WAIT to open a new
// connection (RFC 9293 §3.6.1 MAY-2, RFC 1122 §4.2.2.13, RFC 6191 §2
// without timestamps): the SYN's sequence number must lie above RCV.NXT and
// a listener with room must wait on the port. If so it deletes the old TCB
// and returns its SND.NXT, which the new ISS must exceed; the caller hands
// the SYN to the listener.
func (s *Stack) reopenTimeWait(now time.Time, c *Conn, seg *Segment) (Seq, bool) {
	t := c.tcb
	if t.state != StateTimeWait || seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN || !seg.Seq.GreaterThan(t.rcv.nxt) {
		return 0, false
	}
	ln := s.listeners[t.id.Local.Port()]
	if ln == nil || !s.admitSYN(ln) {
		return 0, false
	}
	t.setState(now, StateClosed) // "delete the TCB": the old incarnation ends here
	s.update(now, c)
	s.stats.timeWaitReopened.Add(1)
	return t.snd.nxt, true
}

// admitSYN applies a listener's bounds to a new SYN and counts a drop:
// the accept queue, with a slot held for every half-open connection
// (Backlog), and the half-open connections alone (MaxHalfOpen).
func (s *Stack) admitSYN(ln *Listener) bool {
	if len(ln.queue)+ln.halfOpen >= s.cfg.Backlog {
		s.stats.synBacklog.Add(1)
		return false
	}
	if ln.halfOpen >= s.cfg.MaxHalfOpen {
		s.stats.synHalfOpen.Add(1)
		return false
	}
	return true
}

// listenInput is RFC 9293 §3.10.7.2 (LISTEN state) for a segment that
// matches no connection but a listener's port. A SYN gets a TCB of its own
// that starts in LISTEN. If reopen is set, the new ISS lies above oldNxt.
func (s *Stack) listenInput(now time.Time, ln *Listener, id FourTuple, seg *Segment, oldNxt Seq, reopen bool) {
	// RFC 9293 §3.10.7.2: a RST is ignored, an ACK draws a RST, and only a
	// SYN goes on to a new TCB.
	rst, reply, syn := listenCheck(seg)
	if reply {
		s.stats.noPort.Add(1)
		s.sendControl(now, id, &rst)
		return
	}
	if !syn {
		return
	}
	// "Third, check for a SYN": the backlog bounds apply first.
	if !reopen && !s.admitSYN(ln) {
		return
	}
	iss := s.chooseISS(id, now)
	if reopen {
		iss = isnAfter(iss, oldNxt)
	}
	t := newTCB(&s.cfg, id, iss)
	t.openPassive(now)
	t.takeEvents() // entering LISTEN is not a close
	c := newConn(s, t)
	c.ln, c.halfOpen = ln, true
	ln.halfOpen++
	s.addConn(c)
	t.segmentArrives(now, seg)
	s.update(now, c)
}

// chooseISS returns the ISS of a new connection: Config.ISN if set, else RFC 6528.
func (s *Stack) chooseISS(id FourTuple, now time.Time) Seq {
	if s.cfg.ISN != nil {
		return s.cfg.ISN(id, now)
	}
	return s.isn.isn(id, now)
}

// sendControl sends a segment that belongs to no TCB (a RST for a closed port).
func (s *Stack) sendControl(now time.Time, id FourTuple, seg *Segment) {
	if tr := s.cfg.Tracer; tr != nil {
		tr.SegmentOut(now, id, seg)
	}
	s.writeSegment(id, seg)
}

// addConn enters c in the demultiplexing tables.
func (s *Stack) addConn(c *Conn) {
	s.conns[c.id] = c
	s.ports[c.id.Local.Port()]++
}

// removeConn takes a closed connection out of the tables and wakes everyone
// waiting on it.
func (s *Stack) removeConn(now time.Time, c *Conn) {
	if s.conns[c.id] != c {
		return
	}
	delete(s.conns, c.id)
	if p := c.id.Local.Port(); s.ports[p] > 1 {
		s.ports[p]--
	} else {
		delete(s.ports, p)
	}
	if c.halfOpen {
		c.halfOpen = false
		c.ln.halfOpen--
	}
	s.stats.closed.Add(1)
	if c.tcb.err == syscall.ECONNRESET {
		if tr := s.cfg.Tracer; tr != nil {
			tr.UserEvent(now, c.id, EventReset)
		}
	}
	c.finishHandshake(false)
	signal(c.readable)
	signal(c.writable)
	if len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// update takes the events of a call into c's core, wakes the waiters they
// concern, and marks c to be flushed.
func (s *Stack) update(now time.Time, c *Conn) {
	if !c.touched {
		c.touched = true
		s.touched = append(s.touched, c)
	}
	s.handleEvents(now, c)
}

// handleEvents acts on the events c's core reported.
func (s *Stack) handleEvents(now time.Time, c *Conn) {
	ev := c.tcb.takeEvents()
	if ev == 0 {
		return
	}
	if ev&evEstablished != 0 {
		if c.halfOpen {
			// The third segment of the handshake arrived: the connection
			// waits in the accept queue (its slot was held since the SYN).
			c.halfOpen = false
			c.ln.halfOpen--
			c.ln.queue = append(c.ln.queue, c)
			signal(c.ln.ready)
			s.stats.accepted.Add(1)
		} else {
			c.finishHandshake(true)
		}
	}
	if ev&evReadable != 0 {
		signal(c.readable)
	}
	if ev&evWritable != 0 {
		signal(c.writable)
	}
	if ev&evClosed != 0 {
		// CLOSED, or a passive connection back in LISTEN (RFC 9293
		// MUST-11): either way this TCB is done; the listener stays.
		if st := c.tcb.state; st == StateClosed || st == StateListen {
			s.removeConn(now, c)
		}
	}
}

// flush writes what every touched connection has to send and re-arms the
// timer.
func (s *Stack) flush(now time.Time) {
	for i, c := range s.touched {
		s.touched[i] = nil
		c.touched = false
		c.tcb.output(now, s.emitFn)
		s.handleEvents(now, c)
		if t := c.tcb.nextTimeout(); !t.IsZero() && s.conns[c.id] == c {
			s.schedule(now, t)
		}
	}
	s.touched = s.touched[:0]
	if tr := s.cfg.Tracer; tr != nil {
		tr.Flush() // a Ladder completes its last line
	}
}

// fireTimers runs the timers of every connection that is due and re-arms
// the stack timer for the earliest of the rest.
func (s *Stack) fireTimers(now time.Time) {
	for _, c := range s.conns {
		if t := c.tcb.nextTimeout(); !t.IsZero() && !now.Before(t) {
			c.tcb.handleTimeout(now)
			s.update(now, c)
		}
	}
	for _, c := range s.conns {
		if t := c.tcb.nextTimeout(); !t.IsZero() {
			s.schedule(now, t)
		}
	}
}

// schedule makes the timer fire no later than t.
func (s *Stack) schedule(now, t time.Time) {
	if !s.timerAt.IsZero() && !t.Before(s.timerAt) {
		return
	}
	s.timerAt = t
	s.timer.Reset(t.Sub(now))
}

// writeSegment sends seg as an IPv4 packet from id.Local to id.Remote. The
// packet buffer is reused, so this does not allocate.
func (s *Stack) writeSegment(id FourTuple, seg *Segment) {
	b := s.pkt[:ip.HeaderLen] // room for the IP header, written last
	b = AppendSegment(b, seg, id.Local.Addr(), id.Remote.Addr())
	h := ip.Header{
		TotalLen:     uint16(len(b)),
		ID:           s.ep.NextID(),
		DontFragment: true, // RFC 1191: we never fragment; the MSS fits the MTU
		TTL:          s.cfg.TTL,
		Protocol:     ip.ProtoTCP,
		Src:          id.Local.Addr(),
		Dst:          id.Remote.Addr(),
	}
	ip.PutHeader(b, &h)
	s.pkt = b[:0]
	s.stats.segsOut.Add(1)
	s.write(b)
}

// write hands one packet to the link.
func (s *Stack) write(pkt []byte) {
	if err := s.link.WritePacket(pkt); err != nil {
		s.stats.linkWriteErrors.Add(1)
	}
}

// putBuf returns a packet buffer to the reader's free list.
func (s *Stack) putBuf(b []byte) {
	select {
	case s.free <- b[:cap(b)]:
	default:
	}
}

// allocPort returns a free ephemeral port: one no listener and no
// connection uses.
func (s *Stack) allocPort() (uint16, bool) {
	const n = ephemeralLast - ephemeralFirst + 1
	for range n {
		p := s.nextPort
		if s.nextPort == ephemeralLast {
			s.nextPort = ephemeralFirst
		} else {
			s.nextPort++
		}
		if s.ports[p] == 0 && s.listeners[p] == nil {
			return p, true
		}
	}
	return 0, false
}

// signal wakes the waiter on ch, if any, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// validUnicast reports whether a can be a connection's address: IPv4, and
// not unspecified, multicast or the limited broadcast (RFC 9293 MUST-46,
// MUST-57, MUST-63; RFC 1122 §3.2.1.3).
func validUnicast(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
