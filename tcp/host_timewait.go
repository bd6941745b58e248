package tcp

import "time"

// timeWaitTable holds the connections in TIME-WAIT as compact records
// (timeWaitRecord), each until its 2×MSL timer ends. Every record's timer
// runs for 2×MSL from when it was last (re)started, so the deadlines come in
// the order the records were filed: a FIFO queue finds the expired ones in
// O(1) each. A record whose timer restarted (a retransmitted FIN) is filed
// again, and its older entry is skipped.
type timeWaitTable struct {
	recs  map[FourTuple]*timeWaitRecord
	queue []timeWaitEntry
	head  int // queue[head:] are the live entries
}

type timeWaitEntry struct {
	rec    *timeWaitRecord
	expiry time.Time
}

// live reports whether e is its record's current entry.
func (w *timeWaitTable) live(e timeWaitEntry) bool {
	return w.recs[e.rec.id] == e.rec && e.rec.expiry.Equal(e.expiry)
}

// nextExpiry is the earliest deadline filed (possibly of a stale entry:
// early, never late); zero if none.
func (w *timeWaitTable) nextExpiry() time.Time {
	if w.head == len(w.queue) {
		return time.Time{}
	}
	return w.queue[w.head].expiry
}

// file adds an entry for rec's deadline.
func (w *timeWaitTable) file(rec *timeWaitRecord) {
	if w.head > 0 && w.head >= len(w.queue)/2 {
		// Reuse the front of the array once half of it is spent.
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
	}
	w.queue = append(w.queue, timeWaitEntry{rec, rec.expiry})
}

// freeze replaces t, in TIME-WAIT with nothing left to read or send
// (canFreeze), by a record. If the table is full (Config.MaxTimeWait), t
// closes at once instead, as Linux does when its timewait buckets overflow.
// It reports whether t left the connection table.
func (h *host) freeze(now time.Time, t *tcb) bool {
	if h.conns[t.id] != t || !t.canFreeze() {
		return false
	}
	rec := h.tw.recs[t.id] // t was thawed from it
	if rec == nil && len(h.tw.recs) >= h.cfg.MaxTimeWait {
		h.stats.timeWaitOverflow.Add(1)
		t.setState(now, StateClosed) // no segment: TIME-WAIT only ever answers
		h.settle(now, t)
		return false
	}
	fresh := t.freeze()
	switch {
	case rec == nil:
		rec = new(timeWaitRecord)
		*rec = fresh
		h.tw.recs[t.id] = rec
		h.tw.file(rec)
		h.mem.add(timeWaitOverhead)
		h.stats.timeWait.Add(1)
	case !fresh.expiry.Equal(rec.expiry):
		*rec = fresh
		h.tw.file(rec) // a restarted timer is never earlier than one filed before
	default:
		*rec = fresh
	}
	delete(h.conns, t.id) // the record holds the port now
	h.mem.add(-connOverhead)
	h.unschedule(t)
	h.budget.release(t)
	t.detachMemory()
	t.events |= evFrozen
	return true
}

// thaw returns the TCB of id's TIME-WAIT record, entered in the connection
// table for a segment to be processed; nil if there is no record. flush
// freezes it again if it stays in TIME-WAIT.
func (h *host) thaw(id FourTuple) *tcb {
	rec := h.tw.recs[id]
	if rec == nil {
		return nil
	}
	t := rec.thaw(h.cfg, h.tsEpoch)
	h.conns[id] = t
	h.mem.add(connOverhead)
	return t
}

// expireTimeWait ends the records whose 2×MSL has passed at now (RFC 9293
// §3.10.8 "Time-Wait Timeout": delete the TCB, enter CLOSED).
func (h *host) expireTimeWait(now time.Time) {
	w := &h.tw
	for w.head < len(w.queue) {
		e := w.queue[w.head]
		if now.Before(e.expiry) {
			break
		}
		w.queue[w.head] = timeWaitEntry{}
		w.head++
		if !w.live(e) || h.conns[e.rec.id] != nil {
			continue // refiled, ended, or thawed (its TCB's own timer runs)
		}
		h.dropRecord(e.rec.id)
		h.releasePort(e.rec.id)
		h.stats.closed.Add(1)
		if tr := h.cfg.Tracer; tr != nil {
			tr.StateChange(now, e.rec.id, StateTimeWait, StateClosed)
		}
	}
	if w.head == len(w.queue) {
		w.queue, w.head = w.queue[:0], 0
	}
}

// dropRecord deletes id's TIME-WAIT record, if there is one.
func (h *host) dropRecord(id FourTuple) {
	if h.tw.recs[id] != nil {
		delete(h.tw.recs, id)
		h.mem.add(-timeWaitOverhead)
		h.stats.timeWait.Add(-1)
	}
}

// stateOf is t's state as the host knows it: a TCB detached in TIME-WAIT
// (evFrozen) is CLOSED once its record has ended.
func (h *host) stateOf(t *tcb) State {
	if t.state == StateTimeWait && h.conns[t.id] != t && h.tw.recs[t.id] == nil {
		return StateClosed
	}
	return t.state
}
