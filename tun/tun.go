// Package tun provides the links utcp sends IP packets over: a Linux TUN
// device (Device), an adapter for a wireguard-go-style device on any
// platform (WireGuard), an in-memory pair with fault injection for tests
// (Pipe), and a pcap sniffer that wraps any of them (Sniff).
package tun

import (
	"errors"
	"fmt"
	"net/netip"
)

// Link is one IPv4 packet per ReadPacket/WritePacket call. It has the method
// set of tcp.Link; tun defines its own copy so it never imports tcp.
type Link interface {
	// ReadPacket blocks until a packet arrives and copies it into b.
	ReadPacket(b []byte) (int, error)
	// WritePacket sends b as one packet; it does not retain b.
	WritePacket(b []byte) error
	// MTU is the largest packet WritePacket accepts.
	MTU() int
	// Close releases the link and unblocks a pending ReadPacket.
	Close() error
}

// Errors returned by Open, testable with errors.Is.
var (
	// ErrPermission means the process may not create a TUN device.
	ErrPermission = errors.New("utcp needs CAP_NET_ADMIN to create a TUN device; run it with sudo")
	// ErrNoTUN means the kernel's TUN driver is not available.
	ErrNoTUN = errors.New("tun: /dev/net/tun is missing or unusable; load the driver with `modprobe tun` " +
		"or create the node with `mknod /dev/net/tun c 10 200`")
	// ErrExists means a network interface with the requested name already exists.
	ErrExists = errors.New("tun: a network interface with this name already exists; pick another with --tun")
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("tun: invalid config")
	// ErrTooBig means a packet larger than the link's MTU was written.
	ErrTooBig = errors.New("tun: packet larger than the MTU")
)

// Defaults used by Open for zero Config fields.
var (
	DefaultName       = "utcp0"
	DefaultKernelAddr = netip.AddrFrom4([4]byte{10, 9, 0, 1})
	DefaultPeerAddr   = netip.AddrFrom4([4]byte{10, 9, 0, 2})
	// The IPv6 pair the command uses with --ipv6: unique local addresses
	// (RFC 4193) in a /64 of their own.
	DefaultKernelAddr6 = netip.MustParseAddr("fd00:9::1")
	DefaultPeerAddr6   = netip.MustParseAddr("fd00:9::2")
)

// DefaultMTU is the MTU Open uses when Config.MTU is zero.
const DefaultMTU = 1500

// Config describes the TUN device Open creates. Zero fields take the defaults.
type Config struct {
	Name       string     // interface name, default utcp0
	KernelAddr netip.Addr // the kernel's address on the link, default 10.9.0.1
	PeerAddr   netip.Addr // utcp's own address, default 10.9.0.2
	MTU        int        // default 1500
	// KernelAddr6 and PeerAddr6, if set, add an IPv6 point-to-point pair
	// (both /128; e.g. DefaultKernelAddr6 and DefaultPeerAddr6) for dual
	// stack. IPv6 needs an MTU of at least 1280 (RFC 8200 §5).
	KernelAddr6, PeerAddr6 netip.Addr
	// Offload opens the device with a virtio-net header (IFF_VNET_HDR) and
	// checksum and TCP segmentation offload (TUNSETOFFLOAD), so that TCP
	// segments of up to 64 KiB pass whole (ReadOffload, WriteOffload).
	Offload bool
	// Attach opens the existing TUN device Name (made persistent by
	// CreatePersistent) without creating, configuring or deleting it; the
	// MTU is the device's. Its owner needs no privileges. The errors
	// ErrNotExist and ErrPermission (not the owner) say what to fix.
	Attach bool
}

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if !c.KernelAddr.IsValid() {
		c.KernelAddr = DefaultKernelAddr
	}
	if !c.PeerAddr.IsValid() {
		c.PeerAddr = DefaultPeerAddr
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	switch {
	// IFNAMSIZ is 16 including the NUL.
	case len(c.Name) > 15:
		return c, fmt.Errorf("%w: interface name %q longer than 15 bytes", ErrInvalidConfig, c.Name)
	case !c.KernelAddr.Is4() || !c.PeerAddr.Is4():
		return c, fmt.Errorf("%w: addresses must be IPv4 (kernel %v, peer %v)", ErrInvalidConfig, c.KernelAddr, c.PeerAddr)
	case c.KernelAddr == c.PeerAddr:
		return c, fmt.Errorf("%w: kernel and peer address are both %v", ErrInvalidConfig, c.KernelAddr)
	// RFC 791: every host must accept 68-byte datagrams; an IPv4 packet is at most 65535 bytes.
	case c.MTU < 68 || c.MTU > 65535:
		return c, fmt.Errorf("%w: MTU %d outside [68, 65535]", ErrInvalidConfig, c.MTU)
	case c.KernelAddr6.IsValid() != c.PeerAddr6.IsValid():
		return c, fmt.Errorf("%w: IPv6 needs both addresses (kernel %v, peer %v)", ErrInvalidConfig, c.KernelAddr6, c.PeerAddr6)
	case c.KernelAddr6.IsValid() && (!c.KernelAddr6.Is6() || c.KernelAddr6.Is4In6() || !c.PeerAddr6.Is6() || c.PeerAddr6.Is4In6() || c.KernelAddr6 == c.PeerAddr6):
		return c, fmt.Errorf("%w: IPv6 addresses kernel %v, peer %v", ErrInvalidConfig, c.KernelAddr6, c.PeerAddr6)
	case c.KernelAddr6.IsValid() && c.MTU < 1280:
		return c, fmt.Errorf("%w: MTU %d below IPv6's 1280 (RFC 8200 §5)", ErrInvalidConfig, c.MTU)
	}
	return c, nil
}
