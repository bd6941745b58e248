package tcp

import "math/rand/v2"

// oooStore records which octets past RCV.NXT have arrived out of order, so
// they can be held (RFC 9293 §3.10.7.4, seventh check, SHLD-31) and a
// segment filling the gap before them can take RCV.NXT past them and be
// acknowledged at once (RFC 5681 §4.2). The octets themselves sit in the
// receive ring at their offset (ring.WriteAt): the store only tracks the
// sequence ranges, disjoint and non-adjacent, and allocates nothing per
// segment.
//
// The ranges are kept in a treap keyed by start, so add, advance and first
// take O(log n) time in the n ranges held, however the segments arrive (a
// sorted list would take O(n), a denial-of-service lever like Linux's
// CVE-2018-5390). Nodes live in one slice and removed ones go on a free
// list: once warm, the store does not allocate. All ranges lie within 2^30
// octets of each other (inside one receive window), so Seq's wrap-around
// comparisons order them. The zero value is an empty store.
type oooStore struct {
	nodes []oooNode // nodes[0] is unused: index 0 means "none"
	root  int32
	free  int32  // free list, linked through left
	last  int32  // the range the latest add went into, or 0
	n     int    // ranges held
	held  int    // octets held
	rnd   uint32 // xorshift32 state for node priorities, seeded on first use
}

type oooNode struct {
	start, end  Seq
	left, right int32
	prio        uint32 // heap order: a parent's prio is at least its children's
}

// add records [start,end) as held, merging it with the ranges it overlaps
// or touches, and returns how many of its octets were not held before.
// An empty range (end at or before start) is a no-op.
func (q *oooStore) add(start, end Seq) int {
	if !start.LessThan(end) {
		return 0
	}
	// l holds the ranges starting at or before start, r the rest.
	l, r := q.split(q.root, start)
	had := 0 // octets of the ranges merged into the new one
	node := int32(0)
	if p := q.maxNode(l); p != 0 && q.nodes[p].end.GreaterThanEq(start) {
		// The range before reaches start: extend it.
		node = p
		had = q.nodes[p].len()
		start, end = q.nodes[p].start, end.Max(q.nodes[p].end)
	}
	// m holds the ranges starting in (start, end]: swallowed.
	m, r := q.split(r, end)
	if m != 0 {
		end = end.Max(q.nodes[q.maxNode(m)].end)
		had += q.release(m)
	}
	if node == 0 {
		node = q.alloc(start, end)
		l = q.merge(l, node)
	} else {
		q.nodes[node].end = end
	}
	q.root = q.merge(l, r)
	q.last = node
	added := int(end.Sub(start)) - had
	q.held += added
	return added
}

// advance removes the ranges that in-order data ending at rcvNxt reaches,
// those starting at or before rcvNxt, and returns the new RCV.NXT: the
// largest end among them, or rcvNxt if that is later. The octets are in
// the ring already. With no such range it returns rcvNxt.
func (q *oooStore) advance(rcvNxt Seq) Seq {
	f := q.minNode(q.root)
	if f == 0 || q.nodes[f].start.GreaterThan(rcvNxt) {
		return rcvNxt
	}
	l, r := q.split(q.root, rcvNxt)
	rcvNxt = rcvNxt.Max(q.nodes[q.maxNode(l)].end)
	q.held -= q.release(l)
	q.root = r
	return rcvNxt
}

// first returns the lowest range.
func (q *oooStore) first() (start, end Seq, ok bool) {
	f := q.minNode(q.root)
	if f == 0 {
		return 0, 0, false
	}
	return q.nodes[f].start, q.nodes[f].end, true
}

// containing returns the range that holds seq.
func (q *oooStore) containing(seq Seq) (start, end Seq, ok bool) {
	t, best := q.root, int32(0)
	for t != 0 { // the last range starting at or before seq
		if q.nodes[t].start.LessThanEq(seq) {
			best, t = t, q.nodes[t].right
		} else {
			t = q.nodes[t].left
		}
	}
	if best == 0 || !seq.LessThan(q.nodes[best].end) {
		return 0, 0, false
	}
	return q.nodes[best].start, q.nodes[best].end, true
}

// overlap returns the first part of [start, end) already held, for a
// duplicate SACK block (RFC 2883).
func (q *oooStore) overlap(start, end Seq) (s, e Seq, ok bool) {
	if _, be, ok := q.containing(start); ok {
		return start, be.Min(end), true
	}
	t, best := q.root, int32(0)
	for t != 0 { // the first range starting after start
		if q.nodes[t].start.GreaterThan(start) {
			best, t = t, q.nodes[t].left
		} else {
			t = q.nodes[t].right
		}
	}
	if best == 0 || !q.nodes[best].start.LessThan(end) {
		return 0, 0, false
	}
	return q.nodes[best].start, q.nodes[best].end.Min(end), true
}

// bytes is the number of octets held.
func (q *oooStore) bytes() int { return q.held }

// count is the number of ranges held.
func (q *oooStore) count() int { return q.n }

// each calls fn on the ranges in ascending order until fn returns false.
// fn must not change the store.
func (q *oooStore) each(fn func(start, end Seq) bool) { q.walk(q.root, fn) }

// lastChanged returns the range the most recent add went into, as merged,
// for SACK's "most recently changed block first" (RFC 2018 §4). ok is false
// when the store is empty or advance or clear removed that range.
func (q *oooStore) lastChanged() (start, end Seq, ok bool) {
	if q.last == 0 {
		return 0, 0, false
	}
	return q.nodes[q.last].start, q.nodes[q.last].end, true
}

// clear empties the store, keeping its nodes' memory for reuse.
func (q *oooStore) clear() {
	q.nodes = q.nodes[:min(len(q.nodes), 1)]
	q.root, q.free, q.last, q.n, q.held = 0, 0, 0, 0, 0
}

func (n *oooNode) len() int { return int(n.end.Sub(n.start)) }

// split cuts the tree t into the ranges starting at or before key and those
// starting after it.
func (q *oooStore) split(t int32, key Seq) (le, gt int32) {
	if t == 0 {
		return 0, 0
	}
	if q.nodes[t].start.LessThanEq(key) {
		a, b := q.split(q.nodes[t].right, key)
		q.nodes[t].right = a
		return t, b
	}
	a, b := q.split(q.nodes[t].left, key)
	q.nodes[t].left = b
	return a, t
}

// merge joins the trees a and b, every range in a coming before those in b.
func (q *oooStore) merge(a, b int32) int32 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	if q.nodes[a].prio >= q.nodes[b].prio {
		c := q.merge(q.nodes[a].right, b)
		q.nodes[a].right = c
		return a
	}
	c := q.merge(a, q.nodes[b].left)
	q.nodes[b].left = c
	return b
}

func (q *oooStore) minNode(t int32) int32 {
	for t != 0 && q.nodes[t].left != 0 {
		t = q.nodes[t].left
	}
	return t
}

func (q *oooStore) maxNode(t int32) int32 {
	for t != 0 && q.nodes[t].right != 0 {
		t = q.nodes[t].right
	}
	return t
}

func (q *oooStore) walk(t int32, fn func(start, end Seq) bool) bool {
	if t == 0 {
		return true
	}
	n := &q.nodes[t]
	return q.walk(n.left, fn) && fn(n.start, n.end) && q.walk(n.right, fn)
}

// alloc returns a new node for [start,end), from the free list if it can.
func (q *oooStore) alloc(start, end Seq) int32 {
	if q.rnd == 0 {
		// Seed per store, so a peer cannot line the priorities up with
		// the order it sends ranges in and unbalance the tree.
		q.rnd = rand.Uint32() | 1
	}
	// xorshift32 (Marsaglia): never 0 from a non-zero state.
	q.rnd ^= q.rnd << 13
	q.rnd ^= q.rnd >> 17
	q.rnd ^= q.rnd << 5
	nd := oooNode{start: start, end: end, prio: q.rnd}
	q.n++
	if i := q.free; i != 0 {
		q.free = q.nodes[i].left
		q.nodes[i] = nd
		return i
	}
	if len(q.nodes) == 0 {
		q.nodes = append(q.nodes, oooNode{})
	}
	q.nodes = append(q.nodes, nd)
	return int32(len(q.nodes) - 1)
}

// release puts every node of the tree t on the free list and returns the
// octets its ranges held.
func (q *oooStore) release(t int32) int {
	if t == 0 {
		return 0
	}
	n := &q.nodes[t]
	octets := n.len() + q.release(n.left) + q.release(n.right)
	n.left, n.right = q.free, 0
	q.free = t
	q.n--
	if q.last == t {
		q.last = 0
	}
	return octets
}

// highest returns the highest range.
func (q *oooStore) highest() (start, end Seq, ok bool) {
	m := q.maxNode(q.root)
	if m == 0 {
		return 0, 0, false
	}
	return q.nodes[m].start, q.nodes[m].end, true
}

// removeLast removes the highest range, the one furthest from RCV.NXT, and
// returns it: what a receiver short of room drops first (see pruneOOO).
func (q *oooStore) removeLast() (start, end Seq, ok bool) {
	parent, t := int32(0), q.root
	for t != 0 && q.nodes[t].right != 0 {
		parent, t = t, q.nodes[t].right
	}
	if t == 0 {
		return 0, 0, false
	}
	n := &q.nodes[t]
	start, end = n.start, n.end
	if parent == 0 {
		q.root = n.left
	} else {
		q.nodes[parent].right = n.left
	}
	n.left = 0
	q.held -= q.release(t)
	return start, end, true
}
