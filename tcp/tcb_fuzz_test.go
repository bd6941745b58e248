package tcp

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// FuzzTCB drives one TCB with a random mix of segments near its windows,
// user calls and timer expiries. Whatever arrives, the core must not panic,
// must keep its sequence invariants, and must keep its memory bounded.
func FuzzTCB(f *testing.F) {
	f.Add([]byte{0, 0x12, 0, 0, 0, 0, 0xff, 0xff, 0, 0x10, 0, 1, 0, 0, 0xff, 0xff, 5})
	f.Add([]byte{1, 0x02, 0, 0, 0, 0, 0xff, 0xff, 0, 1, 200, 0x10, 0, 1, 0, 1, 0xff, 0xff, 50, 6, 6, 6, 3, 0x11})
	f.Add([]byte{0, 0x02, 0, 0, 0, 0, 0, 10, 0, 0x18, 0, 1, 0, 1, 0, 10, 100, 4, 0x04, 0, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newCore(t, func(c *Config) { c.RecvBuffer, c.SendBuffer, c.DelayedACK = 3000, 3000, 40*time.Millisecond })
		if len(data) == 0 {
			return
		}
		if data[0]%2 == 0 {
			h.c.openPassive(h.now)
		} else {
			h.c.openActive(h.now)
		}
		data = data[1:]
		h.flush()
		buf := make([]byte, 4096)
		for steps := 0; len(data) > 0 && steps < 300; steps++ {
			op := data[0]
			data = data[1:]
			switch op % 8 {
			case 0, 1, 2: // a segment: flags, seq and ack near the windows, window, length
				if len(data) < 7 {
					return
				}
				seg := Segment{SrcPort: 40000, DstPort: 80, Flags: Flags(data[0])}
				seg.Seq = h.c.rcvNxt.Add(uint32(int32(int16(binary.BigEndian.Uint16(data[1:])))))
				if h.c.state == StateListen || h.c.state == StateSynSent {
					seg.Seq = testIRS.Add(uint32(binary.BigEndian.Uint16(data[1:])))
				}
				seg.Ack = h.c.sndUna.Add(uint32(int32(int16(binary.BigEndian.Uint16(data[3:])))))
				seg.Window = binary.BigEndian.Uint16(data[5:])
				n := 0
				if len(data) > 7 {
					n = int(data[7]) * 8
				}
				seg.Payload = buf[:n]
				if op%8 == 2 {
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
				switch op % 5 {
				case 0:
					h.c.close(h.now)
				case 1:
					h.c.closeRead(h.now)
				case 2:
					h.c.abort(h.now)
				case 3:
					h.c.noDelay = !h.c.noDelay
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
				if len(s.Payload) > h.c.sndMSS {
					t.Fatalf("a segment of %d octets exceeds the send MSS %d", len(s.Payload), h.c.sndMSS)
				}
			})
			h.c.takeEvents()
			if sent > 64 {
				t.Fatalf("one step sent %d segments", sent)
			}
			if h.c.sndBuf.Len() > h.c.sndBuf.Cap() || h.c.rcvBuf.Len() > h.c.rcvBuf.Cap() || h.c.ooo.bytes > h.cfg.RecvBuffer {
				t.Fatalf("buffers past their bounds: snd %d rcv %d ooo %d", h.c.sndBuf.Len(), h.c.rcvBuf.Len(), h.c.ooo.bytes)
			}
			if !h.c.sndUna.LessThanEq(h.c.sndNxt) || !h.c.txNxt.LessThanEq(h.c.sndNxt) || !h.c.sndUna.LessThanEq(h.c.txNxt) {
				t.Fatalf("sequence invariants broken in %v: una %d txnxt %d nxt %d", h.c.state, h.c.sndUna, h.c.txNxt, h.c.sndNxt)
			}
		}
	})
}
