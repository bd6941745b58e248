package tcp

import "github.com/utcp/utcp/ip"

// Link carries IPv4 packets between the stack and the network: a TUN device
// (tun.Device) or an in-memory pipe (tun.Pipe) in tests.
type Link interface {
	// ReadPacket reads one IPv4 packet into b and returns its length. After
	// Close it returns an error wrapping net.ErrClosed.
	ReadPacket(b []byte) (int, error)
	// WritePacket sends one IPv4 packet. It must not retain b.
	WritePacket(b []byte) error
	// MTU is the largest packet the link carries.
	MTU() int
	// Close releases the link and unblocks ReadPacket.
	Close() error
}

// OffloadLink is a Link that can also pass TCP segments larger than its MTU
// with their offload metadata (tun.Device with Config.Offload, an offload
// tun.Pipe). The stack uses these methods instead of ReadPacket and
// WritePacket when OffloadSize is non-zero.
type OffloadLink interface {
	Link
	// ReadOffload reads one packet of at most OffloadSize octets into b and
	// fills o with its metadata.
	ReadOffload(b []byte, o *ip.Offload) (int, error)
	// WriteOffload sends one packet of at most OffloadSize octets with its
	// metadata. It must not retain b.
	WriteOffload(b []byte, o ip.Offload) error
	// OffloadSize is the largest packet ReadOffload returns and
	// WriteOffload accepts, or 0 when the link passes only plain packets.
	OffloadSize() int
}
