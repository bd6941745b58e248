package tcp

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestKeepAlive_Schedule_MUST26_MUST29(t *testing.T) {
	k := keepAlive{cfg: net.KeepAliveConfig{Idle: 10 * time.Second, Interval: time.Second, Count: 2}}
	k.heard(testEpoch)
	assert.True(t, k.next().IsZero(), "MUST-25: off unless enabled")
	k.set(net.KeepAliveConfig{Enable: true})
	assert.Equal(t, testEpoch.Add(10*time.Second), k.next(), "the first probe after the idle time")
	assert.False(t, k.fire(k.next()), "probe 1")
	assert.True(t, k.due)
	assert.Equal(t, testEpoch.Add(11*time.Second), k.next(), "then one per interval")
	assert.False(t, k.fire(k.next()), "probe 2: MUST-29, unanswered probes alone do not end it")
	assert.True(t, k.fire(k.next()), "after Count unanswered probes: give up")
	k.heard(testEpoch.Add(time.Minute))
	assert.Equal(t, 0, k.unanswered, "hearing from the peer resets the count")
	assert.Equal(t, testEpoch.Add(time.Minute+10*time.Second), k.next())
}

func TestKeepAlive_SetKeepsUnsetFields_MUST27(t *testing.T) {
	k := keepAlive{cfg: net.KeepAliveConfig{Idle: time.Hour, Interval: time.Minute, Count: 9}}
	k.set(net.KeepAliveConfig{Enable: true, Interval: 5 * time.Second})
	assert.Equal(t, net.KeepAliveConfig{Enable: true, Idle: time.Hour, Interval: 5 * time.Second, Count: 9}, k.cfg)
}
