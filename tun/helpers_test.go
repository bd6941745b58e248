package tun_test

import (
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

var (
	kernelAddr = netip.MustParseAddr("10.9.0.1")
	peerAddr   = netip.MustParseAddr("10.9.0.2")
)

// echoPacket builds a valid IPv4 ICMP echo request whose data carries seq,
// so packets are distinguishable.
func echoPacket(t testing.TB, seq uint16, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(int(seq) + i)
	}
	return ip.AppendEchoRequest(nil, peerAddr, kernelAddr, 7, seq, data)
}

// waitBlockedIn waits until some goroutine is parked (select, channel, or
// network poller) inside the function fn, so a test can check that an
// operation unblocks a call that is really pending, not merely about to start.
func waitBlockedIn(t testing.TB, fn string) {
	t.Helper()
	blocked := func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			parked := strings.Contains(header, "[select") || strings.Contains(header, "[chan receive") ||
				strings.Contains(header, "[IO wait")
			if parked && strings.Contains(g, fn) {
				return true
			}
		}
		return false
	}
	require.Eventually(t, blocked, 10*time.Second, time.Millisecond, "no goroutine blocked in %s", fn)
}
