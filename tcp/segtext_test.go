package tcp

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSegmentFormat(t *testing.T) {
	linuxSYNOpts := Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWindowScale: true, WindowScale: 7}
	tests := []struct {
		name             string
		seg              Segment
		seqBase, ackBase Seq
		want             string
	}{
		{name: "SYN with Linux's options", seg: Segment{Flags: FlagSYN, Seq: 5000, Window: 65535, Options: linuxSYNOpts},
			seqBase: 5000, want: "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>"},
		{name: "data with a short text payload", seg: Segment{Flags: FlagPSH | FlagACK, Seq: 5001, Ack: 1001, Window: 502, Payload: []byte("hello")},
			seqBase: 5000, ackBase: 1000, want: `P. 1:6(5) ack 1 win 502 "hello"`},
		{name: "pure ACK", seg: Segment{Flags: FlagACK, Seq: 1, Ack: 2, Window: 65535}, want: ". 1:1(0) ack 2 win 65535"},
		{name: "ack is shown only with the ACK flag", seg: Segment{Flags: FlagRST, Seq: 7, Ack: 99}, want: "R 7:7(0) win 0"},
		{name: "urg is shown only with the URG flag", seg: Segment{Flags: FlagURG | FlagACK, Seq: 1, Ack: 1, Urgent: 3, Payload: []byte("abc")},
			want: `U. 1:4(3) ack 1 win 0 urg 3 "abc"`},
		{name: "hidden urgent pointer", seg: Segment{Flags: FlagACK, Urgent: 3}, want: ". 0:0(0) ack 0 win 0"},
		{name: "relative numbers wrap", seg: Segment{Flags: FlagACK, Seq: 2, Ack: 0}, seqBase: 0xFFFFFFFF, ackBase: 1,
			want: ". 3:3(0) ack 4294967295 win 0"},
		{name: "sequence range wraps", seg: Segment{Flags: FlagACK, Seq: 0xFFFFFFFE, Payload: []byte("abcd")},
			want: `. 4294967294:2(4) ack 0 win 0 "abcd"`},
		{name: "SYN and FIN are not counted in the range", seg: Segment{Flags: FlagSYN | FlagFIN, Seq: 10, Payload: []byte("x")},
			want: `SF 10:11(1) win 0 "x"`},
		{name: "control characters are escaped", seg: Segment{Flags: FlagACK, Payload: []byte("GET /\r\n")},
			want: `. 0:7(7) ack 0 win 0 "GET /\r\n"`},
		{name: "a 32-octet payload is shown", seg: Segment{Flags: FlagACK, Payload: []byte(strings.Repeat("a", 32))},
			want: `. 0:32(32) ack 0 win 0 "` + strings.Repeat("a", 32) + `"`},
		{name: "a 33-octet payload is not", seg: Segment{Flags: FlagACK, Payload: []byte(strings.Repeat("a", 33))},
			want: ". 0:33(33) ack 0 win 0"},
		{name: "binary payload is not", seg: Segment{Flags: FlagACK, Payload: []byte{0, 1, 2}}, want: ". 0:3(3) ack 0 win 0"},
		{name: "SACK blocks are relative to ackBase", seg: Segment{Flags: FlagACK, Ack: 1100, Options: Options{
			HasTimestamp: true, TSVal: 1, TSEcr: 2, SACKBlocks: []SACKBlock{{1200, 1300}, {1400, 1500}}}}, ackBase: 1000,
			want: ". 0:0(0) ack 100 win 0 <nop,nop,TS val 1 ecr 2,nop,nop,sack 200:300 400:500>"},
		{name: "sackOK without timestamps", seg: Segment{Flags: FlagSYN, Options: Options{MSS: 536, SACKPermitted: true}},
			want: "S 0:0(0) win 0 <mss 536,nop,nop,sackOK>"},
		{name: "no flags at all", seg: Segment{}, want: "- 0:0(0) win 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.seg.format(tt.seqBase, tt.ackBase))
		})
	}
}

func TestSegmentString_IsAbsolute(t *testing.T) {
	s := Segment{Flags: FlagSYN | FlagACK, Seq: 1000, Ack: 5001, Window: 100}
	assert.Equal(t, "S. 1000:1000(0) ack 5001 win 100", s.String())
	assert.Equal(t, s.format(0, 0), s.String())
}

func TestParsePattern(t *testing.T) {
	tests := []struct {
		text string
		want pattern
	}{
		{text: "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>", want: pattern{
			Segment: Segment{Flags: FlagSYN, Window: 65535, Options: Options{MSS: 1460, SACKPermitted: true,
				HasTimestamp: true, TSVal: 100, HasWindowScale: true, WindowScale: 7}},
			HasWindow: true, HasOptions: true}},
		{text: `P. 1:6(5) ack 1 win 502 "hello"`, want: pattern{
			Segment: Segment{Flags: FlagPSH | FlagACK, Seq: 1, Ack: 1, Window: 502, Payload: []byte("hello")},
			HasAck:  true, HasWindow: true, HasPayload: true}},
		{text: "S. 0:0(0) ack 1 <mss 1460>", want: pattern{
			Segment: Segment{Flags: FlagSYN | FlagACK, Ack: 1, Options: Options{MSS: 1460}}, HasAck: true, HasOptions: true}},
		{text: ". 1:1001(1000) ack 1", want: pattern{
			Segment: Segment{Flags: FlagACK, Seq: 1, Ack: 1, Payload: make([]byte, 1000)}, HasAck: true}},
		{text: "R 7:7(0)", want: pattern{Segment: Segment{Flags: FlagRST, Seq: 7}}},
		{text: "  F.   2:2(0)\tack 2   win 10  ", want: pattern{Segment: Segment{Flags: FlagFIN | FlagACK, Seq: 2, Ack: 2, Window: 10},
			HasAck: true, HasWindow: true}},
		{text: `.P 1:3(2) "\x00\xff" win 3 ack 4`, want: pattern{
			Segment: Segment{Flags: FlagPSH | FlagACK, Seq: 1, Ack: 4, Window: 3, Payload: []byte{0, 0xff}},
			HasAck:  true, HasWindow: true, HasPayload: true}},
		{text: "U. 0:1(1) ack 0 urg 1", want: pattern{Segment: Segment{Flags: FlagURG | FlagACK, Urgent: 1, Payload: []byte{0}},
			HasAck: true, HasUrgent: true}},
		{text: ". 0:0(0) <>", want: pattern{Segment: Segment{Flags: FlagACK}, HasOptions: true}},
		{text: ". 0:0(0) ack 5 <nop,nop,sack 10:20 30:40 50:60 70:80>", want: pattern{Segment: Segment{Flags: FlagACK, Ack: 5,
			Options: Options{SACKBlocks: []SACKBlock{{10, 20}, {30, 40}, {50, 60}, {70, 80}}}}, HasAck: true, HasOptions: true}},
		{text: "S 0:0(0) <wscale 14,eol>", want: pattern{Segment: Segment{Flags: FlagSYN,
			Options: Options{HasWindowScale: true, WindowScale: 14}}, HasOptions: true}},
		{text: ". 4294967295:9(10)", want: pattern{Segment: Segment{Flags: FlagACK, Seq: 4294967295, Payload: make([]byte, 10)}}},
		{text: `. 0:0(0) ""`, want: pattern{Segment: Segment{Flags: FlagACK}, HasPayload: true}},
		{text: "- 0:0(0)", want: pattern{}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := parsePattern(tt.text)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			seg, err := parseSegment(tt.text)
			require.NoError(t, err)
			assert.Equal(t, tt.want.Segment, seg, "parseSegment is parsePattern's Segment")
		})
	}
}

// Malformed text gives an error that wraps errSyntax and quotes the offending token.
func TestParsePattern_Errors(t *testing.T) {
	tests := []struct {
		text, wantToken string
	}{
		{text: "", wantToken: `""`},
		{text: "   ", wantToken: `"   "`},
		{text: "SX 0:0(0)", wantToken: `"SX"`},
		{text: "SS 0:0(0)", wantToken: `"SS"`},
		{text: "S", wantToken: `""`},
		{text: "S 0:0", wantToken: `"0:0"`},
		{text: "S 0-0(0)", wantToken: `"0-0(0)"`},
		{text: "S 0:0(x)", wantToken: `"0:0(x)"`},
		{text: "S 1:5(3)", wantToken: `"1:5(3)"`},
		{text: "S 0:4294967296(0)", wantToken: `"0:4294967296(0)"`},
		{text: ". 0:70000(70000)", wantToken: `"0:70000(70000)"`},
		{text: ". 0:0(0) ack", wantToken: `""`},
		{text: ". 0:0(0) ack -1", wantToken: `"-1"`},
		{text: ". 0:0(0) win 65536", wantToken: `"65536"`},
		{text: ". 0:0(0) urg 1", wantToken: `"."`},
		{text: "S 0:0(0) ack 1", wantToken: `"S"`},
		{text: ". 0:0(0) ack 1 ack 2", wantToken: `"ack"`},
		{text: ". 0:0(0) wnd 5", wantToken: `"wnd"`},
		{text: ". 0:0(0) <mss 1460", wantToken: `"<mss 1460"`},
		{text: ". 0:0(0) <mss>", wantToken: `"mss"`},
		{text: ". 0:0(0) <mss 0>", wantToken: `"mss 0"`},
		{text: ". 0:0(0) <mss 70000>", wantToken: `"70000"`},
		{text: ". 0:0(0) <wscale 256>", wantToken: `"wscale 256"`},
		{text: ". 0:0(0) <TS val 1>", wantToken: `"TS val 1"`},
		{text: ". 0:0(0) <TS val x ecr 1>", wantToken: `"x"`},
		{text: ". 0:0(0) <sack 1-2>", wantToken: `"1-2"`},
		{text: ". 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>", wantToken: `"sack 1:2 3:4 5:6 7:8 9:10"`},
		{text: ". 0:0(0) <mss 1,mss 2>", wantToken: `"mss 2"`},
		{text: ". 0:0(0) <mss 1,,nop>", wantToken: `"mss 1,,nop"`},
		{text: ". 0:0(0) <md5>", wantToken: `"md5"`},
		{text: ". 0:0(0) <> <>", wantToken: `"<>"`},
		{text: `. 0:3(3) "ab`, wantToken: `"\"ab"`},
		{text: `. 0:3(3) "ab"`, wantToken: `"0:3(3)"`},
		{text: `. 0:2(2) "ab" "cd"`, wantToken: `"\"cd\""`},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := parsePattern(tt.text)
			require.Error(t, err)
			assert.ErrorIs(t, err, errSyntax)
			assert.Contains(t, err.Error(), tt.wantToken, "the error names the offending token")
		})
	}
}

// textNormal is what parseSegment gives back for s.String(): values of absent options zero and nil for empty slices.
func textNormal(s Segment) Segment {
	o := &s.Options
	if !o.HasWindowScale {
		o.WindowScale = 0
	}
	if !o.HasTimestamp {
		o.TSVal, o.TSEcr = 0, 0
	}
	if len(o.SACKBlocks) == 0 {
		o.SACKBlocks = nil
	}
	if len(s.Payload) == 0 {
		s.Payload = nil
	}
	return s
}

// parseSegment and Segment.String are inverses: the scripts and the failure messages share one notation.
func TestParseSegment_RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		s := randCodecSegment(r, true)
		text := s.String()
		got, err := parseSegment(text)
		require.NoError(t, err, "segment %d: %s", i, text)
		require.Equal(t, textNormal(s), got, "segment %d: %s", i, text)

		// Relative form: Format with bases, parse, and Match against the original.
		seqBase, ackBase := Seq(r.Uint32()), Seq(r.Uint32())
		rel := s.format(seqBase, ackBase)
		p, err := parsePattern(rel)
		require.NoError(t, err, "segment %d: %s", i, rel)
		require.NoError(t, p.Match(&s, seqBase, ackBase), "segment %d: a segment matches its own text", i)
		require.Equal(t, rel, p.String(), "pattern.String of a full pattern is Format")
	}
}

func TestPatternMatch(t *testing.T) {
	synAck := Segment{Flags: FlagSYN | FlagACK, Seq: 1000, Ack: 5001, Window: 65535,
		Options: Options{MSS: 1460, SACKPermitted: true, HasWindowScale: true, WindowScale: 7}}
	data := Segment{Flags: FlagPSH | FlagACK, Seq: 1001, Ack: 5001, Window: 502, Payload: []byte("hello")}
	sack := Segment{Flags: FlagACK, Seq: 1001, Ack: 5001, Options: Options{SACKBlocks: []SACKBlock{{5101, 5201}}}}
	tests := []struct {
		name    string
		pattern string
		got     Segment
		wantErr string // empty: match
	}{
		{name: "fields not written are not compared", pattern: "S. 0:0(0) ack 1", got: synAck},
		{name: "full match", pattern: "S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 7>", got: synAck},
		{name: "nops do not matter", pattern: "S. 0:0(0) <sackOK,wscale 7,mss 1460>", got: synAck},
		{name: "wrong ack", pattern: "S. 0:0(0) ack 2", got: synAck,
			wantErr: `ack differs: got "S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 7>", want "S. 0:0(0) ack 2"`},
		{name: "wrong flags", pattern: "S 0:0(0)", got: synAck, wantErr: `flags differs`},
		{name: "wrong seq", pattern: "S. 1:1(0)", got: synAck, wantErr: `seq differs`},
		{name: "wrong window", pattern: "S. 0:0(0) win 1", got: synAck, wantErr: `win differs`},
		{name: "missing option", pattern: "S. 0:0(0) <mss 1460>", got: synAck, wantErr: `options differs`},
		{name: "wrong wscale", pattern: "S. 0:0(0) <mss 1460,sackOK,wscale 8>", got: synAck, wantErr: `options differs`},
		{name: "empty list wants no options", pattern: "S. 0:0(0) <>", got: synAck, wantErr: `options differs`},
		{name: "data", pattern: `P. 1:6(5) ack 1 win 502 "hello"`, got: data},
		{name: "length only", pattern: `P. 1:6(5) ack 1`, got: data},
		{name: "wrong length", pattern: `P. 1:5(4) ack 1`, got: data, wantErr: `len differs`},
		{name: "wrong payload", pattern: `P. 1:6(5) "hellp"`, got: data, wantErr: `payload differs: got "hello", want "hellp"`},
		{name: "SACK blocks relative to the ack base", pattern: ". 1:1(0) ack 1 <nop,nop,sack 101:201>", got: sack},
		{name: "wrong SACK block", pattern: ". 1:1(0) ack 1 <sack 100:201>", got: sack, wantErr: `options differs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePattern(tt.pattern)
			require.NoError(t, err)
			err = p.Match(&tt.got, 1000, 5000)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, errMismatch)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestPatternMatch_Timestamps(t *testing.T) {
	got := Segment{Flags: FlagACK, Options: Options{HasTimestamp: true, TSVal: 10, TSEcr: 20}}
	p, err := parsePattern(". 0:0(0) <nop,nop,TS val 10 ecr 20>")
	require.NoError(t, err)
	assert.NoError(t, p.Match(&got, 0, 0))
	p, err = parsePattern(". 0:0(0) <TS val 10 ecr 21>")
	require.NoError(t, err)
	assert.ErrorIs(t, p.Match(&got, 0, 0), errMismatch, "timestamps are compared when given")
}

func TestPatternString(t *testing.T) {
	for _, text := range []string{
		"S. 0:0(0) ack 1",
		". 1:1001(1000) ack 1 win 5",
		`P. 1:3(2) "\x00\xff"`,
		"U. 0:0(0) urg 3",
		". 0:0(0) <>",
		"S 0:0(0) <mss 1460,nop,wscale 7>",
	} {
		p, err := parsePattern(text)
		require.NoError(t, err)
		assert.Equal(t, text, p.String(), "a pattern prints the fields it was given")
	}
}
