// Package tun provides the links utcp sends IPv4 packets over: a Linux TUN
// device (Device), an in-memory pair with fault injection for tests (Pipe),
// and a pcap sniffer that wraps either (Sniff).
package tun

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/songgao/water"
	"github.com/utcp/utcp/ip"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
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

// Device is a TUN device in IFF_NO_PI mode: each read or write is one bare
// IP packet. It implements Link; opened with Config.Offload it also
// implements OffloadLink (device_offload.go), each packet then travelling
// behind a virtio-net header. Reads, writes and Close may run concurrently.
type Device struct {
	cfg    Config
	file   *os.File // water opens the fd O_NONBLOCK, so it sits in Go's poller and Close wakes a blocked Read
	index  int      // interface index, ours for as long as file is open
	closed atomic.Bool

	// With Config.Offload (device_offload.go).
	raw      syscall.RawConn // file's, for readv and writev
	offload  uint            // the TUN_F_* flags the kernel accepted
	rd       offloadReader   // ReadPacket's state
	rio, wio vnetIO          // readv and writev state
	counters deviceCounters

	closeOnce sync.Once
	closeErr  error
}

// Open creates the TUN device cfg.Name and configures the kernel's side of the
// point-to-point link through netlink: address KernelAddr/32 with peer
// PeerAddr/32, the MTU, and link up. The errors ErrPermission, ErrNoTUN,
// ErrExists and ErrInvalidConfig tell the user what to fix.
func Open(cfg Config) (*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// Check first: TUNSETIFF on an existing TUN name would attach to it
	// instead of failing (for a persistent device).
	if _, err := netlink.LinkByName(cfg.Name); err == nil {
		return nil, fmt.Errorf("tun: open %s: %w", cfg.Name, ErrExists)
	} else if !isLinkNotFound(err) {
		return nil, fmt.Errorf("tun: look up %s: %w", cfg.Name, classify(err))
	}

	if cfg.Offload {
		return openOffload(cfg)
	}
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: cfg.Name}, // IFF_NO_PI is water's default on linux
	})
	if err != nil {
		return nil, fmt.Errorf("tun: create %s: %w", cfg.Name, classify(err))
	}
	file, ok := ifce.ReadWriteCloser.(*os.File)
	if !ok {
		ifce.Close()
		return nil, fmt.Errorf("tun: create %s: water returned %T, want *os.File", cfg.Name, ifce.ReadWriteCloser)
	}
	d := &Device{cfg: cfg, file: file}
	if err := d.configure(); err != nil {
		d.Close()
		return nil, fmt.Errorf("tun: configure %s: %w", cfg.Name, classifyPermission(err))
	}
	return d, nil
}

// configure sets MTU, the point-to-point address and link up.
func (d *Device) configure() error {
	link, err := netlink.LinkByName(d.cfg.Name)
	if err != nil {
		return err
	}
	d.index = link.Attrs().Index
	if err := netlink.LinkSetMTU(link, d.cfg.MTU); err != nil {
		return fmt.Errorf("set MTU %d: %w", d.cfg.MTU, err)
	}
	addr := &netlink.Addr{
		IPNet: &net.IPNet{IP: d.cfg.KernelAddr.AsSlice(), Mask: net.CIDRMask(32, 32)},
		Peer:  &net.IPNet{IP: d.cfg.PeerAddr.AsSlice(), Mask: net.CIDRMask(32, 32)},
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add address %v peer %v: %w", d.cfg.KernelAddr, d.cfg.PeerAddr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set link up: %w", err)
	}
	// IPv6 after link up: the kernel installs the route to the peer when
	// the address comes up on a running link.
	if d.cfg.KernelAddr6.IsValid() {
		// No duplicate address detection: on a point-to-point TUN nobody
		// else can hold the address, and DAD would hold it tentative
		// (unusable) for a second (RFC 4862 §5.4).
		addr6 := &netlink.Addr{
			IPNet: &net.IPNet{IP: d.cfg.KernelAddr6.AsSlice(), Mask: net.CIDRMask(128, 128)},
			Peer:  &net.IPNet{IP: d.cfg.PeerAddr6.AsSlice(), Mask: net.CIDRMask(128, 128)},
			Flags: unix.IFA_F_NODAD,
		}
		if err := netlink.AddrAdd(link, addr6); err != nil {
			return fmt.Errorf("add address %v peer %v (is IPv6 disabled?): %w", d.cfg.KernelAddr6, d.cfg.PeerAddr6, err)
		}
		return waitRoute(d.cfg.PeerAddr6)
	}
	return nil
}

// waitRoute waits until the kernel routes to dst. The kernel brings an
// IPv6 address up in a work queue after AddrAdd returns, and until then a
// connection to the peer fails with ENETUNREACH.
func waitRoute(dst netip.Addr) error {
	var err error
	for range 400 { // 2 s
		if _, err = netlink.RouteGet(dst.AsSlice()); err == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no route to %v after adding it: %w", dst, err)
}

// classify wraps a system error with the sentinel a user can act on.
func classify(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.EPERM, syscall.EACCES:
		return fmt.Errorf("%w (%w)", ErrPermission, err)
	case syscall.ENOENT, syscall.ENODEV, syscall.ENXIO:
		return fmt.Errorf("%w (%w)", ErrNoTUN, err)
	case syscall.EBUSY, syscall.EEXIST:
		return fmt.Errorf("%w (%w)", ErrExists, err)
	}
	return err
}

// classifyPermission wraps only permission errors: after the device exists,
// EEXIST or ENOENT from netlink say nothing about the name or the driver.
func classifyPermission(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (%w)", ErrPermission, err)
	}
	return err
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// errDeviceClosed is returned by I/O on a closed Device.
var errDeviceClosed = fmt.Errorf("tun: device closed: %w", net.ErrClosed)

// ReadPacket blocks until the kernel sends a packet on the device and copies
// it into b, which should hold MTU bytes (the kernel truncates longer packets).
// Packets that are not IPv4 (the kernel may emit IPv6 control traffic) are
// skipped. After Close it returns an error wrapping net.ErrClosed. On an
// offload device a GSO packet comes out as MTU-sized packets, one per call.
func (d *Device) ReadPacket(b []byte) (int, error) {
	if d.raw != nil {
		return d.readPacketOffload(b)
	}
	for {
		n, err := d.file.Read(b)
		if d.closed.Load() {
			return 0, errDeviceClosed
		}
		if err != nil {
			return 0, fmt.Errorf("tun: read %s: %w", d.cfg.Name, err)
		}
		// RFC 791, RFC 8200 §3: the version field is the high nibble of
		// the first byte; IPv4 and IPv6 are passed on.
		if v := ip.Version(b[:n]); v == 4 || v == 6 {
			return n, nil
		}
	}
}

// WritePacket hands the IP packet b to the kernel. It does not retain b.
func (d *Device) WritePacket(b []byte) error {
	if d.closed.Load() {
		return errDeviceClosed
	}
	if len(b) > d.cfg.MTU {
		return fmt.Errorf("%w: %d > %d", ErrTooBig, len(b), d.cfg.MTU)
	}
	if d.raw != nil {
		return d.writeOffload(b, VnetHeader{})
	}
	n, err := d.file.Write(b)
	if d.closed.Load() {
		return errDeviceClosed
	}
	if err != nil {
		return fmt.Errorf("tun: write %s: %w", d.cfg.Name, err)
	}
	if n != len(b) {
		return fmt.Errorf("tun: write %s: %w", d.cfg.Name, io.ErrShortWrite)
	}
	return nil
}

// MTU returns the device's MTU.
func (d *Device) MTU() int { return d.cfg.MTU }

// Name returns the interface name.
func (d *Device) Name() string { return d.cfg.Name }

// Close deletes the interface and closes the file descriptor, which makes a
// ReadPacket blocked in another goroutine return. It is safe to call more
// than once; later calls return the first call's result.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		var errs []error
		// Delete by index while the fd is still open: the index cannot have
		// been reused by someone else's interface yet.
		if d.index != 0 {
			if link, err := netlink.LinkByIndex(d.index); err == nil {
				if err := netlink.LinkDel(link); err != nil && !isLinkNotFound(err) && !errors.Is(err, syscall.ENODEV) {
					errs = append(errs, fmt.Errorf("delete %s: %w", d.cfg.Name, err))
				}
			}
		}
		// Closing the last fd of a non-persistent TUN also unregisters it.
		if err := d.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", d.cfg.Name, err))
		}
		if len(errs) > 0 {
			d.closeErr = fmt.Errorf("tun: %w", errors.Join(errs...))
		}
	})
	return d.closeErr
}
