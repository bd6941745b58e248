package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"time"
)

// isnGen chooses initial sequence numbers as RFC 6528 §3 describes:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// M is a clock that ticks every 4 µs (RFC 9293 §3.4.1, MUST-8) and F is
// SipHash-2-4 keyed with 128 random bits drawn once per stack, so nobody
// outside the host can compute it (MUST-9, SHLD-1).
//
// M counts from the generator's first use, by the difference of two
// time.Time values: for values from time.Now that is the monotonic clock,
// so a step of the wall clock (NTP, a suspend, the administrator) can
// neither repeat nor jump ISNs.
type isnGen struct {
	k0, k1 uint64
	epoch  time.Time // the first now seen
}

// newISNGen returns a generator with a fresh secret key from crypto/rand.
func newISNGen() *isnGen {
	var key [16]byte
	rand.Read(key[:]) // never fails (crypto/rand, Go 1.24+)
	return &isnGen{k0: binary.LittleEndian.Uint64(key[:8]), k1: binary.LittleEndian.Uint64(key[8:])}
}

// isn returns the ISN for a connection id opened at now.
func (g *isnGen) isn(id FourTuple, now time.Time) Seq {
	// RFC 6528 §3: M is a 4-microsecond timer, here a monotonic one.
	if g.epoch.IsZero() {
		g.epoch = now
	}
	m := uint32(now.Sub(g.epoch) / (4 * time.Microsecond))
	// F hashes the connection-id with the secret key (RFC 6528 §3).
	return Seq(m + uint32(g.hash(id, domainISN)))
}

// The domains of the generator's hash: one key, unrelated values.
const (
	domainISN      = 0
	domainTSOffset = 1
)

// tsOffset returns the offset of a connection's timestamp clock (RFC 7323
// §7.1): random to an observer, so the TSvals reveal neither the host's
// uptime nor how its clock relates to other connections', yet the same
// for every incarnation of a four-tuple, so that a new one's TSvals lie
// above the old one's (RFC 6191).
func (g *isnGen) tsOffset(id FourTuple) uint32 { return uint32(g.hash(id, domainTSOffset)) }

// hash is SipHash-2-4 of the four-tuple, and of the domain unless it is
// domainISN, under the secret key.
func (g *isnGen) hash(id FourTuple, domain byte) uint64 {
	var msg [37]byte
	l, r := id.Local.Addr().As16(), id.Remote.Addr().As16()
	copy(msg[0:16], l[:])
	binary.BigEndian.PutUint16(msg[16:], id.Local.Port())
	copy(msg[18:34], r[:])
	binary.BigEndian.PutUint16(msg[34:], id.Remote.Port())
	if domain == domainISN {
		return sipHash24(g.k0, g.k1, msg[:36]) // the 36-octet message of RFC 6528's F, as before
	}
	msg[36] = domain // a 37-octet message: never equal to an ISN's input
	return sipHash24(g.k0, g.k1, msg[:])
}

// isnAfter returns an ISN for a new incarnation of a connection whose last
// incarnation used sequence numbers up to old: RFC 1122 §4.2.2.13 wants the
// new ISN above it when a SYN ends TIME-WAIT.
func isnAfter(iss, old Seq) Seq {
	if iss.GreaterThan(old) {
		return iss
	}
	return old.Add(1 << 16)
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) of msg under the key (k0, k1).
func sipHash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	// The last block: the remaining bytes, little-endian, with the message
	// length modulo 256 in the top byte.
	last := uint64(n) << 56
	for i, b := range msg {
		last |= uint64(b) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	for range 4 {
		round()
	}
	return v0 ^ v1 ^ v2 ^ v3
}
