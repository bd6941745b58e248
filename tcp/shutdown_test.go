package tcp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// Shutdown with live connections, dialled and accepted, each with data
// still queued: the peers read all of it, then EOF; meanwhile new SYNs are
// refused and Accept returns; once the peers close, Shutdown returns nil.
func TestShutdown_LiveConnectionsFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		lnA, err := p.a.Listen(80)
		require.NoError(t, err)
		lnB, err := p.b.Listen(80)
		require.NoError(t, err)
		defer lnB.Close()
		var mine, theirs []*Conn // A's ends, B's ends
		for range 2 {
			ca, err := p.a.Dial(netip.AddrPortFrom(addrB, 80))
			require.NoError(t, err)
			cb, err := lnB.AcceptTCP()
			require.NoError(t, err)
			mine, theirs = append(mine, ca), append(theirs, cb)
			cb, err = p.b.Dial(netip.AddrPortFrom(addrA, 80))
			require.NoError(t, err)
			ca, err = lnA.AcceptTCP()
			require.NoError(t, err)
			mine, theirs = append(mine, ca), append(theirs, cb)
		}
		accepted := make(chan error, 1)
		go func() {
			_, err := lnA.Accept()
			accepted <- err
		}()
		data := bytes.Repeat([]byte("0123456789abcdef"), 12<<10) // 192 KiB each, under the send buffer
		for _, c := range mine {
			n, err := c.Write(data)
			require.NoError(t, err)
			require.Equal(t, len(data), n)
		}

		shut := make(chan error, 1)
		go func() { shut <- p.a.Shutdown(context.Background()) }()
		var wg sync.WaitGroup
		for i, c := range theirs {
			wg.Go(func() {
				got, err := io.ReadAll(c)
				assert.NoError(t, err, "connection %d ends with EOF", i)
				assert.True(t, bytes.Equal(data, got), "connection %d: all %d octets before the FIN, got %d", i, len(data), len(got))
			})
		}
		wg.Wait()
		assert.ErrorIs(t, <-accepted, net.ErrClosed, "a pending Accept returns")
		_, err = p.b.Dial(netip.AddrPortFrom(addrA, 80))
		assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the listener is closed: a new SYN gets a RST")
		_, err = p.a.Dial(netip.AddrPortFrom(addrB, 80))
		assert.ErrorIs(t, err, net.ErrClosed, "no new Dial during Shutdown")
		_, err = p.a.Listen(81)
		assert.ErrorIs(t, err, net.ErrClosed, "no new Listen during Shutdown")
		synctest.Wait()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v while the peers had not closed", err)
		default:
		}
		for _, c := range mine {
			p.ra.waitState(t, c.ID(), StateFinWait2) // our FIN is acknowledged; the peer has not closed
			assert.Equal(t, StateFinWait2, c.State())
			_, err := c.Read(make([]byte, 1))
			assert.ErrorIs(t, err, net.ErrClosed, "Shutdown closed the Conn")
		}
		for _, c := range theirs {
			require.NoError(t, c.Close())
		}
		require.NoError(t, <-shut, "every connection reached TIME-WAIT")
		synctest.Wait() // B takes A's last ACKs
		for _, c := range theirs {
			assert.Equal(t, StateClosed, c.State(), "no RST: closed gracefully")
		}
		assert.Equal(t, uint64(1), p.a.Stats().NoPort, "one RST from A: the refused SYN")
		_, err = p.a.Dial(netip.AddrPortFrom(addrB, 80))
		assert.ErrorIs(t, err, net.ErrClosed, "the stack is closed")
	})
}

// A peer that does not let the connection finish is reset when ctx ends,
// and Shutdown returns ctx's error.
func TestShutdown_ResetsWhatIsLeftWhenCtxEnds(t *testing.T) {
	tests := []struct {
		name string
		// peer acts as B on its end once A has queued data and shut down.
		peer func(t *testing.T, p *pair, c *Conn)
	}{
		{"peer's window shut", func(*testing.T, *pair, *Conn) {}},
		{"peer never closes", func(t *testing.T, _ *pair, c *Conn) {
			_, err := io.Copy(io.Discard, c)
			assert.NoError(t, err, "the peer reads to EOF")
		}},
		{"peer's ACKs never arrive", func(t *testing.T, p *pair, c *Conn) {
			p.eb.SetFaults(tun.Faults{Loss: 1}) // B to A: all lost; A's data and FIN go unacknowledged
			_, err := io.Copy(io.Discard, c)
			assert.ErrorIs(t, err, syscall.ECONNRESET, "the peer reads until A's RST")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, ca, cb := shutWindowPair(t, 0)
				written := make(chan error, 1)
				go func() {
					_, err := ca.Write(make([]byte, 1<<20)) // more than B's window: blocks
					written <- err
				}()
				synctest.Wait()
				peerDone := make(chan struct{})
				go func() {
					defer close(peerDone)
					tt.peer(t, p, cb)
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				start := time.Now()
				err := p.a.Shutdown(ctx)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, 5*time.Second, time.Since(start), "Shutdown waited for ctx")
				assert.ErrorIs(t, <-written, net.ErrClosed, "the pending Write returns")
				synctest.Wait()
				<-peerDone
				assert.Equal(t, StateClosed, cb.State(), "the peer was reset")
				_, err = cb.Write([]byte("x"))
				assert.ErrorIs(t, err, syscall.ECONNRESET)
			})
		})
	}
}

// Shutdown with nothing open returns at once; on a closed stack, nil.
func TestShutdown_Idle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.a.Listen(80)
		require.NoError(t, err)
		require.NoError(t, p.a.Shutdown(context.Background()))
		_, err = ln.Accept()
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.NoError(t, p.a.Shutdown(context.Background()))
	})
}

// Shutdown while every connection has a Read and a Write running on both
// sides, an Accept waits, and Dials keep coming: under -race, no data race,
// and the calls all return.
func TestShutdown_ConcurrentCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ln, err := p.a.Listen(80)
		require.NoError(t, err)
		var wg sync.WaitGroup
		pump := func(c *Conn) {
			wg.Go(func() { io.Copy(io.Discard, c) })
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			})
		}
		var theirs []*Conn
		for range 4 {
			cb, err := p.b.Dial(netip.AddrPortFrom(addrA, 80))
			require.NoError(t, err)
			ca, err := ln.AcceptTCP()
			require.NoError(t, err)
			pump(ca)
			pump(cb)
			theirs = append(theirs, cb)
		}
		wg.Go(func() {
			for {
				if _, err := ln.Accept(); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			for {
				c, err := p.a.Dial(netip.AddrPortFrom(addrB, 9))
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					c.Close()
				}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = p.a.Shutdown(ctx) // B keeps writing: A's Close of unread data resets some (SHLD-3)
		if err != nil {
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		}
		for _, c := range theirs {
			c.Close()
		}
		wg.Wait()
	})
}
