package tcp

import (
	"errors"
	"io"
	"time"

	"github.com/utcp/utcp/ip"
)

// The stack on a BatchLink. The reader fills a batch of buffers with one
// ReadPackets call and hands the whole batch to the loop, which processes
// its packets (and any other batch already waiting, up to maxBatch
// packets) before it flushes, then returns the batch. The loop queues the
// packets of a flush in transmit buffers of its own and sends them with
// one WritePackets call per BatchSize packets. Nothing is allocated per
// packet: the receive buffers are one slab, and a queued packet's buffer
// trades places with a spare one instead of being copied.

// maxLinkBatch bounds BatchSize, so a link cannot make the stack allocate
// without bound.
const maxLinkBatch = 1024

// rxBatch is one ReadPackets call's packets, from the reader to the loop.
type rxBatch struct {
	bufs  [][]byte // each bufSz long; never resliced
	sizes []int
	n     int // packets read
}

// stackBatch is the state of the stack on a BatchLink.
type stackBatch struct {
	link   BatchLink
	size   int           // packets per call
	rxFree chan *rxBatch // batches the reader may fill

	// The loop's, under mu.
	txPkts [][]byte // the packets queued since the last WritePackets
	txBufs [][]byte // their buffers, whole
	spare  [][]byte // transmit buffers not in use
}

// setupBatch makes the stack use ReadPackets and WritePackets when link is
// a BatchLink and no offload path took it. NewStack calls it after
// setupOffloadRx and setupOutput, before the reader starts.
func (s *Stack) setupBatch(link Link) {
	bl, ok := link.(BatchLink)
	if !ok || s.rxLink != nil || s.offload != nil || bl.BatchSize() < 1 {
		return
	}
	b := &stackBatch{link: bl, size: min(bl.BatchSize(), maxLinkBatch)}
	batches := max(2, inQueueLen/b.size)
	b.rxFree = make(chan *rxBatch, batches)
	s.rxBatches = make(chan *rxBatch, batches)
	slab := make([]byte, batches*b.size*s.bufSz)
	for range batches {
		bt := &rxBatch{bufs: make([][]byte, b.size), sizes: make([]int, b.size)}
		for i := range bt.bufs {
			bt.bufs[i], slab = slab[:s.bufSz:s.bufSz], slab[s.bufSz:]
		}
		b.rxFree <- bt
	}
	// Transmit buffers: the packet being built in s.out, the one in s.pkt,
	// and a full queue. All have one size, so any can stand for either.
	txSize := max(len(s.out), cap(s.pkt))
	tx := make([]byte, (b.size+2)*txSize)
	next := func() []byte {
		buf := tx[:txSize:txSize]
		tx = tx[txSize:]
		return buf
	}
	s.out = next()[:len(s.out)]
	s.host.scratch = s.out[outHeadroom:outHeadroom]
	s.pkt = next()[:0]
	b.spare = make([][]byte, 0, b.size)
	for range b.size {
		b.spare = append(b.spare, next())
	}
	b.txPkts = make([][]byte, 0, b.size)
	b.txBufs = make([][]byte, 0, b.size)
	s.batch = b
}

// readBatches is the reader goroutine on a BatchLink. It ends when the link
// fails (is closed) or the stack is closed.
func (s *Stack) readBatches() {
	b := s.batch
	for {
		var bt *rxBatch
		select {
		case bt = <-b.rxFree:
		case <-s.done:
			return
		}
		n, err := b.link.ReadPackets(bt.bufs, bt.sizes)
		bt.n = min(max(n, 0), len(bt.bufs))
		if bt.n > 0 {
			select {
			case s.rxBatches <- bt:
			case <-s.done:
				return
			}
		} else {
			b.rxFree <- bt // never blocks: the reader holds the only batch taken
		}
		switch {
		case err == nil:
		case errors.Is(err, io.ErrShortBuffer):
			s.stats.linkReadErrors.Add(1)
		case errors.Is(err, ip.ErrBadOffload):
			s.stats.offloadDropped.Add(1)
		default:
			return // the link is closed
		}
	}
}

// inputBatches processes bt and the batches queued behind it, up to
// maxBatch packets, then flushes: RFC 9293 MUST-58/MUST-59, one ACK for
// the segments of a batch.
func (s *Stack) inputBatches(bt *rxBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	done := s.inputBatch(now, bt)
more:
	for done < maxBatch {
		select {
		case bt := <-s.rxBatches:
			done += s.inputBatch(now, bt)
		default:
			break more
		}
	}
	s.flush(now)
}

// inputBatch processes the packets of bt, returns it to the reader and
// reports how many it held.
func (s *Stack) inputBatch(now time.Time, bt *rxBatch) int {
	n := bt.n
	for i := range n {
		b, size := bt.bufs[i], bt.sizes[i]
		if size < 0 || size > len(b) {
			s.stats.linkReadErrors.Add(1) // a link that misreports a length
			continue
		}
		s.handlePacket(now, b[:size], false)
	}
	bt.n = 0
	s.batch.rxFree <- bt // never blocks: every batch fits
	return n
}

// queueTx queues pkt for the next WritePackets. A packet built in s.out or
// s.pkt keeps its buffer, which a spare one replaces; any other is copied.
func (s *Stack) queueTx(pkt []byte) {
	b := s.batch
	if len(b.txPkts) == b.size {
		s.flushTx()
	}
	var whole []byte
	switch {
	case sameArray(pkt, s.out):
		whole = s.out[:cap(s.out)]
		s.out = b.takeSpare()[:len(s.out)]
		s.host.scratch = s.out[outHeadroom:outHeadroom]
	case sameArray(pkt, s.pkt):
		whole = s.pkt[:cap(s.pkt)]
		s.pkt = b.takeSpare()[:0]
	case len(pkt) <= cap(b.spare[len(b.spare)-1]):
		whole = b.takeSpare()
		pkt = whole[:copy(whole, pkt)]
	default: // larger than any buffer: alone, after what is queued
		s.flushTx()
		s.wmu.Lock()
		if _, err := b.link.WritePackets([][]byte{pkt}); err != nil {
			s.stats.linkWriteErrors.Add(1)
		}
		s.wmu.Unlock()
		return
	}
	b.txPkts = append(b.txPkts, pkt)
	b.txBufs = append(b.txBufs, whole)
}

// takeSpare returns a free transmit buffer. There is always one: a full
// queue is written before a packet joins it.
func (b *stackBatch) takeSpare() []byte {
	buf := b.spare[len(b.spare)-1]
	b.spare = b.spare[:len(b.spare)-1]
	return buf
}

// flushTx writes the queued packets with one WritePackets call and takes
// their buffers back. Packets the link did not send count as write errors.
func (s *Stack) flushTx() {
	b := s.batch
	if len(b.txPkts) == 0 {
		return
	}
	s.wmu.Lock() // Stack.WritePacket may write at the same time
	n, err := b.link.WritePackets(b.txPkts)
	s.wmu.Unlock()
	if err != nil {
		s.stats.linkWriteErrors.Add(uint64(len(b.txPkts) - min(max(n, 0), len(b.txPkts))))
	}
	b.spare = append(b.spare, b.txBufs...)
	clear(b.txPkts)
	clear(b.txBufs)
	b.txPkts, b.txBufs = b.txPkts[:0], b.txBufs[:0]
}

// sameArray reports whether a and b end at the same place in one array,
// that is, are slices of one buffer up to its capacity.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}
