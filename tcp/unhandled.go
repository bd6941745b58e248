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
// is not one well-formed IPv4 packet.
var ErrBadPacket = errors.New("tcp: not a well-formed IPv4 packet")

// WritePacket writes pkt, one whole IPv4 packet with a valid header
// checksum and a total length of len(pkt), to the link. It fails for a
// malformed packet (an error wrapping ErrBadPacket and the ip package's
// reason), one larger than the MTU, or once the stack is closed
// (net.ErrClosed); a link error is returned as is. It is safe from any
// goroutine, Config.Unhandled included, and does not retain pkt.
func (s *Stack) WritePacket(pkt []byte) error {
	if len(pkt) > s.cfg.MTU {
		return fmt.Errorf("tcp: WritePacket: %d octets exceed the MTU of %d", len(pkt), s.cfg.MTU)
	}
	h, _, err := ip.Parse(pkt)
	if err != nil {
		return fmt.Errorf("tcp: WritePacket: %w: %w", ErrBadPacket, err)
	}
	if int(h.TotalLen) != len(pkt) {
		return fmt.Errorf("tcp: WritePacket: %w: total length %d in a %d-octet packet", ErrBadPacket, h.TotalLen, len(pkt))
	}
	select {
	case <-s.quit:
		return fmt.Errorf("tcp: WritePacket: %w", net.ErrClosed)
	default:
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.link.WritePacket(pkt); err != nil {
		s.stats.linkWriteErrors.Add(1)
		return err
	}
	return nil
}
