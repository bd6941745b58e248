package tcp

import (
	"net"

	"github.com/utcp/utcp/ip"
)

// offloadBigBufs is how many OffloadSize (64 KiB) buffers the link reader
// of an offload link may have out at once: 2 MiB, the most an idle stack
// keeps after a burst. The reader reads every packet into one of them; a
// packet that fits a plain MTU-sized buffer is copied into one (so a
// flood of small packets queues inQueueLen deep, as on a plain link), and
// a larger one goes to the loop in its big buffer, uncopied. When all are
// out the reader waits for the loop to return one, and the kernel queues.
const offloadBigBufs = 32

// inPacket is one packet from the link reader to the loop.
type inPacket struct {
	b      []byte
	csumOK bool // the link vouches for the TCP checksum (ip.Offload ChecksumPartial or ChecksumValid)
	big    bool // b is one of the offloadBigBufs
}

// setupOffloadRx makes the reader use ReadOffload when link passes packets
// larger than its MTU. NewStack calls it before the reader starts.
func (s *Stack) setupOffloadRx(link Link) {
	ol, ok := link.(OffloadLink)
	if !ok || ol.OffloadSize() <= 0 {
		return
	}
	s.rxLink = ol
	s.bigFree = make(chan []byte, offloadBigBufs)
	for range offloadBigBufs {
		s.bigFree <- nil // allocated when first taken
	}
}

// readPacket reads one packet from the link into b, or on an offload link
// into a big buffer, copied into b if it fits.
func (s *Stack) readPacket(b []byte) (inPacket, error) {
	if s.rxLink == nil {
		n, err := s.link.ReadPacket(b)
		return inPacket{b: b[:n]}, err
	}
	if s.rxBig == nil {
		select {
		case s.rxBig = <-s.bigFree:
		case <-s.done:
			return inPacket{}, net.ErrClosed
		}
		if s.rxBig == nil {
			s.rxBig = make([]byte, s.rxLink.OffloadSize())
		}
	}
	var o ip.Offload
	n, err := s.rxLink.ReadOffload(s.rxBig, &o)
	if err != nil {
		return inPacket{}, err
	}
	p := inPacket{csumOK: o.ChecksumPartial || o.ChecksumValid}
	if n <= len(b) {
		p.b = b[:copy(b, s.rxBig[:n])]
		return p, nil
	}
	p.b, p.big = s.rxBig[:n], true
	s.rxBig = nil
	s.putBuf(b)
	return p, nil
}

// recycle returns the buffer of p to the reader.
func (s *Stack) recycle(p inPacket) {
	if p.big {
		s.bigFree <- p.b[:cap(p.b)] // never blocks: at most offloadBigBufs are out
		return
	}
	s.putBuf(p.b)
}
