package tcp

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// span is a range [start,end) as offsets from a base sequence number.
type span struct{ start, end uint32 }

// spans lists the store's ranges as offsets from base.
func spans(q *oooStore, base Seq) []span {
	var out []span
	q.each(func(start, end Seq) bool {
		out = append(out, span{uint32(start - base), uint32(end - base)})
		return true
	})
	return out
}

// checkStore checks the store's invariants (see verify).
func checkStore(t *testing.T, q *oooStore) {
	t.Helper()
	require.NoError(t, q.verify())
}

// verify checks the store's invariants: ranges ascending, non-empty,
// disjoint and not adjacent; bytes and count matching them; the treap in
// search-tree and heap order and not too deep; every node either in the
// tree or free; lastChanged one of the ranges.
func (q *oooStore) verify() error {
	var err error
	var prev Seq
	octets, ranges := 0, 0
	q.each(func(start, end Seq) bool {
		switch {
		case !start.LessThan(end):
			err = fmt.Errorf("empty range [%d,%d)", start, end)
		case ranges > 0 && !prev.LessThan(start):
			err = fmt.Errorf("range [%d,%d) overlaps or touches the one before, ending at %d", start, end, prev)
		}
		prev = end
		octets += int(end.Sub(start))
		ranges++
		return err == nil
	})
	if err != nil {
		return err
	}
	if octets != q.bytes() || ranges != q.count() {
		return fmt.Errorf("bytes() %d, count() %d; the ranges hold %d octets in %d ranges", q.bytes(), q.count(), octets, ranges)
	}
	var visit func(i int32, depth int) (int, error)
	visit = func(i int32, depth int) (int, error) {
		if i == 0 {
			return 0, nil
		}
		if depth > 200 {
			return 0, fmt.Errorf("tree deeper than %d", depth)
		}
		n := q.nodes[i]
		if n.left != 0 && (q.nodes[n.left].prio > n.prio || !q.nodes[n.left].start.LessThan(n.start)) {
			return 0, fmt.Errorf("node %d: left child %d out of order", i, n.left)
		}
		if n.right != 0 && (q.nodes[n.right].prio > n.prio || !n.start.LessThan(q.nodes[n.right].start)) {
			return 0, fmt.Errorf("node %d: right child %d out of order", i, n.right)
		}
		l, err := visit(n.left, depth+1)
		if err != nil {
			return 0, err
		}
		r, err := visit(n.right, depth+1)
		return 1 + l + r, err
	}
	inTree, err := visit(q.root, 0)
	if err != nil {
		return err
	}
	if inTree != ranges {
		return fmt.Errorf("%d nodes in the tree for %d ranges", inTree, ranges)
	}
	free := 0
	for i := q.free; i != 0; i = q.nodes[i].left {
		if free++; free > len(q.nodes) {
			return fmt.Errorf("free list loops")
		}
	}
	if len(q.nodes) > 0 && len(q.nodes)-1 != ranges+free {
		return fmt.Errorf("%d nodes, %d in the tree and %d free", len(q.nodes)-1, ranges, free)
	}
	if start, end, ok := q.lastChanged(); ok {
		found := false
		q.each(func(s, e Seq) bool {
			found = s == start && e == end
			return !found
		})
		if !found {
			return fmt.Errorf("lastChanged [%d,%d) is not held", start, end)
		}
	}
	return nil
}

// height is the depth of the treap.
func (q *oooStore) height() int {
	var h func(i int32) int
	h = func(i int32) int {
		if i == 0 {
			return 0
		}
		return 1 + max(h(q.nodes[i].left), h(q.nodes[i].right))
	}
	return h(q.root)
}

// bases to run the table tests from: plain, and across 2^32.
var oooBases = []Seq{1000, 0xFFFFFFFF - 30}

func TestOOOStoreAdd(t *testing.T) {
	tests := []struct {
		name  string
		have  []span // added first, in this order
		add   span
		added int
		want  []span
	}{
		{name: "into empty", add: span{10, 20}, added: 10, want: []span{{10, 20}}},
		{name: "empty range", have: []span{{10, 20}}, add: span{30, 30}, added: 0, want: []span{{10, 20}}},
		{name: "disjoint after", have: []span{{10, 20}}, add: span{25, 30}, added: 5, want: []span{{10, 20}, {25, 30}}},
		{name: "disjoint before", have: []span{{10, 20}}, add: span{2, 8}, added: 6, want: []span{{2, 8}, {10, 20}}},
		{name: "disjoint between", have: []span{{10, 20}, {40, 50}}, add: span{25, 30}, added: 5, want: []span{{10, 20}, {25, 30}, {40, 50}}},
		{name: "overlaps the end", have: []span{{10, 20}}, add: span{15, 25}, added: 5, want: []span{{10, 25}}},
		{name: "overlaps the start", have: []span{{10, 20}}, add: span{5, 15}, added: 5, want: []span{{5, 20}}},
		{name: "adjacent after merges", have: []span{{10, 20}}, add: span{20, 25}, added: 5, want: []span{{10, 25}}},
		{name: "adjacent before merges", have: []span{{10, 20}}, add: span{5, 10}, added: 5, want: []span{{5, 20}}},
		{name: "fills a gap exactly", have: []span{{10, 20}, {30, 40}}, add: span{20, 30}, added: 10, want: []span{{10, 40}}},
		{name: "swallows several", have: []span{{40, 45}, {10, 12}, {20, 25}, {30, 33}, {60, 70}}, add: span{11, 41}, added: 35 - 2 - 5 - 3 - 5, want: []span{{10, 45}, {60, 70}}},
		{name: "swallows several inside", have: []span{{10, 12}, {20, 25}, {30, 33}}, add: span{5, 50}, added: 45 - 2 - 5 - 3, want: []span{{5, 50}}},
		{name: "swallows and touches the next", have: []span{{10, 12}, {20, 25}, {30, 33}}, add: span{11, 30}, added: 23 - 2 - 5 - 3, want: []span{{10, 33}}},
		{name: "duplicate", have: []span{{10, 20}}, add: span{10, 20}, added: 0, want: []span{{10, 20}}},
		{name: "contained", have: []span{{10, 20}}, add: span{12, 18}, added: 0, want: []span{{10, 20}}},
		{name: "contained at the start", have: []span{{10, 20}}, add: span{10, 11}, added: 0, want: []span{{10, 20}}},
		{name: "contained at the end", have: []span{{10, 20}}, add: span{19, 20}, added: 0, want: []span{{10, 20}}},
		{name: "contains", have: []span{{10, 20}}, add: span{5, 25}, added: 10, want: []span{{5, 25}}},
		{name: "same start, longer", have: []span{{10, 20}}, add: span{10, 30}, added: 10, want: []span{{10, 30}}},
		{name: "one octet short of touching", have: []span{{10, 20}, {22, 30}}, add: span{20, 21}, added: 1, want: []span{{10, 21}, {22, 30}}},
	}
	for _, base := range oooBases {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/base=%#x", tt.name, uint32(base)), func(t *testing.T) {
				var q oooStore
				for _, s := range tt.have {
					q.add(base.Add(s.start), base.Add(s.end))
				}
				checkStore(t, &q)
				added := q.add(base.Add(tt.add.start), base.Add(tt.add.end))
				checkStore(t, &q)
				assert.Equal(t, tt.added, added, "added")
				assert.Equal(t, tt.want, spans(&q, base))
				if tt.add.start == tt.add.end {
					return
				}
				// The changed range is the one holding the add.
				start, end, ok := q.lastChanged()
				require.True(t, ok)
				assert.True(t, start.LessThanEq(base.Add(tt.add.start)) && base.Add(tt.add.end).LessThanEq(end),
					"lastChanged [%d,%d) does not hold the add", start-base, end-base)
			})
		}
	}
}

func TestOOOStoreAdvance(t *testing.T) {
	tests := []struct {
		name   string
		have   []span
		rcvNxt uint32
		want   uint32
		left   []span
	}{
		{name: "empty", rcvNxt: 10, want: 10},
		{name: "no range at rcvNxt", have: []span{{20, 30}}, rcvNxt: 10, want: 10, left: []span{{20, 30}}},
		{name: "range one past rcvNxt", have: []span{{11, 30}}, rcvNxt: 10, want: 10, left: []span{{11, 30}}},
		{name: "range starts at rcvNxt", have: []span{{10, 30}, {40, 50}}, rcvNxt: 10, want: 30, left: []span{{40, 50}}},
		{name: "range starts before rcvNxt", have: []span{{5, 30}, {40, 50}}, rcvNxt: 10, want: 30, left: []span{{40, 50}}},
		{name: "range ends before rcvNxt", have: []span{{5, 8}, {40, 50}}, rcvNxt: 10, want: 10, left: []span{{40, 50}}},
		{name: "range ends at rcvNxt", have: []span{{5, 10}, {40, 50}}, rcvNxt: 10, want: 10, left: []span{{40, 50}}},
		{name: "several swallowed", have: []span{{30, 35}, {2, 4}, {6, 8}, {9, 12}, {20, 25}, {40, 50}}, rcvNxt: 20, want: 25, left: []span{{30, 35}, {40, 50}}},
		{name: "all swallowed", have: []span{{2, 4}, {6, 8}, {20, 25}}, rcvNxt: 30, want: 30},
		{name: "rcvNxt at the next start takes it too", have: []span{{2, 4}, {6, 8}, {20, 25}}, rcvNxt: 20, want: 25},
	}
	for _, base := range oooBases {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/base=%#x", tt.name, uint32(base)), func(t *testing.T) {
				var q oooStore
				for _, s := range tt.have {
					q.add(base.Add(s.start), base.Add(s.end))
				}
				got := q.advance(base.Add(tt.rcvNxt))
				checkStore(t, &q)
				assert.Equal(t, base.Add(tt.want), got)
				assert.Equal(t, tt.left, spans(&q, base))
				start, end, ok := q.first()
				if len(tt.left) == 0 {
					assert.False(t, ok)
					assert.Equal(t, 0, q.bytes())
					return
				}
				require.True(t, ok)
				assert.Equal(t, tt.left[0], span{uint32(start - base), uint32(end - base)})
			})
		}
	}
}

func TestOOOStoreLastChanged(t *testing.T) {
	base := Seq(0xFFFFFFF0)
	var q oooStore
	last := func() (span, bool) {
		start, end, ok := q.lastChanged()
		return span{uint32(start - base), uint32(end - base)}, ok
	}
	_, ok := last()
	assert.False(t, ok, "empty")

	q.add(base.Add(40), base.Add(50))
	got, ok := last()
	assert.True(t, ok)
	assert.Equal(t, span{40, 50}, got)

	q.add(base.Add(10), base.Add(20))
	got, _ = last()
	assert.Equal(t, span{10, 20}, got, "the latest add, not the highest range")

	q.add(base.Add(20), base.Add(30)) // merges with [10,20)
	got, _ = last()
	assert.Equal(t, span{10, 30}, got, "after merging")

	q.add(base.Add(45), base.Add(48)) // a duplicate still names its range
	got, _ = last()
	assert.Equal(t, span{40, 50}, got, "duplicate")

	q.add(base.Add(25), base.Add(45)) // swallows both into one
	got, _ = last()
	assert.Equal(t, span{10, 50}, got, "after swallowing")

	q.add(base.Add(60), base.Add(70))
	assert.Equal(t, base.Add(5), q.advance(base.Add(5)), "advance short of every range")
	got, ok = last()
	assert.True(t, ok)
	assert.Equal(t, span{60, 70}, got, "advance left it alone")

	q.add(base.Add(0), base.Add(10)) // merges into [0,50)
	assert.Equal(t, base.Add(50), q.advance(base.Add(5)))
	_, ok = last()
	assert.False(t, ok, "advance removed it")
	assert.Equal(t, []span{{60, 70}}, spans(&q, base))

	q.add(base.Add(62), base.Add(64))
	got, ok = last()
	assert.True(t, ok)
	assert.Equal(t, span{60, 70}, got)
	q.clear()
	_, ok = last()
	assert.False(t, ok, "cleared")
	assert.Equal(t, 0, q.count())
	assert.Equal(t, 0, q.bytes())
}

// each stops when fn returns false.
func TestOOOStoreEachStops(t *testing.T) {
	var q oooStore
	for i := range uint32(10) {
		q.add(Seq(10*i), Seq(10*i+5))
	}
	var seen []Seq
	q.each(func(start, _ Seq) bool {
		seen = append(seen, start)
		return len(seen) < 3
	})
	assert.Equal(t, []Seq{0, 10, 20}, seen)
}

// oooModel is a bitmap of the octets from base on that an oooStore holds.
type oooModel struct {
	base    Seq
	bits    []bool
	last    int // an octet of the range the latest add went into, or -1
	hasLast bool
}

func newOOOModel(base Seq, window int) *oooModel {
	return &oooModel{base: base, bits: make([]bool, window)}
}

func (m *oooModel) off(s Seq) int { return int(uint32(s - m.base)) }

func (m *oooModel) add(start, end Seq) int {
	if !start.LessThan(end) {
		return 0
	}
	added := 0
	for i := m.off(start); i < m.off(end); i++ {
		if !m.bits[i] {
			added++
			m.bits[i] = true
		}
	}
	m.last, m.hasLast = m.off(start), true
	return added
}

func (m *oooModel) runs() []span {
	var out []span
	for i := 0; i < len(m.bits); i++ {
		if !m.bits[i] {
			continue
		}
		j := i
		for j < len(m.bits) && m.bits[j] {
			j++
		}
		out = append(out, span{uint32(i), uint32(j)})
		i = j
	}
	return out
}

func (m *oooModel) advance(rcvNxt Seq) Seq {
	r := m.off(rcvNxt)
	for _, s := range m.runs() {
		if int(s.start) > r {
			break
		}
		for i := s.start; i < s.end; i++ {
			m.bits[i] = false
		}
		rcvNxt = rcvNxt.Max(m.base.Add(s.end))
	}
	if m.hasLast && !m.bits[m.last] {
		m.hasLast = false
	}
	return rcvNxt
}

// slide moves base forward to the new RCV.NXT; nothing before it is held.
func (m *oooModel) slide(to Seq) {
	n := m.off(to)
	for i := range n {
		if m.bits[i] {
			panic("slide over held octets")
		}
	}
	copy(m.bits, m.bits[n:])
	clear(m.bits[len(m.bits)-n:])
	m.base = to
	m.last -= n
}

// removeLast drops the highest run and returns it.
func (m *oooModel) removeLast() (span, bool) {
	runs := m.runs()
	if len(runs) == 0 {
		return span{}, false
	}
	s := runs[len(runs)-1]
	for i := s.start; i < s.end; i++ {
		m.bits[i] = false
	}
	if m.hasLast && !m.bits[m.last] {
		m.hasLast = false
	}
	return s, true
}

func (m *oooModel) clear() {
	clear(m.bits)
	m.hasLast = false
}

// lastChanged is the run holding the latest add's first octet.
func (m *oooModel) lastChanged() (span, bool) {
	if !m.hasLast {
		return span{}, false
	}
	for _, s := range m.runs() {
		if int(s.start) <= m.last && m.last < int(s.end) {
			return s, true
		}
	}
	panic("lost the last run")
}

// compare checks that the store and the model hold the same ranges.
func (m *oooModel) compare(t *testing.T, q *oooStore, what string) {
	t.Helper()
	if err := m.diff(q); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// diff reports how the store differs from the model, or breaks its invariants.
func (m *oooModel) diff(q *oooStore) error {
	if err := q.verify(); err != nil {
		return err
	}
	want, got := m.runs(), spans(q, m.base)
	if !slices.Equal(want, got) {
		return fmt.Errorf("ranges %v, want %v", got, want)
	}
	start, end, ok := q.first()
	if ok != (len(want) > 0) || ok && (span{uint32(start - m.base), uint32(end - m.base)}) != want[0] {
		return fmt.Errorf("first() = [%d,%d) %v, want %v", start-m.base, end-m.base, ok, want)
	}
	if s, e, ok := q.highest(); ok != (len(want) > 0) || ok && (span{uint32(s - m.base), uint32(e - m.base)}) != want[len(want)-1] {
		return fmt.Errorf("highest() = [%d,%d) %v, want %v", s-m.base, e-m.base, ok, want)
	}
	wantLast, wantOK := m.lastChanged()
	start, end, ok = q.lastChanged()
	if ok != wantOK || ok && (span{uint32(start - m.base), uint32(end - m.base)}) != wantLast {
		return fmt.Errorf("lastChanged() = [%d,%d) %v, want %v %v", start-m.base, end-m.base, ok, wantLast, wantOK)
	}
	return nil
}

// Random adds, advances and clears in a fixed window, against the bitmap.
func TestOOOStoreModel(t *testing.T) {
	const window = 600
	for _, base := range []Seq{0, 0xFFFFFFFF - window/2, 0x7FFFFF00} {
		t.Run(fmt.Sprintf("base=%#x", uint32(base)), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(base), 7))
			var q oooStore
			m := newOOOModel(base, window)
			for op := range 3000 {
				var what string
				switch k := rng.IntN(100); {
				case k < 80:
					s := rng.IntN(window)
					e := min(window, s+rng.IntN(40))
					what = fmt.Sprintf("op %d: add [%d,%d)", op, s, e)
					require.Equal(t, m.add(base.Add(uint32(s)), base.Add(uint32(e))), q.add(base.Add(uint32(s)), base.Add(uint32(e))), what)
				case k < 90:
					what = fmt.Sprintf("op %d: removeLast", op)
					want, wantOK := m.removeLast()
					s, e, ok := q.removeLast()
					require.Equal(t, wantOK, ok, what)
					if ok {
						require.Equal(t, want, span{uint32(s - base), uint32(e - base)}, what)
					}
				case k < 99:
					r := rng.IntN(window)
					what = fmt.Sprintf("op %d: advance %d", op, r)
					require.Equal(t, m.advance(base.Add(uint32(r))), q.advance(base.Add(uint32(r))), what)
				default:
					what = fmt.Sprintf("op %d: clear", op)
					m.clear()
					q.clear()
				}
				m.compare(t, &q, what)
			}
		})
	}
}

// A receiver's use: segments land anywhere in the window, in-order data
// advances RCV.NXT through the held ranges, and the window slides on across
// 2^32 several times over.
func TestOOOStoreSlidingModel(t *testing.T) {
	const window = 1 << 10
	rng := rand.New(rand.NewPCG(3, 4))
	rcvNxt := Seq(0xFFFFFFFF - 3*window)
	var q oooStore
	m := newOOOModel(rcvNxt, window)
	var wraps int
	for op := range 10000 {
		var what string
		if rng.IntN(4) > 0 {
			s := rng.IntN(window)
			e := min(window, s+1+rng.IntN(100))
			what = fmt.Sprintf("op %d: add [%d,%d)", op, s, e)
			require.Equal(t, m.add(rcvNxt.Add(uint32(s)), rcvNxt.Add(uint32(e))), q.add(rcvNxt.Add(uint32(s)), rcvNxt.Add(uint32(e))), what)
		} else {
			// In-order data of up to a quarter window arrives.
			d := uint32(rng.IntN(window / 4))
			what = fmt.Sprintf("op %d: advance +%d", op, d)
			next := q.advance(rcvNxt.Add(d))
			require.Equal(t, m.advance(rcvNxt.Add(d)), next, what)
			if uint32(next) < uint32(rcvNxt) {
				wraps++
			}
			rcvNxt = next
			m.slide(next)
		}
		m.compare(t, &q, what)
	}
	assert.Positive(t, wraps, "RCV.NXT never crossed 2^32")
}

// 100k disjoint one-octet adds into a 2^20 window, in the orders a peer
// could choose, keep the tree shallow.
func TestOOOStoreManyRanges(t *testing.T) {
	const n = 100_000
	base := Seq(0xFFFFFFFF - 1<<19)
	for _, order := range []string{"ascending", "descending", "random"} {
		t.Run(order, func(t *testing.T) {
			var q oooStore
			offs := oooBenchOffsets(order, n)
			for _, off := range offs {
				require.Equal(t, 1, q.add(base.Add(off), base.Add(off+1)))
			}
			assert.Equal(t, n, q.count())
			assert.Equal(t, n, q.bytes())
			// A treap's expected depth is about 4.3 ln n, 50 here.
			assert.Less(t, q.height(), 100)
			checkStore(t, &q)
			start, _, ok := q.first()
			require.True(t, ok)
			assert.Equal(t, base, start)
			// Filling every gap leaves one range.
			for _, off := range offs {
				q.add(base.Add(off), base.Add(off+10))
			}
			assert.Equal(t, 1, q.count())
			assert.Equal(t, base.Add(10*(n-1)+10), q.advance(base))
			assert.Equal(t, 0, q.count())
			assert.Equal(t, 0, q.bytes())
		})
	}
}

// Once its free list is warm the store does not allocate, whether nodes
// come back through clear, advance or merging.
func TestOOOStoreNoAllocs(t *testing.T) {
	var q oooStore
	rng := rand.New(rand.NewPCG(5, 6))
	offs := make([]uint32, 1000)
	for i := range offs {
		offs[i] = uint32(rng.IntN(1 << 16))
	}
	cycle := func() {
		for _, off := range offs {
			q.add(Seq(off), Seq(off+3))
		}
		q.clear()
		for _, off := range offs {
			q.add(Seq(off), Seq(off+3))
		}
		q.advance(1 << 15)
		q.add(0, 1<<14) // swallows
		q.advance(1 << 16)
	}
	cycle()
	assert.Zero(t, testing.AllocsPerRun(10, cycle))
	assert.Zero(t, q.count())
}

// oooBenchOffsets returns n offsets of one-octet ranges spread over a 2^20
// window, none adjacent, in the given order.
func oooBenchOffsets(order string, n int) []uint32 {
	offs := make([]uint32, n)
	for i := range offs {
		offs[i] = uint32(i) * 10
	}
	switch order {
	case "descending":
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			offs[i], offs[j] = offs[j], offs[i]
		}
	case "random":
		rng := rand.New(rand.NewPCG(1, 1))
		rng.Shuffle(n, func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	}
	return offs
}

// BenchmarkOOOStoreAdd adds one-octet disjoint ranges, up to 100k held in a
// 2^20 window, then clears and starts over: the time per add.
func BenchmarkOOOStoreAdd(b *testing.B) {
	const n = 100_000
	base := Seq(0xFFFFFFFF - 1<<19)
	for _, order := range []string{"ascending", "descending", "random"} {
		b.Run(order, func(b *testing.B) {
			offs := oooBenchOffsets(order, n)
			var q oooStore
			for _, off := range offs { // warm the free list
				q.add(base.Add(off), base.Add(off+1))
			}
			q.clear()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == n {
					q.clear()
					i = 0
				}
				q.add(base.Add(offs[i]), base.Add(offs[i]+1))
				i++
			}
		})
	}
}

// removeLast takes the highest range, whatever the shape of the tree, and
// leaves the others and lastChanged as they were unless it took that one.
func TestOOOStoreRemoveLast(t *testing.T) {
	tests := []struct {
		name     string
		adds     []span
		want     span // the range removed
		wantOK   bool
		left     []span
		lastLeft bool // lastChanged still reports a range
	}{
		{name: "empty", wantOK: false},
		{name: "one", adds: []span{{10, 20}}, want: span{10, 20}, wantOK: true},
		{name: "ascending", adds: []span{{10, 11}, {20, 21}, {30, 31}}, want: span{30, 31}, wantOK: true,
			left: []span{{10, 11}, {20, 21}}},
		{name: "descending", adds: []span{{30, 31}, {20, 21}, {10, 11}}, want: span{30, 31}, wantOK: true,
			left: []span{{10, 11}, {20, 21}}, lastLeft: true},
		{name: "merged highest", adds: []span{{10, 11}, {30, 31}, {31, 40}}, want: span{30, 40}, wantOK: true,
			left: []span{{10, 11}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q oooStore
			base := Seq(0xFFFFFFF0) // across 2^32
			for _, a := range tt.adds {
				q.add(base.Add(a.start), base.Add(a.end))
			}
			s, e, ok := q.removeLast()
			require.Equal(t, tt.wantOK, ok)
			if ok {
				assert.Equal(t, tt.want, span{uint32(s - base), uint32(e - base)})
			}
			assert.Equal(t, tt.left, spans(&q, base))
			_, _, lastOK := q.lastChanged()
			assert.Equal(t, tt.lastLeft, lastOK)
			checkStore(t, &q)
		})
	}
}

// Removing the highest of many ranges, one by one, keeps every invariant
// and takes them in descending order.
func TestOOOStoreRemoveLastMany(t *testing.T) {
	var q oooStore
	rng := rand.New(rand.NewPCG(5, 6))
	for _, i := range rng.Perm(2000) {
		q.add(Seq(2*i), Seq(2*i+1))
	}
	for i := 1999; i >= 0; i-- {
		s, e, ok := q.removeLast()
		require.True(t, ok)
		require.Equal(t, Seq(2*i), s)
		require.Equal(t, Seq(2*i+1), e)
		if i%100 == 0 {
			checkStore(t, &q)
		}
	}
	assert.Zero(t, q.count())
	assert.Zero(t, q.bytes())
}
