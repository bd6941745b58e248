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

// BatchLink is a Link that also moves several packets per call (a
// wireguard-go-style device through tun.WireGuard, a batch tun.Pipe). The
// stack's reader then fills up to BatchSize buffers per call, and each
// flush of the loop goes out in calls of up to BatchSize packets.
type BatchLink interface {
	Link
	// ReadPackets blocks until at least one packet arrives, then reads up
	// to len(bufs) packets, packet i into bufs[i] with its length in
	// sizes[i], and returns how many it read. The first n are valid even
	// when err is not nil. It must not retain bufs. After Close the error
	// wraps net.ErrClosed.
	ReadPackets(bufs [][]byte, sizes []int) (n int, err error)
	// WritePackets sends pkts in order and returns how many it sent; on an
	// error the rest were not sent. It must not retain pkts.
	WritePackets(pkts [][]byte) (int, error)
	// BatchSize is the most packets one call reads or writes; it does not
	// change.
	BatchSize() int
}
