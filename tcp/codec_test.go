package tcp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

var (
	codecSrc = netip.MustParseAddr("10.9.0.1")
	codecDst = netip.MustParseAddr("10.9.0.2")
)

// linuxSYN is a SYN as Linux 6.x sends it: 47180 -> 80, mss 1460, sackOK, TS, nop, wscale 7.
var linuxSYN = []byte{
	0xb8, 0x4c, 0x00, 0x50, // ports
	0x5d, 0x2e, 0x6a, 0x01, // seq
	0x00, 0x00, 0x00, 0x00, // ack
	0xa0, 0x02, 0xfa, 0xf0, // data offset 10, SYN, window 64240
	0x00, 0x00, 0x00, 0x00, // checksum (filled by linuxSYNPacket), urgent
	0x02, 0x04, 0x05, 0xb4, // mss 1460
	0x04, 0x02, // sackOK
	0x08, 0x0a, 0x9c, 0x3f, 0x11, 0x55, 0x00, 0x00, 0x00, 0x00, // TS val 2621378901 ecr 0
	0x01, 0x03, 0x03, 0x07, // nop, wscale 7
}

// linuxSYNPacket returns linuxSYN with a correct checksum for codecSrc -> codecDst.
func linuxSYNPacket() []byte {
	b := append([]byte(nil), linuxSYN...)
	binary.BigEndian.PutUint16(b[16:], checksumFor(b))
	return b
}

// checksumFor returns the checksum b should carry from codecSrc to codecDst; b's checksum field must be zero.
func checksumFor(b []byte) uint16 { return ip.Checksum(b, pseudoHeaderSum(codecSrc, codecDst, len(b))) }

// rawSegment builds a header with the given flags and option octets (a multiple of 4), then the payload.
func rawSegment(t testing.TB, flags Flags, opts []byte, payload string) []byte {
	t.Helper()
	require.Zero(t, len(opts)%4, "test bug: options must fill whole words")
	b := make([]byte, HeaderLen, HeaderLen+len(opts)+len(payload))
	binary.BigEndian.PutUint16(b[0:], 1234)
	binary.BigEndian.PutUint16(b[2:], 80)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 5000)
	b[12] = byte((HeaderLen+len(opts))/4) << 4
	b[13] = byte(flags)
	binary.BigEndian.PutUint16(b[14:], 65535)
	b = append(b, opts...)
	return append(b, payload...)
}

func TestDecodeSegment_LinuxSYN_MUST4(t *testing.T) {
	s, err := decodeSegment(linuxSYNPacket())
	require.NoError(t, err)
	assert.Equal(t, uint16(47180), s.SrcPort)
	assert.Equal(t, uint16(80), s.DstPort)
	assert.Equal(t, Seq(0x5d2e6a01), s.Seq)
	assert.Equal(t, FlagSYN, s.Flags)
	assert.Equal(t, uint16(64240), s.Window)
	assert.Equal(t, Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x9c3f1155,
		HasWindowScale: true, WindowScale: 7}, s.Options, "every option of a Linux SYN is understood")
	assert.Nil(t, s.Payload, "a SYN without data has no payload")
	assert.Equal(t, "S 1563322881:1563322881(0) win 64240 <mss 1460,sackOK,TS val 2621378901 ecr 0,nop,wscale 7>", s.String())
}

// Each row checks one way a header can be malformed; none may panic and each returns its sentinel.
func TestDecodeSegment_Malformed(t *testing.T) {
	tests := []struct {
		rule    string
		b       []byte
		wantErr error
	}{
		{rule: "RFC 9293 §3.1 empty buffer", b: nil, wantErr: ErrTruncated},
		{rule: "RFC 9293 §3.1 header shorter than 20 octets", b: linuxSYN[:19], wantErr: ErrTruncated},
		{rule: "RFC 9293 §3.1 data offset 0", b: withOffset(rawSegment(t, FlagACK, nil, ""), 0), wantErr: ErrDataOffset},
		{rule: "RFC 9293 §3.1 data offset 4 is below the fixed header", b: withOffset(rawSegment(t, FlagACK, nil, ""), 4), wantErr: ErrDataOffset},
		{rule: "RFC 9293 §3.1 data offset past the packet", b: withOffset(rawSegment(t, FlagACK, nil, "abc"), 6), wantErr: ErrDataOffset},
		{rule: "RFC 9293 §3.1 data offset 15 on a 40-octet packet", b: withOffset(linuxSYNPacket(), 15), wantErr: ErrDataOffset},
		{rule: "MUST-7 option length 0", b: rawSegment(t, FlagACK, []byte{2, 0, 0, 0}, ""), wantErr: ErrOptionLength},
		{rule: "MUST-7 option length 1", b: rawSegment(t, FlagACK, []byte{1, 1, 30, 1}, ""), wantErr: ErrOptionLength},
		{rule: "MUST-7 unknown option with length 0 cannot be skipped", b: rawSegment(t, FlagACK, []byte{99, 0, 1, 1}, ""), wantErr: ErrOptionLength},
		{rule: "MUST-68 option kind without its length octet", b: rawSegment(t, FlagACK, []byte{1, 1, 1, 8}, ""), wantErr: ErrOptionTruncated},
		{rule: "MUST-68 unknown kind without its length octet", b: rawSegment(t, FlagACK, []byte{1, 1, 1, 200}, ""), wantErr: ErrOptionTruncated},
		{rule: "MUST-7 timestamps running past the header", b: rawSegment(t, FlagACK, []byte{8, 10, 0, 0}, "payload!"), wantErr: ErrOptionTruncated},
		{rule: "MUST-6 unknown option running past the header", b: rawSegment(t, FlagACK, []byte{1, 30, 40, 0}, ""), wantErr: ErrOptionTruncated},
		{rule: "MUST-4 MSS with length 3", b: rawSegment(t, FlagSYN, []byte{2, 3, 5, 0}, ""), wantErr: ErrOptionLength},
		{rule: "MUST-4 MSS with length 6", b: rawSegment(t, FlagSYN, []byte{2, 6, 0, 0, 5, 0xb4, 1, 1}, ""), wantErr: ErrOptionLength},
		{rule: "RFC 7323 §2.2 window scale with length 4", b: rawSegment(t, FlagSYN, []byte{3, 4, 7, 0}, ""), wantErr: ErrOptionLength},
		{rule: "RFC 2018 §2 SACK-permitted with length 3", b: rawSegment(t, FlagSYN, []byte{4, 3, 0, 1}, ""), wantErr: ErrOptionLength},
		{rule: "RFC 7323 §3.2 timestamps with length 8", b: rawSegment(t, FlagACK, []byte{8, 8, 0, 0, 0, 0, 0, 0}, ""), wantErr: ErrOptionLength},
		{rule: "RFC 2018 §3 SACK without blocks", b: rawSegment(t, FlagACK, []byte{1, 1, 5, 2}, ""), wantErr: ErrOptionLength},
		{rule: "RFC 2018 §3 SACK length not 2+8n", b: rawSegment(t, FlagACK, []byte{1, 5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0}, ""), wantErr: ErrOptionLength},
		{rule: "RFC 2018 §3 SACK of 5 blocks cannot fit", b: rawSegment(t, FlagACK, append([]byte{5, 42}, make([]byte, 38)...), ""), wantErr: ErrOptionTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			var s Segment
			var err error
			require.NotPanics(t, func() { s, err = decodeSegment(tt.b) })
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, Segment{}, s, "a failed decode returns the zero Segment")
		})
	}
}

// withOffset returns b with its data offset set to words.
func withOffset(b []byte, words byte) []byte {
	b[12] = words<<4 | b[12]&0x0f
	return b
}

// Valid but unusual option lists: each row names the rule that makes the decoder accept it.
func TestDecodeSegment_Options(t *testing.T) {
	ts := []byte{8, 10, 0, 0, 0, 7, 0, 0, 0, 9} // TS val 7 ecr 9
	tests := []struct {
		rule  string
		flags Flags
		opts  []byte
		want  Options
	}{
		{rule: "MUST-4 NOP and EOL only", flags: FlagACK, opts: []byte{1, 1, 1, 0}},
		{rule: "MUST-64 MSS at an odd offset", flags: FlagSYN, opts: []byte{1, 2, 4, 5, 0xb4, 3, 3, 7},
			want: Options{MSS: 1460, HasWindowScale: true, WindowScale: 7}},
		{rule: "MUST-64 timestamps right after window scale, no NOPs", flags: FlagSYN | FlagACK,
			opts: append(append([]byte{3, 3, 2}, ts...), 4, 2, 0),
			want: Options{HasWindowScale: true, WindowScale: 2, HasTimestamp: true, TSVal: 7, TSEcr: 9, SACKPermitted: true}},
		{rule: "MUST-6 unknown option skipped by its length", flags: FlagSYN, opts: []byte{254, 4, 0xf9, 0x89, 2, 4, 0x05, 0xb4},
			want: Options{MSS: 1460}},
		{rule: "MUST-6 obsolete echo option skipped", flags: FlagACK, opts: append([]byte{6, 6, 1, 2, 3, 4, 1, 1}, append(ts, 0, 0)...),
			want: Options{HasTimestamp: true, TSVal: 7, TSEcr: 9}},
		{rule: "MUST-69 EOL ends the list, what follows is not read", flags: FlagSYN, opts: []byte{0, 2, 4, 5, 0xb4, 0, 0, 0}},
		{rule: "MUST-69 EOL after MSS, then padding", flags: FlagSYN, opts: []byte{2, 4, 2, 0x18, 0, 0, 0, 0},
			want: Options{MSS: 536}},
		{rule: "RFC 7323 §2.3 window scale above 14 is read as 14", flags: FlagSYN, opts: []byte{1, 3, 3, 15},
			want: Options{HasWindowScale: true, WindowScale: 14}},
		{rule: "RFC 7323 §2.3 window scale 255 is read as 14", flags: FlagSYN, opts: []byte{1, 3, 3, 255},
			want: Options{HasWindowScale: true, WindowScale: 14}},
		{rule: "RFC 2018 §3 four SACK blocks fill the option space", flags: FlagACK,
			opts: append([]byte{1, 1, 5, 34}, sackBytes(1, 2, 3, 4, 5, 6, 7, 8)...),
			want: Options{SACKBlocks: []SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}},
		{rule: "RFC 2018 §3 a later SACK option replaces an earlier one", flags: FlagACK,
			opts: append(append([]byte{5, 10}, sackBytes(1, 2)...), append([]byte{5, 18}, sackBytes(3, 4, 5, 6)...)...),
			want: Options{SACKBlocks: []SACKBlock{{3, 4}, {5, 6}}}},
		{rule: "MUST-5 MSS on a plain ACK", flags: FlagACK, opts: []byte{2, 4, 0x23, 0x28},
			want: Options{MSS: 9000}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			for len(tt.opts)%4 != 0 {
				tt.opts = append(tt.opts, 0)
			}
			s, err := decodeSegment(rawSegment(t, tt.flags, tt.opts, "data"))
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Options)
			assert.Equal(t, []byte("data"), s.Payload, "the payload starts at the data offset")
			assert.Equal(t, tt.flags, s.Flags)
		})
	}
}

func sackBytes(edges ...uint32) []byte {
	var b []byte
	for _, e := range edges {
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return b
}

// RFC 9293 MUST-5: an option may arrive on any segment, not only a SYN.
func TestDecodeSegment_MUST5_MSSOnNonSYN(t *testing.T) {
	b := AppendSegment(nil, &Segment{Flags: FlagACK | FlagPSH, Seq: 1, Ack: 2, Window: 100,
		Options: Options{MSS: 1400}, Payload: []byte("x")}, codecSrc, codecDst)
	s, err := decodeSegment(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(1400), s.Options.MSS, "MSS on a data segment still parses")
	assert.Equal(t, []byte("x"), s.Payload)
}

func TestDecodeSegment_AllFlagBits(t *testing.T) {
	for f := range 256 {
		s, err := decodeSegment(rawSegment(t, Flags(f), nil, ""))
		require.NoError(t, err)
		assert.Equal(t, Flags(f), s.Flags, "all eight control bits are kept")
	}
}

func TestDecodeSegment_PayloadAliasesInput(t *testing.T) {
	b := rawSegment(t, FlagACK, nil, "hello")
	s, err := decodeSegment(b)
	require.NoError(t, err)
	b[HeaderLen] = 'j'
	assert.Equal(t, "jello", string(s.Payload), "the payload is a view of the input, not a copy")
	assert.Equal(t, len(s.Payload), cap(s.Payload), "appending to the payload must not overwrite the caller's buffer")
}

func TestDecodeSegmentInto_ReusesSACKBlocks(t *testing.T) {
	b := AppendSegment(nil, &Segment{Flags: FlagACK, Options: Options{SACKBlocks: []SACKBlock{{10, 20}, {30, 40}}}}, codecSrc, codecDst)
	var s Segment
	require.NoError(t, DecodeSegmentInto(&s, b))
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeSegmentInto(&s, linuxSYN); err != nil {
			t.Fatal(err)
		}
		if err := DecodeSegmentInto(&s, b); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "a reused Segment decodes SACK blocks without allocating, even after a segment without them")
	assert.Equal(t, []SACKBlock{{10, 20}, {30, 40}}, s.Options.SACKBlocks)
	require.NoError(t, DecodeSegmentInto(&s, linuxSYN))
	assert.Empty(t, s.Options.SACKBlocks, "no SACK option: no blocks")
	assert.True(t, s.Options.HasTimestamp)
}

// randCodecSegment returns a segment with random fields and a random subset of every option.
// With text set it keeps to what the text notation carries: no ports, ack only with ACK,
// urgent only with URG, and a short printable payload.
func randCodecSegment(r *rand.Rand, text bool) Segment {
	s := Segment{
		SrcPort: uint16(r.Uint32()),
		DstPort: uint16(r.Uint32()),
		Seq:     Seq(r.Uint32()),
		Ack:     Seq(r.Uint32()),
		Flags:   Flags(r.Uint32()),
		Window:  uint16(r.Uint32()),
		Urgent:  uint16(r.Uint32()),
	}
	o := &s.Options
	if r.IntN(2) == 0 {
		o.MSS = uint16(1 + r.IntN(65535))
	}
	if r.IntN(2) == 0 {
		o.HasWindowScale, o.WindowScale = true, uint8(r.IntN(15))
		if r.IntN(8) == 0 {
			o.WindowScale = uint8(r.Uint32()) // RFC 7323 §2.3: above 14 goes out as 14
		}
	}
	o.SACKPermitted = r.IntN(2) == 0
	if r.IntN(2) == 0 {
		o.HasTimestamp, o.TSVal, o.TSEcr = true, r.Uint32(), r.Uint32()
	}
	if n := r.IntN(6) - 1; n > 0 {
		for range n {
			l := Seq(r.Uint32())
			o.SACKBlocks = append(o.SACKBlocks, SACKBlock{Left: l, Right: l.Add(uint32(1 + r.IntN(100000)))})
		}
	}
	n := r.IntN(40)
	if r.IntN(4) == 0 {
		n = 0
	}
	if n > 0 {
		s.Payload = make([]byte, n)
		for i := range s.Payload {
			if text {
				s.Payload[i] = byte(' ' + r.IntN(95))
			} else {
				s.Payload[i] = byte(r.Uint32())
			}
		}
	}
	if text {
		s.SrcPort, s.DstPort = 0, 0
		if len(s.Payload) > maxQuotedPayload {
			s.Payload = s.Payload[:maxQuotedPayload]
		}
		if !s.Flags.Has(FlagACK) {
			s.Ack = 0
		}
		if !s.Flags.Has(FlagURG) {
			s.Urgent = 0
		}
	}
	return s
}

// wireNormal is what decodeSegment gives back for s after AppendSegment: a
// window scale capped at 14, values of absent options zero, only the SACK
// blocks that fit in 40 octets, and nil for empty slices.
func wireNormal(s Segment) Segment {
	o := &s.Options
	if o.HasWindowScale {
		o.WindowScale = min(o.WindowScale, maxWindowScale)
	} else {
		o.WindowScale = 0
	}
	if !o.HasTimestamp {
		o.TSVal, o.TSEcr = 0, 0
	}
	_, k := o.optionsLayout()
	o.SACKBlocks = o.SACKBlocks[:k]
	if k == 0 {
		o.SACKBlocks = nil
	}
	if len(s.Payload) == 0 {
		s.Payload = nil
	}
	return s
}

func TestSegmentRoundTrip_AppendDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		s := randCodecSegment(r, false)
		b := AppendSegment(nil, &s, codecSrc, codecDst)
		require.Equal(t, s.headerLen()+len(s.Payload), len(b), "HeaderLen predicts the header AppendSegment writes")
		require.Zero(t, s.headerLen()%4, "the header is whole 32-bit words")
		require.LessOrEqual(t, s.headerLen(), HeaderLen+MaxOptionsLen)
		got, err := decodeSegment(b)
		require.NoError(t, err, "segment %d: %v", i, s.String())
		require.Equal(t, wireNormal(s), got, "segment %d: %v", i, s.String())
		require.True(t, VerifyChecksum(b, codecSrc, codecDst), "MUST-2: AppendSegment sets a correct checksum")
	}
}

// The option layout is Linux's, so captures of utcp and of Linux look alike.
func TestAppendSegment_OptionLayout(t *testing.T) {
	blocks := []SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	tests := []struct {
		name string
		opts Options
		want []byte
	}{
		{name: "none", want: nil},
		{name: "Linux SYN", opts: Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x9c3f1155, HasWindowScale: true, WindowScale: 7},
			want: linuxSYN[20:]},
		{name: "timestamps alone", opts: Options{HasTimestamp: true, TSVal: 1, TSEcr: 2},
			want: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}},
		{name: "sackOK without timestamps", opts: Options{MSS: 536, SACKPermitted: true},
			want: []byte{2, 4, 2, 0x18, 1, 1, 4, 2}},
		{name: "window scale above 14 is sent as 14", opts: Options{HasWindowScale: true, WindowScale: 200},
			want: []byte{1, 3, 3, 14}},
		{name: "four SACK blocks", opts: Options{SACKBlocks: blocks},
			want: append([]byte{1, 1, 5, 34}, sackBytes(1, 2, 3, 4, 5, 6, 7, 8)...)},
		{name: "timestamps leave room for three SACK blocks", opts: Options{HasTimestamp: true, SACKBlocks: blocks},
			want: append([]byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5, 26}, sackBytes(1, 2, 3, 4, 5, 6)...)},
		{name: "MSS, timestamps and window scale leave room for two", opts: Options{MSS: 1, HasTimestamp: true, HasWindowScale: true, SACKBlocks: blocks},
			want: append([]byte{2, 4, 0, 1, 1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 0, 1, 1, 5, 18}, sackBytes(1, 2, 3, 4)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Segment{Flags: FlagSYN, Options: tt.opts}
			b := AppendSegment(nil, &s, codecSrc, codecDst)
			assert.Equal(t, HeaderLen+len(tt.want), len(b))
			assert.Equal(t, tt.want, nilIfEmpty(b[HeaderLen:]))
			assert.Equal(t, byte(len(b)/4)<<4, b[12], "data offset counts the options")
			assert.Equal(t, len(b), s.headerLen())
		})
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func TestAppendSegment_AppendsToExisting(t *testing.T) {
	prefix := []byte("IPHDR")
	s := Segment{SrcPort: 1, DstPort: 2, Flags: FlagACK, Payload: []byte("odd")}
	b := AppendSegment(prefix, &s, codecSrc, codecDst)
	assert.Equal(t, "IPHDR", string(b[:5]), "the bytes already in dst are kept")
	assert.True(t, VerifyChecksum(b[5:], codecSrc, codecDst), "the checksum covers only the segment")
}

func TestAppendSegment_NoAllocs(t *testing.T) {
	s := Segment{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagACK | FlagPSH, Window: 5,
		Options: Options{HasTimestamp: true, TSVal: 1, TSEcr: 2, SACKBlocks: []SACKBlock{{1, 2}, {3, 4}}},
		Payload: make([]byte, 1000)}
	buf := make([]byte, 0, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendSegment(buf[:0], &s, codecSrc, codecDst)
	})
	assert.Zero(t, allocs, "AppendSegment must not allocate when dst has room")
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := decodeSegment(linuxSYN); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "decodeSegment allocates only for SACK blocks")
}

// RFC 9293 MUST-2/MUST-3: the checksum covers the pseudo-header, the header and the payload.
func TestSegmentChecksum_MUST2_MUST3(t *testing.T) {
	for _, payload := range []string{"", "a", "hello, world", "odd-length payload"} {
		s := Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK | FlagPSH, Window: 512,
			Options: Options{HasTimestamp: true, TSVal: 5, TSEcr: 6}, Payload: []byte(payload)}
		b := AppendSegment(nil, &s, codecSrc, codecDst)
		require.True(t, VerifyChecksum(b, codecSrc, codecDst), "MUST-2: a built segment verifies")
		for i := range b {
			for _, bit := range []byte{0x01, 0x80} {
				b[i] ^= bit
				assert.False(t, VerifyChecksum(b, codecSrc, codecDst), "MUST-3: flipping bit %#x of octet %d is caught", bit, i)
				b[i] ^= bit
			}
		}
		assert.False(t, VerifyChecksum(b, netip.MustParseAddr("10.9.0.3"), codecDst), "MUST-3: the source address is covered")
		assert.False(t, VerifyChecksum(b, codecSrc, netip.MustParseAddr("10.9.1.2")), "MUST-3: the destination address is covered")
		if len(payload) > 0 {
			assert.False(t, VerifyChecksum(b[:len(b)-1], codecSrc, codecDst), "MUST-3: a truncated segment fails")
		}
	}
	assert.True(t, VerifyChecksum(linuxSYNPacket(), codecSrc, codecDst))
}

func TestSegmentChecksum_MUST2_IPv6AndMappedAddresses(t *testing.T) {
	s := Segment{SrcPort: 1, DstPort: 2, Flags: FlagSYN, Options: Options{MSS: 1440}}
	src6, dst6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	b := AppendSegment(nil, &s, src6, dst6)
	assert.True(t, VerifyChecksum(b, src6, dst6), "IPv6 pseudo-header (RFC 8200 §8.1)")
	assert.False(t, VerifyChecksum(b, codecSrc, codecDst))
	b4 := AppendSegment(nil, &s, codecSrc, codecDst)
	mapped := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	assert.True(t, VerifyChecksum(b4, mapped(codecSrc), mapped(codecDst)), "an IPv4-mapped address is the IPv4 address")
	assert.NotPanics(t, func() { VerifyChecksum(b4, netip.Addr{}, netip.Addr{}) }, "a zero Addr does not panic")
}

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "-"},
		{FlagSYN, "S"},
		{FlagSYN | FlagACK, "S."},
		{FlagACK, "."},
		{FlagPSH | FlagACK, "P."},
		{FlagFIN | FlagACK, "F."},
		{FlagFIN | FlagPSH | FlagACK, "FP."},
		{FlagRST, "R"},
		{FlagRST | FlagACK, "R."},
		{FlagURG | FlagACK, "U."},
		{FlagSYN | FlagECE | FlagCWR, "SEW"},
		{0xff, "SFRPUEW."},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.f.String())
			got, err := parseFlags(tt.want)
			require.NoError(t, err)
			assert.Equal(t, tt.f, got, "parseFlags inverts String")
		})
	}
}

func BenchmarkDecodeSegment(b *testing.B) {
	s := Segment{SrcPort: 1, DstPort: 2, Flags: FlagACK | FlagPSH, Options: Options{HasTimestamp: true, TSVal: 1, TSEcr: 2},
		Payload: make([]byte, 1448)}
	pkt := AppendSegment(nil, &s, codecSrc, codecDst)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, err := decodeSegment(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendSegment(b *testing.B) {
	s := Segment{SrcPort: 1, DstPort: 2, Flags: FlagACK | FlagPSH, Options: Options{HasTimestamp: true, TSVal: 1, TSEcr: 2},
		Payload: make([]byte, 1448)}
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(s.headerLen() + len(s.Payload)))
	for b.Loop() {
		buf = AppendSegment(buf[:0], &s, codecSrc, codecDst)
	}
}

func BenchmarkVerifyChecksum(b *testing.B) {
	s := Segment{SrcPort: 1, DstPort: 2, Flags: FlagACK | FlagPSH, Payload: make([]byte, 1448)}
	pkt := AppendSegment(nil, &s, codecSrc, codecDst)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if !VerifyChecksum(pkt, codecSrc, codecDst) {
			b.Fatal("bad checksum")
		}
	}
}
