// Package ip is utcp's IPv4 layer: header parsing and building, the Internet
// checksum, and ICMP echo.
package ip

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum adds b to the running one's-complement sum initial (RFC 1071) and
// returns the new running sum. Chain calls to sum several buffers; every
// buffer but the last must have even length. The result is at most 0xffff,
// so callers may add a few small terms (as PseudoHeaderSum does) before Fold.
//
// Sum reads 8 bytes per step. RFC 1071 §2(B): the one's-complement sum is
// independent of byte order, so it adds little-endian 64-bit words with an
// end-around carry and swaps the two bytes of the folded result at the end.
// RFC 1071 §2(C): adding 64-bit words and folding to 16 bits gives the same
// sum as adding 16-bit words, since 2^16 ≡ 1 (mod 2^16-1).
func Sum(b []byte, initial uint32) uint32 {
	// Move initial into the little-endian domain of the loop.
	acc := uint64(bits.ReverseBytes16(fold64(uint64(initial))))
	var c uint64
	for len(b) >= 64 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:64]), c)
		b = b[64:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// RFC 1071 §4.1: an odd last byte is padded with a zero byte; in
		// the little-endian domain it is the low byte.
		acc, c = bits.Add64(acc, uint64(b[0]), c)
	}
	// RFC 1071 §2(C): end-around carry. Adding c can carry once more, only
	// when acc wraps to 0, so the second addition cannot overflow.
	acc, c = bits.Add64(acc, c, 0)
	acc += c
	return uint32(bits.ReverseBytes16(fold64(acc)))
}

// fold64 folds a 64-bit one's-complement sum to 16 bits with end-around
// carries. It returns 0 only for 0, so a sum of any non-zero data stays
// non-zero (in 1..0xffff), exactly as the 16-bit-word sum does.
func fold64(x uint64) uint16 {
	x = x&0xffffffff + x>>32 // < 2^33
	x = x&0xffffffff + x>>32 // < 2^32
	x = x&0xffff + x>>16     // < 2^17
	x = x&0xffff + x>>16     // < 2^16
	return uint16(x)
}

// Fold folds a running sum to 16 bits and complements it: the value to put in a checksum field.
func Fold(sum uint32) uint16 {
	// RFC 1071 §4.1: fold 32-bit sum to 16 bits.
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Checksum returns the Internet checksum of b, starting from the running sum initial.
// A buffer that contains a correct checksum yields 0.
func Checksum(b []byte, initial uint32) uint16 { return Fold(Sum(b, initial)) }

// PseudoHeaderSum is the running sum of the pseudo-header that the TCP and
// ICMPv6 checksums cover: for IPv4 source, destination, zero, protocol and
// length (RFC 9293 §3.1); for IPv6 source, destination, the 32-bit
// upper-layer length, zero and the next header (RFC 8200 §8.1). The sums
// are equal once folded, so one formula serves both. It never panics,
// whatever the addresses: a pair that is not both IPv4 is summed as IPv6.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var s uint32
	if src.Is4() && dst.Is4() {
		s4, d4 := src.As4(), dst.As4()
		s = Sum(s4[:], 0)
		s = Sum(d4[:], s)
	} else {
		s16, d16 := src.As16(), dst.As16()
		s = Sum(s16[:], 0)
		s = Sum(d16[:], s)
	}
	return s + uint32(proto) + uint32(length>>16) + uint32(length&0xffff)
}
