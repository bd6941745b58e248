//go:build linux

package tun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNotExist means Config.Attach or DeletePersistent named no TUN device.
var ErrNotExist = fmt.Errorf("no such TUN device; create it once, as root, with `utcp tun create --user USER`: %w", fs.ErrNotExist)

// CreatePersistent creates the TUN device cfg.Name as Open does (address,
// peer, MTU, link up), but persistent and owned by uid and, if gid is not
// negative, by the group gid: it stays when the process exits, and its
// owner opens it later, without privileges, with Config.Attach. It needs
// CAP_NET_ADMIN (ErrPermission). DeletePersistent removes it.
func CreatePersistent(cfg Config, uid, gid int) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if uid < 0 {
		return fmt.Errorf("%w: owner uid %d", ErrInvalidConfig, uid)
	}
	if _, err := netlink.LinkByName(cfg.Name); err == nil {
		return fmt.Errorf("tun: create %s: %w", cfg.Name, ErrExists)
	} else if !isLinkNotFound(err) {
		return fmt.Errorf("tun: look up %s: %w", cfg.Name, classify(err))
	}
	fd, err := openTUN(cfg.Name, unix.IFF_TUN|unix.IFF_NO_PI)
	if err != nil {
		return fmt.Errorf("tun: create %s: %w", cfg.Name, err)
	}
	defer unix.Close(fd) // a persistent device outlives its last fd
	setup := func() error {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, uid); err != nil {
			return fmt.Errorf("set owner %d: %w", uid, err)
		}
		if gid >= 0 {
			if err := unix.IoctlSetInt(fd, unix.TUNSETGROUP, gid); err != nil {
				return fmt.Errorf("set group %d: %w", gid, err)
			}
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			return fmt.Errorf("make persistent: %w", err)
		}
		return (&Device{cfg: cfg}).configure()
	}
	if err := setup(); err != nil {
		unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 0) // closing fd then removes the device
		return fmt.Errorf("tun: create %s: %w", cfg.Name, classifyPermission(err))
	}
	return nil
}

// DeletePersistent removes the persistent TUN device name. Its owner may
// do it without privileges; it fails while a process has the device open.
func DeletePersistent(name string) error {
	if _, err := lookupTUN(name); err != nil {
		return fmt.Errorf("tun: delete %s: %w", name, err)
	}
	fd, err := openTUN(name, unix.IFF_TUN|unix.IFF_NO_PI)
	if err != nil {
		if errors.Is(err, ErrExists) {
			return fmt.Errorf("tun: delete %s: the device is in use (is utcp running on it?): %w", name, err)
		}
		return fmt.Errorf("tun: delete %s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 0); err != nil {
		return fmt.Errorf("tun: delete %s: %w", name, classify(err))
	}
	return nil
}

// lookupTUN returns the TUN device name: ErrNotExist if there is no such
// interface.
func lookupTUN(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, classify(err)
	}
	if t, ok := link.(*netlink.Tuntap); !ok || t.Mode != netlink.TUNTAP_MODE_TUN {
		return nil, fmt.Errorf("%w: %s is a %s interface, not a TUN device", ErrInvalidConfig, name, link.Type())
	}
	return link, nil
}

// openTUN opens /dev/net/tun and attaches it to the device name with flags
// (TUNSETIFF), creating the device if it does not exist.
func openTUN(name string, flags uint16) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", classify(err))
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%w: interface name %q: %v", ErrInvalidConfig, name, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, classify(err)
	}
	return fd, nil
}

// attach opens the existing device cfg.Name (Config.Attach) without
// creating, configuring or deleting it; its MTU is the device's.
func attach(cfg Config) (*Device, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	link, err := lookupTUN(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("tun: attach %s: %w", cfg.Name, err)
	}
	cfg.MTU = link.Attrs().MTU
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.Offload {
		return openOffload(cfg) // it skips the configuration for Attach
	}
	fd, err := openTUN(cfg.Name, unix.IFF_TUN|unix.IFF_NO_PI)
	if err != nil {
		return nil, fmt.Errorf("tun: attach %s: %w", cfg.Name, attachError(err))
	}
	// Non-blocking, so the fd sits in Go's poller and Close wakes a read.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: set %s non-blocking: %w", cfg.Name, err)
	}
	return &Device{cfg: cfg, file: os.NewFile(uintptr(fd), "/dev/net/tun")}, nil
}

// attachError explains the errors of TUNSETIFF on an existing device.
func attachError(err error) error {
	switch {
	case errors.Is(err, ErrPermission):
		return fmt.Errorf("the device belongs to another user or group (recreate it with `utcp tun create --user USER`), "+
			"or /dev/net/tun is not open to this user: %w", err)
	case errors.Is(err, ErrExists):
		return fmt.Errorf("the device is in use (is another utcp running on it?): %w", err)
	}
	return err
}
