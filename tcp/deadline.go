package tcp

import (
	"sync"
	"time"
)

// deadline is a net.Conn deadline: a channel that is closed when the
// deadline passes. Waiters select on wait(); setting a new deadline swaps in
// a fresh channel, so it applies to pending and future calls alike.
type deadline struct {
	mu    sync.Mutex
	c     chan struct{} // closed when the deadline has passed
	timer *time.Timer   // closes c; nil when no deadline is set
}

// wait returns a channel that is closed once the current deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		d.c = make(chan struct{})
	}
	return d.c
}

// expired reports whether the current deadline has passed.
func (d *deadline) expired() bool {
	select {
	case <-d.wait():
		return true
	default:
		return false
	}
}

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		d.c = make(chan struct{})
	}
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired, or its function is about to close d.c: that
		// channel belongs to the old deadline.
		d.c = make(chan struct{})
	}
	d.timer = nil
	select {
	case <-d.c:
		d.c = make(chan struct{}) // closed by an earlier deadline in the past
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.c)
		return
	}
	c := d.c
	d.timer = time.AfterFunc(dur, func() { close(c) })
}

// stop releases the timer; the deadline stays as it is.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && d.timer.Stop() {
		d.timer = nil
	}
}
