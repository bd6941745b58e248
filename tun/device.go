//go:build linux

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
	if cfg.Attach {
		return attach(cfg)
	}
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

// Close deletes the interface (unless opened with Config.Attach) and
// closes the file descriptor, which makes a ReadPacket blocked in another
// goroutine return. It is safe to call more than once; later calls return
// the first call's result.
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
