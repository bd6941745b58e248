package netsim

import (
	"fmt"
	"sync"

	"github.com/utcp/utcp/tun"
)

// End is one end of an in-memory link made by NewPath. It implements
// tun.Link (and so tcp.Link). It starts no goroutine: a packet waits in its
// direction's queue until the reader's ReadPacket finds it due, so inside a
// synctest bubble the whole path runs on the fake clock.
type End struct {
	mtu  int
	tx   *direction // packets written on this end
	rx   *direction // packets for this end to read
	once sync.Once
}

// NewPath returns the two ends of an in-memory link with the given MTU: a
// packet written on a is impaired by ab and read on b, and the other way by
// ba. Closing an end closes both directions, as pulling the cable would.
func NewPath(mtu int, ab, ba Impairment) (a, b *End, err error) {
	if mtu < 68 || mtu > 65535 {
		return nil, nil, fmt.Errorf("%w: MTU %d outside [68, 65535]", ErrInvalid, mtu)
	}
	dab, err := newDirection(ab)
	if err != nil {
		return nil, nil, fmt.Errorf("a→b: %w", err)
	}
	dba, err := newDirection(ba)
	if err != nil {
		return nil, nil, fmt.Errorf("b→a: %w", err)
	}
	a = &End{mtu: mtu, tx: dab, rx: dba}
	b = &End{mtu: mtu, tx: dba, rx: dab}
	return a, b, nil
}

// ReadPacket blocks until a packet from the other end is due and copies it
// into b. After Close it returns an error wrapping net.ErrClosed.
func (e *End) ReadPacket(b []byte) (int, error) { return e.rx.pop(b) }

// WritePacket impairs a copy of b and queues it for the other end. It never
// blocks and does not retain b.
func (e *End) WritePacket(b []byte) error {
	if len(b) > e.mtu {
		return fmt.Errorf("%w: %d > %d", tun.ErrTooBig, len(b), e.mtu)
	}
	return e.tx.push(b)
}

// MTU is the largest packet WritePacket accepts.
func (e *End) MTU() int { return e.mtu }

// Close closes both directions: pending and later reads and writes on
// either end fail with an error wrapping net.ErrClosed. It returns nil.
func (e *End) Close() error {
	e.once.Do(func() {
		e.tx.close()
		e.rx.close()
	})
	return nil
}

// Stats counts the packets written on e (the direction away from e).
func (e *End) Stats() Stats { return e.tx.snapshot() }

// SetImpairment changes what happens to packets written on e from now on,
// and reseeds the direction. Packets already queued keep their due times.
func (e *End) SetImpairment(im Impairment) error {
	if err := im.Validate(); err != nil {
		return err
	}
	e.tx.set(im)
	return nil
}

// SetDrop makes packets written on e for which drop returns true vanish
// (counted as Lost) before any impairment, so a test can lose exactly the
// segments it means to. drop runs with the direction's lock held and must
// not use the path; nil removes it.
func (e *End) SetDrop(drop func(pkt []byte) bool) {
	e.tx.mu.Lock()
	defer e.tx.mu.Unlock()
	e.tx.drop = drop
}

var _ tun.Link = (*End)(nil)
