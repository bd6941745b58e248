package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tsEstablished is a passive connection whose handshake agreed timestamps:
// the peer's TSvals start at 1000, ours count milliseconds from testEpoch.
func tsEstablished(t *testing.T) *core {
	t.Helper()
	h := newCore(t, nil)
	h.must("listen")
	h.must("S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1000 ecr 0>",
		"S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 0 ecr 1000>")
	h.now = h.now.Add(10 * time.Millisecond)
	h.must(". 1:1(0) ack 1 win 65535 <nop,nop,TS val 1010 ecr 0>")
	require.Equal(t, StateEstablished, h.c.state)
	return h
}

// RFC 7323 §3.2, RFC 2018 §2: what both SYNs carried is agreed, and
// nothing else; an option configured off is neither offered nor agreed.
func TestNegotiation_BothSYNs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mod       func(*Config)
		syn       string
		sack, ts  bool
		wantMSS   int
		synAckOpt string
	}{
		{"SACK and TS offered", nil, "<mss 1460,sackOK,TS val 1 ecr 0>", true, true, 1448, "<mss 1460,sackOK,TS val 0 ecr 1>"},
		{"TS only", nil, "<mss 1460,nop,nop,TS val 1 ecr 0>", false, true, 1448, "<mss 1460,nop,nop,TS val 0 ecr 1>"},
		{"SACK only", nil, "<mss 1460,nop,nop,sackOK>", true, false, 1460, "<mss 1460,nop,nop,sackOK>"},
		{"neither", nil, "<mss 1460>", false, false, 1460, "<mss 1460>"},
		{"NoSACK", func(c *Config) { c.NoSACK = true }, "<mss 1460,sackOK,TS val 1 ecr 0>", false, true, 1448, "<mss 1460,nop,nop,TS val 0 ecr 1>"},
		{"NoTimestamps", func(c *Config) { c.NoTimestamps = true }, "<mss 1460,sackOK,TS val 1 ecr 0>", true, false, 1460, "<mss 1460,nop,nop,sackOK>"},
		{"small peer MSS", nil, "<mss 536,TS val 1 ecr 0>", false, true, 524, "<mss 1460,nop,nop,TS val 0 ecr 1>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCore(t, tc.mod)
			h.must("listen")
			h.must("S 0:0(0) win 65535 "+tc.syn, "S. 0:0(0) ack 1 win 65535 "+tc.synAckOpt)
			n := h.c.negotiated()
			assert.Equal(t, tc.sack, n.SACK, "SACK agreed")
			assert.Equal(t, tc.ts, n.Timestamps, "timestamps agreed")
			assert.Equal(t, tc.wantMSS, n.MSS, "MUST-16: the send MSS less the 12 octets of timestamps")
		})
	}
}

// RFC 7323 §3.2: an active open offers both; the SYN-ACK decides.
func TestNegotiation_Active(t *testing.T) {
	h := newCore(t, nil)
	h.must("open", "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 1>")
	h.now = h.now.Add(5 * time.Millisecond)
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 70 ecr 0>", ". 1:1(0) ack 1 win 65535 <nop,nop,TS val 5 ecr 70>")
	assert.Equal(t, NegotiatedOptions{MSS: 1448, SACK: true, Timestamps: true}, h.c.negotiated())

	h = newCore(t, func(c *Config) { c.NoSACK, c.NoTimestamps = true, true })
	h.must("open", "S 0:0(0) win 65535 <mss 1460,nop,wscale 1>")
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 70 ecr 0>", ". 1:1(0) ack 1 win 65535")
	assert.Equal(t, NegotiatedOptions{MSS: 1460}, h.c.negotiated(), "what we did not offer is not agreed")
}

// RFC 7323 §5.4: the TS clock ticks once a millisecond from the host's
// origin, plus the connection's offset, and wraps modulo 2^32.
func TestTSClock(t *testing.T) {
	c := newTCB(&Config{}, FourTuple{}, 0)
	c.tsInit(testEpoch, 0xffffff00)
	assert.Equal(t, uint32(0xffffff00), c.tsNow(testEpoch))
	assert.Equal(t, uint32(0xffffff00), c.tsNow(testEpoch.Add(999*time.Microsecond)), "1 ms ticks")
	assert.Equal(t, uint32(0xffffff01), c.tsNow(testEpoch.Add(time.Millisecond)))
	assert.Equal(t, uint32(0x00000010), c.tsNow(testEpoch.Add(0x110*time.Millisecond)), "wraps")
	assert.Equal(t, uint32(0xffffff00), c.tsNow(testEpoch.Add(-time.Second)), "never before the origin")
}

// RFC 7323 §7.1: the offset is a keyed hash of the four-tuple: the same
// for every incarnation (RFC 6191), different across tuples and hosts, and
// unrelated to the ISN's hash under the same key.
func TestTSOffset_RFC7323_7_1(t *testing.T) {
	g := newISNGen()
	a := FourTuple{Local: hostAddrPort(80), Remote: hostAddrPort(40000)}
	b := FourTuple{Local: hostAddrPort(80), Remote: hostAddrPort(40001)}
	assert.Equal(t, g.tsOffset(a), g.tsOffset(a), "the same tuple, the same offset")
	assert.NotEqual(t, g.tsOffset(a), g.tsOffset(b), "another tuple, another offset")
	assert.NotEqual(t, g.tsOffset(a), newISNGen().tsOffset(a), "another host's key, another offset")
	assert.NotEqual(t, g.tsOffset(a), uint32(g.hash(a, domainISN)), "not the ISN's hash")
}

// RFC 7323 §4: RTT samples from TSecr, for ACKs of new data only.
func TestTSRTT_RFC7323_4(t *testing.T) {
	h := tsEstablished(t)
	h.now = h.now.Add(5 * time.Millisecond)
	out := h.rawOut()
	require.Empty(t, out)
	_, err := h.c.send([]byte("hello"))
	require.NoError(t, err)
	out = h.rawOut()
	require.Len(t, out, 1)
	sent := out[0].Options.TSVal
	assert.Equal(t, uint32(15), sent, "TSval: 15 ms after the origin")

	h.now = h.now.Add(42 * time.Millisecond)
	ack := h.segment(". 1:1(0) ack 6 win 65535")
	ack.Options = Options{HasTimestamp: true, TSVal: 1100, TSEcr: sent}
	d, ok := h.c.tsRTT(h.now, ack)
	assert.True(t, ok, "an ACK of new data echoing our TSval is a sample")
	assert.Equal(t, 42*time.Millisecond, d)

	dup := *ack
	dup.Ack = h.c.snd.una
	_, ok = h.c.tsRTT(h.now, &dup)
	assert.False(t, ok, "a duplicate ACK acknowledges no new data")
	zero := *ack
	zero.Options.TSEcr = 0
	_, ok = h.c.tsRTT(h.now, &zero)
	assert.False(t, ok, "TSecr 0 echoes nothing")
	future := *ack
	future.Options.TSEcr = sent + 1000
	_, ok = h.c.tsRTT(h.now, &future)
	assert.False(t, ok, "an echo of a TSval we have not sent yet")
	same := *ack
	same.Options.TSEcr = h.c.tsNow(h.now)
	d, ok = h.c.tsRTT(h.now, &same)
	assert.True(t, ok)
	assert.Equal(t, time.Millisecond, d, "below one tick counts as one, as in Linux")
}

// RFC 7323 §5.3 R1, §5.5: an old TSval is rejected while TS.Recent is
// valid; after 24 days without an update TS.Recent is no longer valid, so
// the segment is accepted and sets it anew.
func TestPAWS_TSRecentExpires_RFC7323_5_5(t *testing.T) {
	h := tsEstablished(t)
	h.now = h.now.Add(time.Second)
	old := h.segment(`P. 1:6(5) ack 1 win 65535 "stale"`)
	old.Options = Options{HasTimestamp: true, TSVal: 500}
	h.c.segmentArrives(h.now, old)
	assert.Equal(t, []string{". 1:1(0) ack 1 win 65535 <nop,nop,TS val 1010 ecr 1010>"}, h.flush(), "R1: answered with an ACK and dropped")
	assert.Equal(t, uint64(1), h.c.stats.PAWSRejected)

	h.now = h.now.Add(tsRecentMaxIdle)
	h.c.segmentArrives(h.now, old)
	assert.Equal(t, uint64(1), h.c.stats.PAWSRejected, "§5.5: TS.Recent is invalid after 24 days idle")
	assert.Equal(t, uint32(500), h.c.ts.recent, "the segment sets TS.Recent anew")
	assert.Equal(t, 5, h.c.rcv.buf.Len(), "and its data is taken")
	checkInvariants(t, h.c)
}

// RFC 7323 §3.2: once agreed, a non-RST segment without TSopt is dropped
// silently and counted; the first check's ACK for it is not sent either.
func TestTSMissing_RFC7323_3_2(t *testing.T) {
	h := tsEstablished(t)
	h.must(`P. 1:6(5) ack 1 win 65535 "hello"`)
	assert.Equal(t, uint64(1), h.c.stats.TSMissing)
	assert.Equal(t, 0, h.c.rcv.buf.Len(), "its data is not taken")
}

func hostAddrPort(port uint16) netip.AddrPort { return netip.AddrPortFrom(hostAddr, port) }
