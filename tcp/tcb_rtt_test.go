package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func testRTTEstimator() rttEstimator {
	return newRTTEstimator(&Config{InitialRTO: time.Second, MinRTO: 200 * time.Millisecond, MaxRTO: 60 * time.Second})
}

func TestRTTEstimator_FirstSample_RFC6298_2_2(t *testing.T) {
	e := testRTTEstimator()
	assert.Equal(t, time.Second, e.rto, "§2.1: the RTO starts at the initial RTO")
	e.sample(100 * time.Millisecond)
	assert.Equal(t, 100*time.Millisecond, e.srtt, "SRTT <- R")
	assert.Equal(t, 50*time.Millisecond, e.rttvar, "RTTVAR <- R/2")
	assert.Equal(t, 300*time.Millisecond, e.rto, "RTO <- SRTT + 4*RTTVAR")
}

func TestRTTEstimator_LaterSamples_RFC6298_2_3(t *testing.T) {
	e := testRTTEstimator()
	e.sample(100 * time.Millisecond)
	e.sample(200 * time.Millisecond)
	assert.Equal(t, 62500*time.Microsecond, e.rttvar, "RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'| = 37.5 + 25 ms")
	assert.Equal(t, 112500*time.Microsecond, e.srtt, "SRTT <- 7/8 SRTT + 1/8 R'")
	assert.Equal(t, 362500*time.Microsecond, e.rto)
}

func TestRTTEstimator_Bounds_RFC6298_2_4(t *testing.T) {
	e := testRTTEstimator()
	e.sample(time.Millisecond)
	assert.Equal(t, 200*time.Millisecond, e.rto, "§2.4: never below the minimum")
	e = testRTTEstimator()
	e.sample(time.Minute)
	assert.Equal(t, 60*time.Second, e.rto, "§2.5: a maximum may be placed on the RTO")
	for range 20 {
		e.sample(0)
	}
	assert.Less(t, e.rto, 60*time.Second, "smaller samples lower it again")
}

func TestRTTEstimator_ClockGranularity(t *testing.T) {
	e := newRTTEstimator(&Config{InitialRTO: time.Second, MinRTO: time.Microsecond, MaxRTO: time.Minute})
	for range 50 {
		e.sample(10 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, e.rto, 11*time.Millisecond, "§2.3: RTO >= SRTT + G even when RTTVAR is zero")
}

func TestRTTEstimator_Backoff_RFC6298_5_5(t *testing.T) {
	e := testRTTEstimator()
	var got []time.Duration
	for range 8 {
		e.backoff()
		got = append(got, e.rto)
	}
	assert.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 60 * time.Second, 60 * time.Second, 60 * time.Second}, got, "doubles, up to the maximum")
}

func TestRTTEstimator_SYNTimeout_RFC6298_5_7(t *testing.T) {
	e := testRTTEstimator()
	e.synTimedOut()
	assert.Equal(t, 3*time.Second, e.rto, "after a SYN timeout the RTO restarts at 3 s")
	e.backoff()
	e.backoff()
	e.synTimedOut()
	assert.Equal(t, 12*time.Second, e.rto, "a larger RTO is kept")
}
