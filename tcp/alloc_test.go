package tcp

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The plain data path allocates nothing per call or per segment once a
// connection is running, with no tracer or with one that does nothing
// (NopTracer: the reasons, drops, socket-call markers and congestion state
// it is given cost no allocation either): Conn.Read and Conn.Write run their
// work under the stack's lock on the caller's goroutine, the loop reuses its
// packet buffers, and the core reuses its rings. These tests count every
// heap allocation of the process (runtime.MemStats.Mallocs: both stacks'
// loops and readers, the link and the application) across a transfer and
// divide by what was transferred. A few stray ones (a buffer the reader
// adds to its pool, a ring that grows, and under the race detector a rare
// one in a blocking select) stay far below the bounds.

// maxAllocsPerOp bounds the allocations per call or per segment.
const maxAllocsPerOp = 0.05

// poolLink is one end of an in-memory link that does not allocate per
// packet, unlike tun.Pipe (which copies each packet into a new slice): a
// written packet is copied into a buffer from a fixed pool.
type poolLink struct {
	mtu   int
	rx    chan []byte // filled buffers for this end to read
	free  chan []byte // the pool the peer writes into, shared by both ends
	peer  *poolLink
	done  chan struct{}
	close sync.Once
}

func newPoolLinks(mtu int) (a, b *poolLink) {
	const n = 1024
	free := make(chan []byte, 2*n)
	for range 2 * n {
		free <- make([]byte, mtu)
	}
	a = &poolLink{mtu: mtu, rx: make(chan []byte, n), free: free, done: make(chan struct{})}
	b = &poolLink{mtu: mtu, rx: make(chan []byte, n), free: free, done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (l *poolLink) MTU() int { return l.mtu }

func (l *poolLink) ReadPacket(b []byte) (int, error) {
	select {
	case p := <-l.rx:
		n := copy(b, p)
		l.free <- p[:cap(p)]
		return n, nil
	case <-l.done:
		return 0, net.ErrClosed
	}
}

func (l *poolLink) WritePacket(b []byte) error {
	select {
	case p := <-l.free:
		p = p[:copy(p, b)]
		select {
		case l.peer.rx <- p:
		default:
			l.free <- p // the peer's queue is full: dropped, as a NIC would
		}
	default: // every buffer is queued: dropped
	}
	return nil
}

func (l *poolLink) Close() error {
	l.close.Do(func() { close(l.done) })
	return nil
}

// allocPair is a connection between two stacks over a poolLink.
type allocPair struct {
	a, b   *Stack
	ca, cb *Conn
}

// poolBatchLink is a poolLink that is also a BatchLink.
type poolBatchLink struct{ *poolLink }

func (l poolBatchLink) BatchSize() int { return 32 }

func (l poolBatchLink) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	n, err := l.ReadPacket(bufs[0])
	if err != nil {
		return 0, err
	}
	sizes[0] = n
	for i := 1; i < len(bufs); i++ {
		select {
		case p := <-l.rx:
			sizes[i] = copy(bufs[i], p)
			l.free <- p[:cap(p)]
		default:
			return i, nil
		}
	}
	return len(bufs), nil
}

func (l poolBatchLink) WritePackets(pkts [][]byte) (int, error) {
	for _, p := range pkts {
		l.WritePacket(p)
	}
	return len(pkts), nil
}

func newAllocPair(t *testing.T, mtu int, tr Tracer) *allocPair {
	la, lb := newPoolLinks(mtu)
	return newAllocPairOn(t, la, lb, tr)
}

// newAllocPairBatch is newAllocPair on poolBatchLinks.
func newAllocPairBatch(t *testing.T, mtu int, tr Tracer) *allocPair {
	la, lb := newPoolLinks(mtu)
	p := newAllocPairOn(t, poolBatchLink{la}, poolBatchLink{lb}, tr)
	require.NotNil(t, p.a.batch, "the stacks use the batch path")
	return p
}

func newAllocPairOn(t *testing.T, la, lb Link, tr Tracer) *allocPair {
	a, err := NewStack(la, Config{Addr: addrA, Tracer: tr})
	require.NoError(t, err)
	b, err := NewStack(lb, Config{Addr: addrB, Tracer: tr})
	require.NoError(t, err)
	ln, err := b.Listen(80)
	require.NoError(t, err)
	ca, err := a.Dial(netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	cb, err := ln.AcceptTCP()
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	for _, s := range []*Stack{a, b} {
		// The reader's packet buffers: a pool that grows, once, to as many as
		// can be in use at a time (inQueueLen+2), as deep as the loop ever
		// falls behind. Fill it now, so the count below is the steady state's.
		for len(s.free) < cap(s.free) {
			s.free <- make([]byte, s.bufSz)
		}
	}
	t.Cleanup(func() {
		ca.Abort()
		cb.Abort()
		a.Close()
		b.Close()
		la.Close()
		lb.Close()
	})
	return &allocPair{a: a, b: b, ca: ca, cb: cb}
}

// segments is how many TCP segments both stacks have sent so far.
func (p *allocPair) segments() uint64 { return p.a.Stats().SegsOut + p.b.Stats().SegsOut }

// mallocs counts the process's heap allocations so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// Ping-pong: per round trip two Writes, two Reads, and the data segments
// (with their ACKs) both ways. None of it allocates: the bound is per call,
// with the segments the calls cause counted in.
func TestAlloc_ReadWriteRoundTrip(t *testing.T) {
	for _, tr := range allocTracers {
		t.Run("plain/"+tr.name, func(t *testing.T) { allocRoundTrip(t, newAllocPair(t, 1500, tr.tr)) })
		t.Run("batch/"+tr.name, func(t *testing.T) { allocRoundTrip(t, newAllocPairBatch(t, 1500, tr.tr)) })
	}
}

// allocTracers are the tracers the allocation tests run with.
var allocTracers = []struct {
	name string
	tr   Tracer
}{{"untraced", nil}, {"NopTracer", NopTracer{}}}

func allocRoundTrip(t *testing.T, p *allocPair) {
	req, resp := make([]byte, 100), make([]byte, 100)
	roundTrip := func() {
		_, err := p.ca.Write(req)
		require.NoError(t, err)
		_, err = io.ReadFull(p.cb, resp)
		require.NoError(t, err)
		_, err = p.cb.Write(resp)
		require.NoError(t, err)
		_, err = io.ReadFull(p.ca, req)
		require.NoError(t, err)
	}
	for range 200 { // warm up: buffer pools, timer heaps, rings
		roundTrip()
	}
	const n = 2000
	m0, s0 := mallocs(), p.segments()
	for range n {
		roundTrip()
	}
	allocs, segs := mallocs()-m0, p.segments()-s0
	t.Logf("%d round trips (%d calls), %d segments: %d allocations", n, 4*n, segs, allocs)
	require.GreaterOrEqual(t, segs, uint64(2*n), "every round trip sends its data both ways")
	require.Less(t, float64(allocs)/(4*n), maxAllocsPerOp, "allocations per Read or Write, segments included")
}

// A bulk transfer, A to B: large Writes, full-sized segments, ACKs, and
// Reads on another goroutine. Neither sending nor receiving a segment
// allocates.
func TestAlloc_BulkTransfer(t *testing.T) {
	for _, tc := range []struct {
		mtu   int
		batch bool
	}{{1500, false}, {9000, false}, {1500, true}} {
		for _, tr := range allocTracers {
			name := fmt.Sprintf("mtu%d/%s", tc.mtu, tr.name)
			newPair := newAllocPair
			if tc.batch {
				name, newPair = fmt.Sprintf("mtu%d_batch/%s", tc.mtu, tr.name), newAllocPairBatch
			}
			t.Run(name, func(t *testing.T) { allocBulk(t, tc.mtu, newPair(t, tc.mtu, tr.tr)) })
		}
	}
}

func allocBulk(t *testing.T, mtu int, p *allocPair) {
	const chunk = 64 << 10
	wbuf, rbuf := make([]byte, chunk), make([]byte, chunk)
	todo := make(chan int)
	read := make(chan error)
	go func() {
		for n := range todo {
			var err error
			for got := 0; got < n && err == nil; {
				var k int
				k, err = p.cb.Read(rbuf)
				got += k
			}
			read <- err
		}
	}()
	defer close(todo)
	transfer := func(n int) {
		todo <- n
		for sent := 0; sent < n; sent += chunk {
			_, err := p.ca.Write(wbuf)
			require.NoError(t, err)
		}
		require.NoError(t, <-read)
	}
	transfer(16 << 20) // warm up: congestion window, buffer autotuning, the packet buffer pools
	m0, s0 := mallocs(), p.segments()
	transfer(32 << 20)
	allocs, segs := mallocs()-m0, p.segments()-s0
	t.Logf("MTU %d: 32 MiB in %d segments (both ways): %d allocations", mtu, segs, allocs)
	require.Greater(t, segs, uint64(32<<20/mtu), "full-sized segments at most")
	require.Less(t, float64(allocs)/float64(segs), maxAllocsPerOp, "allocations per segment")
}
