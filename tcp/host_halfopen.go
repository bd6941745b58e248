package tcp

import (
	"fmt"
	"syscall"
	"time"
)

// A listener's children in SYN-RECEIVED, kept in arrival order so that the
// oldest can give up its slot at once (RFC 4987 §3.3).

// halfOpenEntry is a child in SYN-RECEIVED in its listener's list.
type halfOpenEntry struct {
	ln         *listenState
	t          *tcb
	prev, next *halfOpenEntry
}

// Why a half-open child was freed silently; its peer is never told.
var (
	errSynAckRetries   = fmt.Errorf("SYN-ACK retries exhausted: %w", syscall.ETIMEDOUT)
	errHalfOpenEvicted = fmt.Errorf("half-open connection evicted: %w", syscall.ETIMEDOUT)
)

// halfOpenAdd enters t, a new child of ln, as the newest half-open one.
func (h *host) halfOpenAdd(ln *listenState, t *tcb) {
	e := &halfOpenEntry{ln: ln, t: t, prev: ln.newest}
	if ln.newest != nil {
		ln.newest.next = e
	} else {
		ln.oldest = e
	}
	ln.newest = e
	ln.halfOpen++
	h.halfOpen[t] = e
}

// halfOpenRemove takes e out of its listener's list and the host's map,
// and counts a child that went because its SYN-ACK went unanswered.
func (h *host) halfOpenRemove(e *halfOpenEntry) {
	ln := e.ln
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		ln.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		ln.newest = e.prev
	}
	e.prev, e.next = nil, nil
	ln.halfOpen--
	delete(h.halfOpen, e.t)
	if e.t.err == errSynAckRetries {
		h.stats.synAckRetriesExceeded.Add(1)
	}
}

// evictOldest frees ln's oldest half-open child, silently, for a new SYN:
// RFC 4987 §3.3, "recycling the oldest half-open TCB".
func (h *host) evictOldest(now time.Time, ln *listenState) {
	e := ln.oldest
	if e == nil {
		return
	}
	e.t.reset(now, errHalfOpenEvicted)
	h.touch(now, e.t)
	h.stats.halfOpenEvicted.Add(1)
}
