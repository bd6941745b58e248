package tcp

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun/netsim"
)

// simPathMTU is the path MTU of the PMTU simulations, below the links' 1500.
const simPathMTU = 1280

// A path that drops every packet over 1280 octets without an ICMP message
// (netsim's MTU, a PMTU black hole): black-hole detection (RFC 4821, RFC 8899 §4.3)
// lowers the MSS after two timeouts, one step, and the transfer completes.
func TestSim_PMTUBlackHole_RFC4821(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		im := netsim.Impairment{Delay: 5 * time.Millisecond, MTU: simPathMTU}
		ea, _, _, _, ca, cb := simConnect(t, im, 1, fastConfig)
		start := time.Now()
		transfer(t, ca, cb, simSize(), 1)
		took := time.Since(start)
		in := ca.Info()
		assert.Equal(t, uint64(1), in.BlackHoleDetections, "one step down")
		assert.Equal(t, simPathMTU, in.PathMTU)
		assert.Equal(t, simPathMTU-40-tsOptionLen, in.Options.MSS, "the MSS fits the path, timestamps taken off")
		assert.NoError(t, in.SoftError, "progress cleared the trouble")
		t.Logf("%d octets over a %d-octet black hole in %v of simulated time; A→B %+v", simSize(), simPathMTU, took, ea.Stats())
		assert.NotZero(t, ea.Stats().TooBig, "the path dropped the large segments")
	})
}

// Both ways over the black hole, the ACKs ride on data segments that the
// path drops too, so the sender may see more timeouts and take the second
// step (576); the transfer completes all the same.
func TestSim_PMTUBlackHoleBothWays_RFC4821(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		im := netsim.Impairment{Delay: 5 * time.Millisecond, MTU: simPathMTU}
		_, _, _, _, ca, cb := simConnect(t, im, 1, fastConfig)
		simBothWays(t, ca, cb, simSize())
		for _, c := range []*Conn{ca, cb} {
			in := c.Info()
			assert.NotZero(t, in.BlackHoleDetections)
			assert.LessOrEqual(t, in.PathMTU, simPathMTU)
		}
	})
}

// A router that answers each packet over 1280 octets with fragmentation
// needed (RFC 1191): the MSS goes down at the first message, with no
// timeout and no step of black-hole detection.
func TestSim_PMTUFragNeeded_RFC1191(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ea, eb, a, _, ca, cb := simConnect(t, netsim.Impairment{Delay: 5 * time.Millisecond}, 1, fastConfig)
		router := addrB.Prev()
		icmpFrom := func(back *netsim.End) func([]byte) bool {
			return func(p []byte) bool {
				if len(p) <= simPathMTU {
					return false
				}
				// RFC 1191 §4: the router quotes the header and 64 bits of data.
				if h, _, err := ip.Parse(p); err == nil {
					msg := ip.AppendICMPError(nil, router, h.Src, ip.ICMPTypeDestUnreachable, ip.ICMPCodeFragNeeded, simPathMTU, p[:h.HeaderLen+8])
					// Not from inside the drop hook: the other end's hook may be
					// writing this way at the same time, and each holds its lock.
					go func() { _ = back.WritePacket(msg) }()
				}
				return true
			}
		}
		ea.SetDrop(icmpFrom(eb))
		eb.SetDrop(icmpFrom(ea))
		simBothWays(t, ca, cb, simSize())
		for _, c := range []*Conn{ca, cb} {
			in := c.Info()
			assert.Equal(t, uint64(1), in.PMTUDecreases)
			assert.Zero(t, in.BlackHoleDetections)
			assert.Zero(t, in.Timeouts, "no timeout waited for")
			assert.Equal(t, simPathMTU-40-tsOptionLen, in.Options.MSS)
		}
		assert.NotZero(t, a.Stats().ICMPErrorsAccepted)
	})
}

// simBothWays moves n octets each way at once.
func simBothWays(t *testing.T, ca, cb *Conn, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); transfer(t, ca, cb, n, 1) }()
	transfer(t, cb, ca, n, 2)
	<-done
	require.False(t, t.Failed())
}
