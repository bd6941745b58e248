package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInitialWindow_RFC5681_RFC6928(t *testing.T) {
	assert.Equal(t, uint32(14600), initialWindow(1460, false), "10 segments of 1460 octets")
	assert.Equal(t, uint32(5360), initialWindow(536, false), "min(10*MSS, max(2*MSS, 14600))")
	assert.Equal(t, uint32(17928), initialWindow(8964, false), "2*MSS when that exceeds 14600")
	assert.Equal(t, uint32(1460), initialWindow(1460, true), "RFC 5681 §3.1: one segment after a lost SYN")
}

func TestNewReno_SlowStartThenAvoidance_RFC5681_3_1(t *testing.T) {
	r := newNewReno(1000, 3000)
	assert.Equal(t, uint32(infiniteSSThresh), r.ssthresh(), "ssthresh starts arbitrarily high")
	assert.True(t, r.slowStart())
	r.onAck(&ackSample{delivered: 5000, cwndLimited: true})
	assert.Equal(t, uint32(4000), r.cwnd(), "slow start: at most one SMSS per ACK (equation 2)")
	r.ssthr = 4000
	assert.False(t, r.slowStart())
	for range 3 {
		r.onAck(&ackSample{delivered: 1000, cwndLimited: true})
	}
	assert.Equal(t, uint32(4000), r.cwnd(), "congestion avoidance: no growth before a cwnd of octets is acknowledged")
	r.onAck(&ackSample{delivered: 1000, cwndLimited: true})
	assert.Equal(t, uint32(5000), r.cwnd(), "then one SMSS (equation 3 by byte counting)")
}

func TestNewReno_NoGrowthWhenNotCwndLimited_RFC7661(t *testing.T) {
	r := newNewReno(1000, 3000)
	r.onAck(&ackSample{delivered: 1000})
	assert.Equal(t, uint32(3000), r.cwnd(), "an application-limited sender does not grow cwnd")
}

func TestNewReno_Congestion_RFC5681_3_2(t *testing.T) {
	r := newNewReno(1000, 10000)
	r.onCongestion(testEpoch, 10000)
	assert.Equal(t, uint32(5000), r.ssthresh(), "RFC 5681 §3.2 step 2: FlightSize/2")
	assert.Equal(t, uint32(10000), r.cwnd(), "cwnd is PRR's to lower")
	r.onRecoveryEnd(testEpoch)
	assert.Equal(t, uint32(5000), r.cwnd(), "RFC 6937: cwnd = ssthresh when recovery ends")
	r.onCongestion(testEpoch, 1000)
	assert.Equal(t, uint32(2000), r.ssthresh(), "never below 2*SMSS")
}

func TestNewReno_RTO_RFC5681_3_1(t *testing.T) {
	r := newNewReno(1000, 10000)
	r.onRTO(testEpoch, 9000)
	assert.Equal(t, uint32(4500), r.ssthresh(), "equation 4: FlightSize/2")
	assert.Equal(t, uint32(1000), r.cwnd(), "the loss window is one segment")
}

func TestNewReno_Idle_RFC5681_4_1(t *testing.T) {
	r := newNewReno(1000, 30000)
	r.onIdle(testEpoch, 10000)
	assert.Equal(t, uint32(10000), r.cwnd(), "cwnd = min(RW, cwnd)")
	r.onIdle(testEpoch, 40000)
	assert.Equal(t, uint32(10000), r.cwnd())
}
