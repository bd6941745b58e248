package tcp

import (
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/utcp/utcp/tun"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConn_Info(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// B acknowledges every segment. With delayed ACKs it may hold the
		// ACK of a full segment, the 224-octet tail and the FIN for 40 ms
		// (SHLD-19 asks for one per two full-sized segments), and A's tail
		// probe at 2·SRTT (RFC 8985 §7.2) would send the tail again: a
		// retransmission by design, not a fault of the pipe.
		cfgB := fastConfig(addrB)
		cfgB.DelayedACK = -1
		p := newPair(t, fastConfig(addrA), cfgB)
		p.ea.SetFaults(tun.Faults{Delay: time.Millisecond})
		p.eb.SetFaults(tun.Faults{Delay: time.Millisecond})
		ca, cb := p.connect(t, 80)
		go func() {
			ca.Write(make([]byte, 1<<20))
			ca.CloseWrite()
		}()
		n, err := io.Copy(io.Discard, cb)
		require.NoError(t, err)
		require.Equal(t, int64(1<<20), n)
		p.ra.waitState(t, ca.ID(), StateFinWait2)

		in := ca.Info()
		assert.Equal(t, StateFinWait2, in.State)
		assert.Equal(t, CUBIC, in.Congestion, "CUBIC is the default, as on Linux")
		assert.Positive(t, in.SRTT)
		assert.Positive(t, in.MinRTT)
		assert.LessOrEqual(t, in.MinRTT, in.SRTT)
		assert.GreaterOrEqual(t, in.RTO, fastConfig(addrA).MinRTO)
		assert.Greater(t, in.Cwnd, uint32(initialWindow(in.Options.MSS, false)), "a clean megabyte grows cwnd")
		assert.Equal(t, uint64(1<<20), in.BytesSent, "no retransmission on a clean pipe")
		assert.Zero(t, in.Retransmits)
		assert.Equal(t, uint64(1<<20)+1, in.BytesAcked, "the data and the FIN")
		assert.Zero(t, in.Flight)
		assert.Positive(t, in.DeliveryRate)
		assert.InDelta(t, 2*time.Millisecond, in.MinRTT, float64(time.Millisecond), "the pipe's round trip")
		assert.True(t, in.Options.WindowScale)
		assert.True(t, in.Options.SACK, "SACK is on by default")
		assert.True(t, in.Options.Timestamps, "timestamps are on by default")
		assert.False(t, in.Options.ECN, "ECN is accepted, not asked for")

		out := cb.Info()
		assert.Equal(t, uint64(1<<20), out.BytesReceived)
		assert.Equal(t, StateCloseWait, out.State)
	})
}

func TestConn_SetCongestion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, _ := p.connect(t, 80)
		before := ca.Info()
		require.NoError(t, ca.SetCongestion(NewReno))
		after := ca.Info()
		assert.Equal(t, NewReno, after.Congestion)
		assert.Equal(t, before.Cwnd, after.Cwnd, "the new controller takes over the window")
		assert.Error(t, ca.SetCongestion(Congestion(9)))
		c, err := ParseCongestion("CUBIC")
		require.NoError(t, err)
		assert.Equal(t, CUBIC, c)
		_, err = ParseCongestion("bbr")
		assert.Error(t, err)
	})
}
