package tcp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sackEstablished is a passive connection that agreed to SACK and
// timestamps (send MSS 1012-12 = 1000; the peer's TS clock at 1000, ours from the offset
// the test config gives), with ten segments of 1000 octets in flight.
func sackEstablished(t *testing.T) *core {
	t.Helper()
	h := newCore(t, func(c *Config) {
		c.Congestion = NewReno
		c.TSOffset = func(FourTuple) uint32 { return 0 }
	})
	h.must("listen")
	h.in("S 0:0(0) win 65535 <mss 1012,sackOK,TS val 1000 ecr 0>")
	h.in(". 1:1(0) ack 1 win 65535 <TS val 1001 ecr 1>")
	require.True(t, h.c.opt.sack && h.c.opt.ts)
	h.now = h.now.Add(100 * time.Millisecond)
	_, err := h.c.send([]byte(strings.Repeat("x", 10000)))
	require.NoError(t, err)
	require.Len(t, h.flush(), 10)
	return h
}

// ts is the TS option of a segment from the peer echoing ecr.
func ts(ecr uint32) string { return "TS val 2000 ecr " + itoa(ecr) }

func itoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

func TestDSACKUndo_RFC3708(t *testing.T) {
	h := sackEstablished(t)
	before, sent := h.c.cc.cwnd(), h.c.tsNow(h.now)
	h.now = h.now.Add(10 * time.Millisecond)
	h.in(". 1:1(0) ack 1 win 65535 <sack 1001:2001," + ts(sent) + ">")
	h.in(". 1:1(0) ack 1 win 65535 <sack 1001:3001," + ts(sent) + ">")
	out := h.in(". 1:1(0) ack 1 win 65535 <sack 1001:4001," + ts(sent) + ">")
	require.NotEmpty(t, out)
	assert.Contains(t, out[0], ". 1:1001(1000)", "three segments SACKed above: the first is resent")
	require.True(t, h.c.rec.inRecovery)
	assert.Less(t, h.c.cc.ssthresh(), before)
	// The original was only late: the ACK that covers it reports the
	// retransmission as a duplicate.
	h.in(". 1:1(0) ack 4001 win 65535 <sack 1:1001," + ts(sent) + ">")
	assert.False(t, h.c.rec.inRecovery, "every retransmission was a duplicate: the recovery is undone")
	assert.Equal(t, uint64(1), h.c.rec.undos)
	assert.GreaterOrEqual(t, h.c.cc.cwnd(), before, "cwnd as before the recovery")
	assert.Equal(t, uint32(infiniteSSThresh), h.c.cc.ssthresh(), "and ssthresh")
	assert.True(t, h.c.snd.rack.reorderingSeen, "the path reorders")
	checkInvariants(t, h.c)
}

func TestEifelUndo_RFC3522(t *testing.T) {
	h := sackEstablished(t)
	before, sent := h.c.cc.cwnd(), h.c.tsNow(h.now)
	h.now = h.now.Add(10 * time.Millisecond)
	for _, s := range []string{"1001:2001", "1001:3001", "1001:4001"} {
		h.in(". 1:1(0) ack 1 win 65535 <sack " + s + "," + ts(sent) + ">")
	}
	require.True(t, h.c.rec.inRecovery)
	// The first ACK of new data echoes the original's timestamp, older than
	// the retransmission's: the original arrived.
	h.in(". 1:1(0) ack 4001 win 65535 <" + ts(sent) + ">")
	assert.False(t, h.c.rec.inRecovery)
	assert.Equal(t, uint64(1), h.c.rec.undos)
	assert.GreaterOrEqual(t, h.c.cc.cwnd(), before)
	checkInvariants(t, h.c)
}

func TestEifel_RealLossIsNotUndone(t *testing.T) {
	h := sackEstablished(t)
	sent := h.c.tsNow(h.now)
	h.now = h.now.Add(10 * time.Millisecond)
	for _, s := range []string{"1001:2001", "1001:3001", "1001:4001"} {
		h.in(". 1:1(0) ack 1 win 65535 <sack " + s + "," + ts(sent) + ">")
	}
	rtx := h.c.tsNow(h.now)
	h.now = h.now.Add(10 * time.Millisecond)
	// The ACK echoes the retransmission: the original was lost.
	h.in(". 1:1(0) ack 4001 win 65535 <" + ts(rtx) + ">")
	assert.True(t, h.c.rec.inRecovery, "a real loss stays recovered")
	assert.Zero(t, h.c.rec.undos)
}

func TestIsLostOffOnceReorderingSeen_RFC8985(t *testing.T) {
	h := sackEstablished(t)
	h.c.snd.rack.reorderingSeen = true
	sent := h.c.tsNow(h.now)
	for _, s := range []string{"1001:2001", "1001:3001", "1001:4001"} {
		assert.Empty(t, h.in(". 1:1(0) ack 1 win 65535 <sack "+s+","+ts(sent)+">"),
			"with reordering seen, three SACKed segments are not a loss")
	}
	assert.False(t, h.c.rec.inRecovery)
	assert.True(t, h.c.timers.armed(timerReorder), "RACK waits its reordering window")
	out := h.wait()
	require.NotEmpty(t, out, "then the window passes")
	assert.Contains(t, out[0], ". 1:1001(1000)")
	assert.True(t, h.c.rec.inRecovery)
}

// RFC 7661: an application that keeps only a little data in flight does
// not grow cwnd, however many ACKs arrive; one that fills the window does.
func TestCwndValidation_RFC7661(t *testing.T) {
	h := newCore(t, func(c *Config) { c.Congestion = NewReno; c.NoTimestamps = true })
	h.must("listen")
	h.in("S 0:0(0) win 65535 <mss 1000>")
	h.in(". 1:1(0) ack 1 win 65535")
	iw := h.c.cc.cwnd()
	require.Equal(t, uint32(10000), iw)
	for i := range 50 {
		h.now = h.now.Add(10 * time.Millisecond)
		_, err := h.c.send(make([]byte, 1000))
		require.NoError(t, err)
		require.Len(t, h.flush(), 1)
		h.in(". 1:1(0) ack " + itoa(uint32(1001+1000*i)) + " win 65535")
	}
	assert.Equal(t, iw, h.c.cc.cwnd(), "application-limited: one segment in flight of ten allowed")
	_, err := h.c.send(make([]byte, 20000))
	require.NoError(t, err)
	require.Len(t, h.flush(), 10, "a full window")
	h.in(". 1:1(0) ack 53001 win 65535")
	assert.Greater(t, h.c.cc.cwnd(), iw, "cwnd-limited: slow start grows it")
}

// RFC 5681 §4.1: after an idle period longer than the RTO, the sender
// restarts from the initial window rather than bursting its old cwnd.
func TestRestartAfterIdle_RFC5681_4_1(t *testing.T) {
	h := newCore(t, func(c *Config) { c.Congestion = NewReno; c.NoTimestamps = true })
	h.must("listen")
	h.in("S 0:0(0) win 65535 <mss 1000>")
	h.in(". 1:1(0) ack 1 win 65535")
	_, err := h.c.send(make([]byte, 10000))
	require.NoError(t, err)
	require.Len(t, h.flush(), 10)
	h.in(". 1:1(0) ack 10001 win 65535")
	grown := h.c.cc.cwnd()
	require.Greater(t, grown, uint32(10000))
	h.now = h.now.Add(5 * time.Second) // idle, well past the RTO
	_, err = h.c.send(make([]byte, 30000))
	require.NoError(t, err)
	assert.Len(t, h.flush(), 10, "the restart window is the initial window")
	assert.Equal(t, uint32(10000), h.c.cc.cwnd())
}
