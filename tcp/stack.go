package tcp

import (
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

// Stack is a TCP/IPv4 host with one address on one Link. It runs two
// goroutines: a reader that blocks in Link.ReadPacket (ReadPackets on a
// BatchLink), and the loop that moves packets from the link to the host
// layer (connections, listeners, ports: host.go) and fires the one timer. The host is owned by whoever
// holds mu: the loop for a batch of packets or a timeout, a user call
// (Dial, Listen, and the methods of Conn and Listener) for its short piece
// of work (runOnLoop), which it runs on its own goroutine, with no hand-off.
//
// The Stack does not own its Link: the caller closes the link after
// Stack.Close. The reader goroutine exits when ReadPacket fails, that is,
// when the link is closed.
type Stack struct {
	link Link
	cfg  Config
	ep   ip.Endpoint

	in    chan inPacket // packets from the reader
	free  chan []byte   // spare packet buffers, returned by the loop
	bufSz int           // size of a packet buffer
	quit  chan struct{} // closed by Close
	done  chan struct{} // closed when the loop has finished
	once  sync.Once

	stats   stackCounters
	rxLink  OffloadLink // the link, when the reader uses ReadOffload (stack_offload.go)
	bigFree chan []byte // the reader's spare big buffers on an offload link
	rxBig   []byte      // the big buffer the reader reads into; the reader's own
	wmu     sync.Mutex  // serializes writes to the link: the transmit queue's (stack_tx.go) and WritePacket's (unhandled.go)
	tx      txQueue     // packets built under mu, written under wmu (stack_tx.go)

	fwd stackForward // forwarding mode's decisions (forward.go)

	// mu guards what follows, the host and every TCB: the loop and the
	// user calls take it in turn (runOnLoop).
	mu        sync.Mutex
	closed    bool                 // the loop has shut the stack down
	host      *host                // set once; Stats reads its atomic counters from any goroutine
	conns     map[*tcb]*Conn       // the TCBs a Conn stands for: dialled or accepted
	listeners map[uint16]*Listener // by port
	timer     *time.Timer
	timerAt   time.Time // when timer fires; zero when stopped
	idle      chan struct{}
	pkt       []byte                           // the outgoing packet buffer for segments without payload in place, reused
	out       []byte                           // the outgoing packet buffer whose payload area TCBs fill (outHeadroom)
	offload   OffloadLink                      // the link, when it takes large segments with offload metadata
	reply     []byte                           // ICMP echo reply buffer, reused
	seg       Segment                          // the segment being processed, reused
	emitFn    func(FourTuple, *Segment)        // writeSegment, bound once so flush does not allocate
	wakeFn    func(time.Time, *tcb, tcbEvents) // wake, bound once

	// On a BatchLink (stack_batch.go): the loop's state, under mu, and the
	// batches from the reader.
	batch     *stackBatch
	rxBatches chan *rxBatch
	// Shutdown (shutdown.go), guarded by mu too.
	drained      chan struct{} // closed when the connections are CLOSED or in TIME-WAIT
	shuttingDown bool          // Shutdown has begun: no new Dial or Listen
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

	SynDroppedBacklog   uint64 // SYNs dropped because the listener's accept queue was full (Config.Backlog)
	AcceptQueueOverflow uint64 // handshake-completing ACKs dropped because the accept queue was full
	TimeWaitReopened    uint64 // TIME-WAIT connections ended by a new SYN (MAY-2)
	TimeWaitOverflow    uint64 // connections closed at once because MaxTimeWait were in TIME-WAIT
	FinWait2Timeouts    uint64 // connections reset after FinTimeout in FIN-WAIT-2
	RefusedMaxConns     uint64 // SYNs dropped and Dials refused at Config.MaxConns
	RefusedMemory       uint64 // SYNs dropped and Dials refused over Config.MemoryLimit
	Memory              int64  // octets the connections hold: buffers, and a fixed cost per connection and TIME-WAIT record
	TimeWait            int    // connections in TIME-WAIT, kept as records

	// SYN-flood defences (host_syncookie.go, host_halfopen.go).
	SynCookiesSent        uint64 // SYN-ACKs with a SYN cookie (RFC 4987 §3.6)
	SynCookiesAccepted    uint64 // ACKs whose valid cookie made a connection
	SynCookiesRejected    uint64 // ACKs to a listener with an invalid or expired cookie, answered with a RST
	HalfOpenEvicted       uint64 // children in SYN-RECEIVED freed for a new SYN (MaxHalfOpen, SYN cookies off)
	SynAckRetriesExceeded uint64 // children in SYN-RECEIVED freed after Config.SynAckRetries
	ICMPErrorsAccepted    uint64 // ICMP errors acted on (RFC 9293 MUST-54)
	ICMPErrorsIgnored     uint64 // ICMP errors for no connection or quoting a SEQ outside SND.UNA..SND.NXT (RFC 5927 §4.1)

	ConnsDialed   uint64 // active opens
	ConnsAccepted uint64 // passive opens that completed the handshake
	ConnsClosed   uint64 // connections removed (CLOSED, reset or returned to LISTEN)

	// Out-of-order data (Config.OutOfOrderRanges, StackOutOfOrder*): the
	// ranges and octets all connections hold now; segments not held for a
	// bound; ranges dropped after being held (reneging, RFC 2018 §8); and
	// times the stack bound took ranges from a connection other than the
	// one whose segment arrived.
	OutOfOrderRanges, OutOfOrderBytes                         int64
	OutOfOrderDropped, OutOfOrderReneged, OutOfOrderReclaimed uint64

	LinkReadErrors  uint64 // packets lost to read errors (a too-short buffer)
	OffloadDropped  uint64 // packets the link dropped for bad offload metadata (a malformed virtio-net header)
	LinkWriteErrors uint64 // packets the link refused

	Forward   ForwardStats // forwarding mode (Config.Forward)
	Unhandled uint64       // packets for Config.Unhandled: protocols other than TCP, ICMP other than echo requests and TCP's errors
}

// stackCounters are the loop's atomic counters behind StackStats (the
// host keeps its own); the loop writes them and Stats reads them from any
// goroutine.
type stackCounters struct {
	segsIn, segsOut, badChecksum, malformed, linkReadErrors, linkWriteErrors, offloadDropped atomic.Uint64
}

// ConnInfo describes one connection, for a status page.
type ConnInfo struct {
	ID    FourTuple
	State State
	Stats ConnStats
	Info  Info // RTT, congestion control, recovery, and what the handshake agreed to
}

// NewStack starts a stack with address cfg.Addr on link. Zero fields of cfg
// take their defaults; an MTU of 0 takes link.MTU().
func NewStack(link Link, cfg Config) (*Stack, error) {
	if link == nil {
		return nil, errors.New("tcp: NewStack: nil link")
	}
	if !cfg.Addr.IsValid() && len(cfg.Addrs) > 0 {
		cfg.Addr = cfg.Addrs[0]
	}
	cfg.Addr = cfg.Addr.Unmap()
	has6 := false
	for _, a := range append([]netip.Addr{cfg.Addr}, cfg.Addrs...) {
		if !validUnicast(a) {
			return nil, fmt.Errorf("tcp: NewStack: address %v: %w", a, ErrInvalidAddr)
		}
		has6 = has6 || a.Unmap().Is6()
	}
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
	if has6 && cfg.MTU < ip.MinMTU6 {
		return nil, fmt.Errorf("tcp: NewStack: MTU %d below IPv6's minimum of %d (RFC 8200 §5)", cfg.MTU, ip.MinMTU6)
	}
	if _, _, err := portRange(cfg.EphemeralPorts); err != nil {
		return nil, fmt.Errorf("tcp: NewStack: %w", err)
	}
	s := &Stack{
		link: link,
		cfg:  cfg.withDefaults(),
		in:   make(chan inPacket, inQueueLen),
		// Room for every buffer there can be (the queue's, the reader's and
		// the loop's), so none is dropped and made again: no allocation per packet.
		free:      make(chan []byte, inQueueLen+2),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		conns:     make(map[*tcb]*Conn),
		listeners: make(map[uint16]*Listener),
		timer:     time.NewTimer(time.Hour),
	}
	s.timer.Stop()
	s.host = newHost(&s.cfg)
	s.ep.Addr = s.cfg.Addr
	s.ep.Addrs = s.host.addrs
	s.ep.TTL = s.cfg.TTL
	if s.cfg.Forward != nil {
		s.ep.AnyDst, s.ep.EchoAny = true, s.cfg.ForwardEcho
		s.fwd.wake = make(chan struct{}, 1)
	}
	s.ep.Unhandled = s.cfg.Unhandled
	s.bufSz = max(s.cfg.MTU, link.MTU())
	s.setupOffloadRx(link)
	outLen := s.setupOutput(link)
	s.setupBatch(link)
	s.setupTx(outLen, max(outLen, s.cfg.MTU+ip.Header6Len+HeaderLen+MaxOptionsLen))
	s.emitFn = s.writeSegment
	s.wakeFn = s.wake
	if s.batch != nil {
		go s.readBatches()
	} else {
		go s.readLink()
	}
	go s.run()
	return s, nil
}

// Addr returns the stack's first address (Config.Addr).
func (s *Stack) Addr() netip.Addr { return s.cfg.Addr }

// Addrs returns every address of the stack, Config.Addr first.
func (s *Stack) Addrs() []netip.Addr { return slices.Clone(s.host.addrs) }

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
	c, h := &s.stats, &s.host.stats
	return StackStats{
		IP:                  s.ep.Stats.Snapshot(),
		SegsIn:              c.segsIn.Load(),
		SegsOut:             c.segsOut.Load(),
		BadChecksum:         c.badChecksum.Load(),
		Malformed:           c.malformed.Load(),
		BadAddr:             h.badAddr.Load(),
		NoPort:              h.noPort.Load(),
		SynDroppedBacklog:   h.synBacklog.Load(),
		AcceptQueueOverflow: h.overflow.Load(),
		TimeWaitReopened:    h.timeWaitReopened.Load(),
		TimeWaitOverflow:    h.timeWaitOverflow.Load(),
		FinWait2Timeouts:    h.finWait2Timeouts.Load(),
		RefusedMaxConns:     h.refusedMaxConns.Load(),
		RefusedMemory:       h.refusedMemory.Load(),
		Memory:              s.host.mem.load(),
		TimeWait:            int(h.timeWait.Load()),
		ICMPErrorsAccepted:  s.host.icmp.accepted.Load(),
		ICMPErrorsIgnored:   s.host.icmp.ignored.Load(),
		ConnsDialed:         h.dialed.Load(),
		ConnsAccepted:       h.accepted.Load(),
		ConnsClosed:         h.closed.Load(),
		OutOfOrderRanges:    s.host.budget.heldRanges.Load(),
		OutOfOrderBytes:     s.host.budget.heldBytes.Load(),
		OutOfOrderDropped:   s.host.budget.dropped.Load(),
		OutOfOrderReneged:   s.host.budget.reneged.Load(),
		OutOfOrderReclaimed: s.host.budget.reclaimed.Load(),
		LinkReadErrors:      c.linkReadErrors.Load(),
		LinkWriteErrors:     c.linkWriteErrors.Load(),
		OffloadDropped:      c.offloadDropped.Load(),
		Unhandled:           s.ep.Stats.Unhandled.Load(),

		SynCookiesSent:        h.cookiesSent.Load(),
		SynCookiesAccepted:    h.cookiesAccepted.Load(),
		SynCookiesRejected:    h.cookiesRejected.Load(),
		HalfOpenEvicted:       h.halfOpenEvicted.Load(),
		SynAckRetriesExceeded: h.synAckRetriesExceeded.Load(),
		Forward:               s.host.fwd.snapshot(),
	}
}

// Conns lists the stack's connections (TIME-WAIT ones included), sorted by
// local then remote address. It returns nil once the stack is closed.
func (s *Stack) Conns() []ConnInfo {
	var out []ConnInfo
	s.runOnLoop(func(time.Time) {
		out = make([]ConnInfo, 0, s.host.count())
		for id, t := range s.host.conns {
			out = append(out, ConnInfo{ID: id, State: t.state, Stats: t.Stats(), Info: t.info()})
		}
		for id := range s.host.tw.recs {
			out = append(out, ConnInfo{ID: id, State: StateTimeWait})
		}
	})
	slices.SortFunc(out, func(a, b ConnInfo) int { return compareID(a.ID, b.ID) })
	return out
}

// Wait blocks until the stack has no connections left, TIME-WAIT included,
// or ctx ends (it returns ctx.Err()). Listeners do not count. It returns
// nil at once if the stack is closed.
func (s *Stack) Wait(ctx context.Context) error {
	for {
		var idle chan struct{}
		if s.runOnLoop(func(time.Time) {
			if s.host.count() > 0 {
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

// runOnLoop runs f as the loop would, holding mu, then flushes: when it
// returns, the segments f caused have been written to the link and the
// waiters they concern woken. It runs on the caller's goroutine, so f
// stays on its stack and nothing is allocated. It returns net.ErrClosed,
// without running f, once the stack is closed.
func (s *Stack) runOnLoop(f func(now time.Time)) error {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return net.ErrClosed
	}
	now := time.Now()
	f(now)
	s.flush(now)
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
		p, err := s.readPacket(b)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				s.stats.linkReadErrors.Add(1)
				continue
			}
			if errors.Is(err, ip.ErrBadOffload) {
				s.stats.offloadDropped.Add(1)
				continue
			}
			return // the link is closed
		}
		select {
		case s.in <- p:
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
			s.mu.Lock()
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
			s.unlock()
		case bt := <-s.rxBatches:
			s.inputBatches(bt)
		case <-s.timer.C:
			s.mu.Lock()
			now := time.Now()
			s.timerAt = time.Time{}
			s.host.handleTimeout(now)
			s.flush(now)
			s.unlock()
		case <-s.fwd.wake: // a Refuse or Drop from off the loop
			s.mu.Lock()
			s.flush(time.Now())
			s.unlock()
		case <-s.quit:
			s.mu.Lock()
			s.shutdown(time.Now())
			s.closed = true
			s.mu.Unlock()
			// The RSTs are on the link when Close returns.
			s.wmu.Lock()
			s.writeQueued()
			s.wmu.Unlock()
			return
		}
	}
}

// shutdown resets every connection and closes every listener (Close).
func (s *Stack) shutdown(now time.Time) {
	for _, ln := range s.listeners {
		ln.markClosed()
		s.host.closeListener(now, ln.ls)
	}
	clear(s.listeners)
	for _, t := range s.host.conns {
		t.abort(now) // RFC 9293 §3.10.5: RST to every synchronized peer
		s.host.touch(now, t)
	}
	for id := range s.host.tw.recs {
		s.host.dropRecord(id) // ABORT in TIME-WAIT sends nothing
	}
	s.forwardShutdown()
	s.flush(now)
	s.timer.Stop()
	if s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// input processes one packet from the link and recycles its buffer.
func (s *Stack) input(now time.Time, p inPacket) {
	s.handlePacket(now, p.b, p.csumOK)
	s.recycle(p)
}

// handlePacket is the receive path: IPv4, checksum, decoding, then the
// host. csumOK says the link vouches for the TCP checksum.
func (s *Stack) handlePacket(now time.Time, pkt []byte, csumOK bool) {
	h, tcpSeg, out, icmpErr := s.ep.InputAt(now, pkt, s.reply)
	if icmpErr.Type != 0 {
		s.host.icmpError(now, &icmpErr)
		return
	}
	if out != nil {
		s.reply = out[:0]
		s.write(out) // an ICMP echo reply, or an ICMPv6 parameter problem
		return
	}
	if tcpSeg == nil {
		return // dropped and counted by the IP layer
	}
	seg := &s.seg
	if why := checkArriving(seg, tcpSeg, h.Src, h.Dst, csumOK); why != ReasonNone {
		if why == ReasonDropBadChecksum {
			s.stats.badChecksum.Add(1)
		} else {
			s.stats.malformed.Add(1)
		}
		if tr := s.cfg.Tracer; tr != nil {
			traceDrop(tr, now, h.Src, h.Dst, seg, why)
		}
		seg.Payload = nil
		return
	}
	seg.ECN = h.TOS & ecnMask // RFC 3168 §5: the ECN field of the IP header
	s.stats.segsIn.Add(1)
	s.host.input(now, h.Src, h.Dst, seg)
	seg.Payload = nil // do not keep the packet buffer alive
}

// update records a user call into c's TCB; the next flush sends what it
// caused and wakes the waiters it concerns.
func (s *Stack) update(now time.Time, c *Conn) { s.host.touch(now, c.tcb) }

// flush sends what the host and its touched TCBs have to send, wakes the
// waiters, and re-arms the timer.
func (s *Stack) flush(now time.Time) {
	s.forwardDispatch()
	s.host.flush(now, s.emitFn, s.wakeFn)
	if t := s.host.nextTimeout(); !t.IsZero() {
		s.schedule(now, t)
	}
	if s.host.count() == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.checkDrained()
	if tr := s.cfg.Tracer; tr != nil {
		tr.Flush() // a Ladder completes its last line
	}
}

// wake acts on the events of t, reported by the host's flush.
func (s *Stack) wake(now time.Time, t *tcb, ev tcbEvents) {
	closed := ev&evClosed != 0 && (t.state == StateClosed || t.state == StateListen)
	if closed && errors.Is(t.err, syscall.ECONNRESET) {
		if tr := s.cfg.Tracer; tr != nil {
			tr.UserEvent(now, t.id, UserEvent{Kind: EventReset})
		}
	}
	c := s.conns[t]
	if c == nil {
		// A passive child no Accept has taken: its handshake completed, so
		// the host queued it.
		if ev&evEstablished != 0 {
			if ln := s.listeners[t.id.Local.Port()]; ln != nil {
				signal(ln.ready)
			}
		}
		return
	}
	if ev&evEstablished != 0 {
		c.finishHandshake(true)
	}
	if ev&evReadable != 0 {
		signal(c.readable)
	}
	if ev&evWritable != 0 {
		signal(c.writable)
	}
	if ev&evFrozen != 0 {
		// TIME-WAIT goes on as a record: the Conn keeps its TCB, the stack does not.
		delete(s.conns, t)
	}
	if closed {
		// CLOSED: the host has dropped the TCB; everyone waiting on it wakes.
		delete(s.conns, t)
		c.finishHandshake(false)
		signal(c.readable)
		signal(c.writable)
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

// outHeadroom is the room in front of a payload in the output buffer for
// the largest IP and TCP headers: IPv6's fixed header is the larger.
const outHeadroom = ip.Header6Len + HeaderLen + MaxOptionsLen

// setupOutput returns the length of the output buffer, and on an offload
// link lets TCBs emit segments of up to 64 KiB (TSO). The host's shared
// payload scratch is the output buffer past outHeadroom (setupTx), so a
// TCB copies its payload from the send buffer straight into the packet.
func (s *Stack) setupOutput(link Link) int {
	maxPayload := s.cfg.MTU - ip.HeaderLen - HeaderLen
	if ol, ok := link.(OffloadLink); ok && ol.OffloadSize() > s.cfg.MTU {
		s.offload = ol
		maxPayload = min(ol.OffloadSize(), 0xffff) - outHeadroom
		s.host.tsoMax = maxPayload
	}
	return outHeadroom + maxPayload
}

// writeSegment queues seg for the link as an IP packet from id.Local to
// id.Remote, IPv4 or IPv6 as their addresses are. The packet buffers are
// reused, so this does not allocate.
func (s *Stack) writeSegment(id FourTuple, seg *Segment) {
	var b []byte
	src, dst := id.Local.Addr(), id.Remote.Addr()
	v6 := src.Is6()
	ipLen := ip.HeaderLen
	if v6 {
		ipLen = ip.Header6Len
	}
	partial := false // the link completes the TCP checksum
	if n := len(seg.Payload); n > 0 && &seg.Payload[0] == &s.out[outHeadroom] {
		// The payload is in place: the headers go in front of it.
		off := outHeadroom - seg.headerLen() - ipLen
		b = s.out[off : outHeadroom+n]
		partial = s.offload != nil
		putHeaderBefore(b[ipLen:], seg, src, dst, partial)
	} else {
		b = s.pkt[:ipLen] // room for the IP header, written last
		b = AppendSegment(b, seg, src, dst)
		s.pkt = b[:0]
	}
	if v6 {
		// RFC 8200 §3; no extension headers. IPv6 routers never fragment,
		// and we send within the path MTU (RFC 8201).
		h := ip.Header6{
			TrafficClass: seg.ECN & ecnMask, // RFC 3168 §5: the ECN field of the traffic class
			PayloadLen:   uint16(len(b) - ip.Header6Len),
			NextHeader:   ip.ProtoTCP,
			HopLimit:     s.cfg.TTL,
			Src:          src,
			Dst:          dst,
		}
		ip.PutHeader6(b, &h)
	} else {
		h := ip.Header{
			TOS:          seg.ECN & ecnMask, // RFC 3168 §5
			TotalLen:     uint16(len(b)),
			ID:           s.ep.NextID(),
			DontFragment: true, // RFC 1191: we never fragment; the MSS fits the MTU
			TTL:          s.cfg.TTL,
			Protocol:     ip.ProtoTCP,
			Src:          src,
			Dst:          dst,
		}
		ip.PutHeader(b, &h)
	}
	s.stats.segsOut.Add(1)
	var o ip.Offload
	if s.offload != nil {
		o.ChecksumPartial = partial
		if g := int(seg.GSOSize); g > 0 && len(seg.Payload) > g {
			o.GSOSize = seg.GSOSize
		}
	}
	s.queue(b, o)
}

// write queues one packet for the link.
func (s *Stack) write(pkt []byte) { s.queue(pkt, ip.Offload{}) }

// putBuf returns a packet buffer to the reader's free list.
func (s *Stack) putBuf(b []byte) {
	select {
	case s.free <- b[:cap(b)]:
	default:
	}
}

// signal wakes the waiter on ch, if any, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// validUnicast reports whether a can be a connection's address: IPv4 or
// IPv6, and not unspecified, multicast or the limited broadcast (RFC 9293
// MUST-46, MUST-57, MUST-63; RFC 1122 §3.2.1.3), nor IPv6's loopback,
// which never leaves a node (RFC 4291 §2.5.2, §2.5.3, §2.7).
func validUnicast(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) &&
		!(a.Is6() && a.IsLoopback())
}
