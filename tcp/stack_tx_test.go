package tcp

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateLink records the packets written to it; the first write blocks
// until gate is closed.
type gateLink struct {
	first, gate, closed chan struct{}
	once                sync.Once
	mu                  sync.Mutex
	got                 []byte // the one-octet packets written, in order
}

func newGateLink() *gateLink {
	return &gateLink{first: make(chan struct{}), gate: make(chan struct{}), closed: make(chan struct{})}
}

func (l *gateLink) ReadPacket([]byte) (int, error) { <-l.closed; return 0, net.ErrClosed }
func (l *gateLink) MTU() int                       { return 1500 }
func (l *gateLink) Close() error                   { close(l.closed); return nil }
func (l *gateLink) WritePacket(b []byte) error {
	l.once.Do(func() { close(l.first); <-l.gate })
	l.mu.Lock()
	l.got = append(l.got, b...)
	l.mu.Unlock()
	return nil
}

func (l *gateLink) written() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// queueOne queues the one-octet packet i as a flush would, then lets go of
// the stack's lock as the loop does.
func queueOne(s *Stack, i int) {
	s.mu.Lock()
	s.write([]byte{byte(i)})
	s.unlock()
}

func TestStackTx_QueuedWhileAnotherWritesIsWrittenInOrder(t *testing.T) {
	l := newGateLink()
	s, err := NewStack(l, Config{Addr: netip.MustParseAddr("10.9.0.2")})
	require.NoError(t, err)
	defer l.Close()
	defer s.Close()

	writer := make(chan struct{})
	go func() { queueOne(s, 0); close(writer) }()
	<-l.first // the writer holds wmu, blocked in the link

	// Others queue meanwhile and go on at once: their packets are the
	// writer's to send.
	const n = 20
	for i := 1; i <= n; i++ {
		queueOne(s, i)
	}
	assert.Empty(t, l.written(), "nothing passes the blocked writer")
	close(l.gate)
	<-writer
	want := make([]byte, n+1)
	for i := range want {
		want[i] = byte(i)
	}
	assert.Equal(t, want, l.written(), "the writer sent what was queued while it wrote, in order")
	assert.Zero(t, s.tx.pending.Load())
}

func TestStackTx_BoundedBuffersWrittenUnderTheLock(t *testing.T) {
	l := newGateLink()
	close(l.gate)
	s, err := NewStack(l, Config{Addr: netip.MustParseAddr("10.9.0.2")})
	require.NoError(t, err)
	defer l.Close()
	defer s.Close()

	// One flush that queues more packets than there are buffers: the
	// goroutine under the lock writes the queue itself when none is spare.
	const n = 1000
	s.mu.Lock()
	for i := range n {
		s.write([]byte{byte(i)})
	}
	s.tx.mu.Lock()
	made := s.tx.made
	s.tx.mu.Unlock()
	assert.LessOrEqual(t, made, s.tx.max, "the buffers are bounded")
	assert.Greater(t, len(l.written()), n-s.tx.max, "the queue was written under the lock when it ran out of buffers")
	s.unlock()
	got := l.written()
	require.Len(t, got, n)
	for i, b := range got {
		require.Equal(t, byte(i), b, "packet %d in order", i)
	}
}
