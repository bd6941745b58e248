package tcp

import "time"

// timerHeap orders the table's TCBs by their next timeout, earliest first,
// then by four-tuple so that runs repeat: a binary min-heap, so arming,
// moving or stopping one TCB's timer costs O(log n) and finding the due
// ones costs O(log n) each, however many connections are idle. Each TCB
// records its slot (heapIdx, -1 when it is not in the heap) and the
// deadline it is filed under (heapAt), so a TCB whose deadline has not
// moved costs nothing.
type timerHeap []*tcb

func (q timerHeap) less(i, j int) bool {
	a, b := q[i], q[j]
	if c := a.heapAt.Compare(b.heapAt); c != 0 {
		return c < 0
	}
	return compareID(a.id, b.id) < 0
}

func (q timerHeap) swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].heapIdx, q[j].heapIdx = int32(i), int32(j)
}

func (q timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q timerHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q) {
			return
		}
		m := l
		if r := l + 1; r < len(q) && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q.swap(i, m)
		i = m
	}
}

// schedule files t under its next timeout, or takes it out of the heap if
// no timer of its is armed.
func (h *host) schedule(t *tcb) {
	at := t.nextTimeout()
	i := int(t.heapIdx)
	switch {
	case at.IsZero():
		h.unschedule(t)
	case i < 0:
		t.heapAt = at
		t.heapIdx = int32(len(h.timers))
		h.timers = append(h.timers, t)
		h.timers.up(len(h.timers) - 1)
	case !at.Equal(t.heapAt):
		t.heapAt = at
		h.timers.up(i)
		h.timers.down(int(t.heapIdx))
	}
}

// unschedule takes t out of the heap, if it is there.
func (h *host) unschedule(t *tcb) {
	i := int(t.heapIdx)
	if i < 0 {
		return
	}
	last := len(h.timers) - 1
	if i != last {
		h.timers.swap(i, last)
	}
	h.timers[last] = nil
	h.timers = h.timers[:last]
	if i != last {
		h.timers.up(i)
		h.timers.down(int(h.timers[i].heapIdx))
	}
	t.heapIdx = -1
	t.heapAt = time.Time{}
}

// popDue takes the earliest TCB out of the heap if its timeout is due at
// now, and returns it; nil if none is.
func (h *host) popDue(now time.Time) *tcb {
	if len(h.timers) == 0 || now.Before(h.timers[0].heapAt) {
		return nil
	}
	t := h.timers[0]
	h.unschedule(t)
	return t
}

// nextTimeout returns when handleTimeout should next run; zero means no
// timer is armed. It may be early (a TCB's timer moved later since it was
// filed), never late.
func (h *host) nextTimeout() time.Time {
	next := earliest(h.tw.nextExpiry(), h.forwardNextTimeout())
	if len(h.timers) > 0 {
		next = earliest(next, h.timers[0].heapAt)
	}
	return next
}

// maxTimersPerCall bounds the TCBs one handleTimeout fires. Connections
// opened together have their keep-alives due together; firing a hundred
// thousand at once would hold the loop for as long as they take, while
// segments wait. The rest stay due, so nextTimeout is already past and the
// shell calls again after it has moved packets.
const maxTimersPerCall = 512

// handleTimeout fires the timers due at now, earliest first (then by
// four-tuple), at most maxTimersPerCall of them, and ends the TIME-WAIT
// records that have expired.
func (h *host) handleTimeout(now time.Time) {
	due := h.due[:0]
	for len(due) < maxTimersPerCall {
		t := h.popDue(now)
		if t == nil {
			break
		}
		due = append(due, t)
	}
	for _, t := range due {
		t.handleTimeout(now)
		h.touch(now, t)
	}
	clear(due)
	h.due = due[:0]
	h.expireTimeWait(now)
	h.forwardExpire(now)
}
