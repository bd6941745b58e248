package tcp

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

// icmpAbout writes to the stack an ICMP error from a router about the
// packet p it sent (RFC 792: the header and 64 bits of data quoted).
func (r *rawPeer) icmpAbout(t *testing.T, p []byte, typ, code uint8, mtu uint32) {
	t.Helper()
	h, _, err := ip.Parse(p)
	require.NoError(t, err)
	router := netip.MustParseAddr("10.0.0.254")
	require.NoError(t, r.end.WritePacket(ip.AppendICMPError(nil, router, h.Src, typ, code, mtu, p[:h.HeaderLen+8])))
}

// RFC 1122 §4.2.3.9, SHLD-26: port unreachable about our SYN ends Dial
// with ECONNREFUSED in a *net.OpError, as a kernel socket's connect.
func TestStack_DialPortUnreachable_SHLD26(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newRawPeer(t, fastConfig(addrB))
		errc := make(chan error, 1)
		go func() {
			_, err := s.Dial(netip.AddrPortFrom(addrPeer, 80))
			errc <- err
		}()
		syn, ok := r.next()
		require.True(t, ok, "the SYN")
		r.icmpAbout(t, syn, ip.ICMPTypeDestUnreachable, ip.ICMPCodePortUnreachable, 0)
		err := <-errc
		var op *net.OpError
		require.ErrorAs(t, err, &op, "the usual *net.OpError")
		assert.Equal(t, "dial", op.Op)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		r.recvNone(t, "nothing answers an ICMP error")
		st := s.Stats()
		assert.Equal(t, uint64(1), st.ICMPErrorsAccepted)
		assert.Equal(t, uint64(1), st.IP.ICMPErrors)
	})
}

// MUST-56: host unreachable does not end the dial; Conn.SoftError and
// Info report it, and the handshake's progress clears it.
func TestStack_SoftErrorReported_MUST56(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.ISN = func(FourTuple, time.Time) Seq { return 5000 }
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		r.sendText(t, src, dst, "S 1000:1000(0) win 65535 <mss 1460>")
		r.recv(t) // the SYN,ACK
		r.sendText(t, src, dst, ". 1001:1001(0) ack 5001 win 65535")
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		defer c.Abort()
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		data, ok := r.next()
		require.True(t, ok, "the data")
		r.icmpAbout(t, data, ip.ICMPTypeDestUnreachable, ip.ICMPCodeHostUnreachable, 0)
		synctest.Wait()
		assert.ErrorIs(t, c.SoftError(), syscall.EHOSTUNREACH, "MUST-47: the soft error is reported")
		assert.ErrorIs(t, c.Info().SoftError, syscall.EHOSTUNREACH)
		assert.Equal(t, StateEstablished, c.State(), "MUST-56: not aborted")
		r.sendText(t, src, dst, ". 1001:1001(0) ack 5006 win 65535")
		synctest.Wait()
		assert.NoError(t, c.SoftError(), "new data acknowledged clears it")
	})
}
