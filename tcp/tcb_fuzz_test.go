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
// user calls and timer expiries. Whatever arrives, the core must not panic,
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
		h := newCoreISN(t, func(c *Config) { c.RecvBuffer, c.SendBuffer, c.DelayedACK = 3000, 3000, 40*time.Millisecond }, iss, irs)
		if data[8]%2 == 0 {
			h.c.openPassive(h.now)
		} else {
			h.c.openActive(h.now)
		}
		data = data[9:]
		h.flush()
		buf := make([]byte, 4096)
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
				}
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
				teleport(h.c, uint32(op)*16)
			}
			sent := 0
			h.c.output(h.now, func(_ FourTuple, s *Segment) {
				sent++
				if s.Flags.Has(FlagSYN) && s.Options.MSS == 0 {
					t.Fatalf("MUST-14: a SYN without the MSS option: %v", s)
				}
				if !s.Flags.Has(FlagSYN) && s.Options.MSS != 0 {
					t.Fatalf("MUST-65: the MSS option on a non-SYN segment: %v", s)
				}
				if s.Flags.Has(FlagSYN) && h.c.snd.synAcked {
					t.Fatalf("a SYN after our SYN was acknowledged: %v", s)
				}
				if len(s.Payload) > h.c.snd.mss {
					t.Fatalf("a segment of %d octets exceeds the send MSS %d", len(s.Payload), h.c.snd.mss)
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
}
