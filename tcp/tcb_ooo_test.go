package tcp

import (
	"fmt"
	"testing"
)

// What an ACK costs the receiver while it holds many ranges: the SACK
// blocks come from the latest range, the recently reported ones and the
// lowest, never from a walk over every range, so the cost grows as log n.
func BenchmarkSACKBlocksManyRanges(b *testing.B) {
	for _, n := range []int{16, 4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var r recvSpace
			r.sackOK, r.nxt = true, 1
			for i := range n {
				r.ooo.add(Seq(3+4*i), Seq(4+4*i))
				r.heldOutOfOrder()
			}
			var blocks [maxSACKBlocks]SACKBlock
			b.ReportAllocs()
			for b.Loop() {
				if r.sackBlocks(blocks[:]) != maxSACKBlocks {
					b.Fatal("want four blocks")
				}
			}
		})
	}
}

// An arrival at the per-connection bound: the store is full, so each
// segment beyond its highest range is dropped, or one below it takes the
// place of the highest.
func BenchmarkHoldOutOfOrderAtBound(b *testing.B) {
	cfg := (&Config{Addr: hostAddr}).withDefaults()
	c := newTCB(&cfg, FourTuple{}, 0)
	c.rcv.nxt = 1
	for i := range cfg.OutOfOrderRanges {
		c.holdOutOfOrder(Seq(3+4*i), Seq(4+4*i))
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s := Seq(5 + 4*(i%cfg.OutOfOrderRanges))
		c.holdOutOfOrder(s, s.Add(1))
		i++
	}
	b.ReportMetric(float64(c.rcv.ooo.count()), "ranges")
}
