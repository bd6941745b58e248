package tcp

import (
	"errors"
	"fmt"
	"net"

	"github.com/utcp/utcp/ip"
)

// Packets the stack does not handle (Config.Unhandled) and packets the
// embedder sends itself (WritePacket), so that its own UDP or DNS can run
// beside the stack on one link.

// ErrBadPacket is wrapped by the errors of WritePacket for a packet that
// is not one well-formed IP packet.
var ErrBadPacket = errors.New("tcp: not a well-formed IP packet")

// WritePacket writes pkt, one whole IP packet, to the link: IPv4 with a
// valid header checksum and a total length of len(pkt), or IPv6 with a
// payload length of len(pkt)-40. It fails for a malformed packet (an error
// wrapping ErrBadPacket and the ip package's reason), one larger than the
// MTU, or once the stack is closed (net.ErrClosed); a link error is
// returned as is. It is safe from any goroutine, Config.Unhandled
// included, and does not retain pkt.
func (s *Stack) WritePacket(pkt []byte) error {
	if len(pkt) > s.cfg.MTU {
		return fmt.Errorf("tcp: WritePacket: %d octets exceed the MTU of %d", len(pkt), s.cfg.MTU)
	}
	if err := wholePacket(pkt); err != nil {
		return fmt.Errorf("tcp: WritePacket: %w: %w", ErrBadPacket, err)
	}
	select {
	case <-s.quit:
		return fmt.Errorf("tcp: WritePacket: %w", net.ErrClosed)
	default:
	}
	s.wmu.Lock()
	err := s.link.WritePacket(pkt)
	s.wmu.Unlock()
	s.drainTx() // what the stack queued while this wrote
	if err != nil {
		s.stats.linkWriteErrors.Add(1)
		return err
	}
	return nil
}

// wholePacket checks that pkt is one well-formed IPv4 or IPv6 packet.
func wholePacket(pkt []byte) error {
	if ip.Version(pkt) == 6 {
		h, _, err := ip.Parse6(pkt)
		if err == nil && ip.Header6Len+int(h.PayloadLen) != len(pkt) {
			err = fmt.Errorf("payload length %d in a %d-octet packet", h.PayloadLen, len(pkt))
		}
		return err
	}
	h, _, err := ip.Parse(pkt)
	if err == nil && int(h.TotalLen) != len(pkt) {
		err = fmt.Errorf("total length %d in a %d-octet packet", h.TotalLen, len(pkt))
	}
	return err
}
