package tcp

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
