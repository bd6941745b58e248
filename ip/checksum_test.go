package ip

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceSum is the RFC 1071 §4.1 byte-pair loop that Sum must match.
func referenceSum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = s&0xffffffff + s>>32
	}
	return uint32(s)
}

// fold16 folds a running sum to 16 bits without complementing it.
func fold16(s uint32) uint16 { return ^Fold(s) }

func TestSum_MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1071, 9293))
	buf := make([]byte, 300)
	for n := 0; n <= 300; n++ {
		for trial := 0; trial < 8; trial++ {
			b := buf[:n]
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			// Runs of 0xff and of 0x00 exercise the carry and the ±0 cases.
			switch trial {
			case 0:
				for i := range b {
					b[i] = 0xff
				}
			case 1:
				clear(b)
			}
			initial := r.Uint32()
			switch trial {
			case 1, 2:
				initial = 0
			case 3:
				initial = 0xffffffff
			}
			got, want := Sum(b, initial), referenceSum(b, initial)
			require.Equal(t, fold16(want), fold16(got), "n=%d initial=%#x: fast and reference sums fold to the same 16 bits", n, initial)
			assert.LessOrEqual(t, got, uint32(0xffff), "Sum returns a folded running sum so callers can add small terms")
		}
	}
}

func TestSum_ChainedEqualsWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	b := make([]byte, 1501)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for split := 0; split <= len(b); split += 2 {
		got := Checksum(b[split:], Sum(b[:split], 0))
		assert.Equal(t, Checksum(b, 0), got, "split=%d: summing even-length pieces in turn equals summing the whole", split)
	}
}

// TestChecksum_RFC1071Example checks the worked example of RFC 1071 §3:
// the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
func TestChecksum_RFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	assert.Equal(t, uint16(0xddf2), fold16(Sum(b, 0)), "RFC 1071 §3 gives the folded sum ddf2")
	assert.Equal(t, uint16(0x220d), Checksum(b, 0), "the checksum is the complement of the sum")
}

func TestChecksum_Edges(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		initial uint32
		want    uint16
	}{
		{"empty", nil, 0, 0xffff},
		{"one zero byte", []byte{0}, 0, 0xffff},
		{"odd byte is the high byte", []byte{0x12}, 0, ^uint16(0x1200)},
		{"all ones is negative zero", []byte{0xff, 0xff}, 0, 0x0000},
		{"initial only", nil, 0x1234, ^uint16(0x1234)},
		{"initial carries", nil, 0x0001ffff, ^uint16(0x0001)},
		{"initial max", nil, 0xffffffff, ^uint16(0xffff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Checksum(tt.b, tt.initial))
			assert.Equal(t, Fold(referenceSum(tt.b, tt.initial)), Checksum(tt.b, tt.initial), "the reference agrees")
		})
	}
}

// TestPseudoHeaderSum_MUST2 checks the TCP pseudo-header sum against the
// 12 bytes of RFC 9293 §3.1 summed by the reference loop.
func TestPseudoHeaderSum_MUST2(t *testing.T) {
	src, dst := netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("192.168.255.1")
	ph := []byte{10, 9, 0, 2, 192, 168, 255, 1, 0, ProtoTCP, 0x05, 0xdc}
	assert.Equal(t, Fold(referenceSum(ph, 0)), Fold(PseudoHeaderSum(src, dst, ProtoTCP, 1500)))
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0xff}, uint32(0xffffffff))
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint32(0))
	f.Add(make([]byte, 73), uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, initial uint32) {
		got, want := Sum(b, initial), referenceSum(b, initial)
		if fold16(got) != fold16(want) || got > 0xffff {
			t.Fatalf("len=%d initial=%#x: Sum=%#x reference=%#x", len(b), initial, got, want)
		}
	})
}

var benchSizes = []int{20, 64, 576, 1500, 9000, 65535}

var sinkSum uint32

func benchmarkSum(b *testing.B, sum func([]byte, uint32) uint32) {
	for _, n := range benchSizes {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i*7 + 3)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				sinkSum = sum(buf, 0)
			}
		})
	}
}

func BenchmarkChecksum(b *testing.B) { benchmarkSum(b, Sum) }

func BenchmarkChecksumReference(b *testing.B) { benchmarkSum(b, referenceSum) }
