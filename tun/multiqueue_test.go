package tun_test

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/tuntest"
)

// openQueues opens a multi-queue device in the test's namespace; cleanup
// closes the queues, the first last.
func openQueues(t *testing.T, name string, n int) []*tun.Device {
	t.Helper()
	tuntest.RequireNetns(t)
	devs, err := tun.OpenMultiQueue(tun.Config{Name: name, KernelAddr: kernelAddr, PeerAddr: peerAddr, MTU: 1500}, n)
	require.NoError(t, err, "the private namespace starts empty, so OpenMultiQueue must succeed")
	require.Len(t, devs, n)
	t.Cleanup(func() {
		for i := len(devs) - 1; i >= 0; i-- {
			assert.NoError(t, devs[i].Close())
		}
	})
	return devs
}

// UDP datagrams from many source ports: the kernel spreads the flows over
// the queues, and each flow's packets reach one queue.
func TestOpenMultiQueueSpreadsFlows(t *testing.T) {
	const queues, flows = 2, 32
	devs := openQueues(t, "utcpmq0", queues)

	link, err := netlink.LinkByName("utcpmq0")
	require.NoError(t, err)
	assert.Equal(t, 1500, link.Attrs().MTU, "configured once, as Open does")
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1, "exactly the kernel's address")
	assert.Equal(t, "10.9.0.2/32", addrs[0].Peer.String())

	var got [queues]atomic.Int32
	ports := make([]map[uint16]bool, queues) // source ports seen, per queue
	done := make(chan int, queues)
	for q, dev := range devs {
		ports[q] = map[uint16]bool{}
		go func() {
			buf := make([]byte, dev.MTU())
			for {
				n, err := dev.ReadPacket(buf)
				if err != nil {
					done <- q
					return
				}
				// RFC 791: protocol 17 is UDP; its source port follows a 20-octet header.
				if n >= 28 && buf[9] == 17 && buf[0]&0x0f == 5 {
					ports[q][uint16(buf[20])<<8|uint16(buf[21])] = true
					got[q].Add(1)
				}
			}
		}()
	}
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(peerAddr, 9))
	for range flows {
		c, err := net.DialUDP("udp4", nil, to)
		require.NoError(t, err)
		for range 2 {
			_, err = c.Write([]byte("utcp"))
			require.NoError(t, err)
		}
		c.Close()
	}
	require.Eventually(t, func() bool { return got[0].Load()+got[1].Load() == 2*flows },
		10*time.Second, time.Millisecond, "every datagram reaches a queue")
	for q := range devs {
		assert.NotZero(t, got[q].Load(), "queue %d gets a share of %d flows", q, flows)
	}

	require.NoError(t, devs[0].Close(), "the first queue deletes the interface")
	_, err = netlink.LinkByName("utcpmq0")
	var nf netlink.LinkNotFoundError
	assert.ErrorAs(t, err, &nf)
	require.NoError(t, devs[1].Close())
	for range queues {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a queue's ReadPacket still blocked 10s after Close")
		}
	}
	for port := range ports[0] {
		assert.False(t, ports[1][port], "the flow from port %d reached both queues", port)
	}
}

func TestOpenMultiQueueInvalid(t *testing.T) {
	for _, n := range []int{0, -1, tun.MaxQueues + 1} {
		_, err := tun.OpenMultiQueue(tun.Config{Name: "utcpmqbad"}, n)
		assert.ErrorIs(t, err, tun.ErrInvalidConfig, "%d queues", n)
	}
	openQueues(t, "utcpmqdup", 2)
	_, err := tun.OpenMultiQueue(tun.Config{Name: "utcpmqdup"}, 2)
	assert.ErrorIs(t, err, tun.ErrExists, "a second open must not attach more queues to the first device")
	_, err = tun.Open(tun.Config{Name: "utcpmqdup"})
	assert.ErrorIs(t, err, tun.ErrExists)
}
