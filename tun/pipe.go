package tun

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun/internal/timeq"
)

// PipeQueueLen is how many packets each direction of a Pipe buffers before
// it drops (and counts) new ones, like a NIC ring.
const PipeQueueLen = 1024

// Faults describes what a PipeEnd does to the packets written on it. The
// probabilities are in [0, 1] and are drawn, in this order, from a
// math/rand/v2 PCG seeded with Seed, so a run is reproducible (up to the
// timing of Delay). The zero value is a perfect wire.
type Faults struct {
	Seed      int64
	Loss      float64 // drop the packet
	Duplicate float64 // deliver it twice
	Reorder   float64 // hold it back until the next packet written on this end has been delivered
	Corrupt   float64 // flip one random bit
	Delay     time.Duration
	Jitter    time.Duration // extra delay, uniform in [0, Jitter); packets may overtake each other
	// Drop, if set, sees every packet first; returning true drops it (counted
	// as Lost). It is called with the end's lock held and must not use the pipe.
	Drop func(pkt []byte) bool
}

// PipeStats counts what happened to the packets written on one PipeEnd.
type PipeStats struct {
	Sent       uint64 // WritePacket calls that accepted a packet
	Delivered  uint64 // packets queued for the other end, duplicates included
	Lost       uint64 // dropped by Loss or Drop
	Duplicated uint64
	Reordered  uint64
	Corrupted  uint64
	Overflow   uint64 // dropped because the other end's queue was full
}

// PipeEnd is one end of an in-memory link made by Pipe. It implements Link.
// All methods are safe for concurrent use.
type PipeEnd struct {
	mtu  int
	rx   chan []byte   // packets waiting for this end to read
	done chan struct{} // closed by Close
	peer *PipeEnd

	// offload marks an end of OffloadPipe: each queued packet starts with
	// its metadata (pipe_offload.go).
	offload bool
	rd      offloadReader // ReadPacket's state on an offload end

	closeOnce sync.Once
	wg        sync.WaitGroup // the delay goroutine of this end

	mu      sync.Mutex // guards the writer-side state below
	faults  Faults
	rng     *rand.Rand
	held    []byte // a packet held back by Reorder
	stats   PipeStats
	delayed timeq.Queue
	wake    chan struct{} // pokes the delay goroutine when delayed changes
	running bool          // the delay goroutine is running
}

// errPipeClosed is returned by I/O on a closed PipeEnd.
var errPipeClosed = fmt.Errorf("tun: pipe closed: %w", net.ErrClosed)

// Pipe returns the two ends of an in-memory link with the given MTU: a packet
// written on one end is read on the other. Each direction buffers
// PipeQueueLen packets and drops further ones. Closing an end unblocks its
// pending ReadPacket; packets written towards a closed end are discarded, as
// on a wire to a host that is switched off.
func Pipe(mtu int) (a, b *PipeEnd) {
	a = newPipeEnd(mtu)
	b = newPipeEnd(mtu)
	a.peer, b.peer = b, a
	return a, b
}

func newPipeEnd(mtu int) *PipeEnd {
	return &PipeEnd{
		mtu:  mtu,
		rx:   make(chan []byte, PipeQueueLen),
		done: make(chan struct{}),
		wake: make(chan struct{}, 1),
		rng:  rand.New(rand.NewPCG(0, 0)),
	}
}

// SetFaults sets the faults applied to packets written on e from now on and
// reseeds its random source with f.Seed.
func (e *PipeEnd) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = f
	e.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0))
}

// Stats returns the counters of packets written on e.
func (e *PipeEnd) Stats() PipeStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// MTU returns the largest packet WritePacket accepts.
func (e *PipeEnd) MTU() int { return e.mtu }

// ReadPacket blocks until a packet arrives from the other end and copies it
// into b. If b is too short the packet is truncated and the error wraps
// io.ErrShortBuffer. After Close it returns an error wrapping net.ErrClosed.
func (e *PipeEnd) ReadPacket(b []byte) (int, error) {
	if e.offload {
		return e.readPacketOffload(b)
	}
	p, err := e.pop()
	if err != nil {
		return 0, err
	}
	n := copy(b, p)
	if n < len(p) {
		return n, fmt.Errorf("tun: pipe read: %d-byte packet into %d-byte buffer: %w", len(p), len(b), io.ErrShortBuffer)
	}
	return n, nil
}

// pop blocks until a packet arrives from the other end and returns it.
func (e *PipeEnd) pop() ([]byte, error) {
	if e.isClosed() { // a closed end reports closed even with packets queued
		return nil, errPipeClosed
	}
	select {
	case p := <-e.rx:
		return p, nil
	case <-e.done:
		return nil, errPipeClosed
	}
}

// WritePacket copies b, applies e's faults and queues the result for the
// other end. It never blocks: when the other end's queue is full the packet
// is dropped and counted in Overflow. It does not retain b.
func (e *PipeEnd) WritePacket(b []byte) error {
	if e.isClosed() {
		return errPipeClosed
	}
	if len(b) > e.mtu {
		return fmt.Errorf("%w: %d > %d", ErrTooBig, len(b), e.mtu)
	}
	return e.write(b, ip.Offload{})
}

// write is WritePacket and WriteOffload after their size checks.
func (e *PipeEnd) write(b []byte, o ip.Offload) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() { // checked again under the lock, see Close
		return errPipeClosed
	}
	e.stats.Sent++
	f := &e.faults
	if f.Drop != nil && f.Drop(b) {
		e.stats.Lost++
		return nil
	}
	if f.Loss > 0 && e.rng.Float64() < f.Loss {
		e.stats.Lost++
		return nil
	}
	p, pkt := e.copyPacket(b, o)
	if f.Corrupt > 0 && e.rng.Float64() < f.Corrupt && len(pkt) > 0 {
		bit := e.rng.IntN(len(pkt) * 8)
		pkt[bit/8] ^= 1 << (bit % 8)
		e.stats.Corrupted++
	}
	copies := 1
	if f.Duplicate > 0 && e.rng.Float64() < f.Duplicate {
		copies = 2
		e.stats.Duplicated++
	}
	prev := e.held
	if prev == nil && f.Reorder > 0 && e.rng.Float64() < f.Reorder {
		// Hold p until the next packet has gone out. A transport that
		// retransmits always writes again, so a held packet is not stuck.
		e.held = p
		e.stats.Reordered++
		copies--
	}
	for range copies {
		e.sendLocked(p)
	}
	if prev != nil {
		// The packet held back by the previous write goes out after this one.
		e.held = nil
		e.sendLocked(prev)
	}
	return nil
}

// sendLocked delivers p now or after the configured delay.
func (e *PipeEnd) sendLocked(p []byte) {
	f := &e.faults
	if f.Delay <= 0 && f.Jitter <= 0 {
		e.deliverLocked(p)
		return
	}
	if e.peer.isClosed() {
		return
	}
	d := f.Delay
	if f.Jitter > 0 {
		d += time.Duration(e.rng.Int64N(int64(f.Jitter)))
	}
	e.delayed.Push(time.Now().Add(d), p)
	if !e.running {
		e.running = true
		e.wg.Add(1)
		go e.delayLoop()
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// deliverLocked queues p for the peer, dropping it if the queue is full.
func (e *PipeEnd) deliverLocked(p []byte) {
	if e.peer.isClosed() {
		return
	}
	select {
	case e.peer.rx <- p:
		e.stats.Delivered++
	default:
		e.stats.Overflow++
	}
}

// delayLoop delivers delayed packets when they fall due. It exits when
// either end is closed.
func (e *PipeEnd) delayLoop() {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		now := time.Now()
		for p, ok := e.delayed.PopDue(now); ok; p, ok = e.delayed.PopDue(now) {
			e.deliverLocked(p)
		}
		var timerC <-chan time.Time
		if due, ok := e.delayed.Head(); ok {
			timer.Reset(due.Sub(now))
			timerC = timer.C
		}
		e.mu.Unlock()
		select {
		case <-timerC:
		case <-e.wake:
		case <-e.done:
			return
		case <-e.peer.done:
			return
		}
	}
}

// Close closes e: its pending and future ReadPacket calls and its future
// WritePacket calls return an error wrapping net.ErrClosed. It stops the
// delay goroutines of both directions (nothing can be delivered to or from
// e any more) and waits for them. It always returns nil.
func (e *PipeEnd) Close() error {
	e.closeOnce.Do(func() {
		close(e.done)
		// Both directions are dead: drop what they still hold. Taking each
		// end's lock also orders this Close after any sendLocked that saw
		// the pipe open and started a goroutine, so the Waits see its Add.
		for _, x := range []*PipeEnd{e, e.peer} {
			x.mu.Lock()
			x.held = nil
			x.delayed.Clear()
			x.mu.Unlock()
		}
		e.wg.Wait()
		e.peer.wg.Wait()
	})
	return nil
}

func (e *PipeEnd) isClosed() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
