package tun_test

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/tuntest"
)

func TestPersistent_CreateAttachDelete(t *testing.T) {
	tuntest.RequireNetns(t)
	const name = "utcpper0"
	require.NoError(t, tun.CreatePersistent(tun.Config{Name: name, MTU: 1400}, 65534, 65534))
	t.Cleanup(func() { tun.DeletePersistent(name) })
	require.ErrorIs(t, tun.CreatePersistent(tun.Config{Name: name}, 65534, -1), tun.ErrExists)

	link, err := netlink.LinkByName(name)
	require.NoError(t, err, "the device stays after its creator closed it")
	tt, ok := link.(*netlink.Tuntap)
	require.True(t, ok)
	assert.Equal(t, uint32(65534), tt.Owner)
	assert.Equal(t, uint32(65534), tt.Group)
	assert.Equal(t, 1400, link.Attrs().MTU)
	assert.NotZero(t, link.Attrs().Flags&net.FlagUp, "the device is up")
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.Equal(t, kernelAddr.String(), addrs[0].IP.String())

	for _, offload := range []bool{false, true} {
		d, err := tun.Open(tun.Config{Name: name, Attach: true, Offload: offload})
		require.NoError(t, err)
		assert.Equal(t, 1400, d.MTU(), "an attached device has the device's MTU")
		// A packet from the kernel reaches the attached device.
		require.NoError(t, d.WritePacket(echoPacket(t, 1, 8)))
		buf := make([]byte, 1500)
		n, err := d.ReadPacket(buf)
		require.NoError(t, err)
		assert.Positive(t, n, "the kernel answers the echo request")
		require.NoError(t, d.Close())
		_, err = netlink.LinkByName(name)
		require.NoError(t, err, "closing an attached device leaves it")
	}

	require.NoError(t, tun.DeletePersistent(name))
	_, err = netlink.LinkByName(name)
	require.Error(t, err, "DeletePersistent removes the device")
	require.ErrorIs(t, tun.DeletePersistent(name), tun.ErrNotExist)
}

func TestPersistent_AttachMissingOrNotTUN(t *testing.T) {
	tuntest.RequireNetns(t)
	_, err := tun.Open(tun.Config{Name: "utcpnone0", Attach: true})
	require.ErrorIs(t, err, tun.ErrNotExist)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "utcp tun create")
	_, err = tun.Open(tun.Config{Name: "lo", Attach: true})
	require.ErrorIs(t, err, tun.ErrInvalidConfig, "lo is not a TUN device")
	require.ErrorIs(t, tun.DeletePersistent("lo"), tun.ErrInvalidConfig)
}
