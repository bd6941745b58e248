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

func TestListener_Backlog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfgB := fastConfig(addrB)
		cfgB.Backlog = 2
		p := newPair(t, fastConfig(addrA), cfgB)
		ln, err := p.b.Listen(80)
		require.NoError(t, err)
		defer ln.Close()

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			conns []*Conn
			fails []error
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := p.a.DialContext(ctx, netip.AddrPortFrom(addrB, 80))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fails = append(fails, err)
					return
				}
				conns = append(conns, c)
			}()
		}
		wg.Wait()
		assert.Len(t, conns, 2, "with Backlog 2 and no Accept, two connections complete")
		assert.Len(t, fails, 2, "the other two Dials time out")
		for _, err := range fails {
			assert.ErrorIs(t, err, context.DeadlineExceeded, "their SYNs were dropped, so they waited for the context")
		}
		assert.GreaterOrEqual(t, p.b.Stats().SynDroppedBacklog, uint64(2), "every dropped SYN (retries included) is counted")

		for range 2 {
			c, err := ln.AcceptTCP()
			require.NoError(t, err, "the queued connections are accepted")
			assert.Equal(t, StateEstablished, c.State(), "a queued connection is ESTABLISHED")
			c.Close()
		}
		c, err := p.a.Dial(netip.AddrPortFrom(addrB, 80))
		require.NoError(t, err, "once the queue drains, new connections get in")
		c.Close()
		for _, c := range conns {
			c.Close()
		}
	})
}

func TestListener_HalfOpenBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.MaxHalfOpen = 2
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
		assert.Equal(t, 2, synacks, "only MaxHalfOpen SYNs are answered")
		assert.Equal(t, uint64(1), s.Stats().SynDroppedHalfOpen, "the third SYN is dropped and counted")
		assert.Len(t, s.Conns(), 2, "two connections are half-open")
		for _, c := range s.Conns() {
			assert.Equal(t, StateSynReceived, c.State, "they wait in SYN-RECEIVED")
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
