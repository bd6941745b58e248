package tcp

import "time"

// Selective acknowledgment (RFC 2018), duplicate SACK (RFC 2883) and the
// scoreboard of RFC 6675, over the send records: the sender side marks the
// records the peer holds; the receiver side reports the out-of-order store.

// sackInfo is what the SACK option of one ACK told the sender.
type sackInfo struct {
	delivered uint32    // octets newly SACKed
	dsack     bool      // the first block reports a duplicate (RFC 2883 §4)
	dup       SACKBlock // that block
}

// processSACK updates the scoreboard from the SACK blocks of an
// acceptable ACK (RFC 6675 §5, "the scoreboard MUST be updated with the
// SACK information"), and the RACK state for every segment newly SACKed.
func (c *tcb) processSACK(now time.Time, seg *Segment) sackInfo {
	var info sackInfo
	snd := &c.snd
	blocks := seg.Options.SACKBlocks
	if !snd.sackOK || len(blocks) == 0 {
		return info
	}
	for i, b := range blocks {
		// RFC 2883 §4: a first block below the cumulative ACK, or inside
		// the second block, reports a duplicate, not data held above it.
		if i == 0 && (b.Right.LessThanEq(seg.Ack) ||
			(len(blocks) > 1 && blocks[1].Left.LessThanEq(b.Left) && b.Right.LessThanEq(blocks[1].Right))) {
			info.dsack, info.dup = true, b
			c.stats.DSACKsReceived++
			continue
		}
		// Blocks outside SND.UNA..SND.NXT are invalid: ignore them (RFC
		// 2018 §8's sender "MUST NOT" rely on them, and a forged block must
		// not free anything).
		left, right := b.Left.Max(seg.Ack).Max(snd.una), b.Right
		if !left.LessThan(right) || right.GreaterThan(snd.nxt) {
			continue
		}
		info.delivered += c.markSACKed(now, left, right)
	}
	return info
}

// markSACKed marks the records inside [left, right) SACKed, cutting the
// records at the block's edges, and returns the octets newly SACKed.
func (c *tcb) markSACKed(now time.Time, left, right Seq) uint32 {
	q := &c.snd.recs
	var n uint32
	for i := q.search(left); i < q.len(); i++ {
		r := q.at(i)
		if !r.start.LessThan(right) {
			break
		}
		if r.sacked {
			continue
		}
		if r.start.LessThan(left) {
			if !q.split(i, left) {
				continue
			}
			continue // the part from left is the next record
		}
		if right.LessThan(r.end) && !q.split(i, right) {
			break
		}
		r = q.at(i)
		q.setSacked(r)
		n += r.length()
		c.snd.rack.delivered(now, r, c.rtt.minRTT)
	}
	return n
}

// markIsLost is RFC 6675's IsLost over the records: a record not SACKed
// with DupThresh SACKed segments, or more than (DupThresh-1)·SMSS SACKed
// octets, above it is lost. Records sent again are left to RACK and the
// RTO (NextSeg's rule 1.a: each hole is resent once by this rule). It
// counts only while dupThreshCounts. It reports whether it marked any.
func (c *tcb) markIsLost() bool {
	q := &c.snd.recs
	if q.sackedSegs == 0 || !c.dupThreshCounts() {
		return false
	}
	segs, octets := 0, uint32(0)
	limit := uint32((dupThresh - 1) * c.snd.mss)
	marked := false
	for i := q.len() - 1; i >= 0; i-- {
		r := q.at(i)
		switch {
		case r.sacked:
			segs++
			octets += r.length()
		case segs < dupThresh && octets <= limit:
		case r.lost:
			// Marked by an earlier ACK, and so was everything below it
			// that this rule can mark.
			return marked
		case !r.retransmitted:
			q.setLost(r, true)
			marked = true
		}
	}
	return marked
}

// sackBlocks fills b with the SACK blocks for an outgoing ACK (RFC 2018
// §4): a pending DSACK first (RFC 2883 §4), then the block holding the
// segment that arrived last, then the other blocks most recently reported,
// then the rest, as many as fit. It returns how many it wrote.
func (r *recvSpace) sackBlocks(b []SACKBlock) int {
	n := 0
	if !r.sackOK {
		return 0
	}
	if r.dsackSet && n < len(b) {
		b[n] = r.dsack
		n++
	}
	r.dsackSet = false
	if r.ooo.count() == 0 {
		return n
	}
	first := n // a DSACK block may repeat the block that holds it (RFC 2883 §4.1.3)
	has := func(s, e Seq) bool {
		for _, x := range b[first:n] {
			if x.Left == s && x.Right == e {
				return true
			}
		}
		return false
	}
	add := func(s, e Seq) bool {
		if n < len(b) && !has(s, e) {
			b[n] = SACKBlock{Left: s, Right: e}
			n++
		}
		return n < len(b)
	}
	if s, e, ok := r.ooo.lastChanged(); ok {
		add(s, e)
	}
	for _, seq := range r.recentSACK[:r.nRecent] {
		if s, e, ok := r.ooo.containing(seq); ok && !add(s, e) {
			return n
		}
	}
	r.ooo.each(add)
	return n
}

// heldOutOfOrder records that [start, end) went into the out-of-order
// store, for the order of the SACK blocks: its block is the most recent.
func (r *recvSpace) heldOutOfOrder() {
	s, _, ok := r.ooo.lastChanged()
	if !ok {
		return
	}
	// Move the block's start to the front, dropping entries it swallowed.
	k := 0
	for _, seq := range r.recentSACK[:r.nRecent] {
		if bs, _, ok := r.ooo.containing(seq); ok && bs != s {
			r.recentSACK[k] = seq
			k++
		}
	}
	copy(r.recentSACK[1:], r.recentSACK[:min(k, len(r.recentSACK)-1)])
	r.recentSACK[0] = s
	r.nRecent = min(k+1, len(r.recentSACK))
}

// duplicateArrived reports [start, end), octets received before, in the
// next ACK's first SACK block (RFC 2883 §4, DSACK).
func (r *recvSpace) duplicateArrived(start, end Seq) {
	if r.sackOK && start.LessThan(end) {
		r.dsack, r.dsackSet = SACKBlock{Left: start, Right: end}, true
	}
}

// addSACK puts SACK blocks on an outgoing segment, as many as fit beside
// its other options and its payload in the path MTU.
func (c *tcb) addSACK(s *Segment) {
	if !c.rcv.sackOK || (c.rcv.ooo.count() == 0 && !c.rcv.dsackSet) {
		return
	}
	n, _ := s.Options.optionsLayout()
	room := min(MaxOptionsLen-n, c.pathMTU()-headersLen(c.id)-len(s.Payload)-n) - 4 // NOP, NOP, kind, length
	k := min(max(room/8, 0), maxSACKBlocks)
	if k == 0 {
		return
	}
	s.Options.SACKBlocks = c.sackBuf[:c.rcv.sackBlocks(c.sackBuf[:k])]
}

// segSize is the most data a new segment may carry now: the send MSS, less
// the room SACK blocks need while the receiver holds data out of order, so
// that the ACK riding on the data still reports them (as Linux's
// tcp_current_mss does).
func (c *tcb) segSize() int {
	r := &c.rcv
	if !r.sackOK {
		return c.snd.mss
	}
	k := r.ooo.count()
	if r.dsackSet {
		k++
	}
	if k == 0 {
		return c.snd.mss
	}
	k = min(k, maxSACKBlocks, (MaxOptionsLen-c.dataOptionsLen()-4)/8)
	if k <= 0 {
		return c.snd.mss
	}
	return max(c.snd.mss-(4+8*k), 64)
}

// dataOptionsLen is the option octets every data segment carries besides SACK.
func (c *tcb) dataOptionsLen() int {
	if c.opt.ts {
		return tsOptionLen
	}
	return 0
}
