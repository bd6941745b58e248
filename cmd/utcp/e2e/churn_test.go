package e2e

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/utcp/utcp/tcp"
)

// Churn: many short connections one after another between the kernel and
// an in-process stack, utcp closing first so that each ends in TIME-WAIT
// on utcp's side (for 2×MSL, made short here) and none on the kernel's.
// Afterwards the stack must be back where it started: no connection,
// no goroutine, and memory within the tolerances below.

// churnMSL makes TIME-WAIT 20 ms: the connections in TIME-WAIT at any time
// stay a few dozen, and Wait drains them at once.
const churnMSL = 10 * time.Millisecond

// Tolerances for the growth of memory over a churn. Only a few dozen
// connections are in TIME-WAIT at a time, so the stack's tables peak
// small; what remains is runtime noise: the connection table's map keeps
// its buckets (Go maps do not shrink), the sync.Pools and the GC's own
// structures. 1 MiB of heap is 10 bytes per connection at the full size,
// and half a KiB at the CI size, where a leak of a TCB (several hundred
// bytes) per connection would still show. RSS also holds the runtime's
// free spans the scavenger has not returned and, under -race, shadow
// memory, so it gets 16 MiB.
const (
	churnHeapSlack = 1 << 20
	churnRSSSlack  = 16 << 20
)

// churnCount is how many connections each direction makes: 3,000 (one to
// two seconds each here under -race; 500 under -short), or 100,000 with
// UTCP_STRESS=1 (make stress).
func churnCount() int {
	switch {
	case stress():
		return 100_000
	case testing.Short():
		return 500
	}
	return 3000
}

func TestChurn_KernelDialsUtcp_UtcpClosesFirst(t *testing.T) {
	const port = 4101
	st := stackOnTUN(t, "utcpch1", tcp.Config{MSL: churnMSL})
	ln, err := st.Listen(port)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	d := net.Dialer{Timeout: waitTimeout}
	churn(t, st, func() (k net.Conn, c *tcp.Conn) {
		k, err := d.Dial("tcp4", utcpAt(port).String())
		require.NoError(t, err)
		c, err = ln.AcceptTCP()
		require.NoError(t, err)
		return k, c
	})
}

func TestChurn_UtcpDialsKernel_UtcpClosesFirst(t *testing.T) {
	st := stackOnTUN(t, "utcpch2", tcp.Config{MSL: churnMSL})
	ln, err := net.Listen("tcp4", kernelAt(0).String())
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	to := netip.MustParseAddrPort(ln.Addr().String())
	churn(t, st, func() (net.Conn, *tcp.Conn) {
		c, err := st.Dial(to)
		require.NoError(t, err)
		k, err := ln.Accept()
		require.NoError(t, err)
		return k, c
	})
}

// churn runs churnCount connections made by open, each carrying one octet
// from utcp, which then closes first; the kernel reads to EOF and closes.
// It checks that connections, goroutines and memory return to their level
// after a warm-up of the same kind.
func churn(t *testing.T, st *tcp.Stack, open func() (net.Conn, *tcp.Conn)) {
	one := func() {
		k, c := open()
		_, err := c.Write([]byte{'x'})
		require.NoError(t, err)
		require.NoError(t, c.Close()) // our FIN first: utcp will hold the TIME-WAIT
		require.NoError(t, k.SetReadDeadline(time.Now().Add(waitTimeout)))
		b, err := io.ReadAll(k)
		require.NoError(t, err)
		require.Equal(t, "x", string(b))
		require.NoError(t, k.Close())
	}
	drain := func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		require.NoError(t, st.Wait(ctx), "every TIME-WAIT ends after 2×MSL")
	}
	// The warm-up grows what a run grows once: the tables, the packet
	// buffers, the runtime's pools.
	for range 200 {
		one()
	}
	drain()
	leaks := goleak.IgnoreCurrent()
	before, stats0 := measure(t), st.Stats()

	n := churnCount()
	start := time.Now()
	for range n {
		one()
	}
	elapsed := time.Since(start)
	drain()
	after, stats1 := measure(t), st.Stats()

	assert.Empty(t, st.Conns(), "no connection is left")
	opened := stats1.ConnsDialed - stats0.ConnsDialed + stats1.ConnsAccepted - stats0.ConnsAccepted
	assert.Equal(t, uint64(n), opened, "each connection opened once")
	assert.Equal(t, uint64(n), stats1.ConnsClosed-stats0.ConnsClosed, "and was removed")
	assert.Equal(t, stats0.NoPort, stats1.NoPort, "no segment met a closed port")
	assert.NoError(t, goleak.Find(leaks), "no goroutine is left")
	t.Logf("%d connections in %v (%.0f/s); heap in use %d → %d KiB, RSS %d → %d KiB, goroutines %d → %d",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		before.heap>>10, after.heap>>10, before.rss>>10, after.rss>>10, before.goroutines, after.goroutines)
	assert.LessOrEqual(t, after.heap, before.heap+churnHeapSlack, "the Go heap returns to its level")
	assert.LessOrEqual(t, after.rss, before.rss+churnRSSSlack, "RSS returns to its level")
}
