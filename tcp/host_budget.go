package tcp

import "sync/atomic"

// oooBudget is the stack's bound on the out-of-order data all its
// connections hold (Config.StackOutOfOrderRanges, StackOutOfOrderBytes),
// owned by the host and shared by its TCBs (oooCharge.budget).
//
// When an arrival takes the total over a bound, the connection holding the
// most (ranges, or octets, whichever bound is exceeded) drops its furthest
// ranges, an eighth of them at least, so that the scan for it is rare. A
// connection loses held data to the stack bound only while it holds at
// least as much as any other: more than its fair share. A flood on one
// connection costs that connection, not its neighbours.
type oooBudget struct {
	maxRanges, maxBytes int
	ranges, bytes       int
	holders             []*tcb // the TCBs whose store is not empty

	// For StackStats, read from any goroutine.
	heldRanges, heldBytes       atomic.Int64
	dropped, reneged, reclaimed atomic.Uint64
}

func (b *oooBudget) init(cfg *Config) {
	b.maxRanges, b.maxBytes = cfg.StackOutOfOrderRanges, cfg.StackOutOfOrderBytes
}

// charge records that t's store now holds ranges ranges of bytes octets.
func (b *oooBudget) charge(t *tcb, ranges, bytes int) {
	o := &t.ooo
	b.ranges += ranges - o.ranges
	b.bytes += bytes - o.bytes
	o.ranges, o.bytes = ranges, bytes
	switch {
	case ranges > 0 && o.idx == 0:
		b.holders = append(b.holders, t)
		o.idx = len(b.holders)
	case ranges == 0 && o.idx != 0:
		last := b.holders[len(b.holders)-1]
		b.holders[o.idx-1], last.ooo.idx = last, o.idx
		b.holders[len(b.holders)-1] = nil
		b.holders = b.holders[:len(b.holders)-1]
		o.idx = 0
	}
	b.heldRanges.Store(int64(b.ranges))
	b.heldBytes.Store(int64(b.bytes))
}

// fit brings the totals back within the bounds after t's store grew.
func (b *oooBudget) fit(t *tcb) {
	for b.ranges > b.maxRanges || b.bytes > b.maxBytes {
		byBytes := b.ranges <= b.maxRanges
		v := b.heaviest(byBytes)
		if v == nil {
			return
		}
		if v != t {
			b.reclaimed.Add(1)
		}
		if byBytes {
			v.pruneOOO(1, max(b.bytes-b.maxBytes, v.ooo.bytes/8))
		} else {
			v.pruneOOO(max(b.ranges-b.maxRanges, v.ooo.ranges/8), 0)
		}
	}
}

// heaviest returns the holder with the most ranges (or octets), the first
// of them in holders on a tie.
func (b *oooBudget) heaviest(byBytes bool) *tcb {
	var best *tcb
	for _, t := range b.holders {
		if best == nil || (byBytes && t.ooo.bytes > best.ooo.bytes) || (!byBytes && t.ooo.ranges > best.ooo.ranges) {
			best = t
		}
	}
	return best
}

// release returns what t holds to the budget, as t leaves the host's table.
func (b *oooBudget) release(t *tcb) {
	t.rcv.ooo.clear()
	b.charge(t, 0, 0)
}
