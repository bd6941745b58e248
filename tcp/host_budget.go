package tcp

import (
	"container/heap"
	"sync/atomic"
)

// oooBudget is the stack's bound on the out-of-order data all its
// connections hold (Config.StackOutOfOrderRanges, StackOutOfOrderBytes),
// owned by the host and shared by its TCBs (oooCharge.budget).
//
// When an arrival takes the total over a bound, the connection holding the
// most (ranges, or octets, whichever bound is exceeded) drops its furthest
// ranges, an eighth of them at least. A connection loses held data to the
// stack bound only while it holds at least as much as any other: more than
// its fair share. A flood on one connection costs that connection, not its
// neighbours. The holders sit in two max-heaps, by ranges and by octets,
// so finding the largest costs O(1) and each change O(log n) in the
// connections holding data.
type oooBudget struct {
	maxRanges, maxBytes int
	ranges, bytes       int
	heaps               [2]holderHeap // by ranges, by octets

	// For StackStats, read from any goroutine.
	heldRanges, heldBytes       atomic.Int64
	dropped, reneged, reclaimed atomic.Uint64
}

const (
	byRanges = iota
	byBytes
)

func (b *oooBudget) init(cfg *Config) {
	b.maxRanges, b.maxBytes = cfg.StackOutOfOrderRanges, cfg.StackOutOfOrderBytes
	b.heaps[byRanges].key, b.heaps[byBytes].key = byRanges, byBytes
}

// charge records that t's store now holds ranges ranges of bytes octets.
func (b *oooBudget) charge(t *tcb, ranges, bytes int) {
	o := &t.ooo
	if ranges == o.ranges && bytes == o.bytes {
		return
	}
	b.ranges += ranges - o.ranges
	b.bytes += bytes - o.bytes
	o.ranges, o.bytes = ranges, bytes
	for k := range b.heaps {
		h := &b.heaps[k]
		switch i := o.hidx[k] - 1; {
		case ranges > 0 && i < 0:
			heap.Push(h, t)
		case ranges == 0 && i >= 0:
			heap.Remove(h, i)
		case i >= 0:
			heap.Fix(h, i)
		}
	}
	b.heldRanges.Store(int64(b.ranges))
	b.heldBytes.Store(int64(b.bytes))
}

// fit brings the totals back within the bounds after t's store grew.
func (b *oooBudget) fit(t *tcb) {
	for b.ranges > b.maxRanges || b.bytes > b.maxBytes {
		k := byRanges
		if b.ranges <= b.maxRanges {
			k = byBytes
		}
		if len(b.heaps[k].ts) == 0 {
			return
		}
		v := b.heaps[k].ts[0] // the largest holder
		if v != t {
			b.reclaimed.Add(1)
		}
		if k == byBytes {
			v.pruneOOO(1, max(b.bytes-b.maxBytes, v.ooo.bytes/8))
		} else {
			v.pruneOOO(max(b.ranges-b.maxRanges, v.ooo.ranges/8), 0)
		}
	}
}

// release returns what t holds to the budget, as t leaves the host's table.
func (b *oooBudget) release(t *tcb) {
	t.rcv.ooo.clear()
	b.charge(t, 0, 0)
}

// holderHeap is a max-heap (container/heap) of the TCBs holding
// out-of-order data, by ranges or by octets; oooCharge.hidx is each TCB's
// place in it, plus one.
type holderHeap struct {
	ts  []*tcb
	key int // byRanges or byBytes
}

func (h *holderHeap) Len() int { return len(h.ts) }

func (h *holderHeap) Less(i, j int) bool {
	a, b := &h.ts[i].ooo, &h.ts[j].ooo
	if h.key == byBytes {
		return a.bytes > b.bytes
	}
	return a.ranges > b.ranges
}

func (h *holderHeap) Swap(i, j int) {
	h.ts[i], h.ts[j] = h.ts[j], h.ts[i]
	h.ts[i].ooo.hidx[h.key], h.ts[j].ooo.hidx[h.key] = i+1, j+1
}

func (h *holderHeap) Push(x any) {
	t := x.(*tcb)
	h.ts = append(h.ts, t)
	t.ooo.hidx[h.key] = len(h.ts)
}

func (h *holderHeap) Pop() any {
	t := h.ts[len(h.ts)-1]
	h.ts[len(h.ts)-1] = nil
	h.ts = h.ts[:len(h.ts)-1]
	t.ooo.hidx[h.key] = 0
	return t
}
