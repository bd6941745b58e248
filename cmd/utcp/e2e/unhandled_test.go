package e2e

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tcp"
)

// The kernel sends UDP to utcp's address; Config.Unhandled gets it and
// Stack.WritePacket sends the echo back, while a TCP connection runs on
// the same device.
func TestUnhandled_KernelUDPEcho(t *testing.T) {
	const port = 5353
	var st atomic.Pointer[tcp.Stack]
	var echoed atomic.Int64
	cfg := tcp.Config{Unhandled: func(pkt []byte) {
		h, payload, err := ip.Parse(pkt)
		if err != nil || h.Protocol != 17 || len(payload) < 8 || binary.BigEndian.Uint16(payload[2:]) != port {
			return
		}
		// The echo: addresses and ports swapped, which leaves the IPv4
		// and UDP checksums as they are (RFC 1071: the sum is commutative).
		out := bytes.Clone(pkt[:h.TotalLen])
		copy(out[12:16], pkt[16:20])
		copy(out[16:20], pkt[12:16])
		u := out[h.HeaderLen:]
		copy(u[0:2], payload[2:4])
		copy(u[2:4], payload[0:2])
		if s := st.Load(); s != nil && s.WritePacket(out) == nil {
			echoed.Add(1)
		}
	}}
	s := stackOnTUN(t, "utcpudp", cfg)
	st.Store(s)
	ln, err := s.Listen(7)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go serveEach(ln, func(c net.Conn) { io.Copy(c, c) })

	tcpConn := dialKernel(t, utcpAt(7), 0)
	defer tcpConn.Close()
	u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(utcpAt(port)))
	require.NoError(t, err)
	defer u.Close()
	for i := range 5 {
		q := []byte{0xab, byte(i), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 'u', 't', 'c', 'p', 0, 0, 1, 0, 1} // a DNS query for "utcp"
		_, err := u.Write(q)
		require.NoError(t, err)
		require.NoError(t, u.SetReadDeadline(time.Now().Add(waitTimeout)))
		buf := make([]byte, 512)
		n, err := u.Read(buf)
		require.NoError(t, err, "query %d: the echo comes back", i)
		assert.Equal(t, q, buf[:n])

		msg := []byte("tcp beside udp")
		_, err = tcpConn.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		require.NoError(t, tcpConn.SetReadDeadline(time.Now().Add(waitTimeout)))
		_, err = io.ReadFull(tcpConn, got)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
	}
	assert.Equal(t, int64(5), echoed.Load())
	assert.GreaterOrEqual(t, s.Stats().Unhandled, uint64(5))
}
