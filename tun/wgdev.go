package tun

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// WGDevice is the part of wireguard-go's tun.Device
// (golang.zx2c4.com/wireguard/tun) that utcp uses, declared here so that
// utcp does not depend on wireguard-go: a device made by its CreateTUN on
// Linux, macOS or Windows has these methods.
//
// Events is left out: its channel's element type is wireguard-go's, which
// this package cannot name. The caller must drain dev.Events() (a
// goroutine ranging over it), since a device whose channel is full blocks
// its netlink or route listener.
type WGDevice interface {
	// Read reads packets into bufs[i][offset:], their lengths into
	// sizes[i], and returns how many; the first n are valid even with an
	// error. Its ErrTooManySegments means the packet was cut short and the
	// device goes on.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes the packets bufs[i][offset:]. It may overwrite the
	// offset bytes in front of each packet (a virtio-net or address-family
	// header) and the packets themselves (GRO).
	Write(bufs [][]byte, offset int) (int, error)
	MTU() (int, error)
	// BatchSize is the most packets Read returns and Write takes at once.
	BatchSize() int
	// Close closes the device and unblocks Read.
	Close() error
}

// WGHeadroom is the offset WGLink passes to the device's Read and Write:
// wireguard-go's own (its transport header, 16 octets), room enough for
// the virtio-net header on Linux (10) and the address-family header of
// macOS and the BSDs (4).
const WGHeadroom = 16

// wgMaxBatch bounds the buffers WGLink keeps for a device's BatchSize.
const wgMaxBatch = 1024

// wgTooManySegments is the text of wireguard-go's tun.ErrTooManySegments,
// which this package cannot compare with errors.Is. The device says the
// rest of a GSO packet did not fit in bufs; reads go on.
const wgTooManySegments = "too many segments"

// errWGClosed is returned by I/O on a closed WGLink or device.
var errWGClosed = fmt.Errorf("tun: wireguard device closed: %w", net.ErrClosed)

// WGStats counts what a WGLink dropped.
type WGStats struct {
	TooBig          uint64 // packets over the MTU, read or written, dropped
	Empty           uint64 // zero-length packets read, skipped
	BadSize         uint64 // packets whose size the device reported outside its buffer, dropped
	TooManySegments uint64 // reads the device cut short (the rest of a GSO packet is lost)
	WriteErrors     uint64 // packets the device did not take
}

// WGLink is a wireguard-go-style device as a batch link: it has the
// method set of tcp.BatchLink. It reads into buffers of its own, with
// WGHeadroom octets in front of each packet, and copies each packet out;
// it copies each packet to write behind WGHeadroom octets of its own, so
// the device may change them. ReadPacket and ReadPackets share the
// packets of one device Read. Reads and writes may run concurrently.
type WGLink struct {
	dev   WGDevice
	mtu   int
	batch int

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	rmu    sync.Mutex
	rbufs  [][]byte // WGHeadroom + a packet each: 64 KiB for the first, which takes any packet whole, MTU+1 for the others
	rsizes []int
	rn     int   // packets the last device Read returned
	rnext  int   // the next of them to hand out
	rerr   error // the error of the last device Read, after its packets
	rone   [1][]byte
	rsize  [1]int

	wmu   sync.Mutex
	wbufs [][]byte // WGHeadroom + MTU each
	wvec  [][]byte
	widx  []int // the index in pkts of each packet in wvec
	wone  [1][]byte

	tooBig, empty, badSize, tooMany, writeErrors atomic.Uint64
}

// WireGuard returns dev as a link for tcp.NewStack, with the device's MTU
// and batch size. It does not drain dev.Events(); see WGDevice.
func WireGuard(dev WGDevice) (*WGLink, error) {
	mtu, err := dev.MTU()
	if err != nil {
		return nil, fmt.Errorf("tun: wireguard device MTU: %w", err)
	}
	// RFC 791: every host takes 68-octet datagrams; 65535 is the largest.
	if mtu < 68 || mtu > 65535 {
		return nil, fmt.Errorf("%w: wireguard device MTU %d outside [68, 65535]", ErrInvalidConfig, mtu)
	}
	l := &WGLink{dev: dev, mtu: mtu, batch: min(max(dev.BatchSize(), 1), wgMaxBatch)}
	// One slab for the read buffers past the first, one for the write buffers.
	l.rbufs = make([][]byte, l.batch)
	l.rbufs[0] = make([]byte, WGHeadroom+65535)
	rsz := WGHeadroom + mtu + 1 // a packet of mtu+1 octets or more is one too big
	slab := make([]byte, (l.batch-1)*rsz)
	for i := 1; i < l.batch; i++ {
		l.rbufs[i], slab = slab[:rsz:rsz], slab[rsz:]
	}
	l.rsizes = make([]int, l.batch)
	wsz := WGHeadroom + mtu
	slab = make([]byte, l.batch*wsz)
	l.wbufs = make([][]byte, l.batch)
	for i := range l.wbufs {
		l.wbufs[i], slab = slab[:wsz:wsz], slab[wsz:]
	}
	l.wvec = make([][]byte, 0, l.batch)
	l.widx = make([]int, 0, l.batch)
	return l, nil
}

// MTU returns the device's MTU when the link was made.
func (l *WGLink) MTU() int { return l.mtu }

// BatchSize returns the device's batch size (at least 1).
func (l *WGLink) BatchSize() int { return l.batch }

// Stats returns the link's counters.
func (l *WGLink) Stats() WGStats {
	return WGStats{
		TooBig: l.tooBig.Load(), Empty: l.empty.Load(), BadSize: l.badSize.Load(),
		TooManySegments: l.tooMany.Load(), WriteErrors: l.writeErrors.Load(),
	}
}

// ReadPackets blocks until the device has a packet, then copies up to
// len(bufs) packets into bufs, their lengths into sizes. Zero-length
// packets are skipped; packets over the MTU or longer than their buffer
// are dropped; both are counted. After Close, or once the device has
// failed, it returns the error (wrapping net.ErrClosed after Close).
func (l *WGLink) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	return l.readLocked(bufs, sizes)
}

// ReadPacket reads one packet into b, as ReadPackets.
func (l *WGLink) ReadPacket(b []byte) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.rone[0] = b
	_, err := l.readLocked(l.rone[:], l.rsize[:])
	l.rone[0] = nil
	return l.rsize[0], err
}

func (l *WGLink) readLocked(bufs [][]byte, sizes []int) (int, error) {
	k, limit := 0, min(len(bufs), len(sizes))
	for k < limit {
		if l.rnext == l.rn {
			if k > 0 {
				break // what one device Read returned; do not block for more
			}
			if l.rerr != nil {
				return 0, l.rerr // the device has failed or is closed: for good
			}
			l.fill()
			continue
		}
		i := l.rnext
		l.rnext++
		size := l.rsizes[i]
		switch {
		case size < 0 || size > len(l.rbufs[i])-WGHeadroom:
			l.badSize.Add(1)
		case size == 0:
			l.empty.Add(1)
		case size > l.mtu || size > len(bufs[k]):
			l.tooBig.Add(1)
		default:
			sizes[k] = copy(bufs[k], l.rbufs[i][WGHeadroom:WGHeadroom+size])
			k++
		}
	}
	return k, nil
}

// fill reads a batch from the device.
func (l *WGLink) fill() {
	clear(l.rsizes)
	n, err := l.dev.Read(l.rbufs, l.rsizes, WGHeadroom)
	l.rn, l.rnext = min(max(n, 0), len(l.rbufs)), 0
	switch {
	case err == nil:
	case l.closed.Load() || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed):
		l.rerr = errWGClosed
	case strings.Contains(err.Error(), wgTooManySegments):
		l.tooMany.Add(1)
	default:
		// wireguard-go's own device stops at any other read error.
		l.rerr = fmt.Errorf("tun: wireguard device read: %w", err)
	}
	if l.closed.Load() {
		l.rn, l.rerr = 0, errWGClosed
	}
}

// WritePackets copies pkts behind WGHeadroom octets and writes them to the
// device, BatchSize per call, and returns how many it wrote or dropped.
// Packets over the MTU are dropped and counted. On a device error the
// packets from the first the device did not take on were not sent.
func (l *WGLink) WritePackets(pkts [][]byte) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.writeLocked(pkts)
}

// WritePacket writes one packet, as WritePackets.
func (l *WGLink) WritePacket(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wone[0] = b
	_, err := l.writeLocked(l.wone[:])
	l.wone[0] = nil
	return err
}

func (l *WGLink) writeLocked(pkts [][]byte) (int, error) {
	if l.closed.Load() {
		return 0, errWGClosed
	}
	for done := 0; done < len(pkts); {
		vec, idx := l.wvec[:0], l.widx[:0]
		next := done
		for ; next < len(pkts) && len(vec) < l.batch; next++ {
			p := pkts[next]
			if len(p) > l.mtu {
				l.tooBig.Add(1)
				continue
			}
			buf := l.wbufs[len(vec)]
			vec = append(vec, buf[:WGHeadroom+copy(buf[WGHeadroom:], p)])
			idx = append(idx, next)
		}
		if len(vec) > 0 {
			k, err := l.dev.Write(vec, WGHeadroom)
			if err != nil {
				if k < 0 || k > len(vec) {
					k = 0 // a count that is not of packets: assume none went
				}
				l.writeErrors.Add(uint64(len(vec) - k))
				sent := next
				if k < len(vec) {
					sent = idx[k]
				}
				if l.closed.Load() || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
					return sent, errWGClosed
				}
				return sent, fmt.Errorf("tun: wireguard device write: %w", err)
			}
		}
		done = next
	}
	return len(pkts), nil
}

// Close closes the device, which unblocks a pending read; later reads and
// writes return an error wrapping net.ErrClosed. It returns the device's
// Close error, the same on every call.
func (l *WGLink) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeErr = l.dev.Close()
	})
	return l.closeErr
}
