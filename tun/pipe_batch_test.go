package tun_test

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBatchPipe_ReadsWhatIsQueuedUpToTheBatch(t *testing.T) {
	a, b := newPipe(t, 1500)
	ba, bb := a.Batch(4), b.Batch(4)
	assert.Equal(t, 4, ba.BatchSize())
	n, err := ba.WritePackets([][]byte{{1}, {2, 2}, {3, 3, 3}, {4}, {5}, {6}})
	require.NoError(t, err)
	assert.Equal(t, 6, n, "WritePackets writes every packet")

	bufs, sizes := make([][]byte, 8), make([]int, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
	}
	n, err = bb.ReadPackets(bufs, sizes)
	require.NoError(t, err)
	require.Equal(t, 4, n, "one call reads at most BatchSize packets")
	assert.Equal(t, []int{1, 2, 3, 1}, sizes[:4])
	assert.Equal(t, []byte{2, 2}, bufs[1][:sizes[1]])
	n, err = bb.ReadPackets(bufs, sizes)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "then the rest, without waiting for a full batch")
	assert.Equal(t, []byte{6}, bufs[1][:sizes[1]])
}

func TestBatchPipe_ShortBufferEndsTheBatch(t *testing.T) {
	a, b := newPipe(t, 1500)
	_, err := a.Batch(8).WritePackets([][]byte{{1}, make([]byte, 100), {3}})
	require.NoError(t, err)
	bufs, sizes := [][]byte{make([]byte, 10), make([]byte, 10), make([]byte, 10)}, make([]int, 3)
	bb := b.Batch(8)
	n, err := bb.ReadPackets(bufs, sizes)
	require.ErrorIs(t, err, io.ErrShortBuffer)
	assert.Equal(t, 1, n, "the packets before the long one are returned")
	n, err = bb.ReadPackets(bufs, sizes)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the long packet is dropped")
	assert.Equal(t, []byte{3}, bufs[0][:sizes[0]])
}

func TestBatchPipe_WriteErrorAndClose(t *testing.T) {
	a, b := newPipe(t, 100)
	ba, bb := a.Batch(8), b.Batch(8)
	n, err := ba.WritePackets([][]byte{{1}, make([]byte, 101), {3}})
	assert.Error(t, err, "a packet over the MTU fails the call")
	assert.Equal(t, 1, n, "the packets before it were written")

	done := make(chan error)
	go func() {
		_, err := bb.ReadPackets([][]byte{make([]byte, 100)}, make([]int, 1))
		if err == nil { // the packet written before the one over the MTU
			_, err = bb.ReadPackets([][]byte{make([]byte, 100)}, make([]int, 1))
		}
		done <- err
	}()
	waitBlockedIn(t, "(*BatchPipeEnd).ReadPackets")
	require.NoError(t, bb.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed, "Close unblocks ReadPackets")
}
