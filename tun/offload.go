package tun

import (
	"fmt"
	"io"
	"sync"

	"github.com/utcp/utcp/ip"
)

// MaxOffloadSize is the largest packet an offload link passes: the largest
// IPv4 datagram (RFC 791: Total Length is 16 bits).
const MaxOffloadSize = 65535

// OffloadLink is a Link that also passes TCP segments larger than its MTU
// with their offload metadata. It has the method set of tcp.OffloadLink;
// tun defines its own copy so it never imports tcp.
type OffloadLink interface {
	Link
	ReadOffload(b []byte, o *ip.Offload) (int, error)
	WriteOffload(b []byte, o ip.Offload) error
	OffloadSize() int
}

// offloadReader is the state of ReadPacket on an offload link: the packet
// being cut up.
type offloadReader struct {
	mu  sync.Mutex
	buf []byte // the packet read, for a Device
	seg segmenter
}

// deliver writes pkt with metadata o into b as a plain packet: the first
// segment of a GSO packet (the rest follow from r.seg), or the packet with
// its partial checksum completed. pkt is only read, and kept until its
// segments are out.
func (r *offloadReader) deliver(pkt []byte, o ip.Offload, b []byte) (int, error) {
	if o.GSOSize > 0 {
		if err := r.seg.start(pkt, int(o.GSOSize)); err != nil {
			return 0, err
		}
		return r.seg.next(b)
	}
	if len(b) < len(pkt) {
		return copy(b, pkt), fmt.Errorf("tun: %d-octet packet into %d-octet buffer: %w", len(pkt), len(b), io.ErrShortBuffer)
	}
	n := copy(b, pkt)
	if o.ChecksumPartial {
		if ipLen, _, ok := tcpHeaders(b[:n]); ok {
			completeChecksum(b[:n], ipLen, tcpCsumOffset)
		}
	}
	return n, nil
}
