package e2e

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// stress reports whether UTCP_STRESS=1 asks for the full sizes (make stress).
func stress() bool { return os.Getenv("UTCP_STRESS") == "1" }

// usage is what the process holds at one moment: the Go heap in use and
// the resident set.
type usage struct {
	heap, rss  uint64 // bytes
	goroutines int
}

// measure collects garbage, returns freed pages to the kernel, and reads
// the heap in use (runtime.MemStats.HeapInuse) and VmRSS.
func measure(t testing.TB) usage {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory() // a GC too, then the scavenger returns what is free
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{heap: ms.HeapInuse, rss: vmRSS(t), goroutines: runtime.NumGoroutine()}
}

// vmRSS is the process's resident set size from /proc/self/status.
func vmRSS(t testing.TB) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err, "VmRSS %q", v)
			return kb << 10
		}
	}
	require.NoError(t, sc.Err())
	require.FailNow(t, "no VmRSS in /proc/self/status")
	return 0
}

// perConn is the growth from before to after, in bytes per connection of n.
func perConn(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}
