package tun_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// readPcap parses a pcap file and returns its link type and packets.
func readPcap(t *testing.T, b []byte) (layers.LinkType, [][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	require.NoError(t, err, "the capture starts with a valid pcap header")
	var pkts [][]byte
	var cis []gopacket.CaptureInfo
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkts = append(pkts, append([]byte(nil), data...))
		cis = append(cis, ci)
	}
	return r.LinkType(), pkts, cis
}

func TestSniffRecordsBothDirections(t *testing.T) {
	a, b := newPipe(t, 1500)
	var file bytes.Buffer
	w := bufio.NewWriter(&file)
	s, err := tun.Sniff(a, w)
	require.NoError(t, err)
	assert.Equal(t, 1500, s.MTU(), "the sniffer reports the wrapped link's MTU")

	out, in := echoPacket(t, 1, 100), echoPacket(t, 2, 300)
	before := time.Now()
	require.NoError(t, s.WritePacket(out))
	assert.Equal(t, [][]byte{out}, readN(t, b, 1), "the sniffer passes writes through")
	require.NoError(t, b.WritePacket(in))
	buf := make([]byte, 1500)
	n, err := s.ReadPacket(buf)
	require.NoError(t, err)
	assert.Equal(t, in, buf[:n], "the sniffer passes reads through")

	assert.ErrorIs(t, s.WritePacket(make([]byte, 1501)), tun.ErrTooBig, "a write the link refuses")
	require.NoError(t, s.Close())

	linkType, pkts, cis := readPcap(t, file.Bytes())
	assert.Equal(t, layers.LinkType(101), linkType, "LINKTYPE_RAW: records are bare IP packets")
	assert.Equal(t, [][]byte{out, in}, pkts, "every accepted packet, in order, and no refused one")
	for i, ci := range cis {
		assert.Equal(t, len(pkts[i]), ci.Length)
		assert.Equal(t, len(pkts[i]), ci.CaptureLength, "nothing is truncated")
		assert.False(t, ci.Timestamp.Before(before.Truncate(time.Microsecond)), "timestamps are the capture time")
	}

	// Wireshark's view: decode as IPv4 ICMP.
	p := gopacket.NewPacket(pkts[0], layers.LinkTypeRaw, gopacket.Default)
	assert.NotNil(t, p.Layer(layers.LayerTypeICMPv4), "the record decodes as IPv4/ICMP: %v", p)
	_, err = a.ReadPacket(buf)
	assert.ErrorIs(t, err, net.ErrClosed, "Close closed the wrapped link")
}

func TestSniffConcurrent(t *testing.T) {
	a, b := newPipe(t, 1500)
	var file bytes.Buffer
	s, err := tun.Sniff(a, &file)
	require.NoError(t, err)

	const each = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range each {
			assert.NoError(t, s.WritePacket(echoPacket(t, uint16(i), 40)))
		}
	})
	wg.Go(func() {
		for i := range each {
			assert.NoError(t, b.WritePacket(echoPacket(t, uint16(1000+i), 40)))
		}
	})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for range each {
			_, err := s.ReadPacket(buf)
			assert.NoError(t, err)
		}
	})
	wg.Go(func() { readN(t, b, each) })
	wg.Wait()
	require.NoError(t, s.Flush(), "an unbuffered writer needs no flush and had no error")

	_, pkts, _ := readPcap(t, file.Bytes())
	assert.Len(t, pkts, 2*each, "records from concurrent reads and writes do not interleave")
}

// failWriter accepts the pcap header and fails afterwards.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n > 0 {
		return 0, errors.New("disk full")
	}
	w.n++
	return len(p), nil
}

func TestSniffWriteErrorDoesNotBreakLink(t *testing.T) {
	a, b := newPipe(t, 1500)
	s, err := tun.Sniff(a, &failWriter{})
	require.NoError(t, err)
	require.NoError(t, s.WritePacket(echoPacket(t, 1, 10)), "a broken capture must not break the link")
	readN(t, b, 1)
	assert.ErrorContains(t, s.Flush(), "disk full", "Flush reports the capture error")
}

func TestSniffHeaderError(t *testing.T) {
	a, _ := newPipe(t, 1500)
	_, err := tun.Sniff(a, &failWriter{n: 1})
	assert.ErrorContains(t, err, "disk full", "a capture that cannot start is an error")
}
