package netsim

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/utcp/utcp/tun"
)

// Wrapped is a link whose packets pass through impairments on their way
// between a stack and a real link, such as a TUN device: out applies to
// the packets the stack writes, in to those it reads. It implements
// tun.Link, and runs on real time.
type Wrapped struct {
	inner   tun.Link
	out, in *direction // nil: that direction passes straight through
	fwd     forwarder
	once    sync.Once
	err     error
}

// Wrap impairs inner: out for WritePacket (stack → network), in for
// ReadPacket (network → stack). A zero Impairment passes that direction
// through without a queue or goroutine. Close closes inner.
func Wrap(inner tun.Link, out, in Impairment) (*Wrapped, error) {
	w := &Wrapped{inner: inner}
	if !out.IsZero() {
		d, err := newDirection(out)
		if err != nil {
			return nil, fmt.Errorf("out: %w", err)
		}
		w.out = d
	}
	if !in.IsZero() {
		d, err := newDirection(in)
		if err != nil {
			return nil, fmt.Errorf("in: %w", err)
		}
		w.in = d
	}
	if w.out != nil {
		w.fwd.send(w.out, inner)
	}
	if w.in != nil {
		w.fwd.pump(inner, w.in)
	}
	return w, nil
}

// ReadPacket returns the next packet from inner once its impairment lets
// it through.
func (w *Wrapped) ReadPacket(b []byte) (int, error) {
	if w.in == nil {
		return w.inner.ReadPacket(b)
	}
	return w.in.pop(b)
}

// WritePacket queues a copy of b for inner through the out impairment. It
// does not block on inner and does not retain b.
func (w *Wrapped) WritePacket(b []byte) error {
	if w.out == nil {
		return w.inner.WritePacket(b)
	}
	if m := w.inner.MTU(); len(b) > m {
		return fmt.Errorf("%w: %d > %d", tun.ErrTooBig, len(b), m)
	}
	return w.out.push(b)
}

// MTU is inner's MTU.
func (w *Wrapped) MTU() int { return w.inner.MTU() }

// Close closes the impairments and inner, and waits for the relay's
// goroutines. It returns inner's Close error.
func (w *Wrapped) Close() error {
	w.once.Do(func() {
		for _, d := range []*direction{w.out, w.in} {
			if d != nil {
				d.close()
			}
		}
		w.err = w.inner.Close()
		w.fwd.wg.Wait()
	})
	return w.err
}

// OutStats and InStats count the packets of each direction; a direction
// without impairment counts nothing.
func (w *Wrapped) OutStats() Stats { return statsOf(w.out) }

// InStats: see OutStats.
func (w *Wrapped) InStats() Stats { return statsOf(w.in) }

// WriteErrors counts the packets inner refused.
func (w *Wrapped) WriteErrors() uint64 { return w.fwd.writeErrs.Load() }

func statsOf(d *direction) Stats {
	if d == nil {
		return Stats{}
	}
	return d.snapshot()
}

var _ tun.Link = (*Wrapped)(nil)

// Relayer copies packets between two links through an impairment per
// direction, as a router with netem on both interfaces would: between two
// TUN devices, each the kernel's end of a network namespace.
type Relayer struct {
	a, b   tun.Link
	ab, ba *direction
	fwd    forwarder
	once   sync.Once
	err    error
}

// Relay starts copying packets read from a to b through ab, and from b to
// a through ba. It owns a and b: Close closes them.
func Relay(a, b tun.Link, ab, ba Impairment) (*Relayer, error) {
	dab, err := newDirection(ab)
	if err != nil {
		return nil, fmt.Errorf("a→b: %w", err)
	}
	dba, err := newDirection(ba)
	if err != nil {
		return nil, fmt.Errorf("b→a: %w", err)
	}
	r := &Relayer{a: a, b: b, ab: dab, ba: dba}
	r.fwd.pump(a, dab)
	r.fwd.send(dab, b)
	r.fwd.pump(b, dba)
	r.fwd.send(dba, a)
	return r, nil
}

// Stats counts the packets of each direction.
func (r *Relayer) Stats() (ab, ba Stats) { return r.ab.snapshot(), r.ba.snapshot() }

// Close stops the relay, closes both links and waits for its goroutines.
func (r *Relayer) Close() error {
	r.once.Do(func() {
		r.ab.close()
		r.ba.close()
		r.err = errors.Join(r.a.Close(), r.b.Close())
		r.fwd.wg.Wait()
	})
	return r.err
}

// forwarder runs the goroutines that move packets between real links and
// impaired directions.
type forwarder struct {
	wg        sync.WaitGroup
	writeErrs atomic.Uint64
}

// pump reads packets from src into d until src fails; then d is closed
// with src's error, which its reader sees.
func (f *forwarder) pump(src tun.Link, d *direction) {
	f.wg.Go(func() {
		buf := make([]byte, max(src.MTU(), 1500))
		for {
			n, err := src.ReadPacket(buf)
			if err != nil {
				d.closeWith(err)
				return
			}
			if d.push(buf[:n]) != nil {
				return
			}
		}
	})
}

// send writes the packets d lets through to dst until d is closed. A
// write error drops the packet (counted), as a full NIC would; a closed
// dst ends the loop.
func (f *forwarder) send(d *direction, dst tun.Link) {
	f.wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, err := d.pop(buf)
			if err != nil {
				return
			}
			if err := dst.WritePacket(buf[:n]); err != nil {
				if errors.Is(err, net.ErrClosed) {
					d.close()
					return
				}
				f.writeErrs.Add(1)
			}
		}
	})
}
