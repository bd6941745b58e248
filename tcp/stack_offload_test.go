package tcp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun"
)

// newOffloadRawPeer is newRawPeer over a tun.OffloadPipe; link, if not
// nil, wraps the stack's end.
func newOffloadRawPeer(t testing.TB, cfg Config, link func(*tun.PipeEnd) Link) (*Stack, *rawPeer) {
	t.Helper()
	ea, eb := tun.OffloadPipe(1500)
	var l Link = eb
	if link != nil {
		l = link(eb)
	}
	s, err := NewStack(l, cfg)
	require.NoError(t, err, "the stack must start")
	return s, startRawPeer(t, s, ea, eb)
}

// offloadPacket builds seg from src to dst as an IPv4 packet; with
// partial, its TCP checksum is the pseudo-header sum of ip.Offload.
func offloadPacket(seg Segment, src, dst netip.AddrPort, partial bool) []byte {
	seg.SrcPort, seg.DstPort = src.Port(), dst.Port()
	b := AppendSegment(nil, &seg, src.Addr(), dst.Addr())
	if partial {
		binary.BigEndian.PutUint16(b[16:], ^ip.Fold(ip.PseudoHeaderSum(src.Addr(), dst.Addr(), ip.ProtoTCP, len(b))))
	}
	return ip.AppendPacket(nil, &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()}, b)
}

// RFC 9293 MUST-3 on an offload link: a segment the link marks as
// verified (DATA_VALID) or as made on this host with a partial checksum
// (NEEDS_CSUM) is taken unverified; any other is verified.
func TestStack_OffloadChecksumTrust_MUST3(t *testing.T) {
	tests := []struct {
		name    string
		o       ip.Offload
		partial bool // the TCP checksum field holds the pseudo-header sum
		corrupt bool // the TCP checksum field is wrong
		accept  bool
	}{
		{"plain, good checksum", ip.Offload{}, false, false, true},
		{"plain, bad checksum", ip.Offload{}, false, true, false},
		{"plain, partial checksum", ip.Offload{}, true, false, false},
		{"NEEDS_CSUM, partial checksum", ip.Offload{ChecksumPartial: true}, true, false, true},
		{"DATA_VALID, bad checksum", ip.Offload{ChecksumValid: true}, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, r := newOffloadRawPeer(t, fastConfig(addrB), nil)
				ln, err := s.Listen(80)
				require.NoError(t, err)
				defer ln.Close()
				src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
				pkt := offloadPacket(Segment{Seq: 1000, Flags: FlagSYN, Window: 1000}, src, dst, tt.partial)
				if tt.corrupt {
					pkt[ip.HeaderLen+16] ^= 0x01
				}
				require.NoError(t, r.end.WriteOffload(pkt, tt.o))
				if tt.accept {
					_, reply := r.recv(t)
					assert.Equal(t, FlagSYN|FlagACK, reply.Flags)
					assert.Zero(t, s.Stats().BadChecksum)
					return
				}
				r.recvNone(t, "MUST-3: a segment with a bad checksum is dropped")
				assert.Equal(t, uint64(1), s.Stats().BadChecksum)
			})
		})
	}
}

// A 60,000-octet segment from an offload link is one segment to the core:
// one receive, one copy into the receive buffer, one ACK for all of it.
func TestStack_OffloadLargeSegmentTakenWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newOffloadRawPeer(t, fastConfig(addrB), nil)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		r.send(t, src, dst, Segment{Seq: 1000, Flags: FlagSYN, Window: 65535, Options: Options{MSS: 1460}})
		_, synAck := r.recv(t)
		require.Equal(t, FlagSYN|FlagACK, synAck.Flags)
		require.GreaterOrEqual(t, int(synAck.Window), 60000, "the window takes the whole segment")
		r.send(t, src, dst, Segment{Seq: 1001, Ack: synAck.Seq + 1, Flags: FlagACK, Window: 65535})
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		defer c.Close()

		data := make([]byte, 60000)
		for i := range data {
			data[i] = byte(i * 13)
		}
		before := s.Stats().SegsIn
		pkt := offloadPacket(Segment{Seq: 1001, Ack: synAck.Seq + 1, Flags: FlagACK | FlagPSH, Window: 65535, Payload: data}, src, dst, true)
		require.Greater(t, len(pkt), 1500)
		require.NoError(t, r.end.WriteOffload(pkt, ip.Offload{GSOSize: 1460, ChecksumPartial: true}))
		_, ack := r.recv(t)
		assert.Equal(t, uint32(1001+len(data)), uint32(ack.Ack), "one ACK covers the whole segment")
		r.recvNone(t, "one ACK, not one per MSS")
		assert.Equal(t, before+1, s.Stats().SegsIn, "one segment for the core")

		got := make([]byte, len(data))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		assert.Equal(t, data, got)
	})
}

// badOffloadLink reports its first bad reads as packets dropped for bad
// offload metadata, as tun.Device does for a malformed virtio-net header.
type badOffloadLink struct {
	*tun.PipeEnd
	bad atomic.Int32
}

func (l *badOffloadLink) ReadOffload(b []byte, o *ip.Offload) (int, error) {
	n, err := l.PipeEnd.ReadOffload(b, o)
	if err == nil && l.bad.Add(-1) >= 0 {
		return 0, fmt.Errorf("test: %w", ip.ErrBadOffload)
	}
	return n, err
}

// A packet the link drops for bad offload metadata is counted in
// OffloadDropped, and the reader goes on.
func TestStack_OffloadDroppedCountedReaderGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newOffloadRawPeer(t, fastConfig(addrB), func(e *tun.PipeEnd) Link {
			l := &badOffloadLink{PipeEnd: e}
			l.bad.Store(2)
			return l
		})
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		for range 2 {
			r.send(t, src, dst, Segment{Seq: 1000, Flags: FlagSYN, Window: 1000})
			r.recvNone(t, "the link dropped the packet")
		}
		assert.Equal(t, uint64(2), s.Stats().OffloadDropped)
		r.send(t, src, dst, Segment{Seq: 1000, Flags: FlagSYN, Window: 1000})
		_, reply := r.recv(t)
		assert.Equal(t, FlagSYN|FlagACK, reply.Flags, "the stack reads on")
	})
}

// On an offload link the reader reads into at most offloadBigBufs 64 KiB
// buffers and copies small packets into MTU-sized ones, so that an idle
// stack holds little memory and small packets queue as on a plain link.
func TestNewStack_OffloadBuffers(t *testing.T) {
	ea, eb := tun.OffloadPipe(1500)
	defer ea.Close()
	defer eb.Close()
	s, err := NewStack(eb, fastConfig(addrB))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 1500, s.bufSz, "plain buffers stay MTU-sized")
	assert.Equal(t, inQueueLen, cap(s.in))
	assert.Equal(t, offloadBigBufs, cap(s.bigFree))
	assert.LessOrEqual(t, offloadBigBufs*tun.MaxOffloadSize, 2<<20, "at most 2 MiB of big buffers")
}
