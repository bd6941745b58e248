package tcp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The text notation is packetdrill's, used by the packet scripts and in test failures:
//
//	[ECN] FLAGS START:END(LEN) [ack N] [win N] [urg N] [<OPTION,...>] ["payload"]
//
// ECN is the IP header's ECN codepoint, as packetdrill writes it: [ect0],
// [ect1] or [ce]; [noecn], or nothing, is Not-ECT. A pattern always
// compares it, like the flags.
// FLAGS are the letters of Flags.String. START:END(LEN) is the sequence range
// of the payload (SYN and FIN are not counted, as in packetdrill). Options are
// mss N, wscale N, sackOK, TS val N ecr N, sack L:R ..., nop and eol.

// maxTextPayload bounds the (len) a text segment may give: the largest IPv4 datagram.
const maxTextPayload = 65535

// maxQuotedPayload is the longest payload Format shows as text.
const maxQuotedPayload = 32

// errSyntax is wrapped by the errors of parsePattern and parseSegment.
var errSyntax = errors.New("tcp: bad segment text")

// errMismatch is wrapped by the errors of pattern.Match.
var errMismatch = errors.New("tcp: segment mismatch")

// String returns the segment in packetdrill notation with absolute numbers: Format(0, 0).
func (s *Segment) String() string { return s.format(0, 0) }

// Format returns the segment in packetdrill notation, for example
// `P. 1:6(5) ack 1 win 502 "hello"`. SEG.SEQ is printed relative to seqBase,
// SEG.ACK and SACK blocks relative to ackBase. "ack N" appears only when ACK
// is set, "urg N" only when URG is set, and the payload only when it is
// printable text of at most 32 octets.
func (s *Segment) format(seqBase, ackBase Seq) string {
	var buf [160]byte
	f := textFields{ack: s.Flags.Has(FlagACK), win: true, urg: s.Flags.Has(FlagURG), opts: s.Options.hasAny()}
	if n := len(s.Payload); n > 0 && n <= maxQuotedPayload && printableText(s.Payload) {
		f.payload = true
	}
	return string(appendText(buf[:0], s, seqBase, ackBase, f))
}

// pattern is a segment parsed from text, with flags telling which optional
// fields the text gave. Flags, SEG.SEQ and the payload length are always given.
// Numbers are as written, relative to the bases passed to Match.
type pattern struct {
	Segment
	HasAck, HasWindow, HasUrgent, HasOptions, HasPayload bool
}

// String returns the pattern in the notation it was parsed from, with only the given fields.
func (p *pattern) String() string {
	var buf [160]byte
	f := textFields{ack: p.HasAck, win: p.HasWindow, urg: p.HasUrgent, opts: p.HasOptions, payload: p.HasPayload}
	return string(appendText(buf[:0], &p.Segment, 0, 0, f))
}

// Match returns nil if got has every field the pattern gives, reading the
// pattern's sequence and acknowledgment numbers relative to seqBase and
// ackBase. Otherwise the error wraps errMismatch, names the first field that
// differs and shows both segments, e.g.
// `ack differs: got "S. 0:0(0) ack 1 win 65535", want "S. 0:0(0) ack 2"`.
func (p *pattern) Match(got *Segment, seqBase, ackBase Seq) error {
	var field string
	switch {
	case got.ECN != p.ECN:
		field = "ECN codepoint"
	case got.Flags != p.Flags:
		field = "flags"
	case got.Seq-seqBase != p.Seq:
		field = "seq"
	case len(got.Payload) != len(p.Payload):
		field = "len"
	case p.HasAck && got.Ack-ackBase != p.Ack:
		field = "ack"
	case p.HasWindow && got.Window != p.Window:
		field = "win"
	case p.HasUrgent && got.Urgent != p.Urgent:
		field = "urg"
	case p.HasOptions && !optionsMatch(&got.Options, &p.Options, ackBase):
		field = "options"
	case p.HasPayload && !bytes.Equal(got.Payload, p.Payload):
		return fmt.Errorf("%w: payload differs: got %q, want %q", errMismatch, got.Payload, p.Payload)
	default:
		return nil
	}
	return fmt.Errorf("%w: %s differs: got %q, want %q", errMismatch, field, got.format(seqBase, ackBase), p.String())
}

// optionsMatch reports whether got equals want, with got's SACK blocks taken relative to ackBase.
func optionsMatch(got, want *Options, ackBase Seq) bool {
	if got.MSS != want.MSS || got.HasWindowScale != want.HasWindowScale ||
		got.SACKPermitted != want.SACKPermitted || got.HasTimestamp != want.HasTimestamp ||
		len(got.SACKBlocks) != len(want.SACKBlocks) {
		return false
	}
	if got.HasWindowScale && got.WindowScale != want.WindowScale {
		return false
	}
	if got.HasTimestamp && (got.TSVal != want.TSVal || got.TSEcr != want.TSEcr) {
		return false
	}
	for i, b := range got.SACKBlocks {
		if b.Left-ackBase != want.SACKBlocks[i].Left || b.Right-ackBase != want.SACKBlocks[i].Right {
			return false
		}
	}
	return true
}

// parseSegment parses a segment in packetdrill notation; fields not written are zero.
func parseSegment(text string) (Segment, error) {
	p, err := parsePattern(text)
	return p.Segment, err
}

// parsePattern parses a segment in packetdrill notation (see Segment.Format).
// Fields not written are zero with their Has flag false. Without a quoted
// payload, the payload is (len) zero octets. Errors wrap errSyntax and quote
// the offending token.
func parsePattern(text string) (pattern, error) {
	var p pattern
	sc := textScanner{s: text}
	flagsTok := sc.word()
	if strings.HasPrefix(flagsTok, "[") {
		e, ok := parseECN(flagsTok)
		if !ok {
			return pattern{}, syntaxError("unknown ECN codepoint (want [noecn], [ect0], [ect1] or [ce])", flagsTok)
		}
		p.ECN = e
		flagsTok = sc.word()
	}
	if flagsTok == "" {
		return pattern{}, syntaxError("missing flags", text)
	}
	f, err := parseFlags(flagsTok)
	if err != nil {
		return pattern{}, err
	}
	p.Flags = f
	rangeTok := sc.word()
	seq, n, err := parseRange(rangeTok)
	if err != nil {
		return pattern{}, err
	}
	p.Seq = Seq(seq)
	var payload string
	for {
		sc.skipSpace()
		if sc.done() {
			break
		}
		switch sc.peek() {
		case '<':
			if p.HasOptions {
				return pattern{}, syntaxError("second option list", sc.rest())
			}
			end := strings.IndexByte(sc.rest(), '>')
			if end < 0 {
				return pattern{}, syntaxError("option list without '>'", sc.rest())
			}
			list := sc.take(end + 1)
			if err := parseOptions(&p.Options, list[1:end]); err != nil {
				return pattern{}, err
			}
			p.HasOptions = true
			continue
		case '"':
			if p.HasPayload {
				return pattern{}, syntaxError("second payload", sc.rest())
			}
			q, err := strconv.QuotedPrefix(sc.rest())
			if err != nil {
				return pattern{}, syntaxError("bad quoted payload", sc.rest())
			}
			sc.take(len(q))
			payload, _ = strconv.Unquote(q) // QuotedPrefix accepted q, so it unquotes
			p.HasPayload = true
			continue
		}
		key := sc.word()
		val := sc.word()
		var dup bool
		switch key {
		case "ack":
			var v uint32
			v, err = parseUint32(val, key)
			p.Ack, dup, p.HasAck = Seq(v), p.HasAck, true
		case "win":
			p.Window, err = parseUint16(val, key)
			dup, p.HasWindow = p.HasWindow, true
		case "urg":
			p.Urgent, err = parseUint16(val, key)
			dup, p.HasUrgent = p.HasUrgent, true
		default:
			return pattern{}, syntaxError("unknown field", key)
		}
		if err != nil {
			return pattern{}, err
		}
		if dup {
			return pattern{}, syntaxError("field given twice", key)
		}
	}
	if p.HasAck && !p.Flags.Has(FlagACK) {
		return pattern{}, syntaxError("ack without the '.' flag", flagsTok)
	}
	if p.HasUrgent && !p.Flags.Has(FlagURG) {
		return pattern{}, syntaxError("urg without the 'U' flag", flagsTok)
	}
	switch {
	case p.HasPayload && len(payload) != int(n):
		return pattern{}, syntaxError(fmt.Sprintf("payload of %d octets in a range of %d", len(payload), n), rangeTok)
	case p.HasPayload && n > 0:
		p.Payload = []byte(payload)
	case n > 0:
		p.Payload = make([]byte, n)
	}
	return p, nil
}

// ecnNames are the notation's ECN codepoints, packetdrill's.
var ecnNames = [...]string{ecnNotECT: "[noecn]", ecnECT1: "[ect1]", ecnECT0: "[ect0]", ecnCE: "[ce]"}

func parseECN(tok string) (uint8, bool) {
	for e, name := range ecnNames {
		if tok == name {
			return uint8(e), true
		}
	}
	return 0, false
}

func syntaxError(what, token string) error {
	return fmt.Errorf("%w: %s: %q", errSyntax, what, token)
}

// parseFlags parses the flags token: letters of S F R P U E W and '.', in any order, or "-" for none.
func parseFlags(tok string) (Flags, error) {
	if tok == "-" {
		return 0, nil
	}
	var f Flags
	for i := 0; i < len(tok); i++ {
		var bit Flags
		if tok[i] == '.' {
			bit = FlagACK
		}
		for _, l := range flagLetters {
			if tok[i] == l.c {
				bit = l.f
			}
		}
		if bit == 0 {
			return 0, syntaxError(fmt.Sprintf("unknown flag %q", tok[i]), tok)
		}
		if f.Has(bit) {
			return 0, syntaxError(fmt.Sprintf("flag %q given twice", tok[i]), tok)
		}
		f |= bit
	}
	return f, nil
}

// parseRange parses START:END(LEN) and checks that END-START is LEN.
func parseRange(tok string) (start, n uint32, err error) {
	colon := strings.IndexByte(tok, ':')
	open := strings.IndexByte(tok, '(')
	if colon < 0 || open < colon || !strings.HasSuffix(tok, ")") {
		return 0, 0, syntaxError("want START:END(LEN)", tok)
	}
	first, err1 := strconv.ParseUint(tok[:colon], 10, 32)
	end, err2 := strconv.ParseUint(tok[colon+1:open], 10, 32)
	length, err3 := strconv.ParseUint(tok[open+1:len(tok)-1], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, syntaxError("want START:END(LEN)", tok)
	}
	if length > maxTextPayload {
		return 0, 0, syntaxError(fmt.Sprintf("length above %d", maxTextPayload), tok)
	}
	if uint32(end)-uint32(first) != uint32(length) {
		return 0, 0, syntaxError("END-START is not LEN", tok)
	}
	return uint32(first), uint32(length), nil
}

// parseOptions parses the comma-separated option list between '<' and '>'.
func parseOptions(o *Options, list string) error {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	var seen [optTimestamp + 1]bool
	for item := range strings.SplitSeq(list, ",") {
		f := strings.Fields(item)
		if len(f) == 0 {
			return syntaxError("empty option", list)
		}
		var kind int
		var err error
		switch {
		case f[0] == "nop" && len(f) == 1, f[0] == "eol" && len(f) == 1:
			continue
		case f[0] == "mss" && len(f) == 2:
			kind = optMSS
			o.MSS, err = parseUint16(f[1], "mss")
			if err == nil && o.MSS == 0 {
				err = syntaxError("mss 0 (an absent MSS)", item)
			}
		case f[0] == "wscale" && len(f) == 2:
			kind = optWScale
			var v uint16
			v, err = parseUint16(f[1], "wscale")
			if err == nil && v > 255 {
				err = syntaxError("wscale above 255", item)
			}
			o.WindowScale, o.HasWindowScale = uint8(v), true
		case f[0] == "sackOK" && len(f) == 1:
			kind = optSACKOK
			o.SACKPermitted = true
		case f[0] == "TS" && len(f) == 5 && f[1] == "val" && f[3] == "ecr":
			kind = optTimestamp
			o.HasTimestamp = true
			o.TSVal, err = parseUint32(f[2], "TS val")
			if err == nil {
				o.TSEcr, err = parseUint32(f[4], "TS ecr")
			}
		case f[0] == "sack" && len(f) >= 2 && len(f) <= 1+maxSACKBlocks:
			kind = optSACK
			o.SACKBlocks = make([]SACKBlock, 0, len(f)-1)
			for _, blk := range f[1:] {
				l, r, ok := strings.Cut(blk, ":")
				lv, err1 := strconv.ParseUint(l, 10, 32)
				rv, err2 := strconv.ParseUint(r, 10, 32)
				if !ok || err1 != nil || err2 != nil {
					return syntaxError("want sack L:R", blk)
				}
				o.SACKBlocks = append(o.SACKBlocks, SACKBlock{Left: Seq(lv), Right: Seq(rv)})
			}
		default:
			return syntaxError("unknown or malformed option", strings.TrimSpace(item))
		}
		if err != nil {
			return err
		}
		if seen[kind] {
			return syntaxError("option given twice", strings.TrimSpace(item))
		}
		seen[kind] = true
	}
	return nil
}

func parseUint32(tok, field string) (uint32, error) {
	if tok == "" {
		return 0, syntaxError("missing number for "+field, tok)
	}
	v, err := strconv.ParseUint(tok, 10, 32)
	if err != nil {
		return 0, syntaxError("bad number for "+field, tok)
	}
	return uint32(v), nil
}

func parseUint16(tok, field string) (uint16, error) {
	if tok == "" {
		return 0, syntaxError("missing number for "+field, tok)
	}
	v, err := strconv.ParseUint(tok, 10, 16)
	if err != nil {
		return 0, syntaxError("bad number for "+field, tok)
	}
	return uint16(v), nil
}

// textScanner splits segment text into words, quoted strings and option lists.
type textScanner struct {
	s   string
	pos int
}

func (sc *textScanner) done() bool   { return sc.pos >= len(sc.s) }
func (sc *textScanner) peek() byte   { return sc.s[sc.pos] }
func (sc *textScanner) rest() string { return sc.s[sc.pos:] }

func (sc *textScanner) take(n int) string {
	t := sc.s[sc.pos : sc.pos+n]
	sc.pos += n
	return t
}

func (sc *textScanner) skipSpace() {
	for !sc.done() && isTextSpace(sc.peek()) {
		sc.pos++
	}
}

// word returns the next run of characters up to white space, '<' or '"'.
func (sc *textScanner) word() string {
	sc.skipSpace()
	start := sc.pos
	for !sc.done() && !isTextSpace(sc.peek()) && sc.peek() != '<' && sc.peek() != '"' {
		sc.pos++
	}
	return sc.s[start:sc.pos]
}

func isTextSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// textFields selects the optional fields appendText writes.
type textFields struct {
	ack, win, urg, opts, payload bool
}

// appendText writes s in the notation, with the fields f selects.
func appendText(b []byte, s *Segment, seqBase, ackBase Seq, f textFields) []byte {
	if e := s.ECN & ecnMask; e != ecnNotECT {
		b = append(b, ecnNames[e]...)
		b = append(b, ' ')
	}
	b = s.Flags.appendText(b)
	start := uint32(s.Seq - seqBase)
	n := uint32(len(s.Payload))
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(start), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(start+n), 10)
	b = append(b, '(')
	b = strconv.AppendUint(b, uint64(n), 10)
	b = append(b, ')')
	if s.GSOSize > 0 {
		b = append(b, " tso "...) // sent as one packet the link cuts into pieces of this size
		b = strconv.AppendUint(b, uint64(s.GSOSize), 10)
	}
	if f.ack {
		b = append(b, " ack "...)
		b = strconv.AppendUint(b, uint64(uint32(s.Ack-ackBase)), 10)
	}
	if f.win {
		b = append(b, " win "...)
		b = strconv.AppendUint(b, uint64(s.Window), 10)
	}
	if f.urg {
		b = append(b, " urg "...)
		b = strconv.AppendUint(b, uint64(s.Urgent), 10)
	}
	if f.opts {
		b = append(b, " <"...)
		b = appendOptionsText(b, &s.Options, ackBase)
		b = append(b, '>')
	}
	if f.payload {
		b = append(b, ' ')
		b = strconv.AppendQuoteToASCII(b, string(s.Payload))
	}
	return b
}

// hasAny reports whether o holds any option.
func (o *Options) hasAny() bool {
	return o.MSS != 0 || o.HasWindowScale || o.SACKPermitted || o.HasTimestamp || len(o.SACKBlocks) > 0
}

// appendOptionsText writes o as AppendSegment lays it out on the wire, NOPs included
// (all SACK blocks are shown, even those that would not fit in 40 octets).
func appendOptionsText(b []byte, o *Options, ackBase Seq) []byte {
	first := true
	item := func(s string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, s...)
	}
	if o.MSS != 0 {
		item("mss ")
		b = strconv.AppendUint(b, uint64(o.MSS), 10)
	}
	if o.HasTimestamp {
		if o.SACKPermitted {
			item("sackOK")
		} else {
			item("nop")
			item("nop")
		}
		item("TS val ")
		b = strconv.AppendUint(b, uint64(o.TSVal), 10)
		b = append(b, " ecr "...)
		b = strconv.AppendUint(b, uint64(o.TSEcr), 10)
	} else if o.SACKPermitted {
		item("nop")
		item("nop")
		item("sackOK")
	}
	if o.HasWindowScale {
		item("nop")
		item("wscale ")
		b = strconv.AppendUint(b, uint64(o.WindowScale), 10)
	}
	if len(o.SACKBlocks) > 0 {
		item("nop")
		item("nop")
		item("sack")
		for _, blk := range o.SACKBlocks {
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(uint32(blk.Left-ackBase)), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(uint32(blk.Right-ackBase)), 10)
		}
	}
	return b
}

// printableText reports whether p is text worth showing: printable ASCII, tab, CR and LF.
func printableText(p []byte) bool {
	for _, c := range p {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
