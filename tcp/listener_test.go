package tcp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListener_AcceptAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.b.Listen(80)
		require.NoError(t, err)
		require.NoError(t, ln.Close(), "the first Close succeeds")
		_, err = ln.Accept()
		assert.ErrorIs(t, err, net.ErrClosed, "Accept after Close fails with net.ErrClosed")
		var op *net.OpError
		assert.ErrorAs(t, err, &op, "as a *net.OpError")
		assert.ErrorIs(t, ln.Close(), net.ErrClosed, "a second Close reports the listener closed")

		_, err = p.a.Dial(netip.AddrPortFrom(addrB, 80))
		assert.ErrorIs(t, err, syscall.ECONNREFUSED, "a closed listener's port refuses connections")
		ln2, err := p.b.Listen(80)
		require.NoError(t, err, "the port is free again after Close")
		ln2.Close()
	})
}

func TestListener_Addr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.b.Listen(8080)
		require.NoError(t, err)
		defer ln.Close()
		a, ok := ln.Addr().(*net.TCPAddr)
		require.True(t, ok, "Addr is a *net.TCPAddr")
		assert.Equal(t, "10.0.0.2:8080", a.String(), "Addr is the stack's address and the port")

		ln0, err := p.b.Listen(0)
		require.NoError(t, err, "port 0 picks a free port")
		defer ln0.Close()
		assert.GreaterOrEqual(t, int(ln0.Port()), ephemeralFirst, "the picked port is ephemeral")

		_, err = p.b.Listen(8080)
		assert.ErrorIs(t, err, syscall.EADDRINUSE, "a second listener on a port fails with EADDRINUSE")
	})
}

func TestListener_ConcurrentAcceptAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.b.Listen(80)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := ln.Accept()
				assert.ErrorIs(t, err, net.ErrClosed, "Close unblocks every pending Accept with net.ErrClosed")
			}()
		}
		synctest.Wait() // all four are blocked in Accept
		require.NoError(t, ln.Close())
		wg.Wait()
	})
}

func TestListener_ConcurrentAcceptAndClose_RealTime(t *testing.T) {
	p := newPair(t, Config{Addr: addrA}, Config{Addr: addrB})
	ln, err := p.b.Listen(80)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					assert.ErrorIs(t, err, net.ErrClosed, "Accept ends only because of Close")
					return
				}
				c.Close()
			}
		}()
		go func() {
			defer wg.Done()
			if c, err := p.a.Dial(netip.AddrPortFrom(addrB, 80)); err == nil {
				c.Close()
			}
		}()
	}
	ln.Close()
	wg.Wait()
}

func TestListener_AcceptDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.b.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		require.NoError(t, ln.SetDeadline(time.Now().Add(time.Second)))
		_, err = ln.Accept()
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "Accept fails at its deadline")
		require.NoError(t, ln.SetDeadline(time.Time{}))
		go func() {
			if c, err := p.a.Dial(netip.AddrPortFrom(addrB, 80)); err == nil {
				c.Close()
			}
		}()
		c, err := ln.Accept()
		require.NoError(t, err, "without a deadline Accept waits for a connection")
		c.Close()
	})
}

func TestListener_BacklogBoundsTheAcceptQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfgB := fastConfig(addrB)
		cfgB.Backlog = 2
		p := newPair(t, fastConfig(addrA), cfgB)
		ln, err := p.b.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		to := netip.AddrPortFrom(addrB, 80)

		var conns []*Conn
		for range 2 {
			c, err := p.a.Dial(to)
			require.NoError(t, err, "Backlog connections complete without Accept")
			conns = append(conns, c)
		}
		synctest.Wait() // B has queued both
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = p.a.DialAddrPort(ctx, to)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "with the accept queue full, B drops the SYN, so the Dial waits for its context")
		st := p.b.Stats()
		assert.GreaterOrEqual(t, st.SynDroppedBacklog, uint64(2), "every dropped SYN (retries included) is counted")
		assert.Zero(t, st.SynCookiesSent, "the half-open bound was not reached")

		for range 2 {
			c, err := ln.AcceptTCP()
			require.NoError(t, err, "the queued connections are accepted")
			assert.Equal(t, StateEstablished, c.State(), "a queued connection is ESTABLISHED")
			c.Close()
		}
		c, err := p.a.Dial(to)
		require.NoError(t, err, "once the queue drains, new connections get in")
		c.Close()
		for _, c := range conns {
			c.Close()
		}
	})
}

func TestListener_FullQueueHoldsACompletedHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.Backlog = 1
		cfg.ISN = func(FourTuple, time.Time) Seq { return 5000 }
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		dst := netip.AddrPortFrom(addrB, 80)
		p1, p2, p3 := netip.AddrPortFrom(addrPeer, 40001), netip.AddrPortFrom(addrPeer, 40002), netip.AddrPortFrom(addrPeer, 40003)
		for _, src := range []netip.AddrPort{p1, p2} {
			r.sendText(t, src, dst, "S 1000:1000(0) win 65535")
			_, seg := r.recv(t)
			require.Equal(t, FlagSYN|FlagACK, seg.Flags, "half-open children do not count against Backlog")
		}
		r.sendText(t, p1, dst, ". 1001:1001(0) ack 5001 win 65535")
		r.sendText(t, p2, dst, ". 1001:1001(0) ack 5001 win 65535")
		r.recvNone(t, "the ACK that would overfill the accept queue is dropped, not answered")
		assert.Equal(t, []ConnInfo{
			{ID: FourTuple{Local: dst, Remote: p1}, State: StateEstablished},
			{ID: FourTuple{Local: dst, Remote: p2}, State: StateSynReceived},
		}, stateOnly(s.Conns()), "the second child waits in SYN-RECEIVED")
		r.sendText(t, p3, dst, "S 1000:1000(0) win 65535")
		r.recvNone(t, "while the accept queue is full a new SYN is dropped")
		st := s.Stats()
		assert.Equal(t, [2]uint64{1, 1}, [2]uint64{st.AcceptQueueOverflow, st.SynDroppedBacklog},
			"the held handshake and the dropped SYN are counted apart")

		c1, err := ln.AcceptTCP()
		require.NoError(t, err)
		assert.Equal(t, p1, c1.ID().Remote, "Accept takes the connection that completed first")
		r.sendText(t, p2, dst, ". 1001:1001(0) ack 5001 win 65535") // the peer's next segment
		c2, err := ln.AcceptTCP()
		require.NoError(t, err, "with room in the queue, the held handshake completes")
		assert.Equal(t, p2, c2.ID().Remote)
		assert.Equal(t, StateEstablished, c2.State())
		c1.Abort()
		c2.Abort()
	})
}

func TestListener_HalfOpenBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.MaxHalfOpen = 2
		cfg.Backlog = 1 // smaller than MaxHalfOpen: the bounds are independent
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		dst := netip.AddrPortFrom(addrB, 80)
		for port := uint16(40000); port < 40003; port++ {
			r.sendText(t, netip.AddrPortFrom(addrPeer, port), dst, "S 1000:1000(0) win 1000")
		}
		synctest.Wait()
		var synacks int
		for {
			p, ok := r.next()
			if !ok {
				break
			}
			if p[20+13] == byte(FlagSYN|FlagACK) {
				synacks++
			}
		}
		assert.Equal(t, 3, synacks, "every SYN is answered")
		assert.Equal(t, uint64(1), s.Stats().SynCookiesSent, "the third with a SYN cookie, which keeps no state")
		assert.Zero(t, s.Stats().SynDroppedBacklog, "the accept queue is empty: Backlog refused nothing")
		assert.Len(t, s.Conns(), 2, "MaxHalfOpen connections are half-open")
		for _, c := range s.Conns() {
			assert.Equal(t, StateSynReceived, c.State, "they wait in SYN-RECEIVED")
			assert.NotEqual(t, uint16(40002), c.ID.Remote.Port(), "the cookie's peer has none")
		}
	})
}

func TestListener_CloseResetsQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.b.Listen(80)
		require.NoError(t, err)
		ca, err := p.a.Dial(netip.AddrPortFrom(addrB, 80))
		require.NoError(t, err, "the handshake completes without Accept")
		synctest.Wait() // B has queued the connection
		require.NoError(t, ln.Close())
		_, err = ca.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ECONNRESET, "closing the listener resets connections it had not handed out")
		assert.Empty(t, p.b.Conns(), "B keeps nothing of them")
	})
}
