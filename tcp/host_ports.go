package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The default ephemeral port range (RFC 6335 §6, IANA's dynamic ports).
const (
	ephemeralFirst = 49152
	ephemeralLast  = 65535
)

// portTableLen is the length of the counter table of RFC 6056 §3.3.4
// (TABLE_LENGTH): more entries make the port sequences toward unrelated
// remotes less correlated, at 4 octets each.
const portTableLen = 256

// portAlloc chooses ephemeral ports by RFC 6056 §3.3.4 (Algorithm 4,
// double-hash port selection): each (local address, remote address, remote
// port) gets its own secret starting offset into the range, and a counter
// shared by the remotes that hash to the same table entry walks it, so
// consecutive connections toward one remote take distinct ports while the
// ports say nothing about the connections toward others.
type portAlloc struct {
	first, last uint16
	f, g        [2]uint64 // SipHash keys of F (secret_key1) and G (secret_key2)
	table       [portTableLen]uint32
}

// newPortAlloc returns an allocator over [first, last] with fresh secrets
// from crypto/rand, drawn apart from the ISN generator's key.
func newPortAlloc(first, last uint16) *portAlloc {
	var b [32 + 4*portTableLen]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	a := &portAlloc{first: first, last: last}
	for i := range a.f {
		a.f[i] = binary.LittleEndian.Uint64(b[8*i:])
		a.g[i] = binary.LittleEndian.Uint64(b[16+8*i:])
	}
	// RFC 6056 §3.3.4: the table starts with random values.
	for i := range a.table {
		a.table[i] = binary.LittleEndian.Uint32(b[32+4*i:])
	}
	return a
}

// choose returns the first port of the range, in the order of RFC 6056
// §3.3.4 for local toward remote, that suitable accepts; it tries each
// port of the range once before it gives up.
func (a *portAlloc) choose(local netip.Addr, remote netip.AddrPort, suitable func(uint16) bool) (uint16, bool) {
	num := uint32(a.last) - uint32(a.first) + 1
	msg := portHashInput(local, remote)
	offset := uint32(sipHash24(a.f[0], a.f[1], msg[:]))
	idx := sipHash24(a.g[0], a.g[1], msg[:]) % portTableLen
	for range num {
		// RFC 6056 §3.3.4: port = min + (offset + table[index]) % num,
		// table[index] incremented on every try.
		p := uint16(uint32(a.first) + (offset+a.table[idx])%num)
		a.table[idx]++
		if suitable(p) {
			return p, true
		}
	}
	return 0, false
}

// portHashInput is the input of F and G: local address, remote address and remote port.
func portHashInput(local netip.Addr, remote netip.AddrPort) [34]byte {
	var msg [34]byte
	l, r := local.As16(), remote.Addr().As16()
	copy(msg[0:16], l[:])
	copy(msg[16:32], r[:])
	binary.BigEndian.PutUint16(msg[32:], remote.Port())
	return msg
}

// portRange returns Config.EphemeralPorts with its default applied, or an
// error if it is not a range of non-zero ports.
func portRange(r [2]uint16) (first, last uint16, err error) {
	if r == [2]uint16{} {
		return ephemeralFirst, ephemeralLast, nil
	}
	if r[0] == 0 || r[0] > r[1] {
		return 0, 0, fmt.Errorf("tcp: ephemeral port range %d-%d: want 1 <= first <= last", r[0], r[1])
	}
	return r[0], r[1], nil
}

// inUse reports whether the four-tuple id names a connection: a TCB of the
// table or a TIME-WAIT record.
func (h *host) inUse(id FourTuple) bool {
	_, ok := h.conns[id]
	_, tw := h.tw.recs[id]
	return ok || tw
}

// dialPort returns a local port for an active OPEN toward remote. RFC 6056
// §3.3.4's check_suitable_port: the four-tuple must be free and the port
// not a listener's, so one port serves many remotes and the range bounds
// the connections toward each remote, not the total.
func (h *host) dialPort(local netip.Addr, remote netip.AddrPort) (uint16, bool) {
	return h.eph.choose(local, remote, func(p uint16) bool {
		return h.listeners[p] == nil && !h.inUse(FourTuple{Local: netip.AddrPortFrom(local, p), Remote: remote})
	})
}

// listenPort returns a port for Listen(0): one no listener and no connection uses.
func (h *host) listenPort() (uint16, bool) {
	return h.eph.choose(h.cfg.Addr, netip.AddrPort{}, func(p uint16) bool {
		return h.listeners[p] == nil && h.ports[p] == 0
	})
}
