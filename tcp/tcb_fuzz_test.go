package tcp

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// fuzzISN draws a sequence number from four bytes: half the time anywhere,
// half the time just below 2^32, so the sequence spaces cross zero.
func fuzzISN(b []byte) Seq {
	v := binary.BigEndian.Uint32(b)
	if v&1 == 0 {
		return Seq(v)
	}
	return Seq(-(v >> 20))
}

// FuzzTCB drives one TCB with a random mix of segments near its windows,
// user calls, timer expiries and ICMP errors. Whatever arrives, the core must not panic,
// must keep its invariants (tcb.invariants) and must keep its memory
// bounded. ISS and IRS are drawn at random, and one operation moves an
// idle connection's sequence spaces to just before ISS and IRS, as 2^32
// octets of transfer would, so wrapping through ISS and IRS is reachable.
func FuzzTCB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0, 0, 0, 0, 0xff, 0xff, 0, 0x10, 0, 1, 0, 0, 0xff, 0xff, 5})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1, 1, 0x02, 0, 0, 0, 0, 0xff, 0xff, 0, 1, 200, 0x10, 0, 1, 0, 1, 0xff, 0xff, 50, 6, 6, 6, 3, 0x11})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf1, 0, 0x02, 0, 0, 0, 0, 0, 10, 0, 0x18, 0, 1, 0, 1, 0, 10, 100, 4, 0x04, 0, 1, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 7, 1, 0x12, 0, 0, 0, 1, 0xff, 0xff, 0x10, 0, 1, 0, 1, 0xff, 0xff, 0, 0x0b, 0x13, 0x0b, 0x13, 0x0b, 0x13})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 9 {
			return
		}
		iss, irs := fuzzISN(data[0:4]), fuzzISN(data[4:8])
		h := newCoreISN(t, func(c *Config) {
			c.RecvBuffer, c.SendBuffer, c.DelayedACK = 3000, 3000, 40*time.Millisecond
			c.OutOfOrderRanges = 4       // small, so that inputs reach the bound
			c.ECN = ECN(data[8] / 2 % 3) // accept, on, off
		}, iss, irs)
		if data[8]&0x80 != 0 {
			h.c.tsoMax = 4000 // an offload link: segments of several MSS
		}
		if data[8]%2 == 0 {
			h.c.openPassive(h.now)
		} else {
			h.c.openActive(h.now)
		}
		data = data[9:]
		h.flush()
		buf := make([]byte, 4096)
		var lastTSVal *uint32
		for steps := 0; len(data) > 0 && steps < 300; steps++ {
			op := data[0]
			data = data[1:]
			switch op % 9 {
			case 0, 1, 2: // a segment: flags, seq and ack near the windows, window, length
				if len(data) < 7 {
					return
				}
				seg := Segment{SrcPort: 40000, DstPort: 80, Flags: Flags(data[0])}
				seg.Seq = h.c.rcv.nxt.Add(uint32(int32(int16(binary.BigEndian.Uint16(data[1:])))))
				if h.c.state == StateListen || h.c.state == StateSynSent {
					seg.Seq = irs.Add(uint32(binary.BigEndian.Uint16(data[1:])))
				}
				seg.Ack = h.c.snd.una.Add(uint32(int32(int16(binary.BigEndian.Uint16(data[3:])))))
				seg.Window = binary.BigEndian.Uint16(data[5:])
				n := 0
				if len(data) > 7 {
					n = int(data[7]) * 8
				}
				seg.Payload = buf[:n]
				if op%9 == 1 {
					// SACK blocks above SND.UNA, some valid, some not.
					l := h.c.snd.una.Add(uint32(data[1]) * 64)
					seg.Options.SACKBlocks = []SACKBlock{{l, l.Add(uint32(data[2])*64 + 1)}, {l.Add(^uint32(99)), l.Add(300)}}[:1+int(op>>7)]
				}
				if op%9 == 2 {
					seg.Options.SACKPermitted = op&0x40 != 0
					seg.Options.MSS = uint16(op) * 8
					seg.Options.HasWindowScale = true
					seg.Options.WindowScale = op % 16
					seg.Options.SACKPermitted = op%4 == 0
				}
				// Every other segment carries timestamps near TS.Recent and
				// our clock; the window's low bits pick the IP ECN codepoint.
				if op/9%2 == 1 {
					seg.Options.HasTimestamp = true
					seg.Options.TSVal = h.c.ts.recent + uint32(int32(op/18)-4)
					seg.Options.TSEcr = h.c.tsNow(h.now) - uint32(op%7)
				}
				seg.ECN = data[6] & ecnMask
				data = data[min(len(data), 8):]
				h.c.segmentArrives(h.now, &seg)
			case 3:
				h.c.send(buf[:int(op)*4])
			case 4:
				h.c.receive(buf[:int(op)*2])
			case 5:
				switch op % 6 {
				case 0:
					h.c.close(h.now)
				case 1:
					h.c.closeRead(h.now)
				case 2:
					h.c.abort(h.now)
				case 3:
					h.c.setNoDelay(!h.c.noDelay)
				case 4:
					h.c.shutdownRead()
				default:
					h.c.setKeepAlive(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 2})
				}
			case 6:
				if next := h.c.nextTimeout(); !next.IsZero() {
					h.now = next
					h.c.handleTimeout(h.now)
				}
			case 7:
				h.now = h.now.Add(time.Duration(op) * time.Millisecond)
				if next := h.c.nextTimeout(); !next.IsZero() && !h.now.Before(next) {
					h.c.handleTimeout(h.now)
				}
			case 8:
				if op < 128 {
					teleport(h.c, uint32(op)*16)
					break
				}
				// An ICMP error (fuzzICMPKinds) quoting SND.UNA plus a
				// little, with a next-hop MTU for fragmentation needed.
				if len(data) < 2 {
					return
				}
				k := fuzzICMPKinds[int(data[0])%len(fuzzICMPKinds)]
				if seq := h.c.snd.una.Add(uint32(op % 4)); h.c.icmpAcceptable(seq) {
					h.c.icmpError(h.now, k[0], k[1], int(data[1])*8, 1500-int(data[0]))
				}
				data = data[2:]
			}
			sent := 0
			h.c.output(h.now, func(_ FourTuple, s *Segment) {
				sent++
				checkSentOptions(t, h.c, s, &lastTSVal)
				if s.Flags.Has(FlagSYN) && s.Options.MSS == 0 {
					t.Fatalf("MUST-14: a SYN without the MSS option: %v", s)
				}
				if !s.Flags.Has(FlagSYN) && s.Options.MSS != 0 {
					t.Fatalf("MUST-65: the MSS option on a non-SYN segment: %v", s)
				}
				if s.Flags.Has(FlagSYN) && h.c.snd.synAcked {
					t.Fatalf("a SYN after our SYN was acknowledged: %v", s)
				}
				piece := len(s.Payload) // what one packet on the wire carries
				if g := int(s.GSOSize); g > 0 {
					if h.c.tsoMax == 0 || len(s.Payload) > h.c.tsoMax || len(s.Payload) <= g {
						t.Fatalf("a TSO segment of %d octets in pieces of %d (TSO max %d)", len(s.Payload), g, h.c.tsoMax)
					}
					piece = g
				}
				if n := 20 + s.headerLen() + piece; n > h.c.pathMTU() {
					t.Fatalf("a packet of %d octets exceeds the path MTU %d: %v", n, h.c.pathMTU(), s)
				}
				if piece > h.c.snd.mss {
					t.Fatalf("a segment of %d octets exceeds the send MSS %d", piece, h.c.snd.mss)
				}
			})
			h.c.takeEvents()
			if sent > 64 {
				t.Fatalf("one step sent %d segments", sent)
			}
			if err := h.c.invariants(); err != nil {
				t.Fatalf("after op %d in %v: %v", op, h.c.state, err)
			}
		}
	})
}

// checkSentOptions checks the options and ECN bits of a segment c sends:
// timestamps on every non-RST segment once agreed (RFC 7323 §3.2), TSvals
// that never go back (§5.4), ECT(0) on data only (RFC 3168 §6.1.2, §6.1.4),
// ECE and CWR only with ECN agreed or on a SYN. last keeps the latest TSval.
func checkSentOptions(t *testing.T, c *tcb, s *Segment, last **uint32) {
	t.Helper()
	o := &s.Options
	syn, rst := s.Flags.Has(FlagSYN), s.Flags.Has(FlagRST)
	if c.opt.ts && !rst && !o.HasTimestamp {
		t.Fatalf("RFC 7323 §3.2: timestamps agreed, a segment without them: %v", s)
	}
	if o.HasTimestamp {
		if *last != nil && int32(o.TSVal-**last) < 0 {
			t.Fatalf("RFC 7323 §5.4: TSval %d after %d: %v", o.TSVal, **last, s)
		}
		v := o.TSVal
		*last = &v
		if !s.Flags.Has(FlagACK) && o.TSEcr != 0 {
			t.Fatalf("RFC 7323 §3.2: TSecr without ACK: %v", s)
		}
	}
	if !syn && (o.SACKPermitted || o.HasWindowScale) {
		t.Fatalf("SYN-only options on another segment: %v", s)
	}
	switch {
	case s.ECN != ecnNotECT && s.ECN != ecnECT0:
		t.Fatalf("RFC 3168 §6.1.2: we send ECT(0) or Not-ECT, not %d: %v", s.ECN, s)
	case s.ECN == ecnECT0 && (!c.opt.ecn || syn || rst || len(s.Payload) == 0):
		t.Fatalf("RFC 3168 §6.1.4: ECT(0) on a segment other than data with ECN agreed: %v", s)
	case !syn && !c.opt.ecn && s.Flags&(FlagECE|FlagCWR) != 0:
		t.Fatalf("RFC 3168 §6.1: ECE or CWR without ECN agreed: %v", s)
	case !syn && s.Flags.Has(FlagCWR) && s.ECN != ecnECT0:
		t.Fatalf("RFC 3168 §6.1.2: CWR on a segment that is not new data: %v", s)
	}
}

// teleport moves an idle ESTABLISHED connection's sequence spaces to k
// octets before ISS and IRS, the state 2^32-k octets of transfer each way
// leave behind. It does nothing unless both directions are idle.
func teleport(c *tcb, k uint32) {
	s, r := &c.snd, &c.rcv
	if c.state != StateEstablished || s.una != s.nxt || s.buf.Len() > 0 || s.recs.len() > 0 ||
		r.buf.Len() > 0 || r.ooo.count() > 0 || r.oooFIN || r.unacked > 0 {
		return
	}
	ds := uint32(s.iss.Add(-k).Sub(s.una))
	dr := uint32(r.irs.Add(-k).Sub(r.nxt))
	s.una, s.nxt = s.una.Add(ds), s.nxt.Add(ds)
	s.wl2 = s.wl2.Add(ds)
	s.wl1 = s.wl1.Add(dr)
	r.nxt, r.adv = r.nxt.Add(dr), r.adv.Add(dr)
	c.ts.lastAckSent = c.ts.lastAckSent.Add(dr)
	c.ecn.recover = c.ecn.recover.Add(ds)
}
