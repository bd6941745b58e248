package netsim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/utcp/utcp/tun/internal/timeq"
)

// Stats counts what one direction did to its packets.
type Stats struct {
	Sent       uint64 // packets offered to the direction
	Delivered  uint64 // packets handed on, duplicates included
	Lost       uint64 // dropped by random loss
	BurstLost  uint64 // dropped by the Gilbert-Elliott model
	Duplicated uint64
	Reordered  uint64 // sent without the delay, ahead of delayed ones
	Corrupted  uint64
	QueueDrops uint64 // dropped because the queue held Limit packets
	TooBig     uint64 // dropped for being longer than Impairment.MTU
}

// errClosed is returned by I/O on a closed direction or link.
var errClosed = fmt.Errorf("netsim: link closed: %w", net.ErrClosed)

// direction is one impaired direction: push decides each packet's fate
// and when it is due, pop hands packets on in due order, waiting on
// ordinary timers. It holds no goroutine of its own.
type direction struct {
	mu     sync.Mutex
	im     Impairment
	rng    *rand.Rand
	bad    bool      // Gilbert-Elliott state
	count  int       // packets since the last reordered one (netem's counter)
	last   time.Time // latest due time of a rate-limited packet (netem's tail)
	q      timeq.Queue
	free   [][]byte // buffers of packets handed on, for reuse
	stats  Stats
	drop   func(pkt []byte) bool // SetDrop's choice, before any impairment
	closed bool
	cause  error // what pop returns once closed

	readMu sync.Mutex    // one pop at a time, so one timer serves them
	timer  *time.Timer   // made by the first pop that waits
	wake   chan struct{} // poked when the queue's head may have changed
	done   chan struct{} // closed by close
}

func newDirection(im Impairment) (*direction, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	d := &direction{wake: make(chan struct{}, 1), done: make(chan struct{})}
	d.set(im)
	return d, nil
}

// set replaces the impairment and reseeds the random source.
func (d *direction) set(im Impairment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.im = im
	d.rng = rand.New(rand.NewPCG(im.Seed, 0x6e65_7473_696d)) // "netsim"
	d.bad, d.count = false, 0
}

func (d *direction) snapshot() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// push copies b and queues what the impairment makes of it. It never
// blocks and does not retain b.
func (d *direction) push(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	d.stats.Sent++
	if d.drop != nil && d.drop(b) {
		d.stats.Lost++
		return nil
	}
	if d.im.MTU > 0 && len(b) > d.im.MTU {
		d.stats.TooBig++
		return nil
	}
	d.enqueueLocked(b, time.Now(), true)
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// enqueueLocked is netem_enqueue: the draws come in netem's order —
// duplicate, loss, the copy's own pass, corrupt, reorder, jitter — and
// each only when its probability is set, so a seed fixes every fate.
func (d *direction) enqueueLocked(b []byte, now time.Time, mayDuplicate bool) {
	im := &d.im
	copies := 1
	if mayDuplicate && im.Duplicate > 0 && d.rng.Float64() < im.Duplicate {
		copies++
	}
	if d.lossLocked() {
		copies--
	}
	if copies == 0 {
		return
	}
	if copies > 1 {
		// netem enqueues the clone first, through the whole qdisc again
		// with duplication off.
		d.stats.Duplicated++
		d.enqueueLocked(b, now, false)
	}
	p := d.bufferLocked(b)
	if im.Corrupt > 0 && d.rng.Float64() < im.Corrupt && len(p) > 0 {
		bit := d.rng.IntN(len(p) * 8)
		p[bit/8] ^= 1 << (bit % 8)
		d.stats.Corrupted++
	}
	if d.q.Len() >= im.limit() {
		d.stats.QueueDrops++
		d.free = append(d.free, p)
		return
	}
	var due time.Time
	if im.Reorder > 0 && d.count >= im.gap()-1 && d.rng.Float64() < im.Reorder {
		// netem puts it at the head of the queue, due now: it overtakes
		// every packet still in its delay, and skips the rate.
		due = now
		d.count = 0
		d.stats.Reordered++
	} else {
		delay := im.Delay
		if im.Jitter > 0 {
			delay += time.Duration(d.rng.Int64N(2*int64(im.Jitter))) - im.Jitter
		}
		delay = max(delay, 0)
		base := now
		if im.Rate > 0 {
			// netem: the last packet queued is the reference point; its
			// lead is taken off this one's delay, then this one's
			// serialization is added.
			if d.last.After(now) {
				delay = max(delay-d.last.Sub(now), 0)
				base = d.last
			}
			delay += im.serialization(len(p))
		}
		due = base.Add(delay)
		if im.Rate > 0 {
			d.last = due
		}
		d.count++
	}
	d.q.Push(due, p)
}

// lossLocked draws whether the packet is lost.
func (d *direction) lossLocked() bool {
	im := &d.im
	if g := im.GE; g.On() {
		// netem's loss_gilb_ell: the transition, then the loss
		// probability of the state the packet found.
		was := d.bad
		if !d.bad && d.rng.Float64() < g.P {
			d.bad = true
		} else if was && d.rng.Float64() < g.R {
			d.bad = false
		}
		p := g.LossGood
		if was {
			p = g.LossBad
		}
		if d.rng.Float64() < p {
			d.stats.BurstLost++
			return true
		}
		return false
	}
	if im.Loss > 0 && d.rng.Float64() < im.Loss {
		d.stats.Lost++
		return true
	}
	return false
}

// bufferLocked copies b into a reused buffer.
func (d *direction) bufferLocked(b []byte) []byte {
	if n := len(d.free); n > 0 {
		p := d.free[n-1]
		d.free = d.free[:n-1]
		if cap(p) >= len(b) {
			return append(p[:0], b...)
		}
	}
	return append(make([]byte, 0, max(len(b), 1500)), b...)
}

// pop waits until a packet is due, copies it into b and returns its
// length. A packet longer than b is truncated and the error wraps
// io.ErrShortBuffer. After close it returns an error wrapping
// net.ErrClosed.
func (d *direction) pop(b []byte) (int, error) {
	d.readMu.Lock()
	defer d.readMu.Unlock()
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return 0, d.cause
		}
		now := time.Now()
		if p, ok := d.q.PopDue(now); ok {
			d.stats.Delivered++
			n := copy(b, p)
			d.free = append(d.free, p)
			d.mu.Unlock()
			if n < len(p) {
				return n, fmt.Errorf("netsim: %d-byte packet into %d-byte buffer: %w", len(p), len(b), io.ErrShortBuffer)
			}
			return n, nil
		}
		var wait <-chan time.Time
		if due, ok := d.q.Head(); ok {
			if d.timer == nil {
				d.timer = time.NewTimer(due.Sub(now))
			} else {
				d.timer.Reset(due.Sub(now))
			}
			wait = d.timer.C
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-d.wake:
		case <-d.done:
		}
	}
}

// close drops what is queued and makes push and pop fail.
func (d *direction) close() { d.closeWith(errClosed) }

// closeWith is close with the error pop returns from now on.
func (d *direction) closeWith(cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed, d.cause = true, cause
	d.q.Clear()
	d.free = nil
	close(d.done)
}
