package tcp

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/utcp/utcp/tun"
)

// countingBatchLink counts the calls of a BatchLink.
type countingBatchLink struct {
	*tun.BatchPipeEnd
	mu                sync.Mutex
	reads, writes     int
	readPkts, wrPkts  int
	maxRead, maxWrite int
}

func (l *countingBatchLink) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	n, err := l.BatchPipeEnd.ReadPackets(bufs, sizes)
	l.mu.Lock()
	l.reads++
	l.readPkts += n
	l.maxRead = max(l.maxRead, n)
	l.mu.Unlock()
	return n, err
}

func (l *countingBatchLink) WritePackets(pkts [][]byte) (int, error) {
	l.mu.Lock()
	l.writes++
	l.wrPkts += len(pkts)
	l.maxWrite = max(l.maxWrite, len(pkts))
	l.mu.Unlock()
	return l.BatchPipeEnd.WritePackets(pkts)
}

func (l *countingBatchLink) WritePacket([]byte) error {
	panic("a stack on a BatchLink writes with WritePackets")
}

// newBatchPair is newPair over batch pipe ends of batch size n.
func newBatchPair(t *testing.T, n int, cfgA, cfgB Config) (*pair, *countingBatchLink, *countingBatchLink) {
	t.Helper()
	p := &pair{ra: newRecorder(), rb: newRecorder()}
	p.ea, p.eb = tun.Pipe(1500)
	la, lb := &countingBatchLink{BatchPipeEnd: p.ea.Batch(n)}, &countingBatchLink{BatchPipeEnd: p.eb.Batch(n)}
	var err error
	p.a, err = NewStack(la, cfgA)
	require.NoError(t, err)
	p.b, err = NewStack(lb, cfgB)
	require.NoError(t, err)
	require.NotNil(t, p.a.batch, "the stack uses the batch path")
	t.Cleanup(func() {
		p.a.Close()
		p.b.Close()
		p.ea.Close()
		p.eb.Close()
	})
	return p, la, lb
}

func TestStackBatch_TransferBothWays(t *testing.T) {
	for _, tc := range []struct {
		name   string
		batch  int
		faults tun.Faults
	}{
		{"clean", 32, tun.Faults{}},
		{"batch1", 1, tun.Faults{}},
		{"loss_reorder", 16, tun.Faults{Seed: 7, Loss: 0.01, Reorder: 0.02, Duplicate: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, la, lb := newBatchPair(t, tc.batch, fastConfig(addrA), fastConfig(addrB))
			ca, cb := p.connect(t, 80)
			f := tc.faults
			p.ea.SetFaults(f)
			f.Seed++
			p.eb.SetFaults(f)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); transfer(t, ca, cb, 2<<20, 1) }()
			go func() { defer wg.Done(); transfer(t, cb, ca, 2<<20, 2) }()
			wg.Wait()
			require.NoError(t, ca.Close())
			require.NoError(t, cb.Close())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, p.a.Wait(ctx), "both connections close cleanly")
			require.NoError(t, p.b.Wait(ctx))
			for _, l := range []*countingBatchLink{la, lb} {
				l.mu.Lock()
				assert.LessOrEqual(t, l.maxRead, tc.batch, "a read fills at most BatchSize buffers")
				assert.LessOrEqual(t, l.maxWrite, tc.batch, "a write sends at most BatchSize packets")
				assert.Greater(t, l.readPkts, 0)
				if tc.batch > 1 {
					assert.Less(t, l.writes, l.wrPkts, "some flushes send several packets in one call")
				}
				l.mu.Unlock()
			}
			assert.Zero(t, p.a.Stats().LinkWriteErrors+p.b.Stats().LinkWriteErrors)
		})
	}
}

func TestStackBatch_CloseLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p, _, _ := newBatchPair(t, 8, fastConfig(addrA), fastConfig(addrB))
	ca, _ := p.connect(t, 80)
	_, err := ca.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, p.a.Close())
	require.NoError(t, p.b.Close())
	_, err = ca.Write([]byte("x"))
	require.Error(t, err, "a closed stack's connections fail")
	_, err = p.a.Dial(netip.AddrPortFrom(addrB, 80))
	require.Error(t, err)
	require.NoError(t, p.ea.Close(), "closing the links ends the readers")
	require.NoError(t, p.eb.Close())
	goleak.VerifyNone(t, before)
}
