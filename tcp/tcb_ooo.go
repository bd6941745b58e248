package tcp

// Bounds on the out-of-order octets a TCB holds (RFC 9293 SHLD-31 says to
// hold them, not how many): without them a peer sending one-octet segments
// that each leave a gap makes the store, and every walk over it, as large
// as it likes (Linux's CVE-2018-5390).
//
// What goes first is always the furthest from RCV.NXT, as Linux's
// tcp_prune_ofo_queue prunes: those octets are the last the application
// can use, and a peer filling holes from the left keeps what it sent
// first. When the arriving segment is the furthest, it is what is dropped
// (OutOfOrderDropped); otherwise ranges held before go (OutOfOrderReneged).
// Only octets past RCV.NXT are ever dropped: nothing acknowledged.

// oooCharge is what the stack's out-of-order budget counts against a TCB.
type oooCharge struct {
	budget        *oooBudget // nil for a TCB outside a host: only its own bound applies
	ranges, bytes int        // the store's size when last charged
	hidx          [2]int     // 1 + the TCB's place in budget.heaps; 0 when it holds nothing
	fresh         SACKBlock  // during holdOutOfOrder, the range only the arriving segment made
}

// holdOutOfOrder records [seq, end), written in the receive ring at its
// offset, as held out of order, then enforces the connection's bound and
// the stack's.
func (c *tcb) holdOutOfOrder(seq, end Seq) {
	r := &c.rcv
	if r.ooo.add(seq, end) == 0 {
		return // held already: nothing grew
	}
	c.ooo.fresh = SACKBlock{}
	if s, e, ok := r.ooo.lastChanged(); ok && s == seq && e == end {
		c.ooo.fresh = SACKBlock{Left: s, Right: e}
	}
	if over := r.ooo.count() - c.cfg.OutOfOrderRanges; over > 0 {
		c.pruneOOO(over, 0)
	}
	c.chargeOOO()
	if b := c.ooo.budget; b != nil {
		b.fit(c)
	}
	c.ooo.fresh = SACKBlock{}
	if _, _, ok := r.ooo.containing(seq); !ok {
		c.stats.OutOfOrderDropped++
		if b := c.ooo.budget; b != nil {
			b.dropped.Add(1)
		}
	}
}

// pruneOOO drops the highest ranges held, at least ranges of them and at
// least octets octets, or all. RFC 2018 §8: the receiver may discard data
// it has reported in SACK blocks (reneging); the blocks of later ACKs no
// longer report it, and the sender keeps its copy until the cumulative ACK
// covers it.
func (c *tcb) pruneOOO(ranges, octets int) {
	r := &c.rcv
	for ranges > 0 || octets > 0 {
		s, e, ok := r.ooo.removeLast()
		if !ok {
			break
		}
		ranges--
		octets -= int(e.Sub(s))
		if (SACKBlock{Left: s, Right: e}) == c.ooo.fresh {
			continue // the arriving segment itself: counted as dropped
		}
		c.stats.OutOfOrderReneged++
		if b := c.ooo.budget; b != nil {
			b.reneged.Add(1)
		}
	}
	c.chargeOOO()
}

// chargeOOO brings the stack's budget up to date with the store's size.
func (c *tcb) chargeOOO() {
	if b := c.ooo.budget; b != nil {
		b.charge(c, c.rcv.ooo.count(), c.rcv.ooo.bytes())
	}
}
