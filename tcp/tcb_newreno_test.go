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
	r.onAck(testEpoch, 5000, 0)
	assert.Equal(t, uint32(4000), r.cwnd(), "slow start: at most one SMSS per ACK (equation 2)")
	r.ssthr = 4000
	r.onAck(testEpoch, 1000, 0)
	assert.Equal(t, uint32(4250), r.cwnd(), "congestion avoidance: SMSS*SMSS/cwnd (equation 3)")
}

func TestNewReno_FastRecovery_RFC6582(t *testing.T) {
	r := newNewReno(1000, 10000)
	r.onLoss(testEpoch, 10000)
	assert.Equal(t, uint32(5000), r.ssthresh(), "RFC 5681 §3.2 step 2: FlightSize/2")
	assert.Equal(t, uint32(8000), r.cwnd(), "step 3: ssthresh + 3*SMSS")
	r.onDupAck(testEpoch)
	assert.Equal(t, uint32(9000), r.cwnd(), "step 4: inflate by SMSS per duplicate ACK")
	r.onPartialAck(testEpoch, 3000)
	assert.Equal(t, uint32(7000), r.cwnd(), "RFC 6582 step 5: deflate by the amount acknowledged, add SMSS")
	r.onRecoveryEnd(testEpoch, 2000)
	assert.Equal(t, uint32(3000), r.cwnd(), "RFC 6582 step 6: min(ssthresh, max(FlightSize, SMSS) + SMSS)")
	r.onLoss(testEpoch, 1000)
	assert.Equal(t, uint32(2000), r.ssthresh(), "never below 2*SMSS")
}

func TestNewReno_RTO_RFC5681_3_1(t *testing.T) {
	r := newNewReno(1000, 10000)
	r.onRTO(testEpoch, 9000)
	assert.Equal(t, uint32(4500), r.ssthresh(), "equation 4: FlightSize/2")
	assert.Equal(t, uint32(1000), r.cwnd(), "the loss window is one segment")
}
