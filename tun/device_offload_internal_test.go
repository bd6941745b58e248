package tun

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun/tuntest"
)

// fakeOffloadDevice is an offload Device whose fd is one end of a
// SOCK_SEQPACKET socketpair, which keeps message boundaries as a TUN fd
// does: what the test writes on the other end (peer) is what the kernel
// would hand over, header included.
func fakeOffloadDevice(t *testing.T) (d *Device, peer int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.SetNonblock(fds[0], true))
	// Room for a 64 KiB packet in one message.
	for _, fd := range fds {
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20))
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20))
	}
	file := os.NewFile(uintptr(fds[0]), "fake-tun")
	raw, err := file.SyscallConn()
	require.NoError(t, err)
	d = &Device{cfg: Config{Name: "fake0", MTU: 1500}, file: file, raw: raw, offload: TUNFCsum | TUNFTSO4}
	t.Cleanup(func() {
		assert.NoError(t, d.Close())
		unix.Close(fds[1])
	})
	return d, fds[1]
}

func peerWrite(t *testing.T, fd int, b []byte) {
	t.Helper()
	n, err := unix.Write(fd, b)
	require.NoError(t, err)
	require.Equal(t, len(b), n)
}

func peerRead(t *testing.T, fd int) []byte {
	t.Helper()
	b := make([]byte, VnetHdrLen+MaxOffloadSize)
	n, err := unix.Read(fd, b)
	require.NoError(t, err)
	return b[:n]
}

// A malformed, truncated or unhandled virtio-net header drops its packet
// with an error the stack recognises (ip.ErrBadOffload) and a count; the
// device reads on.
func TestDeviceOffload_BadHeadersDroppedAndCounted(t *testing.T) {
	d, peer := fakeOffloadDevice(t)
	good := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(100)})
	v6 := make([]byte, 60)
	v6[0], v6[6] = 0x60, ip.ProtoTCP
	bad := [][]byte{
		{1, 0, 0}, // shorter than the header
		withVnet(VnetHeader{}, nil)[:VnetHdrLen-1],                                           // one octet short
		withVnet(VnetHeader{GSOType: 9, GSOSize: 100}, good),                                 // unknown GSO type
		withVnet(VnetHeader{GSOType: VnetGSOTCPv4 | VnetGSOECN, GSOSize: 100}, good),         // ECN
		withVnet(VnetHeader{GSOType: VnetGSOTCPv4}, good),                                    // GSO size 0
		withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 150, CsumOffset: 16}, good), // outside
		withVnet(VnetHeader{GSOType: VnetGSOTCPv6, GSOSize: 100}, v6),                        // lengths not the packet's
		withVnet(VnetHeader{GSOType: VnetGSOUDP, GSOSize: 100}, good),                        // UDP GSO on TCP
	}
	for _, b := range bad {
		peerWrite(t, peer, b)
	}
	v6ok := append([]byte(nil), v6...)
	v6ok[5], v6ok[40+12] = 20, 5<<4                                                                         // payload length 20, a bare TCP header
	peerWrite(t, peer, withVnet(VnetHeader{}, v6[:40]))                                                     // plain IPv6: passed on
	peerWrite(t, peer, withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 40, CsumOffset: 16}, v6ok)) // IPv6 TCP with a partial checksum
	peerWrite(t, peer, withVnet(VnetHeader{Flags: VnetFlagDataValid}, good))

	buf := make([]byte, MaxOffloadSize)
	for i := range bad {
		var o ip.Offload
		_, err := d.ReadOffload(buf, &o)
		require.ErrorIs(t, err, ip.ErrBadOffload, "bad packet %d", i)
		assert.Equal(t, uint64(i+1), d.Stats().VnetHeaderErrors)
	}
	var o ip.Offload
	n, err := d.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, v6[:40], buf[:n], "IPv6 is passed on")
	n, err = d.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, v6ok, buf[:n])
	assert.Equal(t, ip.Offload{ChecksumPartial: true}, o)
	n, err = d.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, good, buf[:n], "the device reads on after bad headers")
	assert.Equal(t, ip.Offload{ChecksumValid: true}, o)
	assert.Equal(t, uint64(len(bad)), d.Stats().VnetHeaderErrors)
}

// ReadOffload passes a GSO packet whole; ReadPacket cuts it into MSS-sized
// packets, one per call, and completes a partial checksum.
func TestDeviceOffload_ReadOffloadWholeReadPacketSegments(t *testing.T) {
	d, peer := fakeOffloadDevice(t)
	const mss = 1448
	data := payloadOf(20000)
	gso := buildTCP4(t, tcpSpec{id: 100, seq: 1, ack: true, psh: true, payload: data})
	makePartial(gso)
	hdr := VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: mss, HdrLen: 52, CsumStart: 20, CsumOffset: 16}

	peerWrite(t, peer, withVnet(hdr, gso))
	buf := make([]byte, MaxOffloadSize)
	var o ip.Offload
	n, err := d.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, gso, buf[:n])
	assert.Equal(t, ip.Offload{GSOSize: mss, ChecksumPartial: true}, o)
	assert.Equal(t, uint64(1), d.Stats().GSOIn)
	assert.Equal(t, uint64(len(gso)), d.Stats().GSOInBytes)

	peerWrite(t, peer, withVnet(hdr, gso))
	small := buildTCP4(t, tcpSpec{id: 7, seq: 99, ack: true, payload: payloadOf(10)})
	partial := append([]byte(nil), small...)
	makePartial(partial)
	peerWrite(t, peer, withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, partial))
	var got []byte
	segs := (len(data) + mss - 1) / mss
	for i := range segs {
		b := make([]byte, 1500)
		n, err := d.ReadPacket(b)
		require.NoError(t, err)
		seg := b[:n]
		assert.LessOrEqual(t, n, 1500)
		assert.True(t, tcpChecksumOK(seg), "segment %d", i)
		got = append(got, seg[52:]...)
	}
	assert.Equal(t, data, got, "the segments carry the payload in order")
	b := make([]byte, 1500)
	n, err = d.ReadPacket(b)
	require.NoError(t, err)
	assert.Equal(t, small, b[:n], "a partial checksum is completed")
}

// WriteOffload puts the virtio-net header before the packet; WritePacket
// a zero one.
func TestDeviceOffload_WriteHeaders(t *testing.T) {
	d, peer := fakeOffloadDevice(t)
	big := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(30000)})
	require.NoError(t, d.WriteOffload(big, ip.Offload{GSOSize: 1448, ChecksumPartial: true}))
	got := peerRead(t, peer)
	h, pkt, err := ParseVnetHeader(got)
	require.NoError(t, err)
	assert.Equal(t, VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 1448, HdrLen: 52, CsumStart: 20, CsumOffset: 16}, h)
	assert.Equal(t, big, pkt)
	assert.Equal(t, uint64(1), d.Stats().GSOOut)

	small := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(10)})
	require.NoError(t, d.WritePacket(small))
	got = peerRead(t, peer)
	assert.Equal(t, make([]byte, VnetHdrLen), got[:VnetHdrLen])
	assert.Equal(t, small, got[VnetHdrLen:])

	require.ErrorIs(t, d.WriteOffload(big, ip.Offload{}), ErrTooBig, "without GSO the MTU holds")
	require.ErrorIs(t, d.WritePacket(big), ErrTooBig)
	require.ErrorIs(t, d.WriteOffload(make([]byte, MaxOffloadSize+1), ip.Offload{GSOSize: 1448, ChecksumPartial: true}), ErrTooBig)
	require.Error(t, d.WriteOffload(big, ip.Offload{GSOSize: 1448}), "GSO needs a partial checksum")
	assert.Equal(t, MaxOffloadSize, d.OffloadSize())
}

// openOffloadDevice opens a TUN device with Config.Offload in the test's
// private namespace.
func openOffloadDevice(t *testing.T, name string) *Device {
	t.Helper()
	tuntest.RequireNetns(t)
	d, err := Open(Config{Name: name, KernelAddr: vnetSrc, PeerAddr: vnetDst, MTU: 1500, Offload: true})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	t.Logf("TUNSETOFFLOAD accepted %#x", d.OffloadFlags())
	require.NotZero(t, d.OffloadFlags()&TUNFTSO4)
	return d
}

// readTCP reads from d until a TCP packet from the kernel arrives.
func readTCP(t *testing.T, d *Device) ([]byte, ip.Offload) {
	t.Helper()
	buf := make([]byte, MaxOffloadSize)
	for {
		var o ip.Offload
		n, err := d.ReadOffload(buf, &o)
		require.NoError(t, err)
		if n >= 40 && buf[9] == ip.ProtoTCP {
			return buf[:n], o
		}
	}
}

// A GSO packet written with WriteOffload, its checksum partial, reaches a
// kernel socket intact: the kernel takes our virtio-net header.
func TestDeviceOffload_KernelTakesGSOWrite(t *testing.T) {
	d := openOffloadDevice(t, "utcpvo1")
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IP(vnetSrc.AsSlice()), Port: 4200})
	require.NoError(t, err)
	defer ln.Close()
	kernel, us := netip.AddrPortFrom(vnetSrc, 4200), netip.AddrPortFrom(vnetDst, 5000)

	// The handshake by hand: SYN, the kernel's SYN-ACK, ACK.
	syn := buildTCP4(t, tcpSpec{src: us, dst: kernel, seq: 1000, syn: true, mss: 1460})
	require.NoError(t, d.WritePacket(syn))
	var synAck []byte
	for synAck == nil {
		p, _ := readTCP(t, d)
		if p[33]&0x12 == 0x12 {
			synAck = p
		}
	}
	kseq := binary.BigEndian.Uint32(synAck[24:])
	ack := buildTCP4(t, tcpSpec{src: us, dst: kernel, seq: 1001, ackNum: kseq + 1, ack: true, mss: 1460})
	require.NoError(t, d.WritePacket(ack))
	require.NoError(t, ln.SetDeadline(time.Now().Add(10*time.Second)))
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()

	data := payloadOf(20000)
	gso := buildTCP4(t, tcpSpec{src: us, dst: kernel, seq: 1001, ackNum: kseq + 1, ack: true, psh: true, mss: 1460, payload: data})
	makePartial(gso)
	require.NoError(t, d.WriteOffload(gso, ip.Offload{GSOSize: 1448, ChecksumPartial: true}))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	got := make([]byte, len(data))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, data, got, "the kernel delivers the GSO packet's payload")
	assert.Equal(t, uint64(1), d.Stats().GSOOut)
}

// TUN_F_CSUM lets the kernel hand over UDP with a partial checksum too:
// the device completes it and passes the packet plain.
func TestDeviceOffload_UDPPartialChecksumCompleted(t *testing.T) {
	d, peer := fakeOffloadDevice(t)
	ipl := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP(vnetSrc.AsSlice()), DstIP: net.IP(vnetDst.AsSlice())}
	udp := &layers.UDP{SrcPort: 53, DstPort: 4000}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ipl))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ipl, udp, gopacket.Payload(payloadOf(33))))
	want := append([]byte(nil), buf.Bytes()...)
	partial := append([]byte(nil), want...)
	binary.BigEndian.PutUint16(partial[26:], ^ip.Fold(ip.PseudoHeaderSum(vnetSrc, vnetDst, protoUDP, len(want)-20)))
	peerWrite(t, peer, withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 6}, partial))

	b := make([]byte, MaxOffloadSize)
	var o ip.Offload
	n, err := d.ReadOffload(b, &o)
	require.NoError(t, err)
	assert.Equal(t, want, b[:n])
	assert.Equal(t, ip.Offload{}, o)
	assert.Zero(t, d.Stats().VnetHeaderErrors)
}

// ReadOffload and WriteOffload reuse their header and iovec state: the
// stack's per-packet path through the device does not allocate.
func TestDeviceOffload_ReadWriteDoNotAllocate(t *testing.T) {
	d, peer := fakeOffloadDevice(t)
	pkt := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(10)})
	in := withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, pkt)
	sink := make([]byte, VnetHdrLen+MaxOffloadSize)
	buf := make([]byte, MaxOffloadSize)
	var o ip.Offload
	var werr, rerr error
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.WriteOffload(pkt, ip.Offload{ChecksumPartial: true}); err != nil {
			werr = err
		}
		unix.Read(peer, sink)
		unix.Write(peer, in)
		if _, err := d.ReadOffload(buf, &o); err != nil {
			rerr = err
		}
	})
	require.NoError(t, werr)
	require.NoError(t, rerr)
	assert.Zero(t, allocs)
	assert.Equal(t, ip.Offload{ChecksumPartial: true}, o)
}
