package ip

import "errors"

// Offload is the offload metadata that travels with one packet on a link
// that passes TCP segments larger than its MTU: a TUN device opened with a
// virtio-net header (IFF_VNET_HDR), or an in-memory pipe in tests. The zero
// value is a plain packet whose checksums are complete and unverified.
type Offload struct {
	// GSOSize, when non-zero, marks the packet as one IPv4 TCP segment that
	// stands for several of GSOSize payload octets each (the last may be
	// shorter): on send the link or the kernel cuts it up (TSO/GSO); on
	// receive the kernel has passed it whole (virtio gso_size).
	GSOSize uint16
	// ChecksumPartial means the TCP checksum field holds only the folded
	// pseudo-header sum (source, destination, protocol and the TCP length
	// of the whole packet), not complemented, ^Fold(PseudoHeaderSum(...)),
	// as Linux's tcp_v4_send_check leaves it: the link completes it on
	// send, and a receiver must not verify it (virtio NEEDS_CSUM).
	ChecksumPartial bool
	// ChecksumValid, on receive, means the kernel has verified the
	// checksums already (virtio DATA_VALID).
	ChecksumValid bool
}

// ErrBadOffload is wrapped by the error a link returns for a packet it
// dropped because its offload metadata (a virtio-net header) was malformed
// or asked for an offload the link does not handle. The link goes on
// working; the reader counts the packet and reads the next.
var ErrBadOffload = errors.New("packet dropped: bad offload metadata")
