package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

// BenchmarkStackReceive is one connection's receive path on the stack
// loop, per full-sized segment: IPv4 input, the checksum, the host's demux,
// the TCB's checks and delivery into the receive buffer, the application's
// read, and an ACK for every second segment written to the link. It must
// not allocate. Each iteration also builds the peer's packet (about a
// third of the time), which stays the same from one version to the next.
func BenchmarkStackReceive(b *testing.B) {
	cfg := fastConfig(addrB)
	cfg.ISN = func(FourTuple, time.Time) Seq { return 5000 }
	s, r := newRawPeer(b, cfg)
	ln, err := s.Listen(80)
	require.NoError(b, err)
	defer ln.Close()
	src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
	r.send(b, src, dst, Segment{Seq: 1000, Flags: FlagSYN, Window: 65535, Options: Options{MSS: 1460}})
	<-r.pkts // the SYN-ACK
	r.send(b, src, dst, Segment{Seq: 1001, Ack: 5001, Flags: FlagACK, Window: 65535})
	c, err := ln.AcceptTCP()
	require.NoError(b, err)
	defer c.Abort()

	seg := Segment{SrcPort: src.Port(), DstPort: dst.Port(), Ack: 5001, Flags: FlagACK | FlagPSH, Window: 65535,
		Payload: make([]byte, 1460)}
	tcpBuf, pktBuf, rbuf := make([]byte, 0, 2000), make([]byte, 0, 2000), make([]byte, 64<<10)
	counter := &countingLink{Link: s.link}
	b.SetBytes(int64(len(seg.Payload)))
	b.ReportAllocs()
	require.NoError(b, s.runOnLoop(func(now time.Time) {
		s.link = counter // count the ACKs; the pipe's own copying is not the stack's
		b.ResetTimer()
		for i := range b.N {
			seg.Seq = Seq(1001 + uint32(i)*1460)
			pkt := ip.AppendPacket(pktBuf[:0], &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()},
				AppendSegment(tcpBuf[:0], &seg, src.Addr(), dst.Addr()))
			s.handlePacket(now, pkt, false)
			if i%2 == 1 {
				s.flush(now)
				c.tcb.receive(rbuf)
			}
		}
		b.StopTimer()
		s.link = counter.Link
	}))
	b.ReportMetric(float64(counter.n)/float64(b.N), "ACKs/seg")
}
