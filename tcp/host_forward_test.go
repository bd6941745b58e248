package tcp

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fwdDst is the original destination of the forwarded SYNs in these tests.
var fwdDst = netip.MustParseAddrPort("198.18.0.7:80")

// newForwardRig is a hostRig in forwarding mode; mod adjusts its Config further.
func newForwardRig(t *testing.T, mod func(*Config)) *hostRig {
	return newHostRig(t, func(c *Config) {
		c.Forward = func(*ForwardRequest) {} // the host only checks that it is set
		c.ForwardTimeout = 10 * time.Second
		c.MaxForwardPending = 2
		if mod != nil {
			mod(c)
		}
	})
}

// sendTo delivers a segment from src to dst and returns what was sent in
// answer, and the requests it made.
func (r *hostRig) sendTo(src, dst netip.AddrPort, text string) ([]hostOut, []*fwdPending) {
	r.t.Helper()
	seg, err := parseSegment(text)
	require.NoError(r.t, err, "test segment %q", text)
	seg.SrcPort, seg.DstPort = src.Port(), dst.Port()
	r.h.input(r.now, src.Addr(), dst.Addr(), &seg)
	fresh := append([]*fwdPending(nil), r.h.takeFresh()...)
	return r.flushFrom(dst), fresh
}

// flushFrom is flush, checking that every segment leaves from local.
func (r *hostRig) flushFrom(local netip.AddrPort) []hostOut {
	r.t.Helper()
	var out []hostOut
	r.h.flush(r.now, func(id FourTuple, s *Segment) {
		assert.Equal(r.t, local, id.Local, "replies go out from the original destination")
		cp := *s
		cp.Payload = append([]byte(nil), s.Payload...)
		out = append(out, hostOut{id.Remote, cp})
	}, func(_ time.Time, t *tcb, ev tcbEvents) { r.ev[t] |= ev })
	return out
}

func (r *hostRig) fwdStats() ForwardStats { return r.h.fwd.snapshot() }

// forwardOpen runs a forwarded handshake from peer (ISN 5000) to fwdDst,
// accepted, and returns the TCB, ESTABLISHED.
func (r *hostRig) forwardOpen(peer netip.AddrPort) *tcb {
	r.t.Helper()
	_, fresh := r.sendTo(peer, fwdDst, "S 5000:5000(0) win 65535")
	require.Len(r.t, fresh, 1)
	c, err := r.h.forwardAccept(r.now, fresh[0])
	require.NoError(r.t, err)
	r.match(r.flushFrom(fwdDst), fmt.Sprintf("%d S. 1000:1000(0) ack 5001", peer.Port()))
	out, _ := r.sendTo(peer, fwdDst, ". 5001:5001(0) ack 1001 win 65535")
	r.match(out)
	require.Equal(r.t, StateEstablished, c.state)
	return c
}

// TestHost_Forward runs one request through each decision, from the SYN
// (peer ISN 5000) to what the host sends and counts.
func TestHost_Forward(t *testing.T) {
	peer := netip.AddrPortFrom(peerAddr, 40000)
	const syn = "S 5000:5000(0) win 65535 <mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7>"
	rows := []struct {
		name   string
		decide func(r *hostRig, p *fwdPending)
		want   []string
		stats  ForwardStats
		conn   bool // a TCB in SYN-RECEIVED for the four-tuple
	}{
		{"accept: a SYN-ACK from the original destination, with the SYN's options answered",
			func(r *hostRig, p *fwdPending) {
				c, err := r.h.forwardAccept(r.now, p)
				require.NoError(t, err)
				require.Equal(t, StateSynReceived, c.state)
			},
			[]string{"40000 S. 1000:1000(0) ack 5001"},
			ForwardStats{Requests: 1, Accepted: 1}, true},
		{"refuse: §3.10.7.1 <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>",
			func(r *hostRig, p *fwdPending) { r.h.forwardRefuse(p) },
			[]string{"40000 R. 0:0(0) ack 5001 win 0"},
			ForwardStats{Requests: 1, Refused: 1}, false},
		{"drop: nothing is sent",
			func(r *hostRig, p *fwdPending) { r.h.forwardDrop(p) },
			nil, ForwardStats{Requests: 1, Dropped: 1}, false},
		{"timeout: dropped after ForwardTimeout, counted",
			func(r *hostRig, p *fwdPending) {
				require.Equal(t, r.now.Add(10*time.Second), r.h.nextTimeout(), "the request's deadline is the host's next timeout")
				r.now = r.now.Add(10*time.Second - time.Nanosecond)
				r.h.handleTimeout(r.now)
				require.Nil(t, p.gone, "still pending just before the deadline")
				r.now = r.now.Add(time.Nanosecond)
				r.h.handleTimeout(r.now)
				require.ErrorIs(t, p.gone, syscall.ETIMEDOUT)
				_, err := r.h.forwardAccept(r.now, p)
				require.ErrorIs(t, err, syscall.ETIMEDOUT, "an Accept after the timeout fails")
				assert.True(t, r.h.nextTimeout().IsZero(), "no timer left")
			},
			nil, ForwardStats{Requests: 1, Timeouts: 1}, false},
		{"peer's RST with the SYN's successor ends the request",
			func(r *hostRig, p *fwdPending) {
				out, fresh := r.sendTo(peer, fwdDst, "R 5001:5001(0) win 0")
				r.match(out)
				require.Empty(t, fresh)
				require.ErrorIs(t, p.gone, syscall.ECONNRESET)
			},
			nil, ForwardStats{Requests: 1, Resets: 1}, false},
		{"duplicate SYNs and other segments while pending are absorbed",
			func(r *hostRig, p *fwdPending) {
				for _, in := range []string{syn, "S 6000:6000(0) win 65535", ". 5001:5001(0) ack 1 win 65535", "R 4000:4000(0) win 0"} {
					out, fresh := r.sendTo(peer, fwdDst, in)
					r.match(out)
					require.Empty(t, fresh, "%s makes no request", in)
				}
				require.Nil(t, p.gone, "still pending")
				r.h.forwardRefuse(p)
			},
			[]string{"40000 R. 0:0(0) ack 5001 win 0"},
			ForwardStats{Requests: 1, Absorbed: 4, Refused: 1}, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := newForwardRig(t, nil)
			out, fresh := r.sendTo(peer, fwdDst, syn)
			r.match(out) // nothing before the decision
			require.Len(t, fresh, 1, "the SYN makes one request")
			p := fresh[0]
			require.Equal(t, FourTuple{Local: fwdDst, Remote: peer}, p.id, "Local is the original destination")
			assert.Equal(t, Seq(5000), p.syn.Seq, "the SYN's ISN is kept")
			assert.Empty(t, r.h.conns, "no TCB before the decision")
			row.decide(r, p)
			out = r.flushFrom(fwdDst)
			r.match(out, row.want...)
			if row.conn {
				o := out[0].seg.Options
				assert.True(t, o.SACKPermitted && o.HasWindowScale && o.HasTimestamp && o.TSEcr == 7 && o.MSS > 0,
					"the SYN-ACK answers the SYN's options: %v", &out[0].seg)
			}
			assert.Equal(t, row.stats, r.fwdStats())
			assert.Empty(t, r.h.fwd.pending, "the request is decided")
			c := r.h.conns[p.id]
			assert.Equal(t, row.conn, c != nil, "a TCB only for an accepted request")
			for _, d := range []func(){func() { r.h.forwardRefuse(p) }, func() { r.h.forwardDrop(p) }} {
				d()
				r.match(r.flushFrom(fwdDst)) // a second decision does nothing
			}
			assert.Equal(t, row.stats, r.fwdStats(), "a second decision counts nothing")
			if row.conn {
				return
			}
			// After the decision, the next SYN makes a new request.
			_, fresh = r.sendTo(peer, fwdDst, syn)
			require.Len(t, fresh, 1, "a later SYN makes a new request")
		})
	}
}

// TestHost_ForwardAcceptedHandshake completes an accepted request's
// handshake and carries data both ways from the original destination.
func TestHost_ForwardAcceptedHandshake(t *testing.T) {
	r := newForwardRig(t, nil)
	peer := netip.AddrPortFrom(peerAddr, 40000)
	c := r.forwardOpen(peer)
	assert.NotZero(t, r.ev[c]&evEstablished, "the handshake's completion is reported")
	out, _ := r.sendTo(peer, fwdDst, "P. 5001:5004(3) ack 1001 win 65535")
	r.match(out, "40000 . 1001:1001(0) ack 5004")
	assert.Equal(t, uint64(0), r.h.stats.accepted.Load(), "no listener's accept queue is involved")
}

// TestHost_ForwardDemux checks which segments forwarding mode takes: a
// listener at our own address keeps its port, other addresses on that port
// are forwarded, bad addresses are dropped, and a segment without SYN to a
// free four-tuple draws the RST of a closed port.
func TestHost_ForwardDemux(t *testing.T) {
	peer := netip.AddrPortFrom(peerAddr, 40000)
	rows := []struct {
		name    string
		dst     netip.AddrPort
		in      string
		want    []string
		request bool
		stats   map[string]uint64
	}{
		{"our own address with a listener: the listener", netip.AddrPortFrom(hostAddr, 80), "S 5000:5000(0) win 65535",
			[]string{"40000 S. 1000:1000(0) ack 5001"}, false, nil},
		{"another address on the listener's port: forwarded", netip.MustParseAddrPort("198.18.0.9:80"), "S 5000:5000(0) win 65535",
			nil, true, nil},
		{"our own address without a listener: forwarded", netip.AddrPortFrom(hostAddr, 81), "S 5000:5000(0) win 65535",
			nil, true, nil},
		{"an ACK to a free four-tuple: RST from the destination", fwdDst, ". 5000:5000(0) ack 77 win 65535",
			[]string{"40000 R 77:77(0) win 0"}, false, map[string]uint64{"NoPort": 1}},
		{"a RST to a free four-tuple: dropped", fwdDst, "R 5000:5000(0) win 0", nil, false, nil},
		{"a SYN to a multicast destination: dropped (MUST-46)", netip.MustParseAddrPort("224.0.0.9:80"), "S 5000:5000(0) win 65535",
			nil, false, map[string]uint64{"BadAddr": 1}},
		{"a SYN to the limited broadcast: dropped", netip.MustParseAddrPort("255.255.255.255:80"), "S 5000:5000(0) win 65535",
			nil, false, map[string]uint64{"BadAddr": 1}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := newForwardRig(t, nil)
			r.listen(80)
			out, fresh := r.sendTo(peer, row.dst, row.in)
			r.match(out, row.want...)
			assert.Equal(t, row.request, len(fresh) == 1, "a request is made")
			r.counted(row.stats)
		})
	}
}

// TestHost_ForwardBound: past MaxForwardPending undecided requests a SYN
// is dropped and counted; a decision makes room.
func TestHost_ForwardBound(t *testing.T) {
	r := newForwardRig(t, nil) // MaxForwardPending 2
	var reqs []*fwdPending
	for port := uint16(40000); port < 40003; port++ {
		_, fresh := r.sendTo(netip.AddrPortFrom(peerAddr, port), fwdDst, "S 5000:5000(0) win 65535")
		reqs = append(reqs, fresh...)
	}
	require.Len(t, reqs, 2, "two requests, the third SYN dropped")
	assert.Equal(t, ForwardStats{Requests: 2, Overflow: 1}, r.fwdStats())
	r.h.forwardDrop(reqs[0])
	_, fresh := r.sendTo(netip.AddrPortFrom(peerAddr, 40002), fwdDst, "S 5000:5000(0) win 65535")
	require.Len(t, fresh, 1, "a decision makes room")
	// The order of arrival survives out-of-order decisions: the older
	// request times out first.
	r.now = r.now.Add(time.Second)
	_, fresh = r.sendTo(netip.AddrPortFrom(peerAddr, 40003), fwdDst, "S 5000:5000(0) win 65535")
	require.Empty(t, fresh, "full again")
	r.h.handleTimeout(r.now.Add(9 * time.Second))
	assert.ErrorIs(t, reqs[1].gone, syscall.ETIMEDOUT)
	assert.Len(t, r.h.fwd.pending, 0, "both timed out: they came together")
	assert.LessOrEqual(t, len(r.h.fwd.order), 2*r.cfg.MaxForwardPending)
}

// TestHost_ForwardAtMaxConns: at Config.MaxConns a SYN makes no request
// (as a listener drops it), and an Accept of a request made before the
// bound was reached fails with ENOBUFS and leaves nothing behind.
func TestHost_ForwardAtMaxConns(t *testing.T) {
	r := newForwardRig(t, func(c *Config) { c.MaxConns = 1 })
	r.listen(80)
	_, fresh := r.sendTo(netip.AddrPortFrom(peerAddr, 40000), fwdDst, "S 5000:5000(0) win 65535")
	require.Len(t, fresh, 1, "room for one connection")
	r.open(39999)
	_, more := r.sendTo(netip.AddrPortFrom(peerAddr, 40001), fwdDst, "S 5000:5000(0) win 65535")
	assert.Empty(t, more, "at MaxConns a SYN makes no request")
	assert.Equal(t, uint64(1), r.h.stats.refusedMaxConns.Load())
	_, err := r.h.forwardAccept(r.now, fresh[0])
	require.ErrorIs(t, err, syscall.ENOBUFS)
	assert.Empty(t, r.h.fwd.pending)
	assert.Len(t, r.h.conns, 1, "only the listener's connection")
}

// TestHost_ForwardTimeWait: a forwarded connection to another address
// keeps its TIME-WAIT record by its own four-tuple; a SYN to it that would
// reopen a TIME-WAIT of our own address (MAY-2) goes to the record, not to
// our listener on the same port.
func TestHost_ForwardTimeWait(t *testing.T) {
	r := newForwardRig(t, nil)
	r.listen(80)
	peer := netip.AddrPortFrom(peerAddr, 40000)
	c := r.forwardOpen(peer)
	require.NoError(t, c.close(r.now))
	r.h.touch(r.now, c)
	r.match(r.flushFrom(fwdDst), "40000 F. 1001:1001(0) ack 5001")
	out, _ := r.sendTo(peer, fwdDst, "F. 5001:5001(0) ack 1002 win 65535")
	r.match(out, "40000 . 1002:1002(0) ack 5002")
	id := FourTuple{Local: fwdDst, Remote: peer}
	require.NotNil(t, r.h.tw.recs[id], "TIME-WAIT as a record, by the forwarded four-tuple")

	out, fresh := r.sendTo(peer, fwdDst, "S 9000:9000(0) win 65535")
	r.match(out, "40000 . 1002:1002(0) ack 5002")
	assert.Empty(t, fresh, "no request: the four-tuple is in TIME-WAIT")
	assert.Zero(t, r.h.stats.timeWaitReopened.Load(), "our listener on port 80 does not take it")
	assert.NotNil(t, r.h.tw.recs[id])

	// The same peer port to our own address reaches the listener.
	out, _ = r.sendTo(peer, netip.AddrPortFrom(hostAddr, 80), "S 9000:9000(0) win 65535")
	r.match(out, "40000 S. 1000:1000(0) ack 9001")
}
