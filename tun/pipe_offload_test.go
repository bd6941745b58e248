package tun

import (
	"bytes"
	"io"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

func newOffloadPipe(t *testing.T) (a, b *PipeEnd) {
	t.Helper()
	a, b = OffloadPipe(1500)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// A GSO packet crosses an offload pipe whole, with its metadata.
func TestOffloadPipe_PassesLargePacketsWhole(t *testing.T) {
	a, b := newOffloadPipe(t)
	assert.Equal(t, MaxOffloadSize, a.OffloadSize())
	var _ OffloadLink = a

	gso := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(40000)})
	makePartial(gso)
	sent := bytes.Clone(gso)
	meta := ip.Offload{GSOSize: 1448, ChecksumPartial: true}
	require.NoError(t, a.WriteOffload(sent, meta))
	sent[100] ^= 0xff // the pipe copied

	buf := make([]byte, MaxOffloadSize)
	var o ip.Offload
	n, err := b.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, gso, buf[:n])
	assert.Equal(t, meta, o)

	small := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(10)})
	require.NoError(t, a.WritePacket(small))
	n, err = b.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, small, buf[:n])
	assert.Equal(t, ip.Offload{}, o, "WritePacket sends zero metadata")

	require.NoError(t, a.WriteOffload(small, ip.Offload{ChecksumValid: true}))
	n, err = b.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, small, buf[:n])
	assert.Equal(t, ip.Offload{ChecksumValid: true}, o)
	assert.Equal(t, PipeStats{Sent: 3, Delivered: 3}, a.Stats())

	require.NoError(t, a.WriteOffload(gso, meta))
	_, err = b.ReadOffload(make([]byte, 100), &o)
	require.ErrorIs(t, err, io.ErrShortBuffer)
}

func TestOffloadPipe_SizeLimits(t *testing.T) {
	a, _ := newOffloadPipe(t)
	big := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(5000)})
	require.ErrorIs(t, a.WritePacket(big), ErrTooBig, "WritePacket keeps to the MTU")
	require.ErrorIs(t, a.WriteOffload(big, ip.Offload{}), ErrTooBig, "without GSO the MTU holds")
	require.ErrorIs(t, a.WriteOffload(make([]byte, MaxOffloadSize+1), ip.Offload{GSOSize: 1000}), ErrTooBig)
	require.NoError(t, a.WriteOffload(big, ip.Offload{GSOSize: 1000, ChecksumPartial: true}))
}

// A plain Pipe answers the offload methods as a link without offload.
func TestPipe_OffloadMethodsWithoutOffload(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	defer b.Close()
	assert.Equal(t, 0, a.OffloadSize())
	pkt := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(10)})
	require.Error(t, a.WriteOffload(pkt, ip.Offload{ChecksumPartial: true}))
	require.NoError(t, a.WriteOffload(pkt, ip.Offload{}))
	o := ip.Offload{GSOSize: 9}
	buf := make([]byte, 1500)
	n, err := b.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, pkt, buf[:n])
	assert.Equal(t, ip.Offload{}, o)
}

// ReadPacket on an offload end hands out a GSO packet as MTU-sized
// packets and completes partial checksums, as Device.ReadPacket does.
func TestOffloadPipe_ReadPacketSegments(t *testing.T) {
	a, b := newOffloadPipe(t)
	data := payloadOf(10000)
	gso := buildTCP4(t, tcpSpec{seq: 5, ack: true, fin: true, payload: data})
	makePartial(gso)
	require.NoError(t, a.WriteOffload(gso, ip.Offload{GSOSize: 1448, ChecksumPartial: true}))
	small := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(10)})
	partial := bytes.Clone(small)
	makePartial(partial)
	require.NoError(t, a.WriteOffload(partial, ip.Offload{ChecksumPartial: true}))

	var got []byte
	buf := make([]byte, 1500)
	for i := range 7 { // ceil(10000/1448)
		n, err := b.ReadPacket(buf)
		require.NoError(t, err)
		seg := buf[:n]
		require.True(t, tcpChecksumOK(seg), "segment %d", i)
		assert.Equal(t, i == 6, seg[33]&tcpFIN != 0, "FIN on the last segment only")
		got = append(got, seg[52:]...)
	}
	assert.Equal(t, data, got)
	n, err := b.ReadPacket(buf)
	require.NoError(t, err)
	assert.Equal(t, small, buf[:n], "the partial checksum is completed")
}

// Faults act on a GSO packet as one packet.
func TestOffloadPipe_FaultsPerPacket(t *testing.T) {
	a, b := newOffloadPipe(t)
	gso := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(20000)})
	meta := ip.Offload{GSOSize: 1448, ChecksumPartial: true}

	a.SetFaults(Faults{Loss: 1})
	require.NoError(t, a.WriteOffload(gso, meta))
	assert.Equal(t, uint64(1), a.Stats().Lost)

	a.SetFaults(Faults{Corrupt: 1, Duplicate: 1})
	require.NoError(t, a.WriteOffload(gso, meta))
	buf := make([]byte, MaxOffloadSize)
	for range 2 {
		var o ip.Offload
		n, err := b.ReadOffload(buf, &o)
		require.NoError(t, err)
		assert.Equal(t, meta, o, "corruption hits the packet, not its metadata")
		require.Len(t, buf[:n], len(gso))
		diff := 0
		for i := range gso {
			if gso[i] != buf[i] {
				diff++
			}
		}
		assert.Equal(t, 1, diff, "one bit flipped")
	}
	assert.Equal(t, PipeStats{Sent: 2, Delivered: 2, Lost: 1, Duplicated: 1, Corrupted: 1}, a.Stats())
}

// A Sniffer around an offload link passes the offload methods through
// and records a GSO packet as it is, one large record.
func TestSniff_OffloadPassThrough(t *testing.T) {
	a, b := newOffloadPipe(t)
	var out bytes.Buffer
	s, err := Sniff(a, &out)
	require.NoError(t, err)
	assert.Equal(t, MaxOffloadSize, s.OffloadSize())
	var _ OffloadLink = s

	gso := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(30000)})
	meta := ip.Offload{GSOSize: 1448, ChecksumPartial: true}
	require.NoError(t, s.WriteOffload(gso, meta))
	var o ip.Offload
	buf := make([]byte, MaxOffloadSize)
	n, err := b.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, gso, buf[:n])
	assert.Equal(t, meta, o)

	require.NoError(t, b.WriteOffload(gso, meta))
	n, err = s.ReadOffload(buf, &o)
	require.NoError(t, err)
	assert.Equal(t, gso, buf[:n])
	assert.Equal(t, meta, o)
	require.NoError(t, s.Flush())

	r, err := pcapgo.NewReader(&out)
	require.NoError(t, err)
	for i := range 2 {
		data, ci, err := r.ReadPacketData()
		require.NoError(t, err, "record %d", i)
		assert.Equal(t, len(gso), ci.Length)
		assert.Equal(t, gso, data, "recorded whole")
		p := gopacket.NewPacket(data, layers.LinkTypeRaw, gopacket.Default)
		require.NotNil(t, p.Layer(layers.LayerTypeTCP))
	}

	// Around a plain link the offload methods fall back.
	c, d := Pipe(1500)
	defer c.Close()
	defer d.Close()
	ps, err := Sniff(c, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 0, ps.OffloadSize())
	require.Error(t, ps.WriteOffload(gso, meta))
}
