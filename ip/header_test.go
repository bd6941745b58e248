package ip

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	addrA = netip.MustParseAddr("10.9.0.1")
	addrB = netip.MustParseAddr("10.9.0.2")
)

// knownHeader is a captured UDP packet header (192.168.0.1 -> 192.168.0.199,
// total length 115, DF, TTL 64) whose checksum b861 was checked by hand:
// 4500+0073+0000+4000+4011+c0a8+0001+c0a8+00c7 = 3479e, folded 479e, complement b861.
var knownHeader = []byte{
	0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
}

// knownPacket is knownHeader followed by a 95-byte payload.
func knownPacket() []byte {
	b := append([]byte(nil), knownHeader...)
	for i := HeaderLen; i < 0x73; i++ {
		b = append(b, byte(i))
	}
	return b
}

func TestParse_KnownHeaderChecksum(t *testing.T) {
	assert.Equal(t, uint16(0), Checksum(knownHeader, 0), "a header with a correct checksum sums to zero")
	h, payload, err := Parse(knownPacket())
	require.NoError(t, err)
	assert.Equal(t, Header{
		TotalLen: 0x73, DontFragment: true, TTL: 64, Protocol: 17, Checksum: 0xb861,
		Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.168.0.199"),
		HeaderLen: 20,
	}, h)
	assert.Len(t, payload, 0x73-HeaderLen, "payload is the total length minus the header")

	// Rebuilding the same fields must reproduce the captured bytes exactly.
	b := make([]byte, HeaderLen)
	h2 := h
	h2.Checksum = 0
	PutHeader(b, &h2)
	assert.Equal(t, knownHeader, b, "PutHeader computes the same checksum as the capture")
	assert.Equal(t, uint16(0xb861), h2.Checksum, "PutHeader reports the checksum it stored")
}

// validPacket returns a 20-byte-header packet with n bytes of payload.
func validPacket(n int) []byte {
	h := Header{ID: 7, TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB}
	return AppendPacket(nil, &h, make([]byte, n))
}

// withOptions returns a packet whose header carries the given options (a
// multiple of 4 bytes) and n bytes of payload, with a correct checksum.
func withOptions(opts []byte, n int) []byte {
	b := validPacket(0)
	b = append(b[:HeaderLen], opts...)
	b = append(b, make([]byte, n)...)
	b[0] = 0x40 | byte(len(b[:HeaderLen+len(opts)])/4)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	fixChecksum(b)
	return b
}

// fixChecksum recomputes the header checksum of b after a test edited it.
func fixChecksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], Checksum(b[:hl], 0))
}

func TestParse_Malformed(t *testing.T) {
	edit := func(n int, f func(b []byte), fix bool) []byte {
		b := validPacket(n)
		f(b)
		if fix {
			fixChecksum(b)
		}
		return b
	}
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"19 bytes", validPacket(0)[:19], ErrTruncated},
		{"version 6", edit(0, func(b []byte) { b[0] = 0x65 }, true), ErrVersion},
		{"version 0", edit(0, func(b []byte) { b[0] = 0x05 }, true), ErrVersion},
		{"IHL 0", edit(0, func(b []byte) { b[0] = 0x40 }, false), ErrHeaderLength},
		{"IHL 4", edit(0, func(b []byte) { b[0] = 0x44 }, false), ErrHeaderLength},
		{"IHL 15 beyond a 40-byte packet", edit(20, func(b []byte) { b[0] = 0x4f }, false), ErrHeaderLength},
		{"IHL 6 beyond a 20-byte packet", edit(0, func(b []byte) { b[0] = 0x46 }, false), ErrHeaderLength},
		{"total length 0", edit(0, func(b []byte) { b[2], b[3] = 0, 0 }, true), ErrTotalLength},
		{"total length 19", edit(0, func(b []byte) { b[3] = 19 }, true), ErrTotalLength},
		{"total length below IHL*4 with options", func() []byte {
			b := withOptions([]byte{1, 1, 1, 0}, 10)
			b[2], b[3] = 0, 22
			fixChecksum(b)
			return b
		}(), ErrTotalLength},
		{"total length beyond the buffer", edit(10, func(b []byte) { b[3] = 31 }, true), ErrTotalLength},
		{"total length 65535 in a short buffer", edit(10, func(b []byte) { b[2], b[3] = 0xff, 0xff }, true), ErrTotalLength},
		{"checksum field off by one", edit(0, func(b []byte) { b[11]++ }, false), ErrChecksum},
		{"TTL changed after checksum", edit(0, func(b []byte) { b[8]-- }, false), ErrChecksum},
		{"source changed after checksum", edit(0, func(b []byte) { b[15] ^= 0x80 }, false), ErrChecksum},
		{"option byte changed after checksum", func() []byte {
			b := withOptions([]byte{1, 1, 1, 0}, 0)
			b[21] = 0
			return b
		}(), ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := Parse(tt.pkt)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, Header{}, h, "no header is returned with an error")
			assert.Nil(t, payload, "no payload is returned with an error")
		})
	}
}

func TestParse_ChecksumNegativeZeroAccepted(t *testing.T) {
	// RFC 1071: +0 (0x0000) and -0 (0xffff) are the same one's-complement
	// value, so a sender that writes 0xffff where 0x0000 is computed still
	// verifies. Find a header whose checksum is 0 by choosing the ID.
	b := validPacket(0)
	b[4], b[5], b[10], b[11] = 0, 0, 0, 0
	need := ^uint16(0) - fold16(Sum(b[:HeaderLen], 0)) // ID that makes the sum 0xffff
	binary.BigEndian.PutUint16(b[4:6], need)
	require.Equal(t, uint16(0), Checksum(b[:HeaderLen], 0), "checksum field 0 verifies")
	b[10], b[11] = 0xff, 0xff
	_, _, err := Parse(b)
	assert.NoError(t, err, "checksum field 0xffff is negative zero and also verifies")
}

// TestParse_MUST50_IgnoresIPOptions: RFC 9293 MUST-50, TCP MUST ignore IP
// options it does not understand; Parse skips them and returns the payload after.
func TestParse_MUST50_IgnoresIPOptions(t *testing.T) {
	opts := []byte{
		0x94, 0x04, 0x00, 0x00, // Router Alert (RFC 2113)
		0x99, 0x04, 0xab, 0xcd, // an unassigned option
		0x01, 0x01, 0x01, 0x00, // NOP NOP NOP EOL
	}
	b := withOptions(opts, 5)
	copy(b[HeaderLen+len(opts):], "hello")
	h, payload, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, HeaderLen+len(opts), h.HeaderLen, "HeaderLen includes the options")
	assert.Equal(t, []byte("hello"), payload, "the payload starts after the options")
}

func TestParse_TrimsLinkPadding(t *testing.T) {
	b := validPacket(6)
	copy(b[HeaderLen:], "abcdef")
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // e.g. Ethernet minimum-size padding
	h, payload, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(26), h.TotalLen)
	assert.Equal(t, []byte("abcdef"), payload, "bytes beyond the total length are not payload")
}

func TestHeader_RoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		h       Header
		payload []byte
	}{
		{"tcp syn", Header{ID: 1, DontFragment: true, TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB}, make([]byte, 20)},
		{"all fields", Header{TOS: 0xb8, ID: 0xbeef, MoreFragments: true, FragOffset: 1480, TTL: 1, Protocol: 17, Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("0.0.0.0")}, []byte("x")},
		{"max offset", Header{ID: 0xffff, DontFragment: true, MoreFragments: true, FragOffset: 8191 * 8, TTL: 255, Protocol: 255, Src: addrB, Dst: addrA}, nil},
		{"max payload", Header{TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB}, make([]byte, MaxPayload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			b := AppendPacket([]byte("prefix"), &h, tt.payload)
			require.Equal(t, "prefix", string(b[:6]), "AppendPacket keeps what dst held")
			got, payload, err := Parse(b[6:])
			require.NoError(t, err)
			want := tt.h
			want.TotalLen = uint16(HeaderLen + len(tt.payload))
			want.HeaderLen = HeaderLen
			want.Checksum = h.Checksum
			assert.Equal(t, want, got, "parse(build(h)) == h")
			assert.Equal(t, want, h, "AppendPacket fills TotalLen, HeaderLen and Checksum in h")
			assert.Equal(t, len(tt.payload), len(payload))
			assert.Equal(t, got.IsFragment(), tt.h.MoreFragments || tt.h.FragOffset != 0)
		})
	}
}

func TestPutHeader_InPlace(t *testing.T) {
	// The hot path: reserve HeaderLen bytes, write the segment, fill the header.
	buf := make([]byte, HeaderLen+5)
	copy(buf[HeaderLen:], "hello")
	h := Header{TotalLen: uint16(len(buf)), ID: 9, TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB}
	allocs := testing.AllocsPerRun(100, func() { PutHeader(buf, &h) })
	assert.Zero(t, allocs, "PutHeader does not allocate")
	assert.Equal(t, uint16(0), Checksum(buf[:HeaderLen], 0), "the stored checksum verifies")
	got, payload, err := Parse(buf)
	require.NoError(t, err)
	assert.Equal(t, h, got)
	assert.Equal(t, []byte("hello"), payload)
}

func TestPutHeader_RoundsFragOffsetDown(t *testing.T) {
	b := make([]byte, HeaderLen)
	h := Header{TotalLen: HeaderLen, FragOffset: 13, TTL: 1, Src: addrA, Dst: addrB}
	PutHeader(b, &h)
	got, _, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(8), got.FragOffset, "the wire counts 8-byte units")
}

func TestAppendPacket_NoAllocWithCapacity(t *testing.T) {
	dst := make([]byte, 0, 2048)
	payload := make([]byte, 1460)
	h := Header{TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB}
	allocs := testing.AllocsPerRun(100, func() { dst = AppendPacket(dst[:0], &h, payload) })
	assert.Zero(t, allocs, "AppendPacket reuses dst's capacity")
	allocs = testing.AllocsPerRun(100, func() { _, _, _ = Parse(dst) })
	assert.Zero(t, allocs, "Parse does not allocate")
}

func TestAppendPacket_PanicsOnOversizePayload(t *testing.T) {
	h := Header{TTL: 64, Src: addrA, Dst: addrB}
	assert.Panics(t, func() { AppendPacket(nil, &h, make([]byte, MaxPayload+1)) }, "a payload that cannot fit is a caller bug")
}

func TestHeader_IsFragment(t *testing.T) {
	tests := []struct {
		h    Header
		want bool
	}{
		{Header{}, false},
		{Header{DontFragment: true}, false},
		{Header{MoreFragments: true}, true},
		{Header{FragOffset: 8}, true},
		{Header{MoreFragments: true, FragOffset: 8}, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.h.IsFragment(), "%+v", tt.h)
	}
}

func BenchmarkParse(b *testing.B) {
	pkt := validPacket(1460)
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		_, _, _ = Parse(pkt)
	}
}

func BenchmarkPutHeader(b *testing.B) {
	buf := make([]byte, HeaderLen+1460)
	h := Header{TotalLen: uint16(len(buf)), TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB}
	for b.Loop() {
		PutHeader(buf, &h)
	}
}
