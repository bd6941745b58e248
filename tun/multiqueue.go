//go:build linux

package tun

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MaxQueues bounds OpenMultiQueue's n; the kernel's own bound is
// IFF_MAX_QUEUES (256).
const MaxQueues = 16

// OpenMultiQueue creates the TUN device cfg.Name with n queues
// (IFF_MULTI_QUEUE) and configures it once, as Open does. It returns one
// Device per queue, each a Link of its own. The kernel picks the queue of
// each packet it sends by a hash of its addresses and ports, so every
// packet of one connection reaches one queue; it does not follow the queue
// a connection's packets were written on. So the queues suit one tcp.Stack
// each, all with the same address, serving the connections the kernel
// opens (tcp.ListenAll); a Dial on one of them gets its SYN-ACK on the
// queue of its hash, on another stack, unless that hash happens to pick
// its own.
//
// Closing the first Device deletes the interface and detaches every queue;
// the others only close their descriptor.
func OpenMultiQueue(cfg Config, n int) ([]*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if n < 1 || n > MaxQueues {
		return nil, fmt.Errorf("%w: %d queues outside [1, %d]", ErrInvalidConfig, n, MaxQueues)
	}
	// As in Open: TUNSETIFF on an existing name would attach to it.
	if _, err := netlink.LinkByName(cfg.Name); err == nil {
		return nil, fmt.Errorf("tun: open %s: %w", cfg.Name, ErrExists)
	} else if !isLinkNotFound(err) {
		return nil, fmt.Errorf("tun: look up %s: %w", cfg.Name, classify(err))
	}
	devs := make([]*Device, 0, n)
	closeAll := func() {
		for i := len(devs) - 1; i >= 0; i-- {
			devs[i].Close()
		}
	}
	for i := range n {
		file, err := openQueue(cfg.Name)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("tun: create %s queue %d: %w", cfg.Name, i, classify(err))
		}
		devs = append(devs, &Device{cfg: cfg, file: file})
	}
	// The first queue alone deletes the interface at Close (its index).
	if err := devs[0].configure(); err != nil {
		closeAll()
		return nil, fmt.Errorf("tun: configure %s: %w", cfg.Name, classifyPermission(err))
	}
	return devs, nil
}

// openQueue opens /dev/net/tun and attaches it as one more queue of the
// device name, creating it with the first. The descriptor is non-blocking,
// so os.NewFile puts it in Go's poller and Close wakes a blocked Read.
func openQueue(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_MULTI_QUEUE)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, &os.SyscallError{Syscall: "ioctl TUNSETIFF", Err: err}
	}
	f := os.NewFile(uintptr(fd), "/dev/net/tun")
	if f == nil {
		unix.Close(fd)
		return nil, errors.New("invalid descriptor")
	}
	return f, nil
}
