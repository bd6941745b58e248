package tcp

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun"
)

// These tests run two stacks over a lossy tun.Pipe inside a synctest
// bubble: time is fake, so retransmission timers cost nothing, and the
// faults are seeded.

func TestLoss_TransferAndClose(t *testing.T) {
	faults := tun.Faults{Loss: 0.1, Duplicate: 0.05, Reorder: 0.05, Corrupt: 0.02}
	for seed := range int64(4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, fastConfig(addrA), fastConfig(addrB))
				fa, fb := faults, faults
				fa.Seed, fb.Seed = seed, seed+1000
				p.ea.SetFaults(fa)
				p.eb.SetFaults(fb)

				ca, cb := p.connect(t, 80)
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); transfer(t, ca, cb, 1<<20, uint64(seed)) }()
				go func() { defer wg.Done(); transfer(t, cb, ca, 1<<20, uint64(seed)+1) }()
				wg.Wait()
				require.NoError(t, ca.Close())
				require.NoError(t, cb.Close())
				require.NoError(t, p.a.Wait(context.Background()), "A's connection reaches CLOSED despite the faults")
				require.NoError(t, p.b.Wait(context.Background()), "B's connection reaches CLOSED despite the faults")

				sa, sb := p.ea.Stats(), p.eb.Stats()
				assert.NotZero(t, sa.Lost+sb.Lost, "the pipe lost packets, so the test exercised retransmission")
				assert.NotZero(t, sa.Corrupted+sb.Corrupted, "the pipe corrupted packets")
				st := p.a.Stats()
				stb := p.b.Stats()
				assert.NotZero(t, st.BadChecksum+stb.BadChecksum+st.IP.BadChecksum+stb.IP.BadChecksum+st.Malformed+stb.Malformed+
					st.IP.Malformed+stb.IP.Malformed+st.IP.NotForUs+stb.IP.NotForUs+st.IP.UnknownProtocol+stb.IP.UnknownProtocol,
					"MUST-3: corrupted packets were caught and dropped")
				t.Logf("A→B %+v", sa)
				t.Logf("B→A %+v", sb)
			})
		})
	}
}

// tcpFlags returns the TCP flags of an IPv4 packet without options, or 0.
func tcpFlags(pkt []byte) Flags {
	if len(pkt) < ip.HeaderLen+HeaderLen || pkt[9] != ip.ProtoTCP {
		return 0
	}
	return Flags(pkt[ip.HeaderLen+13])
}

// dropFirst returns a Faults.Drop that drops the first packet whose TCP
// flags include want, and a counter of the drops.
func dropFirst(want Flags) (func([]byte) bool, *atomic.Int32) {
	var n atomic.Int32
	return func(pkt []byte) bool {
		if tcpFlags(pkt).Has(want) && n.Load() == 0 {
			n.Add(1)
			return true
		}
		return false
	}, &n
}

func TestLoss_SYNACKLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		drop, dropped := dropFirst(FlagSYN | FlagACK)
		p.eb.SetFaults(tun.Faults{Drop: drop})
		ca, cb := p.connect(t, 80)
		assert.Equal(t, int32(1), dropped.Load(), "the first SYN-ACK was lost")
		assert.Equal(t, StateEstablished, ca.State(), "the handshake completes with a retransmission")
		assert.Equal(t, StateEstablished, cb.State(), "on both sides")
		assert.NotZero(t, ca.Stats().Retransmits+cb.Stats().Retransmits, "something was sent again")
	})
}

func TestLoss_SYNLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		drop, dropped := dropFirst(FlagSYN)
		p.ea.SetFaults(tun.Faults{Drop: drop})
		start := time.Now()
		ca, _ := p.connect(t, 80)
		assert.Equal(t, int32(1), dropped.Load(), "the first SYN was lost")
		assert.Equal(t, 20*time.Millisecond, time.Since(start), "the SYN is sent again after the initial RTO")
		assert.Equal(t, uint64(1), ca.Stats().Retransmits, "one retransmission")
	})
}

func TestLoss_FINLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		drop, dropped := dropFirst(FlagFIN)
		p.ea.SetFaults(tun.Faults{Drop: drop})
		require.NoError(t, ca.Close())
		buf := make([]byte, 1)
		_, err := cb.Read(buf)
		assert.Equal(t, "EOF", fmt.Sprint(err), "B sees the FIN's retransmission as EOF")
		assert.Equal(t, int32(1), dropped.Load(), "the first FIN was lost")
		require.NoError(t, cb.Close())
		require.NoError(t, p.a.Wait(context.Background()), "A reaches CLOSED (through TIME-WAIT)")
		require.NoError(t, p.b.Wait(context.Background()), "B reaches CLOSED")
	})
}

func TestLoss_LastACKLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		require.NoError(t, ca.Close())
		p.ra.waitState(t, ca.ID(), StateFinWait2)
		// The ACK of B's FIN is A's last segment: lose it once.
		var n atomic.Int32
		p.ea.SetFaults(tun.Faults{Drop: func(pkt []byte) bool {
			return tcpFlags(pkt) == FlagACK && n.Add(1) == 1
		}})
		require.NoError(t, cb.Close())
		require.NoError(t, p.b.Wait(context.Background()), "B retransmits its FIN from LAST-ACK and reaches CLOSED")
		require.NoError(t, p.a.Wait(context.Background()), "A acknowledges it again from TIME-WAIT, then closes")
		assert.NotZero(t, cb.Stats().Retransmits, "B's FIN was sent again")
	})
}

func TestLoss_PeerGoneDuringTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrA)
		cfg.UserTimeout = 3 * time.Second
		p := newPair(t, cfg, fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		p.ea.SetFaults(tun.Faults{Loss: 1})
		p.eb.SetFaults(tun.Faults{Loss: 1})
		_, err := ca.Write(make([]byte, 1<<20)) // more than fits: blocks until R2
		assert.ErrorIs(t, err, syscall.ETIMEDOUT, "MUST-20: a Write blocked on a dead peer fails after R2")
		assert.Empty(t, p.a.Conns(), "the connection is gone")
	})
}
