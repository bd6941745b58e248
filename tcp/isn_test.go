package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSipHash24_ReferenceVectors(t *testing.T) {
	// Key 00 01 .. 0f, message 00 01 .. (n-1): vectors from the SipHash paper's reference code.
	var k0, k1 uint64 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	assert.Equal(t, uint64(0x726fdb47dd0e0e31), sipHash24(k0, k1, nil), "the empty message must hash to the first reference vector")
	assert.Equal(t, uint64(0xa129ca6149be45e5), sipHash24(k0, k1, msg), "the 15-byte message is the paper's worked example (Appendix A)")
}

func isnTuple(lport, rport uint16) FourTuple {
	return FourTuple{
		Local:  netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), lport),
		Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), rport),
	}
}

func TestISN_SHLD1_TuplesDiffer(t *testing.T) {
	g := newISNGen()
	now := time.Unix(1000, 0)
	seen := map[Seq]FourTuple{}
	for _, id := range []FourTuple{isnTuple(80, 40000), isnTuple(80, 40001), isnTuple(81, 40000), isnTuple(40000, 80),
		{Local: isnTuple(80, 40000).Local, Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.3"), 40000)}} {
		isn := g.isn(id, now)
		prev, dup := seen[isn]
		assert.False(t, dup, "RFC 6528: F hashes the four-tuple, so %v and %v must get different ISNs", id, prev)
		seen[isn] = id
	}
}

func TestISN_MUST8_ClockAdvances(t *testing.T) {
	g := newISNGen()
	id := isnTuple(80, 40000)
	t0 := time.Unix(1000, 0)
	assert.Equal(t, g.isn(id, t0), g.isn(id, t0), "the same tuple at the same moment gives the same ISN (F is a function)")
	assert.Equal(t, g.isn(id, t0).Add(250), g.isn(id, t0.Add(time.Millisecond)),
		"MUST-8: M ticks every 4 µs, so one millisecond later the ISN is 250 higher")
	assert.Equal(t, g.isn(id, t0), g.isn(id, t0.Add(3*time.Microsecond)), "the clock ticks in 4 µs steps")
}

// RFC 6528 §3 with a monotonic M: the ISN depends on the time since the
// generator started, not on what the wall clock says, so a clock step
// cannot make ISNs repeat.
func TestISN_RFC6528_MonotonicClock(t *testing.T) {
	id := isnTuple(80, 40000)
	a, b := newISNGen(), newISNGen()
	b.k0, b.k1 = a.k0, a.k1
	startA := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	startB := startA.Add(-3 * time.Hour) // the same moment after the wall clock stepped back
	assert.Equal(t, a.isn(id, startA), b.isn(id, startB), "the same key at its start gives the same ISN")
	assert.Equal(t, a.isn(id, startA.Add(time.Second)), b.isn(id, startB.Add(time.Second)),
		"a second later too, whatever the wall clock reads")
	assert.Equal(t, a.isn(id, startA).Add(250000), a.isn(id, startA.Add(time.Second)), "M ticks every 4 µs")
}

func TestISN_MUST9_SecretPerStack(t *testing.T) {
	g1, g2 := newISNGen(), newISNGen()
	id := isnTuple(80, 40000)
	now := time.Unix(1000, 0)
	assert.NotEqual(t, [2]uint64{g1.k0, g1.k1}, [2]uint64{g2.k0, g2.k1}, "SHLD-1: each stack draws its own random key")
	assert.NotEqual(t, g1.isn(id, now), g2.isn(id, now), "MUST-9: without the key the ISN cannot be predicted, so two keys give two ISNs")
}

func TestISNAfter_RFC1122_TimeWaitReopen(t *testing.T) {
	assert.Equal(t, Seq(5000), isnAfter(5000, 4000), "an ISN above the old SND.NXT is kept")
	assert.True(t, isnAfter(3000, 4000).GreaterThan(4000), "an ISN at or below the old SND.NXT is moved above it")
	assert.True(t, isnAfter(0x7fff_ffff, 0xffff_ff00).GreaterThan(0xffff_ff00), "the comparison wraps (RFC 9293 §3.4)")
}
