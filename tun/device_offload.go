//go:build linux

package tun

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/ip"
)

// The TUNSETOFFLOAD flags (linux/if_tun.h).
const (
	TUNFCsum   = 0x01 // TUN_F_CSUM: packets may carry partial checksums
	TUNFTSO4   = 0x02 // TUN_F_TSO4: IPv4 TCP segments larger than the MTU
	TUNFTSO6   = 0x04 // TUN_F_TSO6: IPv6 TCP segments larger than the MTU
	TUNFTSOECN = 0x08 // TUN_F_TSO_ECN: GSO packets with CWR (not used)
)

// DeviceStats counts what an offload Device passed and dropped.
type DeviceStats struct {
	GSOIn, GSOInBytes   uint64 // GSO packets (and their octets) read from the kernel
	GSOOut, GSOOutBytes uint64 // GSO packets (and their octets) written to the kernel
	PartialIn           uint64 // packets read with a partial checksum (NEEDS_CSUM)
	VnetHeaderErrors    uint64 // packets dropped for a malformed or unhandled virtio-net header
}

// deviceCounters are the atomic counters behind DeviceStats.
type deviceCounters struct {
	gsoIn, gsoInBytes, gsoOut, gsoOutBytes, partialIn, vnetErrors atomic.Uint64
}

// openOffload creates the TUN device with a virtio-net header and asks the
// kernel for checksum and segmentation offload, without water: water does
// not set IFF_VNET_HDR.
func openOffload(cfg Config) (*Device, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open /dev/net/tun: %w", classify(err))
	}
	ifr, err := unix.NewIfreq(cfg.Name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: interface name %q: %v", ErrInvalidConfig, cfg.Name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: create %s: %w", cfg.Name, classify(err))
	}
	// Ask for the most, then less: TSO needs CSUM (tun_set_offload refuses
	// TSO without it), and an older or stricter kernel may refuse TSO6.
	var flags uint
	for _, f := range []uint{TUNFCsum | TUNFTSO4 | TUNFTSO6, TUNFCsum | TUNFTSO4, TUNFCsum, 0} {
		if err = unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, int(f)); err == nil {
			flags = f
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: TUNSETOFFLOAD on %s: %w", cfg.Name, classify(err))
	}
	// Non-blocking, so the fd sits in Go's poller and Close wakes a blocked
	// read, as on the water path.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: set %s non-blocking: %w", cfg.Name, err)
	}
	file := os.NewFile(uintptr(fd), "/dev/net/tun")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("tun: %s: %w", cfg.Name, err)
	}
	d := &Device{cfg: cfg, file: file, raw: raw, offload: flags}
	if cfg.Attach {
		return d, nil
	}
	if err := d.configure(); err != nil {
		d.Close()
		return nil, fmt.Errorf("tun: configure %s: %w", cfg.Name, classifyPermission(err))
	}
	return d, nil
}

// OffloadFlags returns the TUN_F_* flags the kernel accepted, or 0 for a
// device opened without Config.Offload.
func (d *Device) OffloadFlags() uint { return d.offload }

// OffloadSize returns MaxOffloadSize when the kernel passes TCP segments
// larger than the MTU (TUN_F_TSO4), the MTU when it passes only partial
// checksums, and 0 for a device opened without Config.Offload.
func (d *Device) OffloadSize() int {
	switch {
	case d.raw == nil:
		return 0
	case d.offload&TUNFTSO4 != 0:
		return MaxOffloadSize
	}
	return d.cfg.MTU
}

// Stats returns the device's offload counters.
func (d *Device) Stats() DeviceStats {
	c := &d.counters
	return DeviceStats{
		GSOIn: c.gsoIn.Load(), GSOInBytes: c.gsoInBytes.Load(),
		GSOOut: c.gsoOut.Load(), GSOOutBytes: c.gsoOutBytes.Load(),
		PartialIn: c.partialIn.Load(), VnetHeaderErrors: c.vnetErrors.Load(),
	}
}

// ReadOffload blocks until the kernel sends a packet and reads it into b,
// which should hold OffloadSize octets, with one readv of the virtio-net
// header and the packet, so the packet lands in b uncopied. It fills o
// from the header. A packet with a malformed or unhandled header (a GSO
// type other than TCPv4) is dropped and counted in
// DeviceStats.VnetHeaderErrors; the error wraps ErrVnetHeader and
// ip.ErrBadOffload, and the device goes on working. Packets that are not
// IPv4 are skipped. On a device opened without Config.Offload it is
// ReadPacket with zero metadata.
func (d *Device) ReadOffload(b []byte, o *ip.Offload) (int, error) {
	if d.raw == nil {
		*o = ip.Offload{}
		return d.ReadPacket(b)
	}
	d.rio.mu.Lock()
	defer d.rio.mu.Unlock()
	for {
		n, err := d.rio.run(d.raw, false, b)
		hdr := d.rio.hdr[:]
		if d.closed.Load() {
			return 0, errDeviceClosed
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err != nil {
			return 0, fmt.Errorf("tun: read %s: %w", d.cfg.Name, err)
		}
		off, n, err := d.parse(hdr, b, n)
		if err != nil {
			d.counters.vnetErrors.Add(1)
			return 0, err
		}
		if n == 0 {
			continue // not IPv4
		}
		if off.GSOSize > 0 {
			d.counters.gsoIn.Add(1)
			d.counters.gsoInBytes.Add(uint64(n))
		}
		if off.ChecksumPartial {
			d.counters.partialIn.Add(1)
		}
		*o = off
		return n, nil
	}
}

// parse checks the header hdr of the n-octet read whose packet is in b. It
// returns n = 0 for a packet that is neither IPv4 nor IPv6.
func (d *Device) parse(hdr, b []byte, n int) (ip.Offload, int, error) {
	if n < VnetHdrLen {
		return ip.Offload{}, 0, fmt.Errorf("%w: %d-octet read", ErrVnetHeader, n)
	}
	pkt := b[:n-VnetHdrLen]
	h := decodeVnetHeader(hdr)
	if err := h.check(pkt); err != nil {
		return ip.Offload{}, 0, err
	}
	// RFC 791, RFC 8200 §3: the version field is the high nibble of the
	// first byte; the protocol is the IPv4 header's, or the Next Header of
	// an IPv6 fixed header.
	var proto uint8
	switch ip.Version(pkt) {
	case 4:
		if len(pkt) >= ip.HeaderLen {
			proto = pkt[9]
		}
	case 6:
		if len(pkt) >= ip.Header6Len {
			proto = pkt[6]
		}
	default:
		if h.GSOType != VnetGSONone {
			return ip.Offload{}, 0, fmt.Errorf("%w: GSO type %d not handled", ErrVnetHeader, h.GSOType)
		}
		return ip.Offload{}, 0, nil // skipped, as on a plain device
	}
	if h.Flags&VnetFlagNeedsCsum != 0 && h.GSOType == VnetGSONone && proto != ip.ProtoTCP {
		// TUN_F_CSUM also covers the kernel's UDP: complete it here, so
		// that only TCP, the one the stack reads, carries the flag on.
		completeChecksum(pkt, int(h.CsumStart), int(h.CsumOffset))
		if at := int(h.CsumStart) + int(h.CsumOffset); proto == protoUDP && pkt[at] == 0 && pkt[at+1] == 0 {
			pkt[at], pkt[at+1] = 0xff, 0xff // RFC 768: a computed zero is sent as all ones
		}
		h.Flags &^= VnetFlagNeedsCsum
	}
	o, err := h.Offload(pkt)
	if err != nil {
		return ip.Offload{}, 0, err
	}
	return o, len(pkt), nil
}

// vnetIO is the reusable state of one direction's readv or writev of a
// virtio-net header and a packet, so that neither allocates; mu serialises
// its users.
type vnetIO struct {
	mu    sync.Mutex
	hdr   [VnetHdrLen]byte
	iov   [2]unix.Iovec
	trap  uintptr // SYS_READV or SYS_WRITEV
	fn    func(fd uintptr) bool
	n     int
	errno unix.Errno
}

// syscall is fn: one readv or writev, or false to wait for the poller.
func (v *vnetIO) syscall(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall(v.trap, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(len(v.iov)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		v.n, v.errno = int(r), e
		return true
	}
}

// run does one readv (write false) or writev of v.hdr and b on raw, in
// Go's poller. v.mu is held.
func (v *vnetIO) run(raw syscall.RawConn, write bool, b []byte) (int, error) {
	if v.fn == nil {
		v.trap, v.fn = unix.SYS_READV, v.syscall
		if write {
			v.trap = unix.SYS_WRITEV
		}
	}
	v.iov[0].Base = &v.hdr[0]
	v.iov[0].SetLen(VnetHdrLen)
	v.iov[1].Base = nil
	if len(b) > 0 {
		v.iov[1].Base = &b[0]
	}
	v.iov[1].SetLen(len(b))
	var err error
	if write {
		err = raw.Write(v.fn)
	} else {
		err = raw.Read(v.fn)
	}
	v.iov[1].Base = nil // do not keep b alive
	if err != nil {
		return 0, err
	}
	if v.errno != 0 {
		return 0, v.errno
	}
	return v.n, nil
}

// WriteOffload hands the packet b to the kernel with a virtio-net header
// made from o, with one writev, so b is not copied. GSOSize > 0 (which
// needs ChecksumPartial) makes the kernel cut it into segments of GSOSize
// payload octets; ChecksumPartial makes it complete the TCP checksum, whose
// field must hold the pseudo-header sum described at ip.Offload. A packet
// without GSOSize must fit the MTU. It does not retain b. On a device
// opened without Config.Offload only zero metadata is accepted.
func (d *Device) WriteOffload(b []byte, o ip.Offload) error {
	if d.raw == nil {
		if o != (ip.Offload{}) {
			return fmt.Errorf("tun: write %s: offload metadata on a device opened without Config.Offload", d.cfg.Name)
		}
		return d.WritePacket(b)
	}
	if len(b) > MaxOffloadSize || (o.GSOSize == 0 && len(b) > d.cfg.MTU) {
		return fmt.Errorf("%w: %d-octet packet", ErrTooBig, len(b))
	}
	h, err := vnetHeaderFor(b, o)
	if err != nil {
		return fmt.Errorf("tun: write %s: %w", d.cfg.Name, err)
	}
	if err := d.writeOffload(b, h); err != nil {
		return err
	}
	if h.GSOType != VnetGSONone {
		d.counters.gsoOut.Add(1)
		d.counters.gsoOutBytes.Add(uint64(len(b)))
	}
	return nil
}

// writeOffload writes h and b with one writev.
func (d *Device) writeOffload(b []byte, h VnetHeader) error {
	if d.closed.Load() {
		return errDeviceClosed
	}
	d.wio.mu.Lock()
	h.Put(d.wio.hdr[:])
	n, err := d.wio.run(d.raw, true, b)
	d.wio.mu.Unlock()
	if d.closed.Load() {
		return errDeviceClosed
	}
	if err != nil {
		return fmt.Errorf("tun: write %s: %w", d.cfg.Name, err)
	}
	if n != VnetHdrLen+len(b) {
		return fmt.Errorf("tun: write %s: %w", d.cfg.Name, io.ErrShortWrite)
	}
	return nil
}

// readPacketOffload is ReadPacket on an offload device: a GSO packet is cut
// into MTU-sized packets in software and handed out one per call, and a
// partial checksum is completed, for code that knows only Link (Sniff,
// netsim.Wrap).
func (d *Device) readPacketOffload(b []byte) (int, error) {
	r := &d.rd
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seg.pending() {
		return r.seg.next(b)
	}
	if r.buf == nil {
		r.buf = make([]byte, MaxOffloadSize)
	}
	var o ip.Offload
	n, err := d.ReadOffload(r.buf, &o)
	if err != nil {
		return 0, err
	}
	return r.deliver(r.buf[:n], o, b)
}
