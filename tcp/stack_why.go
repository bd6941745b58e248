package tcp

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// checkArriving verifies the checksum of the TCP segment b that arrived
// from src to dst, unless csumOK says the link vouched for it, and decodes
// it into seg. It returns why the segment is dropped, or ReasonNone; on a
// drop seg holds what could be decoded, for the tracer.
func checkArriving(seg *Segment, b []byte, src, dst netip.Addr, csumOK bool) Reason {
	// RFC 9293 MUST-3: verify the checksum; drop the segment if it fails.
	// A packet the kernel marked DATA_VALID (verified) or NEEDS_CSUM (made
	// on this host and never on a wire, its field only the pseudo-header
	// sum) is not verified: Virtio 1.1 §5.1.6.4.
	if !csumOK && !VerifyChecksum(b, src, dst) {
		if DecodeSegmentInto(seg, b) != nil {
			decodeFixedHeader(seg, b)
		}
		return ReasonDropBadChecksum
	}
	if DecodeSegmentInto(seg, b) != nil {
		decodeFixedHeader(seg, b)
		return ReasonDropMalformed
	}
	return ReasonNone
}

// decodeFixedHeader decodes what it can of a header DecodeSegmentInto
// rejected: the fixed fields, if all 20 octets are there.
func decodeFixedHeader(seg *Segment, b []byte) {
	blocks := seg.Options.SACKBlocks[:0]
	*seg = Segment{}
	seg.Options.SACKBlocks = blocks
	if len(b) < HeaderLen {
		return
	}
	seg.SrcPort, seg.DstPort = binary.BigEndian.Uint16(b[0:]), binary.BigEndian.Uint16(b[2:])
	seg.Seq, seg.Ack = Seq(binary.BigEndian.Uint32(b[4:])), Seq(binary.BigEndian.Uint32(b[8:]))
	seg.Flags, seg.Window = Flags(b[13]), binary.BigEndian.Uint16(b[14:])
}

// traceDrop tells tr that seg, arriving from src to dst, was dropped before
// it reached the host.
func traceDrop(tr Tracer, now time.Time, src, dst netip.Addr, seg *Segment, why Reason) {
	id := FourTuple{Local: netip.AddrPortFrom(dst, seg.DstPort), Remote: netip.AddrPortFrom(src, seg.SrcPort)}
	tr.SegmentDropped(now, id, seg, why)
}
