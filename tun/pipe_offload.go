package tun

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/utcp/utcp/ip"
)

// OffloadPipe is Pipe whose ends also implement OffloadLink with an
// OffloadSize of MaxOffloadSize: a packet written with WriteOffload, up to
// 64 KiB with GSOSize, reaches the other end whole with its metadata, as
// the kernel delivers a GSO packet from a TUN device to a local socket.
// Faults apply per packet, a GSO packet being one; a corrupted bit in a
// packet marked ChecksumPartial goes unnoticed by a receiver that trusts
// the mark, as in memory. ReadPacket cuts GSO packets into MTU-sized ones
// and completes partial checksums, as Device.ReadPacket does.
func OffloadPipe(mtu int) (a, b *PipeEnd) {
	a, b = Pipe(mtu)
	a.offload, b.offload = true, true
	return a, b
}

// pipeMetaLen is the size of the metadata an offload end queues before
// each packet: GSOSize, then the checksum flags.
const pipeMetaLen = 3

const (
	pipeCsumPartial = 1
	pipeCsumValid   = 2
)

// copyPacket returns the copy of b to queue, with o in front on an offload
// end, and the packet within it.
func (e *PipeEnd) copyPacket(b []byte, o ip.Offload) (p, pkt []byte) {
	if !e.offload {
		p = append([]byte(nil), b...)
		return p, p
	}
	p = make([]byte, pipeMetaLen+len(b))
	binary.BigEndian.PutUint16(p, o.GSOSize)
	if o.ChecksumPartial {
		p[2] |= pipeCsumPartial
	}
	if o.ChecksumValid {
		p[2] |= pipeCsumValid
	}
	copy(p[pipeMetaLen:], b)
	return p, p[pipeMetaLen:]
}

// splitMeta splits a packet queued by an offload end.
func splitMeta(p []byte) ([]byte, ip.Offload) {
	o := ip.Offload{
		GSOSize:         binary.BigEndian.Uint16(p),
		ChecksumPartial: p[2]&pipeCsumPartial != 0,
		ChecksumValid:   p[2]&pipeCsumValid != 0,
	}
	return p[pipeMetaLen:], o
}

// OffloadSize is MaxOffloadSize on an end of OffloadPipe, 0 on one of Pipe.
func (e *PipeEnd) OffloadSize() int {
	if e.offload {
		return MaxOffloadSize
	}
	return 0
}

// ReadOffload blocks until a packet arrives from the other end, copies it
// into b and fills o with the metadata it was written with. A b too short
// truncates the packet, as ReadPacket does. On an end of Pipe it is
// ReadPacket with zero metadata.
func (e *PipeEnd) ReadOffload(b []byte, o *ip.Offload) (int, error) {
	if !e.offload {
		*o = ip.Offload{}
		return e.ReadPacket(b)
	}
	p, err := e.pop()
	if err != nil {
		return 0, err
	}
	pkt, meta := splitMeta(p)
	*o = meta
	n := copy(b, pkt)
	if n < len(pkt) {
		return n, fmt.Errorf("tun: pipe read: %d-byte packet into %d-byte buffer: %w", len(pkt), len(b), io.ErrShortBuffer)
	}
	return n, nil
}

// WriteOffload is WritePacket with metadata: on an offload end a packet of
// up to MaxOffloadSize octets with GSOSize set, else one that fits the MTU.
// On an end of Pipe only zero metadata is accepted.
func (e *PipeEnd) WriteOffload(b []byte, o ip.Offload) error {
	if !e.offload {
		if o != (ip.Offload{}) {
			return fmt.Errorf("tun: pipe write: offload metadata on a pipe without offload")
		}
		return e.WritePacket(b)
	}
	if e.isClosed() {
		return errPipeClosed
	}
	if len(b) > MaxOffloadSize || (o.GSOSize == 0 && len(b) > e.mtu) {
		return fmt.Errorf("%w: %d-octet packet", ErrTooBig, len(b))
	}
	return e.write(b, o)
}

// readPacketOffload is ReadPacket on an offload end.
func (e *PipeEnd) readPacketOffload(b []byte) (int, error) {
	r := &e.rd
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seg.pending() {
		return r.seg.next(b)
	}
	p, err := e.pop()
	if err != nil {
		return 0, err
	}
	pkt, o := splitMeta(p)
	return r.deliver(pkt, o, b)
}
