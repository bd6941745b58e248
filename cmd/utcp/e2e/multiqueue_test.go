package e2e

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
)

// TestMultiQueueShardsKernelConns runs one stack per queue of a two-queue
// TUN device behind one tcp.MultiListener and opens connections from the
// kernel: each is served by the stack of its queue, and both stacks get a
// share (all 16 on one stack has odds of 2^-15).
func TestMultiQueueShardsKernelConns(t *testing.T) {
	const conns = 16
	stacks := mqStacks(t, "utcpmqt0", 2)
	m, err := tcp.ListenAll(stacks, 5700)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	go serveEach(m, func(c net.Conn) { echo(c) })

	for i := range conns {
		k := dialKernel(t, utcpAt(5700), 0)
		require.NoError(t, k.SetDeadline(time.Now().Add(waitTimeout)))
		msg := fmt.Sprintf("hello %d", i)
		_, err := io.WriteString(k, msg)
		require.NoError(t, err)
		require.NoError(t, k.CloseWrite())
		got, err := io.ReadAll(k)
		require.NoError(t, err, "connection %d", i)
		assert.Equal(t, msg, string(got), "connection %d is echoed by the stack of its queue", i)
		k.Close()
	}
	var total uint64
	for q, st := range stacks {
		n := st.Stats().ConnsAccepted
		t.Logf("queue %d: %d of %d connections", q, n, conns)
		assert.NotZero(t, n, "queue %d's stack gets a share", q)
		total += n
	}
	assert.EqualValues(t, conns, total, "each connection is accepted once, by one stack")
}
