package tcp

import (
	"errors"
	"fmt"
)

// budgetInvariants checks the stack's out-of-order budget against the
// connection table: its totals are what the table's TCBs hold, within the
// bounds, and its holders are exactly the TCBs holding something. A TCB
// that left the table has returned what it held.
func (h *host) budgetInvariants() error {
	b := &h.budget
	var errs []error
	ranges, bytes, holders := 0, 0, 0
	for id, t := range h.conns {
		ranges += t.ooo.ranges
		bytes += t.ooo.bytes
		if t.ooo.ranges > 0 {
			holders++
		}
		if t.ooo.budget != b {
			errs = append(errs, fmt.Errorf("%v: not charged to the host's budget", id))
		}
	}
	if ranges != b.ranges || bytes != b.bytes {
		errs = append(errs, fmt.Errorf("the budget counts %d ranges of %d octets; the connections hold %d of %d", b.ranges, b.bytes, ranges, bytes))
	}
	if b.ranges < 0 || b.bytes < 0 || b.ranges > b.maxRanges || b.bytes > b.maxBytes {
		errs = append(errs, fmt.Errorf("the budget counts %d ranges of %d octets, bounds %d and %d", b.ranges, b.bytes, b.maxRanges, b.maxBytes))
	}
	for k := range b.heaps {
		hp := &b.heaps[k]
		if holders != hp.Len() {
			errs = append(errs, fmt.Errorf("heap %d lists %d holders, %d connections in the table hold data", k, hp.Len(), holders))
		}
		for i, t := range hp.ts {
			if t.ooo.hidx[k] != i+1 || h.conns[t.id] != t {
				errs = append(errs, fmt.Errorf("heap %d: holder %d (%v) has place %d, in the table: %v", k, i, t.id, t.ooo.hidx[k], h.conns[t.id] == t))
			}
			if i > 0 && hp.Less(i, (i-1)/2) {
				errs = append(errs, fmt.Errorf("heap %d: holder %d holds more than its parent", k, i))
			}
		}
	}
	if int64(b.ranges) != b.heldRanges.Load() || int64(b.bytes) != b.heldBytes.Load() {
		errs = append(errs, fmt.Errorf("StackStats shows %d ranges of %d octets, the budget %d of %d", b.heldRanges.Load(), b.heldBytes.Load(), b.ranges, b.bytes))
	}
	return errors.Join(errs...)
}
