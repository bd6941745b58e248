package tcp

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodeSeeds are wire segments for FuzzDecodeSegment: what Linux sends, every option, and the malformed cases.
func decodeSeeds() [][]byte {
	ts := []byte{8, 10, 0x00, 0x01, 0xe2, 0x40, 0x9c, 0x3f, 0x11, 0x55}
	withTS := func(flags Flags, payload string, more ...byte) []byte {
		opts := append(append([]byte{1, 1}, ts...), more...)
		b := make([]byte, HeaderLen, 64)
		copy(b, linuxSYN[:HeaderLen])
		b[12] = byte((HeaderLen+len(opts))/4) << 4
		b[13] = byte(flags)
		b = append(append(b, opts...), payload...)
		binary.BigEndian.PutUint16(b[16:], 0)
		binary.BigEndian.PutUint16(b[16:], checksumFor(b))
		return b
	}
	synAck := linuxSYNPacket()
	synAck[13] = byte(FlagSYN | FlagACK)
	binary.BigEndian.PutUint32(synAck[8:], 0x11223345)
	short := linuxSYNPacket()
	short[12] = 0x50
	return [][]byte{
		linuxSYNPacket(), // a real Linux SYN: mss, sackOK, TS, nop, wscale
		synAck,
		short[:HeaderLen], // bare header
		withTS(FlagACK, ""),
		withTS(FlagPSH|FlagACK, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		withTS(FlagFIN|FlagACK, ""),
		withTS(FlagACK, "", append([]byte{1, 1, 5, 26}, sackBytes(1, 2, 3, 4, 5, 6)...)...), // three SACK blocks
		withTS(FlagACK, "", append([]byte{1, 1, 5, 18}, sackBytes(10, 20, 30, 40)...)...),   // two
		withTS(FlagRST, "", 1, 3, 3, 15),                                                    // wscale 15, read as 14
		withTS(FlagACK, "", 254, 6, 0xf9, 0x89, 0, 0),                                       // unknown option
		withTS(FlagACK, "", 2, 0, 0, 0),                                                     // MUST-7 length 0
		withTS(FlagACK, "", 1, 1, 1, 8),                                                     // MUST-68 no length octet
		withTS(FlagACK, "", 8, 10, 0, 0),                                                    // option past the header
		withTS(FlagACK, "", 2, 3, 0, 0),                                                     // MSS of length 3
		linuxSYN[:19],                                                                       // truncated
	}
}

// FuzzDecodeSegment checks that decodeSegment never panics, fails only with its
// sentinels, and that what it decodes survives AppendSegment and a second decode.
//
// What a re-encoding preserves: ports, SEG.SEQ, SEG.ACK, the eight flags,
// window, urgent pointer, payload, MSS, window scale (already capped at 14),
// SACK-permitted, timestamps, and the SACK blocks that fit next to the other
// options in 40 octets. What it loses: the reserved/AE bits, the checksum,
// unknown options, the NOP/EOL layout, an MSS of 0 (read as absent anyway),
// and SACK options before the last one.
func FuzzDecodeSegment(f *testing.F) {
	for _, b := range decodeSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSegment(b)
		if err != nil {
			require.True(t, errors.Is(err, ErrTruncated) || errors.Is(err, ErrDataOffset) ||
				errors.Is(err, ErrOptionLength) || errors.Is(err, ErrOptionTruncated), "unexpected error %v", err)
			require.Equal(t, Segment{}, s)
			return
		}
		require.LessOrEqual(t, len(s.Options.SACKBlocks), maxSACKBlocks)
		require.LessOrEqual(t, s.Options.WindowScale, uint8(maxWindowScale))

		out := AppendSegment(nil, &s, codecSrc, codecDst)
		require.True(t, VerifyChecksum(out, codecSrc, codecDst), "MUST-2")
		got, err := decodeSegment(out)
		require.NoError(t, err)
		require.Equal(t, wireNormal(s), got)

		// The text form of any decoded segment parses and matches it.
		if len(s.Payload) <= maxTextPayload {
			text := s.format(s.Seq, s.Ack)
			p, err := parsePattern(text)
			require.NoError(t, err, text)
			require.NoError(t, p.Match(&s, s.Seq, s.Ack), text)
		}
	})
}

// FuzzSegmentRoundTrip builds a Segment from fuzzed fields and checks that
// decodeSegment(AppendSegment(s)) and parseSegment(s.String()) give it back,
// up to what each form carries (see wireNormal and textExpect).
func FuzzSegmentRoundTrip(f *testing.F) {
	f.Add(uint16(47180), uint16(80), uint32(0x5d2e6a01), uint32(0), uint8(FlagSYN), uint16(64240), uint16(0),
		uint16(1460), uint8(7), uint8(7), uint32(2621378901), uint32(0), []byte(nil), []byte(nil))
	f.Add(uint16(80), uint16(47180), uint32(1), uint32(2), uint8(FlagPSH|FlagACK), uint16(502), uint16(0),
		uint16(0), uint8(0), uint8(4), uint32(5), uint32(6), sackBytes(100, 200, 300, 400), []byte("hello"))
	f.Add(uint16(1), uint16(2), uint32(0xffffffff), uint32(0xfffffff0), uint8(0xff), uint16(0xffff), uint16(0xffff),
		uint16(0xffff), uint8(255), uint8(0xff), uint32(0xffffffff), uint32(0xffffffff), make([]byte, 40), make([]byte, 100))
	f.Fuzz(func(t *testing.T, srcPort, dstPort uint16, seq, ack uint32, flags uint8, window, urgent uint16,
		mss uint16, wscale, optBits uint8, tsVal, tsEcr uint32, sack, payload []byte) {
		if len(payload) > 2000 {
			payload = payload[:2000] // longer payloads take no new path and slow minimization down
		}
		s := Segment{
			SrcPort: srcPort, DstPort: dstPort, Seq: Seq(seq), Ack: Seq(ack), Flags: Flags(flags),
			Window: window, Urgent: urgent, Payload: payload,
			Options: Options{
				MSS:            mss,
				HasWindowScale: optBits&1 != 0, WindowScale: wscale,
				SACKPermitted: optBits&2 != 0,
				HasTimestamp:  optBits&4 != 0, TSVal: tsVal, TSEcr: tsEcr,
			},
		}
		for i := 0; i+8 <= len(sack) && len(s.Options.SACKBlocks) < maxSACKBlocks; i += 8 {
			s.Options.SACKBlocks = append(s.Options.SACKBlocks, SACKBlock{
				Seq(binary.BigEndian.Uint32(sack[i:])), Seq(binary.BigEndian.Uint32(sack[i+4:]))})
		}

		b := AppendSegment(nil, &s, codecSrc, codecDst)
		require.Equal(t, s.headerLen()+len(payload), len(b))
		require.True(t, VerifyChecksum(b, codecSrc, codecDst), "MUST-2")
		got, err := decodeSegment(b)
		require.NoError(t, err)
		require.Equal(t, wireNormal(s), got)

		if len(payload) <= maxTextPayload {
			text := s.String()
			seg, err := parseSegment(text)
			require.NoError(t, err, text)
			require.Equal(t, textExpect(s), seg, text)
		}
	})
}

// textExpect is what parseSegment(s.String()) gives: no ports, ack only with
// ACK, urgent only with URG, and a payload that is shown only when short
// printable text (else as many zero octets).
func textExpect(s Segment) Segment {
	s.SrcPort, s.DstPort = 0, 0
	if !s.Flags.Has(FlagACK) {
		s.Ack = 0
	}
	if !s.Flags.Has(FlagURG) {
		s.Urgent = 0
	}
	if n := len(s.Payload); n > maxQuotedPayload || !printableText(s.Payload) {
		s.Payload = make([]byte, n)
	}
	return textNormal(s)
}

// FuzzParsePattern checks that the text parser never panics, fails only with
// errSyntax, and that a parsed pattern prints back to text that parses to the
// same pattern and matches its own segment.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>",
		`P. 1:6(5) ack 1 win 502 "hello"`,
		". 1:1(0) ack 2 win 65535",
		"S. 0:0(0) ack 1 <mss 1460>",
		"F. 1:1(0) ack 1 win 65535",
		"R 7:7(0)",
		". 1:1001(1000) ack 1",
		". 0:0(0) ack 5 <nop,nop,sack 10:20 30:40 50:60 70:80>",
		`U. 0:3(3) ack 0 urg 1 "\x00\xff\n"`,
		". 4294967295:9(10) <>",
		"- 0:0(0) <eol>",
		". 0:0(0) <mss 1,mss 2>",
		`. 0:3(3) "ab`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := parsePattern(text)
		if err != nil {
			require.ErrorIs(t, err, errSyntax)
			return
		}
		require.LessOrEqual(t, len(p.Payload), maxTextPayload)
		again, err := parsePattern(p.String())
		require.NoError(t, err, p.String())
		require.Equal(t, p, again, p.String())
		require.NoError(t, p.Match(&p.Segment, 0, 0), "a pattern matches its own segment")
	})
}
