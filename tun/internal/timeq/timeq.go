// Package timeq is a queue of packets ordered by the time each falls due,
// FIFO among equal times: the delay line of tun.Pipe and of netsim.
package timeq

import (
	"container/heap"
	"time"
)

// Queue is a min-heap of packets by due time. The zero value is empty.
type Queue struct {
	h items
}

// Push adds pkt, due at due.
func (q *Queue) Push(due time.Time, pkt []byte) {
	heap.Push(&q.h, item{due: due, seq: q.h.next, pkt: pkt})
	q.h.next++
}

// Len is the number of packets queued.
func (q *Queue) Len() int { return len(q.h.list) }

// Head returns when the first packet is due; ok is false if q is empty.
func (q *Queue) Head() (due time.Time, ok bool) {
	if len(q.h.list) == 0 {
		return time.Time{}, false
	}
	return q.h.list[0].due, true
}

// PopDue removes and returns the first packet if it is due at now.
func (q *Queue) PopDue(now time.Time) ([]byte, bool) {
	if due, ok := q.Head(); !ok || due.After(now) {
		return nil, false
	}
	return heap.Pop(&q.h).(item).pkt, true
}

// Clear drops every packet.
func (q *Queue) Clear() { q.h.list = nil }

type item struct {
	due time.Time
	seq uint64 // FIFO among equal due times
	pkt []byte
}

// items implements heap.Interface.
type items struct {
	list []item
	next uint64
}

func (h *items) Len() int { return len(h.list) }
func (h *items) Less(i, j int) bool {
	a, b := h.list[i], h.list[j]
	if a.due.Equal(b.due) {
		return a.seq < b.seq
	}
	return a.due.Before(b.due)
}
func (h *items) Swap(i, j int) { h.list[i], h.list[j] = h.list[j], h.list[i] }
func (h *items) Push(x any)    { h.list = append(h.list, x.(item)) }
func (h *items) Pop() any {
	old := h.list
	x := old[len(old)-1]
	old[len(old)-1] = item{}
	h.list = old[:len(old)-1]
	return x
}
