package tun_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun"
	"github.com/utcp/utcp/tun/tuntest"
)

// TestMain moves the tests into a private network namespace when run as root.
func TestMain(m *testing.M) { tuntest.Main(m) }

// openDevice opens a TUN device in the test's namespace and closes it at cleanup.
func openDevice(t *testing.T, name string) *tun.Device {
	t.Helper()
	tuntest.RequireNetns(t)
	dev, err := tun.Open(tun.Config{Name: name, KernelAddr: kernelAddr, PeerAddr: peerAddr, MTU: 1500})
	require.NoError(t, err, "the private namespace starts empty, so Open must succeed")
	t.Cleanup(func() { assert.NoError(t, dev.Close()) })
	return dev
}

// serveEcho answers every packet read from dev through an ip.Endpoint, the
// way the stack's link reader will. It returns the endpoint and a channel
// that receives the read error that ended the loop.
func serveEcho(dev *tun.Device) (*ip.Endpoint, <-chan error) {
	ep := &ip.Endpoint{Addr: peerAddr}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, dev.MTU())
		reply := make([]byte, 0, dev.MTU())
		for {
			n, err := dev.ReadPacket(buf)
			if err != nil {
				done <- err
				return
			}
			if _, _, out, _ := ep.Input(buf[:n], reply[:0]); out != nil {
				if err := dev.WritePacket(out); err != nil {
					done <- fmt.Errorf("write reply: %w", err)
					return
				}
			}
		}
	}()
	return ep, done
}

func TestDevicePing(t *testing.T) {
	dev := openDevice(t, "utcp0")
	ep, done := serveEcho(dev)

	// The kernel pings utcp's address; only the device and the ip layer can answer.
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	require.NoError(t, err, "root in the namespace may open a raw ICMP socket")
	defer conn.Close()

	id := os.Getpid() & 0xffff
	for seq := 1; seq <= 3; seq++ {
		data := bytes.Repeat([]byte{byte(seq)}, 56)
		req := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}
		wb, err := req.Marshal(nil)
		require.NoError(t, err)
		_, err = conn.WriteTo(wb, &net.IPAddr{IP: peerAddr.AsSlice()})
		require.NoError(t, err, "10.9.0.2 is routed through the device by its point-to-point address")

		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		rb := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(rb)
			require.NoError(t, err, "the echo reply for seq %d must arrive; endpoint stats: %v", seq, ep.Stats.Snapshot())
			msg, err := icmp.ParseMessage(1, rb[:n]) // 1: ICMPv4
			require.NoError(t, err)
			echo, ok := msg.Body.(*icmp.Echo)
			if msg.Type != ipv4.ICMPTypeEchoReply || !ok || echo.ID != id || echo.Seq != seq {
				continue // another ICMP message; the raw socket sees them all
			}
			assert.Equal(t, peerAddr.String(), from.String(), "the reply comes from the pinged address")
			assert.Equal(t, data, echo.Data, "RFC 792: the echo data is returned unchanged")
			break
		}
	}
	snap := ep.Stats.Snapshot()
	assert.Equal(t, uint64(3), snap.EchoReplies, "one reply per request went back through the device")

	require.NoError(t, dev.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed, "Close ends the read loop with net.ErrClosed")
}

func TestDeviceConfiguresKernelSide(t *testing.T) {
	dev := openDevice(t, "utcpcfg0")
	assert.Equal(t, "utcpcfg0", dev.Name())
	assert.Equal(t, 1500, dev.MTU())

	link, err := netlink.LinkByName("utcpcfg0")
	require.NoError(t, err)
	assert.Equal(t, 1500, link.Attrs().MTU, "Open sets the MTU")
	assert.NotZero(t, link.Attrs().Flags&net.FlagUp, "Open sets the link up")
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1, "exactly the kernel's address")
	assert.Equal(t, "10.9.0.1/32", addrs[0].IPNet.String())
	require.NotNil(t, addrs[0].Peer, "the address is point-to-point")
	assert.Equal(t, "10.9.0.2/32", addrs[0].Peer.String())
}

func TestDeviceCloseRemovesLink(t *testing.T) {
	dev := openDevice(t, "utcpdel0")
	_, err := netlink.LinkByName("utcpdel0")
	require.NoError(t, err, "the link exists while the device is open")

	require.NoError(t, dev.Close())
	_, err = netlink.LinkByName("utcpdel0")
	var nf netlink.LinkNotFoundError
	assert.ErrorAs(t, err, &nf, "Close deletes the link")
	assert.NoError(t, dev.Close(), "Close is idempotent")
	assert.ErrorIs(t, dev.WritePacket(echoPacket(t, 1, 8)), net.ErrClosed, "writes after Close fail")
	_, err = dev.ReadPacket(make([]byte, 1500))
	assert.ErrorIs(t, err, net.ErrClosed, "reads after Close fail")
}

func TestDeviceOpenTwiceExists(t *testing.T) {
	openDevice(t, "utcpdup0")
	_, err := tun.Open(tun.Config{Name: "utcpdup0"})
	assert.ErrorIs(t, err, tun.ErrExists, "a second Open of the same name must not attach to the first device")

	// lo is not a TUN device, but its name is taken all the same.
	_, err = tun.Open(tun.Config{Name: "lo"})
	assert.ErrorIs(t, err, tun.ErrExists)
}

func TestDeviceCloseUnblocksRead(t *testing.T) {
	dev := openDevice(t, "utcpblk0")
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 1500)
		for { // the kernel may send IPv6 router solicitations first
			if _, err := dev.ReadPacket(b); err != nil {
				done <- err
				return
			}
		}
	}()
	waitBlockedIn(t, "(*Device).ReadPacket")

	require.NoError(t, dev.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, net.ErrClosed, "a read pending during Close returns net.ErrClosed")
	case <-time.After(10 * time.Second):
		t.Fatal("ReadPacket still blocked 10s after Close")
	}
}

func TestDeviceWriteTooBig(t *testing.T) {
	dev := openDevice(t, "utcpbig0")
	err := dev.WritePacket(make([]byte, dev.MTU()+1))
	assert.ErrorIs(t, err, tun.ErrTooBig, "packets above the MTU are a caller bug")
}

func TestOpenWithoutPrivilege(t *testing.T) {
	if !tuntest.Unprivileged() {
		runUnprivileged(t)
		return
	}
	_, err := tun.Open(tun.Config{Name: "utcpnp0"})
	require.Error(t, err)
	t.Logf("Open without privilege: %v", err)
	assert.True(t, errors.Is(err, tun.ErrPermission) || errors.Is(err, tun.ErrNoTUN),
		"without CAP_NET_ADMIN Open says what to do, got %v", err)
	if errors.Is(err, tun.ErrPermission) {
		assert.Contains(t, err.Error(), "run it with sudo")
	}
}

// runUnprivileged runs the calling test again in a child process as the
// user nobody, without capabilities, so a privileged run checks the
// unprivileged error too. The test binary is copied where nobody can run it.
func runUnprivileged(t *testing.T) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "utcp-unpriv-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "tun.test")
	data, err := os.ReadFile(self)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the unprivileged run:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: "+t.Name(), "the test ran as nobody:\n%s", out)
}

// With an IPv6 pair the kernel reaches utcp's IPv6 address through the
// device: an ICMPv6 echo comes back from the ip layer's IPv6 input.
func TestDevicePing_IPv6(t *testing.T) {
	tuntest.RequireNetns(t)
	dev, err := tun.Open(tun.Config{Name: "utcp6", KernelAddr: kernelAddr, PeerAddr: peerAddr, MTU: 1500,
		KernelAddr6: tun.DefaultKernelAddr6, PeerAddr6: tun.DefaultPeerAddr6})
	require.NoError(t, err)
	defer dev.Close()
	ep := &ip.Endpoint{Addr: peerAddr, Addrs: []netip.Addr{tun.DefaultPeerAddr6}}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, dev.MTU())
		for {
			n, err := dev.ReadPacket(buf)
			if err != nil {
				done <- err
				return
			}
			if _, _, out, _ := ep.InputAt(time.Now(), buf[:n], nil); out != nil {
				if err := dev.WritePacket(out); err != nil {
					done <- err
					return
				}
			}
		}
	}()

	conn, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	require.NoError(t, err)

	defer conn.Close()
	req := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: 7, Seq: 1, Data: []byte("dual stack")}}
	wb, err := req.Marshal(nil) // the kernel fills in the ICMPv6 checksum
	require.NoError(t, err)
	_, err = conn.WriteTo(wb, &net.IPAddr{IP: tun.DefaultPeerAddr6.AsSlice()})
	require.NoError(t, err, "fd00:9::2 is routed through the device by its point-to-point address")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	rb := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(rb)
		require.NoError(t, err, "the echo reply must arrive; endpoint stats: %v", ep.Stats.Snapshot())
		msg, err := icmp.ParseMessage(58, rb[:n])
		require.NoError(t, err)
		echo, ok := msg.Body.(*icmp.Echo)
		if msg.Type != ipv6.ICMPTypeEchoReply || !ok || echo.ID != 7 {
			continue
		}
		assert.Equal(t, tun.DefaultPeerAddr6.String(), from.String())
		assert.Equal(t, []byte("dual stack"), echo.Data)
		break
	}
	require.NoError(t, dev.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
}
