package tun

import (
	"fmt"
	"io"
)

// BatchPipeEnd is a PipeEnd that also reads and writes several packets per
// call, with the method set of tcp.BatchLink, for testing a stack on a
// batch link. Faults and counters are the PipeEnd's.
type BatchPipeEnd struct {
	e    *PipeEnd
	size int
}

// Batch returns e as a link that moves up to size packets (at least 1) per
// ReadPackets or WritePackets call. e must be a plain end (Pipe, not
// OffloadPipe).
func (e *PipeEnd) Batch(size int) *BatchPipeEnd {
	return &BatchPipeEnd{e: e, size: max(size, 1)}
}

// BatchSize returns the most packets one call moves.
func (b *BatchPipeEnd) BatchSize() int { return b.size }

// ReadPackets blocks until a packet arrives, then reads it and whatever
// else is queued, up to len(bufs) and BatchSize packets. A packet longer
// than its buffer is dropped and ends the call with an error wrapping
// io.ErrShortBuffer; the packets before it are returned.
func (b *BatchPipeEnd) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	limit := min(len(bufs), len(sizes), b.size)
	if limit == 0 {
		return 0, nil
	}
	p, err := b.e.pop()
	for n := 0; ; n++ {
		if err != nil {
			return n, err
		}
		if len(p) > len(bufs[n]) {
			return n, fmt.Errorf("tun: pipe read: %d-byte packet into %d-byte buffer: %w", len(p), len(bufs[n]), io.ErrShortBuffer)
		}
		sizes[n] = copy(bufs[n], p)
		if n+1 == limit {
			return n + 1, nil
		}
		select {
		case p = <-b.e.rx:
		default:
			return n + 1, nil
		}
	}
}

// WritePackets writes pkts in order as WritePacket does and returns how
// many it wrote; it stops at the first error.
func (b *BatchPipeEnd) WritePackets(pkts [][]byte) (int, error) {
	for i, p := range pkts {
		if err := b.e.WritePacket(p); err != nil {
			return i, err
		}
	}
	return len(pkts), nil
}

// ReadPacket reads one packet, as PipeEnd.ReadPacket.
func (b *BatchPipeEnd) ReadPacket(p []byte) (int, error) { return b.e.ReadPacket(p) }

// WritePacket writes one packet, as PipeEnd.WritePacket.
func (b *BatchPipeEnd) WritePacket(p []byte) error { return b.e.WritePacket(p) }

// MTU returns the pipe's MTU.
func (b *BatchPipeEnd) MTU() int { return b.e.MTU() }

// Close closes the end, as PipeEnd.Close.
func (b *BatchPipeEnd) Close() error { return b.e.Close() }
