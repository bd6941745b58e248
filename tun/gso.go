package tun

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"

	"github.com/utcp/utcp/ip"
)

// TCP flag bits (RFC 9293 §3.1, RFC 3168 §6.1 for CWR).
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// segmenter cuts one TCP GSO packet (IPv4 or IPv6) into the MSS-sized packets it
// stands for, one per next call, in software: for code that reads an
// offload link through ReadPacket and so expects packets no larger than
// the MTU. The packet is held, not copied; it must stay unchanged until
// the last segment has been taken.
type segmenter struct {
	pkt    []byte // the GSO packet; nil when there is nothing left
	ipLen  int    // IP header length
	hdrLen int    // IP and TCP header length
	mss    int    // payload octets per segment
	off    int    // offset in pkt of the next segment's payload
	i      int    // index of the next segment
}

// start begins cutting pkt, a TCP packet whose length fields account for
// all of it, into segments of mss payload octets.
func (s *segmenter) start(pkt []byte, mss int) error {
	ipLen, hdrLen, ok := tcpHeaders(pkt)
	if !ok || mss <= 0 {
		return fmt.Errorf("%w: GSO on a packet that is not TCP with whole headers", ErrVnetHeader)
	}
	*s = segmenter{pkt: pkt, ipLen: ipLen, hdrLen: hdrLen, mss: mss, off: hdrLen}
	return nil
}

// pending reports whether segments are left.
func (s *segmenter) pending() bool { return s.pkt != nil }

// next writes the next segment into b and returns its length. A b too
// short for it loses the segment: the error wraps io.ErrShortBuffer.
//
// Each segment is what Linux's tcp_gso_segment and inet_gso_segment make
// of the packet: the headers copied, the IP total length, an IP ID one
// more than the previous segment's and the IP checksum recomputed; the
// sequence number advanced by the payload before it; FIN and PSH only on
// the last segment and CWR only on the first (RFC 3168 §6.1.2: CWR once
// per window reduction); the TCP checksum computed in full.
func (s *segmenter) next(b []byte) (int, error) {
	p := s.pkt
	end := min(s.off+s.mss, len(p))
	first, last := s.i == 0, end == len(p)
	n := s.hdrLen + end - s.off
	off, i := s.off, s.i
	s.off, s.i = end, s.i+1
	if last {
		s.pkt = nil
	}
	if len(b) < n {
		return 0, fmt.Errorf("tun: %d-octet segment into %d-octet buffer: %w", n, len(b), io.ErrShortBuffer)
	}
	copy(b, p[:s.hdrLen])
	copy(b[s.hdrLen:], p[off:end])
	seg := b[:n]
	if s.ipLen == ip.Header6Len {
		binary.BigEndian.PutUint16(seg[4:], uint16(n-ip.Header6Len)) // IPv6 has no ID or header checksum
	} else {
		binary.BigEndian.PutUint16(seg[2:], uint16(n))
		binary.BigEndian.PutUint16(seg[4:], binary.BigEndian.Uint16(p[4:])+uint16(i))
		seg[10], seg[11] = 0, 0
		binary.BigEndian.PutUint16(seg[10:], ip.Checksum(seg[:s.ipLen], 0))
	}
	t := seg[s.ipLen:]
	binary.BigEndian.PutUint32(t[4:], binary.BigEndian.Uint32(p[s.ipLen+4:])+uint32(off-s.hdrLen))
	if !last {
		t[13] &^= tcpFIN | tcpPSH
	}
	if !first {
		t[13] &^= tcpCWR
	}
	putTCPChecksum(seg, s.ipLen)
	return n, nil
}

// putTCPChecksum computes the full TCP checksum of the TCP packet pkt,
// whose IP header is ipLen octets, and stores it (RFC 9293 §3.1; the IPv6
// pseudo-header of RFC 8200 §8.1).
func putTCPChecksum(pkt []byte, ipLen int) {
	t := pkt[ipLen:]
	t[16], t[17] = 0, 0
	src, dst := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	if ipLen == ip.Header6Len {
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	}
	binary.BigEndian.PutUint16(t[16:], ip.Checksum(t, ip.PseudoHeaderSum(src, dst, ip.ProtoTCP, len(t))))
}

// completeChecksum finishes the partial checksum of a NEEDS_CSUM packet in
// place: the field at start+offset holds the pseudo-header sum, so the
// checksum of pkt[start:] with it is the complete one (Virtio 1.1 §5.1.6.2).
// The header has been checked to put the field inside pkt.
func completeChecksum(pkt []byte, start, offset int) {
	at := start + offset
	binary.BigEndian.PutUint16(pkt[at:], ip.Checksum(pkt[start:], 0))
}
