package tcp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/utcp/utcp/ip"
)

// The fuzzed host's world: the peers that send to it, the local ports they
// send to (two listen at the start, one is closed, 0 is invalid, and the
// rest are the ephemeral ports dial hands out).
var (
	fuzzRemotes = [...]netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.2:40000"),
		netip.MustParseAddrPort("10.0.0.2:40001"),
		netip.MustParseAddrPort("[fd00::3]:40000"), // dual stack: one peer over IPv6
		netip.MustParseAddrPort("10.0.0.2:80"),
	}
	fuzzLocalPorts = [...]uint16{80, 81, 82, 0, 50000, 50001, 50002, 50003}
	fuzzListenable = [...]uint16{80, 81}
)

// FuzzHost drives a host with random segments (flags, and numbers near the
// windows of the TCB they reach), from a handful of peers to listening,
// closed and dialled ports, and with random dials, accepts, user calls,
// listener closes and timer expiries, on a fake clock. After every step the
// host's tables must be consistent with what the fuzzer did.
//
// Each step is an opcode byte, op%10, and its arguments:
//
//	0-3  a segment: sel, flags, seq (2 octets, from RCV.NXT: see fuzzOffset),
//	     ack (the same, from SND.NXT), window/256, length/8. sel%4 picks the peer, sel/4%8 the
//	     local port, sel>>5 the source: 0-4 as is, 5 broadcast, 6 multicast,
//	     7 port 0. Opcode 3 adds an MSS, window scale and SACK-permitted option;
//	     opcodes 2 and 3 add timestamps near the TCB's TS.Recent and an ECN codepoint.
//	4    dial a peer (arg%4)
//	5    accept on a listening port (arg%2); in forwarding mode, with
//	     arg/2%4 non-zero, decide a pending request (arg/8 picks it):
//	     1 accept, 2 refuse, 3 drop
//	6    a user call on a dialled or accepted connection: arg%8 picks it,
//	     arg/8%8 the call (close, abort, closefull, send, receive, keep-alive)
//	7    with op/10 even, advance to the next timer and fire it; odd, an ICMP
//	     error about a segment to a peer: sel (as for a segment, sel%4 the
//	     peer and sel/4%8 the local port), kind (type and code: fuzzICMPKinds),
//	     seq (2 octets, from SND.UNA), mtu/8
//	8    advance the clock by arg×4 ms, firing what is due
//	9    close or reopen a listener (arg%2)
//
// The input's length modulo 3 picks Config.SYNCookies, and its length
// divided by 3, if odd, turns forwarding mode on: then port 82's segments
// go to another address (fuzzFwdAddr), and SYNs to ports without a
// listener make pending requests. A segment to a
// four-tuple that has no TCB but was sent a SYN cookie takes its numbers
// from the cookie's SYN-ACK, so that cookie ACKs come often.
func FuzzHost(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{
			SYNCookies:  SYNCookieMode(len(data) % 3),
			Addr:        hostAddr,
			Addrs:       []netip.Addr{fuzzHostAddr6},
			MSL:         time.Second,
			InitialRTO:  200 * time.Millisecond,
			MinRTO:      200 * time.Millisecond,
			MaxRTO:      2 * time.Second,
			UserTimeout: 10 * time.Second,
			SendBuffer:  3000,
			RecvBuffer:  3000,
			Backlog:     1,
			MaxHalfOpen: 2,
			// Small out-of-order bounds, so that inputs reach them.
			OutOfOrderRanges:      3,
			StackOutOfOrderRanges: 5,
			StackOutOfOrderBytes:  1500,
			ISN: func(id FourTuple, now time.Time) Seq {
				return Seq(uint32(id.Remote.Port())*7919 + uint32(id.Local.Port())*31 + uint32(now.UnixNano()/4000))
			},
		}
		cfg.Tracer = whyChecker{t: t}
		forwarding := len(data)/3%2 == 1
		if forwarding {
			cfg.Forward = func(*ForwardRequest) {}
			cfg.MaxForwardPending = 3
			cfg.ForwardTimeout = 2 * time.Second
		}
		cfg = cfg.withDefaults()
		h := newHost(&cfg)
		h.eph = &portAlloc{first: 50000, last: 50003} // zero secrets: a run repeats
		now := testEpoch
		listeners := map[uint16]*listenState{}
		for _, p := range fuzzListenable {
			ln, err := h.listen(p)
			if err != nil {
				t.Fatalf("listen %d: %v", p, err)
			}
			listeners[p] = ln
		}
		known := map[*tcb]bool{}           // TCBs made by a dial or by a SYN to a listener
		thawed := map[FourTuple]bool{}     // four-tuples whose TIME-WAIT record was thawed for a segment
		passive := map[*tcb]uint16{}       // children, and the port they were made on
		var apps []*tcb                    // dialled or accepted: the user may call into them
		cookies := map[FourTuple]Segment{} // the last SYN cookie's SYN-ACK to each four-tuple with no TCB
		var fwdReqs []*fwdPending          // pending requests the fuzzer has not decided
		buf := make([]byte, 4096)

		for step := 0; len(data) > 0 && step < 400; step++ {
			op := data[0]
			data = data[1:]
			arg := byte(0)
			if len(data) > 0 {
				arg = data[0]
			}
			before := len(h.conns)
			var rstIn *FourTuple // a RST to a four-tuple with no TCB: nothing may answer it
			switch op % 10 {
			case 0, 1, 2, 3:
				if len(data) < 8 {
					return
				}
				sel := data[0]
				remote := fuzzRemotes[sel%4]
				local := fuzzLocal(remote, fuzzLocalPorts[sel/4%8])
				if forwarding && local.Port() == 82 && local.Addr().Is4() {
					local = netip.AddrPortFrom(fuzzFwdAddr, 82)
				}
				switch sel >> 5 {
				case 5:
					remote = netip.AddrPortFrom(netip.MustParseAddr("255.255.255.255"), remote.Port())
				case 6:
					remote = netip.AddrPortFrom(netip.MustParseAddr("224.0.0.1"), remote.Port())
				case 7:
					remote = netip.AddrPortFrom(remote.Addr(), 0)
				}
				id := FourTuple{Local: local, Remote: remote}
				seg := Segment{SrcPort: remote.Port(), DstPort: local.Port(), Flags: Flags(data[1])}
				seqBase, ackBase := Seq(5000), Seq(1000)
				old, oldState := h.conns[id], StateClosed
				rec := h.tw.recs[id]
				cookie, sentCookie := cookies[id]
				switch {
				case old != nil:
					seqBase, ackBase, oldState = old.rcv.nxt, old.snd.nxt, old.state
				case rec != nil:
					seqBase, ackBase, oldState = rec.rcvNxt, rec.sndNxt, StateTimeWait
				case sentCookie:
					seqBase, ackBase = cookie.Ack, cookie.Seq.Add(1)
				}
				seg.Seq = seqBase.Add(fuzzOffset(data[2:]))
				seg.Ack = ackBase.Add(fuzzOffset(data[4:]))
				seg.Window = uint16(data[6]) << 8
				seg.Payload = buf[:int(data[7])*8]
				if op%10 == 3 {
					seg.Options.MSS = 64 + uint16(data[7])
					seg.Options.HasWindowScale, seg.Options.WindowScale = true, data[6]%16
					seg.Options.SACKPermitted = data[6]&0x10 != 0
				}
				if op%10 >= 2 {
					// Timestamps near the TS.Recent of the TCB they reach, and an ECN codepoint.
					tsBase := uint32(1000)
					if old != nil {
						tsBase = old.ts.recent
					} else if rec != nil {
						tsBase = rec.tsRecent
					}
					seg.Options.HasTimestamp = true
					seg.Options.TSVal = tsBase + uint32(int32(op/10)-12)
					if sentCookie && old == nil {
						seg.Options.TSEcr = cookie.Options.TSVal // the options the cookie's TSval carries
					}
					seg.ECN = data[6] & ecnMask
				}
				if old != nil && op%10 >= 5 {
					// SACK blocks around what the TCB has in flight, some out of range.
					l := old.snd.una.Add(uint32(data[3]) * 32)
					seg.Options.SACKBlocks = []SACKBlock{{l, l.Add(uint32(data[5])*32 + 1)}}
				}
				data = data[8:]
				_, listening := h.listeners[local.Port()]
				if old == nil && seg.Flags.Has(FlagRST) {
					rstIn = &id
				}
				if rec != nil {
					thawed[id] = true
				}
				got := h.input(now, remote.Addr(), local.Addr(), &seg)
				for _, p := range h.takeFresh() {
					if !forwarding || !seg.Flags.Has(FlagSYN) || p.id != id || !validUnicast(remote.Addr()) {
						t.Fatalf("step %d: %v made a forward request for %v", step, &seg, p.id)
					}
					fwdReqs = append(fwdReqs, p)
				}
				if got != nil && !known[got] && rec != nil && got.id == id && got.state != StateSynReceived {
					known[got] = true // thawed from its TIME-WAIT record
				} else if got != nil && !known[got] {
					// A new TCB: only a SYN to a listener makes one, for a
					// four-tuple that was free or in TIME-WAIT, or the ACK of
					// a SYN cookie sent to a free four-tuple.
					cookieACK := seg.Flags&(FlagSYN|FlagACK|FlagRST) == FlagACK && cfg.SYNCookies != SYNCookiesOff &&
						old == nil && sentCookie && got.snd.iss == cookie.Seq && seg.Ack == cookie.Seq.Add(1)
					if (seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN && !cookieACK) || !listening ||
						!validUnicast(remote.Addr()) || remote.Port() == 0 ||
						(old != nil && oldState != StateTimeWait) || got.id != id {
						t.Fatalf("step %d: %v made a TCB for %v (listening %v, replacing one in %v)", step, &seg, got.id, listening, oldState)
					}
					known[got] = true
					passive[got] = local.Port()
				}
			case 4:
				data = data[min(len(data), 1):]
				c, err := h.dial(now, fuzzRemotes[arg%4])
				if err == nil {
					known[c] = true
					apps = append(apps, c)
				}
			case 5:
				data = data[min(len(data), 1):]
				if d := arg / 2 % 4; forwarding && d != 0 {
					if len(fwdReqs) == 0 {
						break
					}
					i := int(arg/8) % len(fwdReqs)
					p := fwdReqs[i]
					fwdReqs = append(fwdReqs[:i], fwdReqs[i+1:]...)
					switch d {
					case 1:
						if c, err := h.forwardAccept(now, p); err == nil {
							if c.id != p.id || c.state != StateSynReceived {
								t.Fatalf("step %d: accepting %v made %v in %v", step, p.id, c.id, c.state)
							}
							known[c] = true
							apps = append(apps, c)
						}
					case 2:
						h.forwardRefuse(p)
					default:
						h.forwardDrop(p)
					}
					break
				}
				p := fuzzListenable[arg%2]
				if ln := listeners[p]; ln != nil {
					if c := h.accept(ln); c != nil {
						if passive[c] != p || !(c.state.synchronized() || c.state == StateClosed) {
							t.Fatalf("step %d: accepted %v in %v from port %d's queue", step, c.id, c.state, p)
						}
						apps = append(apps, c)
					}
				}
			case 6:
				data = data[min(len(data), 1):]
				if len(apps) == 0 {
					break
				}
				c := apps[int(arg%8)%len(apps)]
				switch arg / 8 % 8 {
				case 0:
					c.close(now)
				case 1:
					c.abort(now)
				case 2:
					if !c.closeRead(now) {
						c.close(now)
					}
				case 3, 4:
					c.send(buf[:int(arg)*8])
				case 5, 6:
					c.receive(buf[:int(arg)*4])
				default:
					switch arg % 3 {
					case 0:
						c.setKeepAlive(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 2})
					case 1:
						c.setRecvBuffer(1 + int(arg)*97) // SetReadBuffer: shrinks and grows
					default:
						c.setSendBuffer(1 + int(arg)*97) // SetWriteBuffer
					}
				}
				h.touch(now, c)
			case 7:
				if op/10%2 == 1 {
					if len(data) < 5 {
						return
					}
					fuzzICMP(h, now, data[:5])
					data = data[5:]
					break
				}
				if next := h.nextTimeout(); !next.IsZero() {
					if next.After(now) {
						now = next
					}
					h.handleTimeout(now)
				}
			case 8:
				data = data[min(len(data), 1):]
				now = now.Add(time.Duration(arg) * 4 * time.Millisecond)
				if next := h.nextTimeout(); !next.IsZero() && !now.Before(next) {
					h.handleTimeout(now)
				}
			case 9:
				data = data[min(len(data), 1):]
				p := fuzzListenable[arg%2]
				if ln := listeners[p]; ln != nil {
					h.closeListener(now, ln)
					delete(listeners, p)
				} else if ln, err := h.listen(p); err == nil {
					listeners[p] = ln
				}
			}

			sent := map[FourTuple]int{}
			total := 0
			h.flush(now, func(id FourTuple, s *Segment) {
				sent[id]++
				total++
				if s.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK && h.conns[id] == nil {
					cookies[id] = *s
				}
				if s.SrcPort != id.Local.Port() || s.DstPort != id.Remote.Port() {
					t.Fatalf("step %d: %v from port %d to %d emitted for %v", step, s, s.SrcPort, s.DstPort, id)
				}
				if s.Why == ReasonNone || s.Why.Drop() {
					t.Fatalf("step %d: %v sent with no reason to send (Why %s)", step, s, s.Why.Name())
				}
				if s.Flags.Has(FlagSYN) && (!validUnicast(id.Remote.Addr()) || id.Remote.Port() == 0) {
					t.Fatalf("step %d: MUST-57: a SYN to %v", step, id.Remote)
				}
				if rstIn != nil && id == *rstIn {
					t.Fatalf("step %d: §3.10.7.1/§3.10.7.2: a RST to no connection was answered with %v", step, s)
				}
			}, func(_ time.Time, c *tcb, _ tcbEvents) {
				if !known[c] && !thawed[c.id] {
					t.Fatalf("step %d: events of a TCB nobody made: %v", step, c.id)
				}
			})
			for id, n := range sent {
				if n > 64 {
					t.Fatalf("step %d: %d segments to %v in one step", step, n, id)
				}
			}
			if total > 64*(before+len(h.conns)+1) {
				t.Fatalf("step %d: %d segments in one step", step, total)
			}
			checkHost(t, step, h, &cfg, known, passive, listeners)
			checkForward(t, step, h, &cfg)
		}
	})
}

// fuzzFwdAddr is the destination of port 82's segments in forwarding mode.
var fuzzFwdAddr = netip.MustParseAddr("198.18.0.7")

// checkForward checks the table of pending requests: within its bounds,
// in arrival order with a pending one first, and the host's next timeout
// no later than any of their deadlines.
func checkForward(t *testing.T, step int, h *host, cfg *Config) {
	t.Helper()
	f := &h.fwd
	if len(f.pending) > cfg.MaxForwardPending || len(f.order) > 2*cfg.MaxForwardPending {
		t.Fatalf("step %d: %d requests pending, %d in order (MaxForwardPending %d)", step, len(f.pending), len(f.order), cfg.MaxForwardPending)
	}
	live := 0
	for i, p := range f.order {
		if i > 0 && p.at.Before(f.order[i-1].at) {
			t.Fatalf("step %d: request %v out of arrival order", step, p.id)
		}
		if p.gone == nil {
			live++
			if f.pending[p.id] != p {
				t.Fatalf("step %d: pending request %v is not in the table", step, p.id)
			}
			if next := h.nextTimeout(); next.IsZero() || next.After(p.at.Add(cfg.ForwardTimeout)) {
				t.Fatalf("step %d: request %v times out at %v, the host's next timeout is %v", step, p.id, p.at.Add(cfg.ForwardTimeout), next)
			}
		} else if i == 0 {
			t.Fatalf("step %d: the oldest request %v has ended (%v)", step, p.id, p.gone)
		}
	}
	if live != len(f.pending) {
		t.Fatalf("step %d: %d requests pending, %d in order", step, len(f.pending), live)
	}
}

// fuzzHostAddr6 is the host's IPv6 address in FuzzHost.
var fuzzHostAddr6 = netip.MustParseAddr("fd00::1")

// fuzzLocal is the host's address of remote's family, with port.
func fuzzLocal(remote netip.AddrPort, port uint16) netip.AddrPort {
	if remote.Addr().Is6() {
		return netip.AddrPortFrom(fuzzHostAddr6, port)
	}
	return netip.AddrPortFrom(hostAddr, port)
}

// fuzzICMPKinds are the ICMP errors FuzzHost sends: type and code (read
// as ICMPv6's for the IPv6 peer).
var fuzzICMPKinds = [...][2]uint8{{3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {3, 4}, {3, 13}, {11, 0}, {12, 0}, {2, 0}, {1, 4}}

// fuzzICMP hands the host an ICMP error quoting a segment from a local port
// to a peer, its SEQ near the SND.UNA of the TCB it names, if any.
func fuzzICMP(h *host, now time.Time, b []byte) {
	remote := fuzzRemotes[b[0]%4]
	local := fuzzLocal(remote, fuzzLocalPorts[b[0]/4%8])
	k := fuzzICMPKinds[int(b[1])%len(fuzzICMPKinds)]
	base := Seq(1000)
	if c := h.conns[FourTuple{Local: local, Remote: remote}]; c != nil {
		base = c.snd.una
	}
	e := ip.ICMPError{V6: remote.Addr().Is6(), Type: k[0], Code: k[1], MTU: uint16(b[4]) * 8, QuotedLen: 1500 - uint16(b[1]),
		Src: local.Addr(), Dst: remote.Addr(), SrcPort: local.Port(), DstPort: remote.Port(),
		Seq: uint32(base.Add(fuzzOffset(b[2:])))}
	h.icmpError(now, &e)
}

// fuzzOffset reads a sequence number offset from two octets: with the top
// bit of the first clear, the second as an int8, so that the numbers a TCB
// accepts come often; else both as an int16.
func fuzzOffset(b []byte) uint32 {
	if b[0]&0x80 == 0 {
		return uint32(int32(int8(b[1])))
	}
	return uint32(int32(int16(binary.BigEndian.Uint16(b))))
}

// checkHost checks the host's tables against each other and against what
// the fuzzer knows.
func checkHost(t *testing.T, step int, h *host, cfg *Config, known map[*tcb]bool, passive map[*tcb]uint16, listeners map[uint16]*listenState) {
	t.Helper()
	ports := map[uint16]int{}
	halfOpen := map[uint16]int{}
	for id, c := range h.conns {
		if err := c.invariants(); err != nil {
			t.Fatalf("step %d: invariants of %v in %v: %v", step, id, c.state, err)
		}
		if c.id != id {
			t.Fatalf("step %d: table key %v holds the TCB of %v", step, id, c.id)
		}
		if !known[c] {
			t.Fatalf("step %d: %v is in the table but came from no dial and no SYN to a listener", step, id)
		}
		if c.state == StateClosed || c.state == StateListen {
			t.Fatalf("step %d: %v is in the table in %v", step, id, c.state)
		}
		ports[id.Local.Port()]++
		if p, ok := passive[c]; ok && c.state == StateSynReceived {
			halfOpen[p]++
		}
	}
	for i, c := range h.timers {
		if int(c.heapIdx) != i || h.conns[c.id] != c {
			t.Fatalf("step %d: timer heap slot %d holds %v (slot %d, in the table %v)", step, i, c.id, c.heapIdx, h.conns[c.id] == c)
		}
		if i > 0 && h.timers.less(i, (i-1)/2) {
			t.Fatalf("step %d: timer heap out of order at slot %d", step, i)
		}
	}
	for id, c := range h.conns {
		if at := c.nextTimeout(); !at.Equal(c.heapAt) || at.IsZero() != (c.heapIdx < 0) {
			t.Fatalf("step %d: %v has its next timeout at %v, filed under %v (slot %d)", step, id, at, c.heapAt, c.heapIdx)
		}
	}
	mem := int64(len(h.conns)*connOverhead + len(h.tw.recs)*timeWaitOverhead)
	for _, c := range h.conns {
		mem += int64(c.snd.buf.Allocated() + c.rcv.buf.Allocated())
	}
	if got := h.mem.load(); got != mem {
		t.Fatalf("step %d: the memory account says %d, the connections hold %d", step, got, mem)
	}
	if got := h.stats.timeWait.Load(); got != int64(len(h.tw.recs)) {
		t.Fatalf("step %d: %d TIME-WAIT records counted, %d held", step, got, len(h.tw.recs))
	}
	for id, rec := range h.tw.recs {
		if rec.id != id || rec.expiry.IsZero() {
			t.Fatalf("step %d: TIME-WAIT record %v holds %v, expiry %v", step, id, rec.id, rec.expiry)
		}
		if h.conns[id] != nil {
			t.Fatalf("step %d: %v is both in the table and a TIME-WAIT record", step, id)
		}
		ports[id.Local.Port()]++
	}
	if err := h.budgetInvariants(); err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	if len(ports) != len(h.ports) {
		t.Fatalf("step %d: ports in use %v, table says %v", step, h.ports, ports)
	}
	for p, n := range ports {
		if h.ports[p] != n {
			t.Fatalf("step %d: port %d has %d connections, counted %d", step, p, n, h.ports[p])
		}
	}
	if len(h.listeners) != len(listeners) {
		t.Fatalf("step %d: %d listeners, want %d", step, len(h.listeners), len(listeners))
	}
	total := 0
	for p, ln := range listeners {
		if h.listeners[p] != ln {
			t.Fatalf("step %d: port %d lost its listener", step, p)
		}
		if ln.halfOpen != halfOpen[p] || ln.halfOpen > cfg.MaxHalfOpen {
			t.Fatalf("step %d: port %d counts %d half-open, has %d children in SYN-RECEIVED (MaxHalfOpen %d)",
				step, p, ln.halfOpen, halfOpen[p], cfg.MaxHalfOpen)
		}
		total += ln.halfOpen
		n := 0
		for e := ln.oldest; e != nil; e = e.next {
			if h.halfOpen[e.t] != e || e.ln != ln || e.t.state != StateSynReceived || (e.next == nil) != (ln.newest == e) {
				t.Fatalf("step %d: port %d's half-open list is broken at %v", step, p, e.t.id)
			}
			n++
		}
		if n != ln.halfOpen {
			t.Fatalf("step %d: port %d lists %d half-open children, counts %d", step, p, n, ln.halfOpen)
		}
		if len(ln.queue) > cfg.Backlog {
			t.Fatalf("step %d: port %d queues %d connections, Backlog %d", step, p, len(ln.queue), cfg.Backlog)
		}
		for _, c := range ln.queue {
			if passive[c] != p || !(c.state.synchronized() || c.state == StateClosed) {
				t.Fatalf("step %d: port %d queues %v in %v", step, p, c.id, c.state)
			}
		}
	}
	for p, n := range halfOpen {
		if listeners[p] == nil && n > 0 {
			t.Fatalf("step %d: %d children in SYN-RECEIVED on port %d, which has no listener", step, n, p)
		}
	}
	if len(h.halfOpen) != total {
		t.Fatalf("step %d: %d half-open children known, listeners count %d", step, len(h.halfOpen), total)
	}
}
