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
// packets) before it flushes, then returns the batch. The transmit queue
// (stack_tx.go) sends what a flush queued with one WritePackets call per
// BatchSize packets. Nothing is allocated per packet: the receive buffers
// are one slab, and the transmit buffers are the queue's.

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
	defer s.unlock()
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

// sameArray reports whether a and b end at the same place in one array,
// that is, are slices of one buffer up to its capacity.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}
