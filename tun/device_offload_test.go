package tun_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/tuntest"
)

// A ping works through ReadPacket and WritePacket of an offload device,
// and Close wakes a ReadOffload blocked on it.
func TestDeviceOffload_PingAndCloseWakesRead(t *testing.T) {
	tuntest.RequireNetns(t)
	dev, err := tun.Open(tun.Config{Name: "utcpvo2", KernelAddr: kernelAddr, PeerAddr: peerAddr, MTU: 1500, Offload: true})
	require.NoError(t, err)
	defer dev.Close()
	assert.Equal(t, tun.MaxOffloadSize, dev.OffloadSize())
	var _ tun.OffloadLink = dev

	_, done := serveEcho(dev)
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	require.NoError(t, err)
	defer conn.Close()
	req := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 1, Seq: 1, Data: []byte("offload")}}
	wb, err := req.Marshal(nil)
	require.NoError(t, err)
	_, err = conn.WriteTo(wb, &net.IPAddr{IP: peerAddr.AsSlice()})
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	rb := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(rb)
		require.NoError(t, err)
		m, err := icmp.ParseMessage(1, rb[:n])
		require.NoError(t, err)
		if m.Type == ipv4.ICMPTypeEchoReply {
			break
		}
	}
	require.NoError(t, dev.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)

	dev2, err := tun.Open(tun.Config{Name: "utcpvo3", KernelAddr: kernelAddr, PeerAddr: peerAddr, MTU: 1500, Offload: true})
	require.NoError(t, err)
	defer dev2.Close()
	read := make(chan error, 1)
	go func() {
		var o ip.Offload
		b := make([]byte, tun.MaxOffloadSize)
		for { // the kernel may send IPv6 router solicitations first
			if _, err := dev2.ReadOffload(b, &o); err != nil {
				read <- err
				return
			}
		}
	}()
	waitBlockedIn(t, "ReadOffload")
	require.NoError(t, dev2.Close())
	select {
	case err := <-read:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake ReadOffload")
	}
}
