package tcp

import (
	"net"
	"time"
)

// keepAlive is the keep-alive state of RFC 9293 §3.8.4: off unless the
// application asks (MUST-24, MUST-25).
type keepAlive struct {
	cfg        net.KeepAliveConfig // Enable, Idle, Interval, Count
	lastRecv   time.Time           // when a segment last arrived
	lastProbe  time.Time           // when the last probe went out
	unanswered int                 // probes sent since the peer was last heard
	due        bool                // a probe goes out with the next output
}

// heard records that a segment arrived: the peer is alive.
func (k *keepAlive) heard(now time.Time) {
	k.lastRecv, k.unanswered = now, 0
}

// set applies a keep-alive configuration; zero fields keep the current
// values (MUST-27: the interval is configurable).
func (k *keepAlive) set(ka net.KeepAliveConfig) {
	k.cfg.Enable = ka.Enable
	if ka.Idle > 0 {
		k.cfg.Idle = ka.Idle
	}
	if ka.Interval > 0 {
		k.cfg.Interval = ka.Interval
	}
	if ka.Count > 0 {
		k.cfg.Count = ka.Count
	}
}

// next is when the next probe is due, given that the connection is idle
// (the caller checks that); zero if keep-alives are off.
func (k *keepAlive) next() time.Time {
	if !k.cfg.Enable || k.lastRecv.IsZero() {
		return time.Time{}
	}
	if k.unanswered == 0 {
		return k.lastRecv.Add(k.cfg.Idle)
	}
	return k.lastProbe.Add(k.cfg.Interval)
}

// fire sends a probe, or reports that Count probes went unanswered.
// MUST-29: one unanswered probe never kills the connection.
func (k *keepAlive) fire(now time.Time) (giveUp bool) {
	if k.unanswered >= k.cfg.Count {
		return true
	}
	k.unanswered++
	k.lastProbe = now
	k.due = true
	return false
}

// keepAliveAt is when the next keep-alive probe is due; zero when none is.
// RFC 9293 §3.8.4, MUST-26: probe only a connection with nothing
// outstanding and nothing received for the idle interval.
func (c *tcb) keepAliveAt() time.Time {
	if (c.state != StateEstablished && c.state != StateCloseWait) ||
		c.snd.una != c.snd.nxt || c.snd.buf.Len() > 0 {
		return time.Time{}
	}
	return c.ka.next()
}
