package ip

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quotedTCP is the start of a datagram we sent: our IPv4 header and the
// first n octets of a TCP header from port 80 to 40000 with SEQ 1001.
func quotedTCP(n int, mod func(h *Header)) []byte {
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], 80)
	binary.BigEndian.PutUint16(tcp[2:], 40000)
	binary.BigEndian.PutUint32(tcp[4:], 1001)
	h := Header{ID: 7, DontFragment: true, TTL: 1, Protocol: ProtoTCP, Src: local, Dst: remote}
	if mod != nil {
		mod(&h)
	}
	pkt := AppendPacket(nil, &h, tcp)
	binary.BigEndian.PutUint16(pkt[2:], 1500) // the datagram as sent was longer than what is quoted
	return pkt[:HeaderLen+n]
}

func TestEndpoint_ICMPErrors(t *testing.T) {
	router := netip.MustParseAddr("10.0.0.254")
	full := quotedTCP(8, nil)
	tests := []struct {
		name      string
		typ, code uint8
		rest      uint32
		quote     []byte
		want      ICMPError // Type 0: dropped
		wantStats StatsSnapshot
	}{
		{name: "frag needed carries the next-hop MTU (RFC 1191 §4)", typ: 3, code: 4, rest: 1280, quote: full,
			want:      ICMPError{Type: 3, Code: 4, MTU: 1280, QuotedLen: 1500, Src: local, Dst: remote, SrcPort: 80, DstPort: 40000, Seq: 1001},
			wantStats: StatsSnapshot{Delivered: 1, ICMPErrors: 1}},
		{name: "frag needed without an MTU (old router)", typ: 3, code: 4, quote: full,
			want:      ICMPError{Type: 3, Code: 4, QuotedLen: 1500, Src: local, Dst: remote, SrcPort: 80, DstPort: 40000, Seq: 1001},
			wantStats: StatsSnapshot{Delivered: 1, ICMPErrors: 1}},
		{name: "port unreachable; a longer quote is fine", typ: 3, code: 3, rest: 0xdead, quote: quotedTCP(20, nil),
			want:      ICMPError{Type: 3, Code: 3, QuotedLen: 1500, Src: local, Dst: remote, SrcPort: 80, DstPort: 40000, Seq: 1001},
			wantStats: StatsSnapshot{Delivered: 1, ICMPErrors: 1}},
		{name: "time exceeded", typ: 11, code: 0, quote: full,
			want:      ICMPError{Type: 11, QuotedLen: 1500, Src: local, Dst: remote, SrcPort: 80, DstPort: 40000, Seq: 1001},
			wantStats: StatsSnapshot{Delivered: 1, ICMPErrors: 1}},
		{name: "parameter problem", typ: 12, code: 0, rest: 20 << 24, quote: full,
			want:      ICMPError{Type: 12, QuotedLen: 1500, Src: local, Dst: remote, SrcPort: 80, DstPort: 40000, Seq: 1001},
			wantStats: StatsSnapshot{Delivered: 1, ICMPErrors: 1}},
		{name: "source quench is discarded (MUST-55)", typ: 4, code: 0, quote: full,
			wantStats: StatsSnapshot{ICMPDropped: 1, SourceQuench: 1}},
		{name: "7 octets of TCP header quoted", typ: 3, code: 1, quote: quotedTCP(7, nil),
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorBadQuote: 1}},
		{name: "no quote", typ: 3, code: 1,
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorBadQuote: 1}},
		{name: "quoted header not IPv4", typ: 3, code: 1, quote: append([]byte{0x65}, full[1:]...),
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorBadQuote: 1}},
		{name: "quoted IHL below 5", typ: 3, code: 1, quote: append([]byte{0x44}, full[1:]...),
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorBadQuote: 1}},
		{name: "quoted datagram not from us", typ: 3, code: 1, quote: quotedTCP(8, func(h *Header) { h.Src = router }),
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorNotOurs: 1, Unhandled: 1}},
		{name: "quoted datagram not TCP", typ: 3, code: 3, quote: quotedTCP(8, func(h *Header) { h.Protocol = 17 }),
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorNotOurs: 1, Unhandled: 1}},
		{name: "quoted datagram a later fragment", typ: 3, code: 1, quote: quotedTCP(8, func(h *Header) { h.FragOffset = 1480 }),
			wantStats: StatsSnapshot{ICMPDropped: 1, ICMPErrorNotOurs: 1, Unhandled: 1}},
		{name: "redirect is for Unhandled", typ: 5, code: 1, quote: full,
			wantStats: StatsSnapshot{ICMPDropped: 1, Unhandled: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Endpoint{Addr: local}
			pkt := AppendICMPError(nil, router, local, tt.typ, tt.code, tt.rest, tt.quote)
			_, seg, out, got := e.Input(pkt, nil)
			assert.Nil(t, seg, "nothing goes to TCP as a segment")
			assert.Nil(t, out, "nothing is sent back")
			assert.Equal(t, tt.want, got)
			tt.wantStats.Received = 1
			s := e.Stats.Snapshot()
			assert.Equal(t, tt.wantStats, s)
			assert.Equal(t, s.Received, outcomes(s), "each packet has exactly one outcome")
		})
	}
	t.Run("bad ICMP checksum", func(t *testing.T) {
		e := &Endpoint{Addr: local}
		pkt := AppendICMPError(nil, router, local, 3, 3, 0, full)
		pkt[HeaderLen+2]++
		_, _, _, got := e.Input(pkt, nil)
		assert.Zero(t, got.Type, "dropped")
		assert.Equal(t, StatsSnapshot{Received: 1, ICMPDropped: 1}, e.Stats.Snapshot())
	})
}

func TestEndpoint_ICMPErrorNoAlloc(t *testing.T) {
	e := &Endpoint{Addr: local}
	pkt := AppendICMPError(nil, remote, local, 3, 4, 1280, quotedTCP(8, nil))
	var got ICMPError
	allocs := testing.AllocsPerRun(100, func() { _, _, _, got = e.Input(pkt, nil) })
	require.True(t, got.FragNeeded())
	assert.Zero(t, allocs, "parsing an ICMP error does not allocate")
}
