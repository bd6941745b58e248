package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/utcp/utcp/tcp"
)

// Bounds of what explain reads, so that a hostile file costs bounded memory.
const (
	explainMaxSegments = 1 << 18 // segments kept, over all conversations
	explainMaxConvs    = 1 << 14 // conversations kept
)

// explainZeros stands for every captured payload: the ladder needs only its
// length (the largest an IP packet can carry).
var explainZeros = make([]byte, 1<<16)

// capture is what explain found in a pcap or pcapng file.
type capture struct {
	first time.Time // the first packet's timestamp
	convs []*conversation
	stats captureStats
}

// captureStats counts the packets read and those skipped, for the summary line.
type captureStats struct {
	packets   int // records read
	segments  int // TCP segments kept
	notTCP    int // not IPv4/IPv6 or not TCP
	fragments int // IP fragments (not reassembled)
	malformed int // a header that does not decode
	overLimit int // past explainMaxSegments or explainMaxConvs
}

func (s captureStats) String() string {
	return fmt.Sprintf("%d packets, %d TCP segments; skipped: %d not TCP, %d IP fragments, %d malformed, %d over the limit",
		s.packets, s.segments, s.notTCP, s.fragments, s.malformed, s.overLimit)
}

// conversation is one TCP conversation (a 4-tuple) of a capture. Its Local
// side is the one drawn on the left: the sender of the first SYN, else of
// the first segment.
type conversation struct {
	id     tcp.FourTuple
	segs   []capturedSegment
	synned bool // id.Local is the sender of a SYN
}

// capturedSegment is one segment; out is true when id.Local sent it.
type capturedSegment struct {
	at  time.Time
	out bool
	seg tcp.Segment
}

// readCapture reads a pcap or pcapng file and sorts its TCP segments into
// conversations, in the order of their first packet. A file that is not a
// capture is an error; a truncated one ends where it is cut.
func readCapture(r io.Reader) (*capture, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, errors.New("not a pcap or pcapng file: too short")
	}
	var next func() ([]byte, time.Time, layers.LinkType, error)
	if binary.BigEndian.Uint32(magic) == 0x0A0D0D0A { // pcapng Section Header Block
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("not a pcapng file: %v", err)
		}
		next = func() ([]byte, time.Time, layers.LinkType, error) {
			data, ci, err := ng.ReadPacketData()
			lt := layers.LinkTypeNull
			if err == nil {
				if intf, ierr := ng.Interface(ci.InterfaceIndex); ierr == nil {
					lt = intf.LinkType
				} else {
					lt = ng.LinkType()
				}
			}
			return data, ci.Timestamp, lt, err
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("not a pcap or pcapng file: %v", err)
		}
		lt := pr.LinkType()
		next = func() ([]byte, time.Time, layers.LinkType, error) {
			data, ci, err := pr.ReadPacketData()
			return data, ci.Timestamp, lt, err
		}
	}
	c := &capture{}
	byKey := make(map[tcp.FourTuple]*conversation)
	for {
		data, at, lt, err := next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // a file cut short ends where it is cut
		}
		if err != nil {
			c.stats.malformed++
			break // a record that does not decode: what follows cannot be framed
		}
		c.stats.packets++
		if c.stats.packets == 1 {
			c.first = at
		}
		src, dst, seg, kind := decodePacket(lt, data)
		switch kind {
		case packetNotTCP:
			c.stats.notTCP++
			continue
		case packetFragment:
			c.stats.fragments++
			continue
		case packetMalformed:
			c.stats.malformed++
			continue
		}
		from := tcp.FourTuple{Local: netip.AddrPortFrom(src, seg.SrcPort), Remote: netip.AddrPortFrom(dst, seg.DstPort)}
		back := tcp.FourTuple{Local: from.Remote, Remote: from.Local}
		conv := byKey[from]
		if conv == nil {
			conv = byKey[back]
		}
		if c.stats.segments >= explainMaxSegments || (conv == nil && len(c.convs) >= explainMaxConvs) {
			c.stats.overLimit++
			continue
		}
		if conv == nil {
			conv = &conversation{id: from}
			byKey[from] = conv
			c.convs = append(c.convs, conv)
		}
		if seg.Flags.Has(tcp.FlagSYN) && !seg.Flags.Has(tcp.FlagACK) && !conv.synned {
			conv.synned = true
			if conv.id != from {
				// The first SYN's sender goes on the left.
				conv.id = from
				for i := range conv.segs {
					conv.segs[i].out = !conv.segs[i].out
				}
			}
		}
		conv.segs = append(conv.segs, capturedSegment{at: at, out: conv.id == from, seg: seg})
		c.stats.segments++
	}
	if c.stats.packets == 0 && c.stats.malformed > 0 {
		return nil, errors.New("the capture's first packet record does not decode")
	}
	return c, nil
}

type packetKind uint8

const (
	packetTCP packetKind = iota
	packetNotTCP
	packetFragment
	packetMalformed
)

// Address families of the NULL and LOOP link types (BSD loopback): AF_INET
// is 2 everywhere; AF_INET6 is 10 on Linux, 24, 28 or 30 on the BSDs.
func nullFamilyIP(f uint32) bool {
	return f == 2 || f == 10 || f == 24 || f == 28 || f == 30
}

// decodePacket finds the TCP segment in one captured frame of link type lt.
// The payload is explainZeros of the length the IP header gives, so a
// capture with a short snap length still counts every octet.
func decodePacket(lt layers.LinkType, b []byte) (src, dst netip.Addr, seg tcp.Segment, kind packetKind) {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return src, dst, seg, packetMalformed
		}
		et, off := binary.BigEndian.Uint16(b[12:]), 14
		for (et == 0x8100 || et == 0x88a8) && len(b) >= off+4 { // IEEE 802.1Q / 802.1ad tags
			et, off = binary.BigEndian.Uint16(b[off+2:]), off+4
		}
		if et != 0x0800 && et != 0x86DD {
			return src, dst, seg, packetNotTCP
		}
		b = b[off:]
	case layers.LinkTypeLinuxSLL: // 16-octet header, protocol last
		if len(b) < 16 {
			return src, dst, seg, packetMalformed
		}
		if et := binary.BigEndian.Uint16(b[14:]); et != 0x0800 && et != 0x86DD {
			return src, dst, seg, packetNotTCP
		}
		b = b[16:]
	case layers.LinkTypeLinuxSLL2: // 20-octet header, protocol first
		if len(b) < 20 {
			return src, dst, seg, packetMalformed
		}
		if et := binary.BigEndian.Uint16(b); et != 0x0800 && et != 0x86DD {
			return src, dst, seg, packetNotTCP
		}
		b = b[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return src, dst, seg, packetMalformed
		}
		f := binary.LittleEndian.Uint32(b) // NULL: the host's order, little-endian on most
		if lt == layers.LinkTypeLoop || !nullFamilyIP(f) {
			f = binary.BigEndian.Uint32(b)
		}
		if !nullFamilyIP(f) {
			return src, dst, seg, packetNotTCP
		}
		b = b[4:]
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14: // 12, 14: DLT_RAW on some systems
	default:
		return src, dst, seg, packetNotTCP
	}
	if len(b) < 1 {
		return src, dst, seg, packetMalformed
	}
	var payload []byte // the TCP segment, maybe cut by the snap length
	var tcpLen int     // its length as the IP header says
	switch b[0] >> 4 {
	case 4:
		// RFC 791 §3.1: IHL in 32-bit words, Total Length, fragment fields.
		if len(b) < 20 {
			return src, dst, seg, packetMalformed
		}
		ihl, total := int(b[0]&0xf)*4, int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || total < ihl || len(b) < ihl {
			return src, dst, seg, packetMalformed
		}
		if b[9] != 6 {
			return src, dst, seg, packetNotTCP
		}
		if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 { // MF or an offset
			return src, dst, seg, packetFragment
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		payload, tcpLen = b[ihl:], total-ihl
	case 6:
		// RFC 8200 §3: a 40-octet header, then extension headers.
		if len(b) < 40 {
			return src, dst, seg, packetMalformed
		}
		next, off, plen := b[6], 40, int(binary.BigEndian.Uint16(b[4:]))
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		for i := 0; next != 6; i++ {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options (RFC 8200 §4)
				if len(b) < off+2 || i > 8 {
					return src, dst, seg, packetMalformed
				}
				next, off = b[off], off+8+int(b[off+1])*8
			case 44: // fragment
				return src, dst, seg, packetFragment
			default:
				return src, dst, seg, packetNotTCP
			}
		}
		if off > len(b) || off-40 > plen {
			return src, dst, seg, packetMalformed
		}
		payload, tcpLen = b[off:], plen-(off-40)
	default:
		return src, dst, seg, packetNotTCP
	}
	if len(payload) < tcp.HeaderLen {
		return src, dst, seg, packetMalformed
	}
	hl := int(payload[12]>>4) * 4
	if hl > len(payload) {
		return src, dst, seg, packetMalformed
	}
	if err := tcp.DecodeSegmentInto(&seg, payload[:hl]); err != nil || tcpLen < hl {
		return src, dst, seg, packetMalformed
	}
	seg.Payload = nil
	if n := min(tcpLen-hl, len(explainZeros)); n > 0 {
		seg.Payload = explainZeros[:n:n]
	}
	if seg.Options.SACKBlocks != nil {
		seg.Options.SACKBlocks = slices.Clone(seg.Options.SACKBlocks)
	}
	return src, dst, seg, packetTCP
}

// explainNoter is a Tracer that takes remarks on the segment just drawn,
// as tcp.Ladder does: what the capture shows of it.
type explainNoter interface {
	Note(now time.Time, id tcp.FourTuple, text string)
}

// explainDrive plays a conversation to tr as a stack's tracer would see it
// from its left side: SegmentOut for what that side sent, SegmentIn for
// what it received, then the left side's inferred StateChange, then Flush.
// The tracer infers the right side's state itself (a tcp.PeerTracker fed
// with the segments, as tcp.Ladder does). It returns both sides' trackers,
// for the state each was left in.
func explainDrive(c *conversation, tr tcp.Tracer) (left, right *tcp.PeerTracker) {
	left, right = tcp.NewPeerTracker(tcp.StateClosed), tcp.NewPeerTracker(tcp.StateClosed)
	noter, _ := tr.(explainNoter)
	var obs captureObserver
	for i := range c.segs {
		s := &c.segs[i]
		if s.out {
			tr.SegmentOut(s.at, c.id, &s.seg)
		} else {
			tr.SegmentIn(s.at, c.id, &s.seg)
		}
		if note := obs.observe(&s.seg, s.out); note != "" && noter != nil {
			noter.Note(s.at, c.id, note)
		}
		from := left.State()
		left.Observe(&s.seg, s.out)
		for _, to := range left.Steps() {
			tr.StateChange(s.at, c.id, from, to)
			from = to
		}
		right.Observe(&s.seg, !s.out)
		tr.Flush()
	}
	return left, right
}

// captureObserver names what a capture shows of a segment, from the
// segments before it, without guessing the sender's internal reasons (a
// timer, an RTO or a fast retransmit look the same on the wire).
type captureObserver struct {
	side [2]observedSide // 0: the left side's segments, 1: the right's
}

// observedSide is what one side has sent so far.
type observedSide struct {
	started  bool
	nxt      tcp.Seq    // the highest SEQ+LEN seen
	seen     []seqRange // sequence ranges seen, merged, at most 64
	lastAck  tcp.Seq    // the ACK and window of its last segment
	lastWin  uint16
	haveLast bool
	dupAcks  int
	probed   bool // its last segment was a probe, which the other side answers
}

type seqRange struct{ from, to tcp.Seq }

func (o *captureObserver) observe(s *tcp.Segment, out bool) string {
	me, other := &o.side[1], &o.side[0]
	if out {
		me, other = &o.side[0], &o.side[1]
	}
	f := s.Flags
	n := s.Len()
	end := s.Seq.Add(n)
	note := ""
	if f.Has(tcp.FlagSYN) {
		if me.started && me.covers(s.Seq, end) {
			note = "retransmission: this SYN was seen before"
		}
		me.started, me.nxt, me.seen = true, end, []seqRange{{s.Seq, end}}
		// RFC 7323 §2.2: a SYN's window is not scaled, so it is no
		// baseline for a window update.
		me.haveLast, me.dupAcks, me.probed = false, 0, false
		return note
	}
	if f.Has(tcp.FlagRST) {
		return ""
	}
	if !me.started {
		me.started, me.nxt = true, s.Seq
	}
	pureAck := n == 0 && f.Has(tcp.FlagACK)
	probed := other.probed
	other.probed = false
	switch {
	case n > 0 && me.covers(s.Seq, end):
		note = "retransmission: this sequence range was seen before"
	case n > 0 && s.Seq.LessThan(me.nxt) && me.overlaps(s.Seq, end):
		note = "retransmission: part of this sequence range was seen before"
	case n > 0 && s.Seq.GreaterThan(me.nxt):
		note = "out of order: a gap before it (lost before the capture, or reordered)"
	case n > 0 && s.Seq.LessThan(me.nxt):
		note = "out of order: fills a gap"
	case n <= 1 && f.Has(tcp.FlagACK) && !f.Has(tcp.FlagFIN) && s.Seq == me.nxt.Add(^uint32(0)) && other.haveLast && other.lastWin == 0:
		note, me.probed = "window probe: SEQ = SND.NXT−1, into a zero window", true
	case n <= 1 && f.Has(tcp.FlagACK) && !f.Has(tcp.FlagFIN) && s.Seq == me.nxt.Add(^uint32(0)):
		note, me.probed = "keep-alive probe: SEQ = SND.NXT−1", true
	case n > 0 && other.haveLast && other.lastWin == 0:
		note = "window probe: text into a zero window"
	case pureAck && me.haveLast && s.Ack == me.lastAck && s.Window != me.lastWin:
		note = "window update"
	case pureAck && me.haveLast && s.Ack == me.lastAck && s.Window == me.lastWin && other.nxt.GreaterThan(s.Ack):
		// RFC 5681 §2: no data, the same ACK and window, data outstanding.
		me.dupAcks++
		note = fmt.Sprintf("duplicate ACK #%d", me.dupAcks)
	case pureAck && probed:
		note = "the ACK a probe asks for" // RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6
	}
	if !strings.HasPrefix(note, "duplicate") {
		me.dupAcks = 0
	}
	if s.Window == 0 && note == "" {
		note = "zero window"
	} else if s.Window == 0 {
		note += "; zero window"
	}
	if end.GreaterThan(me.nxt) {
		me.nxt = end
	}
	if n > 0 {
		me.add(s.Seq, end)
	}
	me.noteAck(s)
	return note
}

func (o *observedSide) noteAck(s *tcp.Segment) {
	if s.Flags.Has(tcp.FlagACK) {
		o.lastAck, o.lastWin, o.haveLast = s.Ack, s.Window, true
	}
}

// covers reports whether [from, to) lies within one range seen.
func (o *observedSide) covers(from, to tcp.Seq) bool {
	for _, r := range o.seen {
		if from.GreaterThanEq(r.from) && to.LessThanEq(r.to) {
			return true
		}
	}
	return false
}

// overlaps reports whether [from, to) meets a range seen.
func (o *observedSide) overlaps(from, to tcp.Seq) bool {
	for _, r := range o.seen {
		if from.LessThan(r.to) && to.GreaterThan(r.from) {
			return true
		}
	}
	return false
}

// add merges [from, to) into the ranges seen, keeping at most 64 (the
// oldest are forgotten).
func (o *observedSide) add(from, to tcp.Seq) {
	out := o.seen[:0:0]
	for _, r := range o.seen {
		if from.LessThanEq(r.to) && to.GreaterThanEq(r.from) {
			from, to = from.Min(r.from), to.Max(r.to)
			continue
		}
		out = append(out, r)
	}
	out = append(out, seqRange{from, to})
	if len(out) > 64 {
		out = out[len(out)-64:]
	}
	o.seen = out
}

// explainOptions are explain's flags.
type explainOptions struct {
	file string
	conn int    // --conn N: only conversation N (from 1); 0: all
	port uint16 // --port P: only conversations with port P; 0: all
	html bool   // --html: the web page instead of the ladder
	dest string // -o FILE: where --html writes the page; "": stdout
}

// explainMain runs `utcp explain`: it draws every TCP conversation of a
// capture (or the one --conn or --port picks) as a ladder with both sides'
// states inferred.
func explainMain(o *explainOptions, stdout, stderr io.Writer) int {
	f, err := os.Open(o.file)
	if err != nil {
		fmt.Fprintf(stderr, "explain: %v\n", describe(err))
		return exitRuntime
	}
	defer f.Close()
	c, err := readCapture(f)
	if err != nil {
		fmt.Fprintf(stderr, "explain: %s: %v\n", o.file, err)
		return exitRuntime
	}
	if o.html {
		if explainHTML == nil {
			fmt.Fprintln(stderr, "explain: --html is not available in this build")
			return exitUsage
		}
		if err := explainHTML(c, o, stdout); err != nil {
			fmt.Fprintf(stderr, "explain: %v\n", err)
			return exitRuntime
		}
		return exitOK
	}
	return explainLadders(c, o, stdout, stderr)
}

// explainHTML writes the web page of the picked conversations, driving the
// page's recorder (a tcp.Tracer) with explainDrive; nil where the page is
// not built in.
var explainHTML func(c *capture, o *explainOptions, w io.Writer) error

// picked reports whether conversation n (from 1) is one o asks for.
func (o *explainOptions) picked(n int, conv *conversation) bool {
	return (o.conn == 0 || o.conn == n) && (o.port == 0 || conv.id.Local.Port() == o.port || conv.id.Remote.Port() == o.port)
}

// explainLadders writes the ladder of each picked conversation, then the
// summary line.
func explainLadders(c *capture, o *explainOptions, stdout, stderr io.Writer) int {
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	shown := 0
	for i, conv := range c.convs {
		if !o.picked(i+1, conv) {
			continue
		}
		if shown > 0 {
			fmt.Fprintln(w)
		}
		shown++
		explainOne(w, c, i+1, conv)
	}
	plural := "s"
	if len(c.convs) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "\ncapture: %d TCP conversation%s (%d shown), %s\n", len(c.convs), plural, shown, c.stats)
	if shown == 0 && (o.conn != 0 || o.port != 0) {
		w.Flush()
		fmt.Fprintln(stderr, "explain: no conversation matches --conn/--port")
		return exitRuntime
	}
	return exitOK
}

// explainOne draws one conversation and the line on how it ended.
func explainOne(w io.Writer, c *capture, n int, conv *conversation) {
	leftName, rightName := "A", "B"
	if conv.synned {
		leftName, rightName = "client", "server"
	}
	fmt.Fprintf(w, "conversation %d: %s %v, %s %v, %d segments\n", n, leftName, conv.id.Local, rightName, conv.id.Remote, len(conv.segs))
	l := tcp.NewLadder(w)
	l.LocalName, l.PeerName, l.LocalInferred, l.Start = leftName, rightName, true, c.first
	left, right := explainDrive(conv, l)
	l.Flush()
	end := func(name string, p *tcp.PeerTracker) string {
		s := fmt.Sprintf("%s %v~", name, p.State())
		if p.Guessed() {
			s += " (guessed: the capture starts inside the connection)"
		}
		if e := p.LastEvidence(); e > 0 {
			s += fmt.Sprintf(" since %.6f", conv.segs[e-1].at.Sub(c.first).Seconds())
		}
		switch p.State() {
		case tcp.StateClosed, tcp.StateListen:
		case tcp.StateTimeWait:
			s += " (TIME-WAIT ends after 2×MSL, with nothing on the wire)"
		default:
			s += " (a timeout or an abort would end it with nothing on the wire)"
		}
		return s
	}
	fmt.Fprintf(w, "end of capture: %s; %s\n", end(leftName, left), end(rightName, right))
}
