package tcp

import (
	"math/rand/v2"
	"testing"
)

// The sender's side of a crafted-SACK attack: a peer whose every ACK
// carries four blocks over a full scoreboard (4096 records in flight).
// "repeat" sends the same blocks, covering everything, again and again;
// "split" puts the blocks' edges at random octets, so that records are cut
// until they reach their bound (2×maxSendRecords). The cost of an ACK is
// bounded by the records, never by what the peer sends.
func BenchmarkProcessSACKCrafted(b *testing.B) {
	for _, mode := range []string{"repeat", "split"} {
		b.Run(mode, func(b *testing.B) {
			cfg := (&Config{Addr: hostAddr}).withDefaults()
			c := newTCB(&cfg, FourTuple{}, 0)
			c.snd.sackOK = true
			const n, size = maxSendRecords, 1000
			c.snd.una = 1
			for i := range n {
				c.snd.recs.push(sendRecord{start: Seq(1 + i*size), end: Seq(1 + (i+1)*size), sentAt: testEpoch})
			}
			c.snd.nxt = Seq(1 + n*size)
			rng := rand.New(rand.NewPCG(1, 2))
			blocks := make([]SACKBlock, 4)
			seg := Segment{Ack: 1, Flags: FlagACK}
			b.ReportAllocs()
			for b.Loop() {
				for j := range blocks {
					if mode == "repeat" {
						blocks[j] = SACKBlock{Left: Seq(1 + j*n/4*size), Right: Seq(1 + (j+1)*n/4*size)}
						continue
					}
					l := 1 + rng.IntN(n*size-2)
					blocks[j] = SACKBlock{Left: Seq(l), Right: Seq(l + 1 + rng.IntN(min(n*size-l, 64*size)))}
				}
				seg.Options.SACKBlocks = blocks
				c.processSACK(testEpoch, &seg)
			}
			b.ReportMetric(float64(c.snd.recs.len()), "records")
		})
	}
}
