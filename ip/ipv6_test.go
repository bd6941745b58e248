package ip

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	local6  = netip.MustParseAddr("fd00:9::2")
	remote6 = netip.MustParseAddr("fd00:9::1")
)

// packet6 builds an IPv6 packet whose Next Header is next, followed by the
// raw extension headers and payload in rest.
func packet6(next uint8, rest []byte) []byte {
	h := Header6{NextHeader: next, HopLimit: 64, Src: remote6, Dst: local6}
	return AppendPacket6(nil, &h, rest)
}

// ext returns an extension header with the given next header and body
// (the octets after the two-octet Next Header / Hdr Ext Len), padded with
// PadN to a multiple of 8 when pad is true.
func ext(next uint8, body []byte) []byte {
	b := append([]byte{next, 0}, body...)
	if len(b)%8 != 0 {
		panic("extension header not a multiple of 8 octets")
	}
	b[1] = uint8(len(b)/8 - 1)
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestParse6_RFC8200(t *testing.T) {
	tcp := []byte("TCP-HEADER-AND-DATA.")
	padN4 := []byte{1, 4, 0, 0, 0, 0} // PadN with 4 octets: fills a 8-octet header
	tests := []struct {
		rule    string
		pkt     []byte
		next    uint8
		hdrLen  int
		err     error
		problem *ParamProblem
	}{
		{rule: "§3: the fixed header, then TCP", pkt: packet6(ProtoTCP, tcp), next: ProtoTCP, hdrLen: 40},
		{rule: "§4.3: Hop-by-Hop with PadN is skipped", pkt: packet6(ProtoHopByHop, cat(ext(ProtoTCP, padN4), tcp)), next: ProtoTCP, hdrLen: 48},
		{rule: "§4.2: Pad1 options are skipped", pkt: packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{0, 0, 0, 0, 0, 0}), tcp)), next: ProtoTCP, hdrLen: 48},
		{rule: "§4.1: Hop-by-Hop anywhere but first is an unrecognized Next Header",
			pkt:     packet6(ProtoDstOpts, cat(ext(ProtoHopByHop, padN4), ext(ProtoTCP, padN4), tcp)),
			problem: &ParamProblem{Code: ICMPv6CodeUnrecognizedNext, Pointer: 40}},
		{rule: "§4.2: unrecognized option 00xxxxxx is skipped", pkt: packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{0x1e, 2, 9, 9, 1, 0}), tcp)), next: ProtoTCP, hdrLen: 48},
		{rule: "§4.2: unrecognized option 01xxxxxx discards silently",
			pkt:     packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{0x5e, 2, 9, 9, 1, 0}), tcp)),
			problem: &ParamProblem{Code: ICMPv6CodeUnrecognizedOpt, Pointer: 42, Silent: true}},
		{rule: "§4.2: unrecognized option 10xxxxxx: parameter problem, code 2",
			pkt:     packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{1, 0, 0x9e, 2, 9, 9}), tcp)),
			problem: &ParamProblem{Code: ICMPv6CodeUnrecognizedOpt, Pointer: 44}},
		{rule: "§4.2: unrecognized option 11xxxxxx: parameter problem unless multicast",
			pkt:     packet6(ProtoHopByHop, cat(ext(ProtoTCP, []byte{0xde, 2, 9, 9, 1, 0}), tcp)),
			problem: &ParamProblem{Code: ICMPv6CodeUnrecognizedOpt, Pointer: 42, NotToMulticast: true}},
		{rule: "§4.2: an option running past its header is erroneous",
			pkt:     packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{1, 9, 0, 0, 0, 0}), tcp)),
			problem: &ParamProblem{Code: ICMPv6CodeErroneousHeader, Pointer: 42}},
		{rule: "§4.4: Routing with Segments Left 0 is ignored", pkt: packet6(ProtoRouting, cat(ext(ProtoTCP, []byte{0, 0, 0, 0, 0, 0}), tcp)), next: ProtoTCP, hdrLen: 48},
		{rule: "§4.4: Routing with Segments Left > 0 of an unknown type: parameter problem at Routing Type",
			pkt:     packet6(ProtoRouting, cat(ext(ProtoTCP, []byte{0, 3, 0, 0, 0, 0}), tcp)),
			problem: &ParamProblem{Code: ICMPv6CodeErroneousHeader, Pointer: 42}},
		{rule: "§4.5: an atomic fragment is processed whole", pkt: packet6(ProtoFragment, cat([]byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 7}, tcp)), next: ProtoTCP, hdrLen: 48},
		{rule: "§4.5: a first fragment needs reassembly", pkt: packet6(ProtoFragment, cat([]byte{ProtoTCP, 0, 0, 1, 0, 0, 0, 7}, tcp)), err: ErrFragment6},
		{rule: "§4.5: a later fragment needs reassembly", pkt: packet6(ProtoFragment, cat([]byte{ProtoTCP, 0, 0x01, 0x00, 0, 0, 0, 7}, tcp)), err: ErrFragment6},
		{rule: "§4.7: No Next Header ends the packet", pkt: packet6(ProtoNoNext, tcp), err: ErrNoNextHeader},
		{rule: "an extension header past the payload", pkt: packet6(ProtoDstOpts, []byte{ProtoTCP, 3, 1, 0}), err: ErrTruncated6},
		{rule: "an unknown upper layer is returned, not refused", pkt: packet6(ProtoUDP, tcp), next: ProtoUDP, hdrLen: 40},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			h, payload, err := Parse6(tt.pkt)
			switch {
			case tt.problem != nil:
				var pp *ParamProblem
				require.ErrorAs(t, err, &pp)
				assert.Equal(t, tt.problem, pp)
			case tt.err != nil:
				require.ErrorIs(t, err, tt.err)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.next, h.NextHeader)
				assert.Equal(t, tt.hdrLen, h.HeaderLen)
				assert.Equal(t, tt.pkt[tt.hdrLen:], payload)
				assert.Equal(t, remote6, h.Src)
				assert.Equal(t, local6, h.Dst)
			}
		})
	}
}

func TestParse6_HeaderErrors(t *testing.T) {
	good := packet6(ProtoTCP, []byte("0123456789abcdefghij"))
	_, _, err := Parse6(good[:39])
	assert.ErrorIs(t, err, ErrTruncated6)
	v4 := append([]byte(nil), good...)
	v4[0] = 0x45
	_, _, err = Parse6(v4)
	assert.ErrorIs(t, err, ErrVersion6)
	long := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(long[4:6], 21)
	_, _, err = Parse6(long)
	assert.ErrorIs(t, err, ErrPayloadLength, "payload length past the packet")
	jumbo := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(jumbo[4:6], 0)
	_, _, err = Parse6(jumbo)
	assert.ErrorIs(t, err, ErrPayloadLength, "a jumbogram (RFC 2675) is not supported")

	padded := append(append([]byte(nil), good...), 0, 0, 0, 0)
	_, payload, err := Parse6(padded)
	require.NoError(t, err)
	assert.Len(t, payload, 20, "link padding after the payload is dropped")
}

// The header PutHeader6 writes and the ICMPv6 checksum AppendICMPv6
// computes agree with gopacket.
func TestIPv6_AgreesWithGopacket(t *testing.T) {
	h := Header6{TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: ProtoICMPv6, HopLimit: 7, Src: remote6, Dst: local6}
	pkt := AppendEchoRequest6(nil, remote6, local6, 0xbeef, 3, []byte("ping data"))
	pkt[1] = 0 // keep traffic class 0 for the echo
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	assert.Equal(t, remote6.AsSlice(), []byte(ip6.SrcIP))
	assert.Equal(t, uint8(64), ip6.HopLimit)
	icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	require.NoError(t, icmp.SetNetworkLayerForChecksum(ip6))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, icmp, gopacket.Payload(icmp.Payload)))
	assert.Equal(t, pkt[40:], buf.Bytes(), "gopacket computes the same ICMPv6 checksum")

	b := make([]byte, 40)
	h.PayloadLen = 8
	PutHeader6(b, &h)
	p = gopacket.NewPacket(append(b, make([]byte, 8)...), layers.LayerTypeIPv6, gopacket.Default)
	ip6 = p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	assert.Equal(t, uint8(0xb8), ip6.TrafficClass)
	assert.Equal(t, uint32(0x12345), ip6.FlowLabel)
	assert.Equal(t, uint8(7), ip6.HopLimit)
	assert.Equal(t, local6.AsSlice(), []byte(ip6.DstIP))
}

func TestPseudoHeaderSum_IPv6(t *testing.T) {
	// RFC 8200 §8.1: src, dst, 32-bit length, 3 zero octets, next header.
	var ph []byte
	ph = append(ph, remote6.AsSlice()...)
	ph = append(ph, local6.AsSlice()...)
	ph = binary.BigEndian.AppendUint32(ph, 70000)
	ph = append(ph, 0, 0, 0, ProtoTCP)
	assert.Equal(t, Fold(Sum(ph, 0)), Fold(PseudoHeaderSum(remote6, local6, ProtoTCP, 70000)))
}

func TestEndpoint6_EchoRequestGetsReply_RFC4443(t *testing.T) {
	e := &Endpoint{Addr: local, Addrs: []netip.Addr{local6}}
	req := AppendEchoRequest6(nil, remote6, local6, 0x4242, 9, []byte("abcdefgh"))
	h, seg, out, _ := e.InputAt(time.Unix(1, 0), req, nil)
	require.NotNil(t, out)
	assert.Nil(t, seg)
	assert.Equal(t, uint8(ProtoICMPv6), h.Protocol)
	rh, payload, err := Parse6(out)
	require.NoError(t, err)
	assert.Equal(t, local6, rh.Src, "RFC 4443 §4.2: from the address the request was sent to")
	assert.Equal(t, remote6, rh.Dst)
	m, err := ParseICMPv6(payload, rh.Src, rh.Dst)
	require.NoError(t, err, "the reply's checksum covers the pseudo-header")
	assert.Equal(t, uint8(ICMPv6TypeEchoReply), m.Type)
	assert.Equal(t, uint16(0x4242), m.ID)
	assert.Equal(t, uint16(9), m.Seq)
	assert.Equal(t, []byte("abcdefgh"), m.Data)

	bad := append([]byte(nil), req...)
	bad[len(bad)-1] ^= 1
	_, _, out, _ = e.InputAt(time.Unix(1, 0), bad, nil)
	assert.Nil(t, out, "a bad ICMPv6 checksum is dropped")
	s := e.Stats.Snapshot()
	assert.Equal(t, uint64(1), s.ICMPDropped)
	assert.Equal(t, s.Received, outcomes(s))
}

func TestEndpoint6_TCPAndNotForUs(t *testing.T) {
	e := &Endpoint{Addr: local, Addrs: []netip.Addr{local6}}
	pkt := packet6(ProtoTCP, make([]byte, 20))
	h, seg, _, _ := e.InputAt(time.Time{}, pkt, nil)
	assert.Len(t, seg, 20)
	assert.Equal(t, local6, h.Dst)
	other := AppendPacket6(nil, &Header6{NextHeader: ProtoTCP, HopLimit: 1, Src: remote6, Dst: netip.MustParseAddr("fd00:9::77")}, make([]byte, 20))
	_, seg, _, _ = e.InputAt(time.Time{}, other, nil)
	assert.Nil(t, seg)
	s := e.Stats.Snapshot()
	assert.Equal(t, uint64(1), s.NotForUs)
	assert.Equal(t, uint64(1), s.Delivered)
}

func TestEndpoint6_ParameterProblem_RFC4443(t *testing.T) {
	e := &Endpoint{Addr: local6}
	now := time.Unix(100, 0)
	pkt := packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{1, 0, 0x9e, 2, 9, 9}), make([]byte, 20)))
	_, seg, out, _ := e.InputAt(now, pkt, nil)
	assert.Nil(t, seg)
	require.NotNil(t, out, "RFC 8200 §4.2: option type 10xxxxxx: a parameter problem")
	rh, payload, err := Parse6(out)
	require.NoError(t, err)
	assert.Equal(t, remote6, rh.Dst)
	m, err := ParseICMPv6(payload, rh.Src, rh.Dst)
	require.NoError(t, err)
	assert.Equal(t, uint8(ICMPv6TypeParamProblem), m.Type)
	assert.Equal(t, uint8(ICMPv6CodeUnrecognizedOpt), m.Code)
	assert.Equal(t, uint32(44), uint32(m.ID)<<16|uint32(m.Seq), "the pointer names the option type")
	assert.Equal(t, pkt, m.Data, "RFC 4443 §2.4 (c): the invoking packet is quoted")

	silent := packet6(ProtoDstOpts, cat(ext(ProtoTCP, []byte{0x5e, 2, 9, 9, 1, 0}), make([]byte, 20)))
	_, _, out, _ = e.InputAt(now, silent, nil)
	assert.Nil(t, out, "type 01xxxxxx: discard silently")

	_, _, out, _ = e.InputAt(time.Time{}, pkt, nil)
	assert.Nil(t, out, "without a time no error is originated")

	// RFC 4443 §2.4 (f): errors are rate-limited.
	sent := 0
	for range 100 {
		if _, _, out, _ := e.InputAt(now, pkt, nil); out != nil {
			sent++
		}
	}
	assert.Less(t, sent, 20, "a burst of bad packets draws a bounded number of errors")
	_, _, out, _ = e.InputAt(now.Add(time.Second), pkt, nil)
	assert.NotNil(t, out, "the bucket refills")

	// RFC 4443 §2.4 (e.1): never an error about an ICMPv6 error.
	quoted := AppendICMPv6(nil, remote6, local6, ICMPv6TypeDestUnreachable, 0, 0, make([]byte, 48))
	hbh := packet6(ProtoHopByHop, cat(ext(ProtoICMPv6, []byte{1, 0, 0x9e, 2, 9, 9}), quoted[40:]))
	_, _, out, _ = e.InputAt(now.Add(2*time.Second), hbh, nil)
	assert.NotNil(t, out, "the ICMPv6 behind a bad option is not known to be an error message")
	s := e.Stats.Snapshot()
	assert.Equal(t, s.Received, outcomes(s))
}

// tcpQuote6 is the start of an IPv6 TCP packet from local6, as an ICMPv6
// error quotes it.
func tcpQuote6(seq uint32, exts ...[]byte) []byte {
	next := uint8(ProtoTCP)
	if len(exts) > 0 {
		next = ProtoDstOpts
	}
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:2], 40000)
	binary.BigEndian.PutUint16(tcp[2:4], 80)
	binary.BigEndian.PutUint32(tcp[4:8], seq)
	h := Header6{NextHeader: next, HopLimit: 64, Src: local6, Dst: remote6}
	return AppendPacket6(nil, &h, cat(append(exts, tcp)...))
}

func TestEndpoint6_ICMPv6ErrorsReachTCP_RFC8201(t *testing.T) {
	e := &Endpoint{Addrs: []netip.Addr{local6}}
	router := netip.MustParseAddr("fd00:77::1")
	tests := []struct {
		name  string
		typ   uint8
		code  uint8
		rest  uint32
		quote []byte
		mtu   uint16
		ok    bool
	}{
		{name: "packet too big", typ: ICMPv6TypePacketTooBig, rest: 1400, quote: tcpQuote6(777), mtu: 1400, ok: true},
		{name: "packet too big below 1280 is taken as 1280 (RFC 8201 §4)", typ: ICMPv6TypePacketTooBig, rest: 600, quote: tcpQuote6(777), mtu: 1280, ok: true},
		{name: "port unreachable", typ: ICMPv6TypeDestUnreachable, code: ICMPv6CodePortUnreachable, quote: tcpQuote6(5), ok: true},
		{name: "through a destination options header", typ: ICMPv6TypeTimeExceeded, quote: tcpQuote6(5, ext(ProtoTCP, []byte{1, 4, 0, 0, 0, 0})), ok: true},
		{name: "quote too short", typ: ICMPv6TypeDestUnreachable, quote: tcpQuote6(5)[:44]},
		{name: "quote not from us", typ: ICMPv6TypeDestUnreachable, quote: func() []byte { q := tcpQuote6(5); q[23] ^= 1; return q }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := AppendICMPv6(nil, router, local6, tt.typ, tt.code, tt.rest, tt.quote)
			_, seg, out, ie := e.InputAt(time.Unix(1, 0), pkt, nil)
			assert.Nil(t, seg)
			assert.Nil(t, out)
			if !tt.ok {
				assert.Zero(t, ie.Type)
				return
			}
			assert.True(t, ie.V6)
			assert.Equal(t, tt.typ, ie.Type)
			assert.Equal(t, tt.mtu, ie.MTU)
			assert.Equal(t, tt.typ == ICMPv6TypePacketTooBig, ie.FragNeeded())
			assert.Equal(t, local6, ie.Src)
			assert.Equal(t, remote6, ie.Dst)
			assert.Equal(t, uint16(40000), ie.SrcPort)
			assert.Equal(t, uint16(80), ie.DstPort)
		})
	}
	s := e.Stats.Snapshot()
	assert.Equal(t, s.Received, outcomes(s))
}

// FuzzParse6: Parse6 never panics, and what it returns lies inside the packet.
func FuzzParse6(f *testing.F) {
	f.Add(packet6(ProtoTCP, make([]byte, 20)))
	f.Add(packet6(ProtoHopByHop, cat(ext(ProtoDstOpts, []byte{1, 4, 0, 0, 0, 0}), ext(ProtoRouting, []byte{0x9e, 2, 9, 9, 1, 0}), make([]byte, 20))))
	f.Add(packet6(ProtoFragment, cat([]byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 7}, make([]byte, 20))))
	f.Add(AppendICMPv6(nil, remote6, local6, ICMPv6TypePacketTooBig, 0, 1280, tcpQuote6(1)))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, payload, err := Parse6(pkt)
		if err != nil {
			return
		}
		if h.HeaderLen < Header6Len || h.HeaderLen+len(payload) != Header6Len+int(h.PayloadLen) || Header6Len+int(h.PayloadLen) > len(pkt) {
			t.Fatalf("header %+v, payload %d octets, packet %d", h, len(payload), len(pkt))
		}
		e := &Endpoint{Addr: local, Addrs: []netip.Addr{h.Dst}}
		_, _, out, _ := e.InputAt(time.Unix(1, 0), pkt, nil)
		if out != nil {
			if _, _, err := Parse6(out); err != nil || len(out) > MinMTU6 {
				t.Fatalf("reply of %d octets does not parse: %v", len(out), err)
			}
		}
		s := e.Stats.Snapshot()
		if outcomes(s) != 1 {
			t.Fatalf("want one outcome: %v", s)
		}
	})
}
