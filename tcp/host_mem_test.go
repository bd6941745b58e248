package tcp

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Buffers take memory as octets arrive, and give it back once they have
// drained and stayed so for reclaimIdle; the host's account follows.
func TestHost_BuffersFollowUse(t *testing.T) {
	r := newHostRig(t, nil)
	ln := r.listen(80)
	c := r.open(40000)
	require.Same(t, c, r.h.accept(ln))
	assert.False(t, c.holdsMemory(), "a new connection holds no buffer memory")
	assert.Equal(t, int64(connOverhead), r.h.mem.load(), "only its fixed cost")

	_, out := r.in(40000, 80, "P. 5001:6001(1000) ack 1001 win 65535")
	r.match(out, "40000 . 1001:1001(0) ack 6001")
	assert.Equal(t, ringMinAlloc, c.rcv.buf.Allocated(), "1000 octets take the first allocation, not the whole buffer")
	_, out = r.in(40000, 80, "P. 6001:16001(10000) ack 1001 win 65535")
	r.match(out, "40000 . 1001:1001(0) ack 16001")
	assert.Equal(t, 4*ringMinAlloc, c.rcv.buf.Allocated(), "it doubles as octets are held")
	assert.Less(t, c.rcv.buf.Allocated(), c.rcv.buf.Cap())

	n, err := c.send(bytes.Repeat([]byte{'x'}, 100))
	require.NoError(t, err)
	require.Equal(t, 100, n)
	r.h.touch(r.now, c)
	r.match(r.flush(), "40000 P. 1001:1101(100) ack 16001")
	assert.Equal(t, int64(connOverhead+5*ringMinAlloc), r.h.mem.load(), "both rings are counted")

	got, err := c.receive(make([]byte, 20000))
	require.NoError(t, err)
	require.Equal(t, 11000, got)
	r.h.touch(r.now, c)
	r.flush()
	assert.Positive(t, c.rcv.buf.Allocated(), "a drained buffer keeps its memory for a while")

	_, out = r.in(40000, 80, ". 16001:16001(0) ack 1101 win 65535")
	r.match(out)
	r.now = r.now.Add(reclaimIdle)
	r.h.handleTimeout(r.now)
	r.flush()
	assert.False(t, c.holdsMemory(), "idle for reclaimIdle: every buffer gave its memory back")
	assert.Equal(t, int64(connOverhead), r.h.mem.load())
	assert.True(t, c.nextTimeout().IsZero(), "and the reclaim timer stopped")

	// Octets still held are never dropped: only empty buffers are released.
	_, out = r.in(40000, 80, "P. 16001:16101(100) ack 1101 win 65535")
	r.match(out, "40000 . 1101:1101(0) ack 16101")
	r.now = r.now.Add(3 * reclaimIdle)
	r.h.handleTimeout(r.now)
	r.flush()
	assert.Equal(t, 100, c.rcv.buf.Len())
	got, err = c.receive(make([]byte, 200))
	require.NoError(t, err)
	assert.Equal(t, 100, got)
}

// A connection that reaches TIME-WAIT with nothing left to read or send is
// kept as a record, not a TCB; it still answers as TIME-WAIT does and ends
// after 2×MSL.
func TestHost_TimeWaitRecord(t *testing.T) {
	r := newHostRig(t, nil)
	ln := r.listen(80)
	old := r.timeWait(ln)
	assert.NotZero(t, r.ev[old]&evFrozen, "the host reports the TCB detached")
	assert.Nil(t, r.h.conns[old.id], "no TCB in the table")
	rec := r.h.tw.recs[old.id]
	require.NotNil(t, rec)
	assert.LessOrEqual(t, unsafe.Sizeof(*rec), uintptr(320), "a compact record")
	assert.Less(t, unsafe.Sizeof(*rec)*4, unsafe.Sizeof(*old), "a fraction of a TCB")
	assert.False(t, old.holdsMemory())
	assert.Equal(t, 1, r.h.ports[80], "the record holds its port")
	assert.Equal(t, r.now.Add(2*r.cfg.MSL), r.h.nextTimeout())

	// RFC 9293 §3.10.7.4: a retransmitted FIN is acknowledged and restarts 2×MSL.
	r.now = r.now.Add(r.cfg.MSL)
	_, out := r.in(40000, 80, "F. 5001:5001(0) ack 1002 win 65535")
	r.match(out, "40000 . 1002:1002(0) ack 5002")
	assert.Same(t, rec, r.h.tw.recs[old.id], "frozen again into the same record")
	assert.Equal(t, r.now.Add(2*r.cfg.MSL), rec.expiry)

	// An unacceptable segment draws a throttled ACK (RFC 5961 §7); text in
	// the window is ignored (§3.10.7.4 seventh check).
	_, out = r.in(40000, 80, "P. 900000:900010(10) ack 1002 win 65535")
	r.match(out, "40000 . 1002:1002(0) ack 5002")
	_, out = r.in(40000, 80, "P. 5002:5012(10) ack 1002 win 65535")
	r.match(out)

	closed := r.stats()["ConnsClosed"]
	r.now = r.now.Add(2*r.cfg.MSL - 1)
	r.h.handleTimeout(r.now)
	assert.NotNil(t, r.h.tw.recs[old.id], "not before 2×MSL from the restart")
	r.now = r.now.Add(1)
	r.h.handleTimeout(r.now)
	assert.Nil(t, r.h.tw.recs[old.id], "ended")
	assert.Empty(t, r.h.ports)
	assert.Equal(t, closed+1, r.stats()["ConnsClosed"])
	assert.Equal(t, StateClosed, r.h.stateOf(old))
	assert.True(t, r.h.nextTimeout().IsZero())

	// Now closed: a segment draws the RST of §3.10.7.1.
	_, out = r.in(40000, 80, ". 5002:5002(0) ack 1002 win 65535")
	r.match(out, "40000 R 1002:1002(0)")
}

// A RST in the window ends a TIME-WAIT record (RFC 9293 §3.10.7.4); a
// record table at MaxTimeWait closes the next connection at once.
func TestHost_TimeWaitRecordBounds(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.MaxTimeWait = 1 })
	ln := r.listen(80)
	old := r.timeWait(ln)
	require.NotNil(t, r.h.tw.recs[old.id])

	c := r.open(40001)
	require.Same(t, c, r.h.accept(ln))
	require.NoError(t, c.close(r.now))
	r.h.touch(r.now, c)
	r.match(r.flush(), "40001 F. 1001:1001(0) ack 5001")
	_, out := r.in(40001, 80, "F. 5001:5001(0) ack 1002 win 65535")
	r.match(out, "40001 . 1002:1002(0) ack 5002")
	assert.Equal(t, StateClosed, c.state, "no room for a second record: closed at once")
	assert.Nil(t, r.h.conns[c.id])
	assert.Equal(t, uint64(1), r.h.stats.timeWaitOverflow.Load())

	_, out = r.in(40000, 80, "R 5002:5002(0) win 0")
	r.match(out)
	assert.Nil(t, r.h.tw.recs[old.id], "the RST at RCV.NXT ended it")
	assert.Empty(t, r.h.ports)
}

// Over Config.MaxConns or Config.MemoryLimit a new connection is refused,
// counted, and nothing already open is touched.
func TestHost_LimitsRefuseNewConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{name: "MaxConns", mod: func(c *Config) { c.MaxConns = 1 }},
		{name: "MemoryLimit", mod: func(c *Config) { c.MemoryLimit = int64(connOverhead) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newHostRig(t, tc.mod)
			ln := r.listen(80)
			c := r.open(40000)
			require.Same(t, c, r.h.accept(ln))
			// Octets the connection accepted take the account over MemoryLimit.
			_, out := r.in(40000, 80, "P. 5001:6001(1000) ack 1001 win 65535")
			r.match(out, "40000 . 1001:1001(0) ack 6001")

			_, out = r.in(40001, 80, "S 7000:7000(0) win 65535")
			r.match(out) // dropped: the peer retries
			assert.Nil(t, r.h.conns[FourTuple{Local: c.id.Local, Remote: netip.AddrPortFrom(peerAddr, 40001)}])
			_, err := r.h.dial(r.now, netip.AddrPortFrom(peerAddr, 9))
			assert.ErrorIs(t, err, syscall.ENOBUFS)
			if tc.name == "MaxConns" {
				assert.Equal(t, uint64(2), r.h.stats.refusedMaxConns.Load())
			} else {
				assert.Equal(t, uint64(2), r.h.stats.refusedMemory.Load())
			}

			// The connection already open goes on: it takes more data, and the
			// capacity of its buffers stops growing only under memory pressure.
			_, out = r.in(40000, 80, "P. 6001:7001(1000) ack 1001 win 65535")
			r.match(out, "40000 . 1001:1001(0) ack 7001")
			got, err := c.receive(make([]byte, 4000))
			require.NoError(t, err)
			assert.Equal(t, 2000, got)
		})
	}
}

// A TCB touched twice in one batch is frozen only after all its events
// are out: the Stack forgets a frozen TCB's Conn, so an event after
// evFrozen would be lost (a reader waiting for EOF would never wake).
func TestHost_FreezeAfterEveryEvent(t *testing.T) {
	r := newHostRig(t, nil)
	ln := r.listen(80)
	c := r.open(40000)
	require.Same(t, c, r.h.accept(ln))
	other := r.open(40001)
	require.Same(t, other, r.h.accept(ln))
	require.NoError(t, c.close(r.now))
	r.h.touch(r.now, c)
	r.match(r.flush(), "40000 F. 1001:1001(0) ack 5001")

	// One batch: our FIN's ACK, a segment for another connection, the peer's FIN.
	in := func(from uint16, text string) {
		seg, err := parseSegment(text)
		require.NoError(t, err)
		seg.SrcPort, seg.DstPort = from, 80
		r.h.input(r.now, peerAddr, hostAddr, &seg)
	}
	in(40000, ". 5001:5001(0) ack 1002 win 65535")
	in(40001, "P. 5001:5002(1) ack 1001 win 65535 \"x\"")
	in(40000, "F. 5001:5001(0) ack 1002 win 65535")
	var evs []tcbEvents
	r.h.flush(r.now, func(FourTuple, *Segment) {}, func(_ time.Time, t *tcb, ev tcbEvents) {
		if t == c {
			evs = append(evs, ev)
		}
	})
	require.NotEmpty(t, evs)
	for i, ev := range evs[:len(evs)-1] {
		assert.Zero(t, ev&evFrozen, "event %d (%v) comes after evFrozen", i+1, fmtEvents(evs[i+1]))
	}
	assert.NotZero(t, evs[len(evs)-1]&evFrozen, "frozen last")
	var all tcbEvents
	for _, ev := range evs {
		all |= ev
	}
	assert.NotZero(t, all&evReadable, "the FIN's EOF is reported")
}

// One handleTimeout fires at most maxTimersPerCall TCBs; the rest stay due,
// so the shell calls again once it has moved packets.
func TestHost_TimersFireInBoundedBatches(t *testing.T) {
	r := newHostRig(t, nil)
	const n = 2*maxTimersPerCall + 10
	var conns []*tcb
	for i := range n {
		c, err := r.h.dial(r.now, netip.AddrPortFrom(peerAddr, uint16(1000+i)))
		require.NoError(t, err)
		conns = append(conns, c)
	}
	r.flush()
	r.now = r.h.nextTimeout()
	fired := func() (k int) {
		for _, c := range conns {
			k += int(c.stats.Timeouts)
		}
		return k
	}
	for _, want := range []int{maxTimersPerCall, 2 * maxTimersPerCall, n} {
		r.h.handleTimeout(r.now)
		r.flush()
		assert.Equal(t, want, fired())
		if want < n {
			assert.False(t, r.h.nextTimeout().After(r.now), "the rest are still due")
		}
	}
	assert.True(t, r.h.nextTimeout().After(r.now), "all fired: the next is the backed-off RTO")
}
