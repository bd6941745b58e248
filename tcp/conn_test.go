package tcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
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
	"golang.org/x/net/nettest"

	"github.com/utcp/utcp/tun"
)

// makePipe is nettest's MakePipe: two stacks over a tun.Pipe, a connection
// from A to a listener on B. It runs in real time.
func makePipe() (c1, c2 net.Conn, stop func(), err error) {
	ea, eb := tun.Pipe(1500)
	cfg := func(a netip.Addr) Config { return Config{Addr: a, MinRTO: 200 * time.Millisecond} }
	a, err := NewStack(ea, cfg(addrA))
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := NewStack(eb, cfg(addrB))
	if err != nil {
		return nil, nil, nil, err
	}
	closeAll := func() {
		a.Close()
		b.Close()
		ea.Close()
		eb.Close()
	}
	ln, err := b.Listen(80)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	ca, err := a.Dial(netip.AddrPortFrom(addrB, 80))
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	cb, err := ln.Accept()
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	stop = func() {
		ca.Close()
		cb.Close()
		ln.Close()
		closeAll()
	}
	return ca, cb, stop, nil
}

func TestConn_NetTest(t *testing.T) {
	nettest.TestConn(t, makePipe)
}

func TestDial_Refused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		c, err := p.a.Dial(netip.AddrPortFrom(addrB, 9))
		assert.Nil(t, c, "a refused Dial returns no connection")
		assert.ErrorIs(t, err, syscall.ECONNREFUSED, "§3.10.7.3: a RST answering our SYN means 'connection refused'")
		var op *net.OpError
		require.ErrorAs(t, err, &op, "the error is a *net.OpError, as package net returns")
		assert.Equal(t, "dial", op.Op, "the failed operation is dial")
		assert.Equal(t, "10.0.0.2:9", op.Addr.String(), "the error names the address dialled")
		assert.Empty(t, p.a.Conns(), "the refused connection is gone")
	})
}

func TestDial_TimesOut_MUST20(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrA)
		cfg.UserTimeout = 5 * time.Second
		p := newPair(t, cfg, fastConfig(addrB))
		p.ea.SetFaults(tun.Faults{Loss: 1}) // every SYN is lost
		start := time.Now()
		_, err := p.a.Dial(netip.AddrPortFrom(addrB, 80))
		assert.ErrorIs(t, err, syscall.ETIMEDOUT, "MUST-20/22: SYN retransmissions stop after R2 with 'timed out'")
		assert.GreaterOrEqual(t, time.Since(start), 5*time.Second, "R2 (UserTimeout) is how long the SYN is retried")
	})
}

func TestDial_ContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		p.ea.SetFaults(tun.Faults{Loss: 1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := p.a.DialAddrPort(ctx, netip.AddrPortFrom(addrB, 80))
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Dial gives up when its context ends")
		assert.Empty(t, p.a.Conns(), "the abandoned connection is aborted")
	})
}

func TestDial_InvalidAddress_MUST46(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		for _, a := range []string{"255.255.255.255:80", "224.0.0.1:80", "0.0.0.0:80", "10.0.0.2:0"} {
			_, err := p.a.Dial(netip.MustParseAddrPort(a))
			assert.ErrorIs(t, err, ErrInvalidAddr, "MUST-46: an OPEN to %s is refused locally", a)
		}
		assert.Zero(t, p.a.Stats().SegsOut, "no SYN may go out")
	})
}

func TestDial_TracerSeesDialAndAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		assert.Equal(t, []UserEventKind{EventDialReturned}, p.ra.eventsOf(ca.ID()), "Dial returning is reported once")
		assert.Equal(t, []UserEventKind{EventAcceptReturned}, p.rb.eventsOf(cb.ID()), "Accept returning is reported once")
		assert.Equal(t, []State{StateSynSent, StateEstablished}, p.ra.statesOf(ca.ID()), "the active side goes SYN-SENT → ESTABLISHED")
		assert.Equal(t, []State{StateListen, StateSynReceived, StateEstablished}, p.rb.statesOf(cb.ID()),
			"the passive side goes LISTEN → SYN-RECEIVED → ESTABLISHED")
	})
}

func TestConn_Addrs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		la, ok := ca.LocalAddr().(*net.TCPAddr)
		require.True(t, ok, "LocalAddr is a *net.TCPAddr")
		assert.Equal(t, addrA, la.AddrPort().Addr(), "the local address is the stack's")
		assert.GreaterOrEqual(t, la.Port, ephemeralFirst, "Dial picks an ephemeral port")
		assert.Equal(t, ca.LocalAddr().String(), cb.RemoteAddr().String(), "each end's remote is the other's local")
		assert.Equal(t, "10.0.0.2:80", ca.RemoteAddr().String(), "RemoteAddr is the dialled address")
	})
}

func TestConn_HalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		_, err := ca.Write([]byte("request"))
		require.NoError(t, err)
		require.NoError(t, ca.CloseWrite(), "CloseWrite sends a FIN")
		got, err := io.ReadAll(cb)
		require.NoError(t, err, "B reads to EOF without error")
		assert.Equal(t, "request", string(got), "B gets the data before the EOF")
		assert.Contains(t, p.rb.eventsOf(cb.ID()), EventReadEOF, "the tracer sees the EOF")

		_, err = ca.Write([]byte("more"))
		assert.ErrorIs(t, err, syscall.EPIPE, "A cannot write after its own FIN")
		_, err = cb.Write([]byte("response"))
		require.NoError(t, err, "B can still write after the peer's FIN (CLOSE-WAIT)")
		require.NoError(t, cb.Close())
		got, err = io.ReadAll(ca)
		require.NoError(t, err, "A reads on after its half-close")
		assert.Equal(t, "response", string(got), "A gets B's data, then EOF")
		require.NoError(t, ca.Close())
	})
}

func TestConn_CloseWithUnreadDataResets_SHLD3(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		_, err := cb.Write([]byte("0123456789"))
		require.NoError(t, err)
		one := make([]byte, 1)
		_, err = io.ReadFull(ca, one) // the data has arrived; 9 octets stay unread
		require.NoError(t, err)
		require.NoError(t, ca.Close(), "Close succeeds")
		_, err = cb.Read(make([]byte, 10))
		assert.ErrorIs(t, err, syscall.ECONNRESET, "SHLD-3: closing with unread data resets the connection")
		var op *net.OpError
		assert.ErrorAs(t, err, &op, "the reset comes as a *net.OpError")
		assert.Contains(t, p.rb.eventsOf(cb.ID()), EventReset, "the tracer sees the reset")
		_, err = cb.Write([]byte("x"))
		assert.ErrorIs(t, err, syscall.ECONNRESET, "writes after a reset fail too")
	})
}

func TestConn_Abort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		require.NoError(t, ca.Abort(), "Abort succeeds")
		_, err := cb.Read(make([]byte, 10))
		assert.ErrorIs(t, err, syscall.ECONNRESET, "§3.10.5: ABORT sends a RST; the peer sees 'connection reset'")
		_, err = ca.Read(make([]byte, 10))
		assert.ErrorIs(t, err, net.ErrClosed, "an aborted Conn is closed")
		assert.Empty(t, p.a.Conns(), "an aborted connection leaves no TIME-WAIT")
		assert.ErrorIs(t, ca.Close(), net.ErrClosed, "Close after Abort reports the Conn closed")
	})
}

func TestConn_CloseUnblocksRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		errc := make(chan error)
		go func() {
			_, err := ca.Read(make([]byte, 10))
			errc <- err
		}()
		synctest.Wait() // the Read is blocked
		require.NoError(t, ca.Close())
		err := <-errc
		assert.ErrorIs(t, err, net.ErrClosed, "Close makes a pending Read return net.ErrClosed")
		_, err = ca.Write([]byte("x"))
		assert.ErrorIs(t, err, net.ErrClosed, "Write after Close returns net.ErrClosed")
		assert.ErrorIs(t, ca.SetDeadline(time.Now()), net.ErrClosed, "SetDeadline after Close fails")
	})
}

func TestConn_ReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		start := time.Now()
		require.NoError(t, ca.SetReadDeadline(start.Add(3*time.Second)))
		_, err := ca.Read(make([]byte, 10))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a Read past its deadline fails with os.ErrDeadlineExceeded")
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "the deadline error reports Timeout()")
		assert.Equal(t, 3*time.Second, time.Since(start), "the Read waited exactly until the deadline")

		require.NoError(t, ca.SetReadDeadline(time.Time{}))
		_, err = cb.Write([]byte("hi"))
		require.NoError(t, err)
		n, err := ca.Read(make([]byte, 10))
		assert.NoError(t, err, "clearing the deadline makes Read work again")
		assert.Equal(t, 2, n)
	})
}

func TestConn_WriteBlocksThenTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrA)
		cfg.SendBuffer, cfg.SendBufferMax = 8<<10, -1
		cfgB := fastConfig(addrB)
		cfgB.RecvBuffer, cfgB.RecvBufferMax = 8<<10, -1
		p := newPair(t, cfg, cfgB)
		ca, _ := p.connect(t, 80)
		require.NoError(t, ca.SetWriteDeadline(time.Now().Add(time.Second)))
		n, err := ca.Write(make([]byte, 64<<10)) // more than both buffers hold
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a Write that cannot finish fails at its deadline")
		assert.Equal(t, 16<<10, n, "it reports what fit: the peer's receive buffer plus our send buffer")
	})
}

func TestConn_StateTransitions_3_6(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		require.NoError(t, ca.Close(), "A closes first (active close)")
		p.ra.waitState(t, ca.ID(), StateFinWait2)
		p.rb.waitState(t, cb.ID(), StateCloseWait)
		assert.Equal(t, StateFinWait2, ca.State(), "A's FIN is acknowledged: FIN-WAIT-2")
		assert.Equal(t, StateCloseWait, cb.State(), "B got the FIN: CLOSE-WAIT")
		_, err := cb.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err, "B reads EOF after A's FIN")

		require.NoError(t, cb.Close(), "B closes (passive close)")
		p.rb.waitState(t, cb.ID(), StateClosed)
		p.ra.waitState(t, ca.ID(), StateTimeWait)
		assert.Equal(t, []State{StateListen, StateSynReceived, StateEstablished, StateCloseWait, StateLastAck, StateClosed},
			p.rb.statesOf(cb.ID()), "RFC 9293 §3.6: the passive closer goes CLOSE-WAIT → LAST-ACK → CLOSED")
		assert.Equal(t, []State{StateSynSent, StateEstablished, StateFinWait1, StateFinWait2, StateTimeWait},
			p.ra.statesOf(ca.ID()), "the active closer goes FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT")
		assert.Equal(t, StateTimeWait, ca.State(), "the closed Conn still shows its TCB's state")

		start := time.Now()
		p.ra.waitState(t, ca.ID(), StateClosed)
		assert.Equal(t, 2*time.Second, time.Since(start), "TIME-WAIT lasts 2×MSL")
	})
}

func TestConn_SimultaneousClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		// A wire delay keeps both FINs in flight at once.
		p.ea.SetFaults(tun.Faults{Delay: 10 * time.Millisecond})
		p.eb.SetFaults(tun.Faults{Delay: 10 * time.Millisecond})
		require.NoError(t, ca.CloseWrite())
		require.NoError(t, cb.CloseWrite())
		p.ra.waitState(t, ca.ID(), StateTimeWait)
		p.rb.waitState(t, cb.ID(), StateTimeWait)
		for _, st := range [][]State{p.ra.statesOf(ca.ID()), p.rb.statesOf(cb.ID())} {
			assert.Equal(t, []State{StateFinWait1, StateClosing, StateTimeWait}, st[len(st)-3:],
				"RFC 9293 §3.6 case 2: a simultaneous close goes FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides")
		}
		_, err := ca.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err, "both sides see EOF")
		require.NoError(t, ca.Close())
		require.NoError(t, cb.Close())
		require.NoError(t, p.a.Wait(context.Background()))
		require.NoError(t, p.b.Wait(context.Background()))
	})
}

// transfer sends n random octets from w to r and checks them by SHA-256.
// It closes w's writing side when done.
func transfer(t *testing.T, w, r *Conn, n int, seed uint64) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	want := sha256.New()
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seed, 0))
		buf := make([]byte, 32<<10)
		for left := n; left > 0; {
			k := min(left, 1+rng.IntN(len(buf)))
			for i := range buf[:k] {
				buf[i] = byte(rng.Uint32())
			}
			want.Write(buf[:k])
			_, err := w.Write(buf[:k])
			if !assert.NoError(t, err, "every Write must succeed") {
				return
			}
			left -= k
		}
		assert.NoError(t, w.CloseWrite(), "the writer half-closes when done")
	}()
	got := sha256.New()
	m, err := io.Copy(got, r)
	wg.Wait()
	require.NoError(t, err, "the reader must reach EOF without error")
	assert.Equal(t, int64(n), m, "every octet arrives")
	assert.Equal(t, want.Sum(nil), got.Sum(nil), "the data arrive intact and in order (SHA-256)")
}

func TestConn_Transfer4MiBBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); transfer(t, ca, cb, 4<<20, 1) }()
		go func() { defer wg.Done(); transfer(t, cb, ca, 4<<20, 2) }()
		wg.Wait()
		require.NoError(t, ca.Close())
		require.NoError(t, cb.Close())
		require.NoError(t, p.a.Wait(context.Background()), "both connections close cleanly")
		require.NoError(t, p.b.Wait(context.Background()))
		assert.Zero(t, p.a.Stats().NoPort+p.b.Stats().NoPort, "a clean transfer sends no RST")
	})
}

func TestConn_ConcurrentWritesDoNotInterleave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrA)
		cfg.SendBuffer = 4 << 10 // each Write needs several rounds
		p := newPair(t, cfg, fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		const writers, size = 4, 20 << 10
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := ca.Write(bytes.Repeat([]byte{byte('a' + i)}, size))
				assert.NoError(t, err)
			}()
		}
		go func() { wg.Wait(); ca.CloseWrite() }()
		got, err := io.ReadAll(cb)
		require.NoError(t, err)
		require.Len(t, got, writers*size)
		for i := 0; i < len(got); i += size {
			assert.Equal(t, bytes.Repeat(got[i:i+1], size), got[i:i+size], "each Write's octets stay together")
		}
	})
}

func TestConn_UserTimeout_MUST21(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		require.NoError(t, ca.SetUserTimeout(2*time.Second), "MUST-21: the application sets R2")
		p.ea.SetFaults(tun.Faults{Loss: 1}) // the peer vanishes
		_, err := ca.Write([]byte("hello"))
		require.NoError(t, err, "the data is queued")
		_, err = ca.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ETIMEDOUT, "MUST-20: after R2 the connection is closed with 'timed out'")
		assert.True(t, errors.As(err, new(*net.OpError)), "as a *net.OpError")
	})
}

func TestConn_CloseReadGivesEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		require.NoError(t, ca.CloseRead())
		_, err := ca.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err, "Read after CloseRead returns EOF")
		_, err = ca.Write([]byte("still"))
		assert.NoError(t, err, "writing goes on after CloseRead")
		buf := make([]byte, 5)
		_, err = io.ReadFull(cb, buf)
		assert.NoError(t, err, "the peer receives it")
	})
}

func TestConn_KeepAlive_MUST24(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		require.NoError(t, ca.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Minute, Interval: time.Second, Count: 3}),
			"MUST-24: the application switches keep-alives on")
		// An answering peer keeps the idle connection alive through many probes.
		<-time.After(10 * time.Minute) // fake time passes: the bubble jumps from timer to timer
		synctest.Wait()
		assert.Equal(t, StateEstablished, ca.State(), "probes that are answered keep the connection")
		assert.GreaterOrEqual(t, ca.Stats().SegsOut, uint64(9), "one probe per idle minute went out")

		p.eb.SetFaults(tun.Faults{Loss: 1}) // the peer goes silent
		start := time.Now()
		_, err := ca.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ETIMEDOUT, "after Count unanswered probes the connection fails")
		assert.Equal(t, time.Minute+3*time.Second, time.Since(start).Round(time.Second),
			"idle, then Count probes an interval apart (MUST-29: never after one)")
	})
}

// SetUserTimeout applies to data already outstanding: the stack's timer is
// re-armed for the new R2, so the connection fails when it passes, not at
// the next retransmission after it (here the RTO is 30 s).
func TestConn_SetUserTimeoutRearmsTimer_MUST21(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrA)
		cfg.InitialRTO, cfg.MinRTO, cfg.MaxRTO = 30*time.Second, 30*time.Second, time.Minute
		p := newPair(t, cfg, fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		p.ea.SetFaults(tun.Faults{Loss: 1}) // the peer vanishes
		_, err := ca.Write([]byte("hello"))
		require.NoError(t, err)
		synctest.Wait() // the data is out, its retransmission due in 30 s
		start := time.Now()
		require.NoError(t, ca.SetUserTimeout(2*time.Second))
		_, err = ca.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ETIMEDOUT, "R2 ends the connection")
		assert.Less(t, time.Since(start), 3*time.Second, "when the new user timeout passes, not at the next RTO")
	})
}

// CloseRead is shutdown(SHUT_RD), not a close: data the peer sends later
// is taken and dropped, and the peer is not reset (unlike Close with
// unread data, RFC 9293 SHLD-3).
func TestConn_CloseReadThenDataDoesNotReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		require.NoError(t, ca.CloseRead())
		_, err := cb.Write(make([]byte, 300<<10)) // more than the receive buffer
		require.NoError(t, err, "the peer's writes complete: the data is acknowledged")
		synctest.Wait()
		assert.Equal(t, StateEstablished, ca.State(), "no reset")
		require.NoError(t, cb.Close())
		_, err = ca.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err)
		_, err = ca.Write([]byte("bye"))
		assert.NoError(t, err, "our side can still write")
	})
}
