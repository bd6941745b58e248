package tcp

import (
	"sync"
	"sync/atomic"

	"github.com/utcp/utcp/ip"
)

// The transmit queue. Segments are decided and built under mu, but written
// to the link outside it: whoever holds mu queues its packets, and once it
// has let go of mu (Stack.unlock) takes wmu and writes what is queued, its
// own packets and any another goroutine queued meanwhile. A goroutine that
// finds wmu taken leaves its packets to the holder, which looks again after
// it lets go. So the link's system calls, in which a TUN runs the kernel's
// whole receive path, overlap with the TCP work of the next batch or call
// on the other core, and packets leave in the order they were queued.
//
// A queued packet keeps the buffer it was built in (s.out or s.pkt), which
// a spare one replaces, so nothing is copied and, once the buffers are
// made, nothing is allocated. The buffers are bounded (txMaxBytes): when
// none is spare the goroutine under mu writes the queue itself.

// txMaxBytes bounds the transmit buffers a stack makes, and txMinBufs and
// txMaxBufsPlain bound their number: 64 MTU-sized packets on a plain link,
// 16 of 64 KiB on an offload link.
const (
	txMaxBytes     = 1 << 20
	txMinBufs      = 4
	txMaxBufsPlain = 64
)

// txBatch is a run of queued packets.
type txBatch struct {
	pkts [][]byte     // the packets, in order
	bufs [][]byte     // their whole buffers
	offs []ip.Offload // their offload metadata, on an offload link
}

func (b *txBatch) reset() {
	clear(b.pkts)
	clear(b.bufs)
	b.pkts, b.bufs, b.offs = b.pkts[:0], b.bufs[:0], b.offs[:0]
}

// txQueue is the stack's transmit queue.
type txQueue struct {
	size    int          // length of every buffer
	max     int          // buffers that may be made
	pending atomic.Int32 // len(q.pkts), read without mu

	mu    sync.Mutex // guards q, spare and made; held only to append or swap
	q     txBatch    // queued, not yet taken by a writer
	spare [][]byte
	made  int

	w txBatch // the writer's: under wmu
}

// setupTx sizes the transmit buffers (size octets each, for the largest
// packet the stack builds) and makes the two it builds packets in: s.out,
// outLen long, and s.pkt.
func (s *Stack) setupTx(outLen, size int) {
	t := &s.tx
	t.size = size
	t.max = min(max(txMaxBytes/size, txMinBufs), txMaxBufsPlain)
	if s.batch != nil {
		t.max = max(t.max, s.batch.size+2)
	}
	for _, b := range []*txBatch{&t.q, &t.w} {
		b.pkts = make([][]byte, 0, t.max)
		b.bufs = make([][]byte, 0, t.max)
		if s.offload != nil {
			b.offs = make([]ip.Offload, 0, t.max)
		}
	}
	t.spare = make([][]byte, 0, t.max)
	s.out = s.txBuf()[:outLen]
	s.host.scratch = s.out[outHeadroom:outHeadroom]
	s.pkt = s.txBuf()[:0]
}

// txBuf returns a free transmit buffer: a spare one, a new one while
// fewer than t.max are made, or else one the queue frees once this
// goroutine has written it. Called under mu.
func (s *Stack) txBuf() []byte {
	t := &s.tx
	for {
		t.mu.Lock()
		if n := len(t.spare); n > 0 {
			b := t.spare[n-1]
			t.spare = t.spare[:n-1]
			t.mu.Unlock()
			return b
		}
		if t.made < t.max {
			t.made++
			t.mu.Unlock()
			return make([]byte, t.size)
		}
		t.mu.Unlock()
		// Every buffer is queued or being written: wait for the writer, if
		// any, then write the rest here.
		s.wmu.Lock()
		s.writeQueued()
		s.wmu.Unlock()
	}
}

// queue queues pkt, with its offload metadata, for the link. A packet
// built in s.out or s.pkt keeps its buffer, and a free one takes its
// place; any other is copied. Called under mu.
func (s *Stack) queue(pkt []byte, o ip.Offload) {
	t := &s.tx
	var whole []byte
	switch {
	case sameArray(pkt, s.out):
		whole = s.out[:cap(s.out)]
		s.out = s.txBuf()[:len(s.out)]
		s.host.scratch = s.out[outHeadroom:outHeadroom]
	case sameArray(pkt, s.pkt):
		whole = s.pkt[:cap(s.pkt)]
		s.pkt = s.txBuf()[:0]
	case len(pkt) <= t.size:
		whole = s.txBuf()
		pkt = whole[:copy(whole, pkt)]
	default: // larger than any buffer: written now, after what is queued
		s.wmu.Lock()
		s.writeQueued()
		s.writeOne(pkt, o)
		s.wmu.Unlock()
		return
	}
	t.mu.Lock()
	t.q.pkts = append(t.q.pkts, pkt)
	t.q.bufs = append(t.q.bufs, whole)
	if s.offload != nil {
		t.q.offs = append(t.q.offs, o)
	}
	t.pending.Store(int32(len(t.q.pkts)))
	t.mu.Unlock()
}

// unlock lets go of mu and writes what is queued, unless another goroutine
// is writing: it writes ours too.
func (s *Stack) unlock() {
	s.mu.Unlock()
	s.drainTx()
}

// drainTx writes the queue while it is not empty and wmu is free. The
// holder of wmu looks again after it lets go, so a packet queued while it
// wrote is never left behind.
func (s *Stack) drainTx() {
	for s.tx.pending.Load() > 0 && s.wmu.TryLock() {
		s.writeQueued()
		s.wmu.Unlock()
	}
}

// writeQueued writes the queued packets until the queue is empty, and
// frees their buffers. Called under wmu.
func (s *Stack) writeQueued() {
	t := &s.tx
	for {
		t.mu.Lock()
		if len(t.q.pkts) == 0 {
			t.mu.Unlock()
			return
		}
		t.q, t.w = t.w, t.q
		t.pending.Store(0)
		t.mu.Unlock()

		s.writeBatch(&t.w)

		t.mu.Lock()
		t.spare = append(t.spare, t.w.bufs...)
		t.mu.Unlock()
		t.w.reset()
	}
}

// writeBatch writes b's packets to the link: in WritePackets calls of up
// to BatchSize on a BatchLink, one call each otherwise. Packets the link
// refuses count as write errors. Called under wmu.
func (s *Stack) writeBatch(b *txBatch) {
	if s.batch != nil {
		for pkts := b.pkts; len(pkts) > 0; {
			k := min(len(pkts), s.batch.size)
			n, err := s.batch.link.WritePackets(pkts[:k])
			if err != nil {
				s.stats.linkWriteErrors.Add(uint64(k - min(max(n, 0), k)))
			}
			pkts = pkts[k:]
		}
		return
	}
	for i, p := range b.pkts {
		var o ip.Offload
		if s.offload != nil {
			o = b.offs[i]
		}
		s.writeOne(p, o)
	}
}

// writeOne writes one packet to the link. Called under wmu.
func (s *Stack) writeOne(pkt []byte, o ip.Offload) {
	var err error
	switch {
	case s.offload != nil:
		err = s.offload.WriteOffload(pkt, o)
	case s.batch != nil:
		_, err = s.batch.link.WritePackets([][]byte{pkt})
	default:
		err = s.link.WritePacket(pkt)
	}
	if err != nil {
		s.stats.linkWriteErrors.Add(1)
	}
}
