package tcp

import "github.com/utcp/utcp/ip"

// Queue sizes of the link reader on an offload link, whose buffers are
// OffloadSize (64 KiB) each. The free list is as long as the queue, so
// that every buffer the loop returns is reused, not left to the garbage
// collector, under a flood of small packets too: at most 65 buffers live
// at once (4.2 MiB), and an idle stack keeps at most 32 (2 MiB). One GSO
// packet stands for up to 44 MSS-sized ones, so the short queue holds
// more data than inQueueLen plain packets.
const (
	offloadInQueueLen = 32
	offloadFreeLen    = offloadInQueueLen
)

// inPacket is one packet from the link reader to the loop.
type inPacket struct {
	b      []byte
	csumOK bool // the link vouches for the TCP checksum (ip.Offload ChecksumPartial or ChecksumValid)
}

// setupOffloadRx makes the reader use ReadOffload when link passes packets
// larger than its MTU, with buffers and queues sized for them. NewStack
// calls it before the reader starts.
func (s *Stack) setupOffloadRx(link Link) {
	ol, ok := link.(OffloadLink)
	if !ok || ol.OffloadSize() <= 0 {
		return
	}
	s.rxLink = ol
	s.bufSz = max(s.bufSz, ol.OffloadSize())
	s.in = make(chan inPacket, offloadInQueueLen)
	s.free = make(chan []byte, offloadFreeLen)
}

// readPacket reads one packet from the link into b.
func (s *Stack) readPacket(b []byte) (inPacket, error) {
	if s.rxLink == nil {
		n, err := s.link.ReadPacket(b)
		return inPacket{b: b[:n]}, err
	}
	var o ip.Offload
	n, err := s.rxLink.ReadOffload(b, &o)
	return inPacket{b: b[:n], csumOK: o.ChecksumPartial || o.ChecksumValid}, err
}
