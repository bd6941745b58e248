package tcp

import (
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// senderCounter counts Tracer.Sender calls per connection within each
// batch (between Flushes), and keeps the states reported.
type senderCounter struct {
	NopTracer
	mu       sync.Mutex
	batch    map[FourTuple]int
	maxBatch int
	states   []SenderState
}

func (s *senderCounter) Sender(_ time.Time, id FourTuple, st SenderState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch[id]++
	s.maxBatch = max(s.maxBatch, s.batch[id])
	s.states = append(s.states, st)
}

func (s *senderCounter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.batch)
}

// TestTracer_SenderOncePerBatch checks that the congestion state is
// reported when it changes, at most once per batch per connection.
func TestTracer_SenderOncePerBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := &senderCounter{batch: map[FourTuple]int{}}
		p := tracedPair(t, sc)
		ca, cb := p.connect(t, 80)
		data := make([]byte, 1<<20)
		go func() { _, _ = ca.Write(data) }()
		_, err := io.ReadFull(cb, data)
		require.NoError(t, err)
		synctest.Wait()

		sc.mu.Lock()
		defer sc.mu.Unlock()
		assert.LessOrEqual(t, sc.maxBatch, 1, "at most one report per batch per connection")
		require.Greater(t, len(sc.states), 2, "slow start changes cwnd as the ACKs come")
		first, last := sc.states[0], sc.states[len(sc.states)-1]
		assert.Greater(t, last.Cwnd, first.Cwnd, "cwnd grows in slow start")
		assert.Equal(t, uint32(1<<32-1), first.SSThresh, "ssthresh starts arbitrarily high (RFC 5681 §3.1)")
		for i := 1; i < len(sc.states); i++ {
			a, b := sc.states[i-1], sc.states[i]
			assert.False(t, a.Cwnd == b.Cwnd && a.SSThresh == b.SSThresh && a.Recovering == b.Recovering,
				"a report is a change: %+v then %+v", a, b)
		}
	})
}

// whyChecker is a Tracer that fails the test for a segment sent without a
// reason to send, or dropped without a reason to drop.
type whyChecker struct {
	NopTracer
	t testing.TB
}

func (w whyChecker) SegmentOut(_ time.Time, _ FourTuple, seg *Segment) {
	if seg.Why == ReasonNone || seg.Why.Drop() {
		w.t.Fatalf("%v sent with no reason to send (Why %s)", seg, seg.Why.Name())
	}
}

func (w whyChecker) SegmentDropped(_ time.Time, _ FourTuple, seg *Segment, why Reason) {
	if !why.Drop() {
		w.t.Fatalf("%v dropped with no reason to drop (%s)", seg, why.Name())
	}
}
