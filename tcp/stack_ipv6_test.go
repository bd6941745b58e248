package tcp

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

var (
	addrA6    = netip.MustParseAddr("fd00::1")
	addrB6    = netip.MustParseAddr("fd00::2")
	addrPeer6 = netip.MustParseAddr("fd00::9")
)

// A dual-stack pair: one listener takes connections over both families,
// IPv6 segments carry MSS MTU-60, and the data arrives whole each way.
func TestStack_DualStack(t *testing.T) {
	p := newPair(t, Config{Addr: addrA, Addrs: []netip.Addr{addrA6}}, Config{Addr: addrB, Addrs: []netip.Addr{addrB6}})
	assert.Equal(t, []netip.Addr{addrB, addrB6}, p.b.Addrs())
	ln, err := p.b.Listen(80)
	require.NoError(t, err)
	defer ln.Close()

	for _, dst := range []netip.Addr{addrB6, addrB} {
		ca, err := p.a.Dial(netip.AddrPortFrom(dst, 80))
		require.NoError(t, err, "dial %v", dst)
		cb, err := ln.AcceptTCP()
		require.NoError(t, err)
		want := addrA
		mss := 1460 - tsOptionLen
		if dst.Is6() {
			want, mss = addrA6, 1440-tsOptionLen
		}
		assert.Equal(t, want, ca.ID().Local.Addr(), "the source is our address of the destination's family")
		assert.Equal(t, dst, cb.ID().Local.Addr())
		assert.Equal(t, mss, ca.Info().Options.MSS, "RFC 8200 §8.3: the IPv6 header leaves MTU-60 (less timestamps)")

		data := make([]byte, 300_000)
		for i := range data {
			data[i] = byte(rand.Uint32())
		}
		go func() {
			_, _ = ca.Write(data)
			_ = ca.CloseWrite()
		}()
		go func() {
			_, _ = io.Copy(cb, cb) // echo
			_ = cb.CloseWrite()
		}()
		got, err := io.ReadAll(ca)
		require.NoError(t, err)
		assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "the echo over %v", dst)
		ca.Close()
		cb.Close()
	}
}

// A stack with only IPv4 cannot reach an IPv6 address.
func TestStack_DialOtherFamily(t *testing.T) {
	p := newPair(t, Config{Addr: addrA}, Config{Addr: addrB, Addrs: []netip.Addr{addrB6}})
	_, err := p.a.Dial(netip.AddrPortFrom(addrB6, 80))
	assert.ErrorIs(t, err, syscall.ENETUNREACH)
}

// RFC 8201 §4: a packet too big lowers the path MTU of an IPv6
// connection, and what was too big goes again cut to fit; the estimate
// never goes below 1280 (RFC 8200 §5).
func TestStack_IPv6PacketTooBig_RFC8201(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.Addrs = []netip.Addr{addrB6}
		cfg.ISN = func(FourTuple, time.Time) Seq { return 5000 }
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer6, 40000), netip.AddrPortFrom(addrB6, 80)
		r.sendText(t, src, dst, "S 1000:1000(0) win 65535 <mss 1440>")
		h, synAck := r.recv(t)
		assert.Equal(t, addrB6, h.Src, "the SYN-ACK comes from the address the SYN went to")
		assert.Equal(t, uint16(1440), synAck.Options.MSS, "MUST-67: MTU-60 over IPv6")
		r.sendText(t, src, dst, ". 1001:1001(0) ack 5001 win 65535")
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		defer c.Abort()
		_, err = c.Write(make([]byte, 3000))
		require.NoError(t, err)
		first, ok := r.next()
		require.True(t, ok)
		assert.Len(t, first, 1500, "a full-sized IPv6 packet")
		for _, ok := r.next(); ok; _, ok = r.next() {
		}
		router := netip.MustParseAddr("fd00:77::1")
		require.NoError(t, r.end.WritePacket(ip.AppendICMPv6(nil, router, addrB6, ip.ICMPv6TypePacketTooBig, 0, 1000, first[:1232])))
		h, seg := r.recv(t)
		assert.Equal(t, Seq(5001), seg.Seq, "the first segment goes again")
		assert.Equal(t, 1280-60, len(seg.Payload), "cut to IPv6's minimum MTU, not the 1000 the message claimed")
		assert.Equal(t, addrPeer6, h.Dst)
		st := s.Stats()
		assert.Equal(t, uint64(1), st.ICMPErrorsAccepted)
	})
}

// ICMPv6 echo is answered from the address pinged (RFC 4443 §4.2).
func TestStack_IPv6Echo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.Addrs = []netip.Addr{addrB6}
		s, r := newRawPeer(t, cfg)
		defer s.Close()
		require.NoError(t, r.end.WritePacket(ip.AppendEchoRequest6(nil, addrPeer6, addrB6, 1, 2, []byte("six"))))
		p, ok := r.next()
		require.True(t, ok)
		h, payload, err := ip.Parse6(p)
		require.NoError(t, err)
		m, err := ip.ParseICMPv6(payload, h.Src, h.Dst)
		require.NoError(t, err)
		assert.Equal(t, uint8(ip.ICMPv6TypeEchoReply), m.Type)
		assert.Equal(t, addrB6, h.Src)
	})
}
