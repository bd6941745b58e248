package ip

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cross-checks against an independent codec, gopacket/layers.

func randomHeader(r *rand.Rand) Header {
	a4 := func() netip.Addr {
		var a [4]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		return netip.AddrFrom4(a)
	}
	return Header{
		TOS:           uint8(r.Uint32()),
		ID:            uint16(r.Uint32()),
		DontFragment:  r.IntN(2) == 0,
		MoreFragments: r.IntN(2) == 0,
		FragOffset:    uint16(r.IntN(8192)) * 8,
		TTL:           uint8(r.Uint32()),
		Protocol:      uint8(r.Uint32()),
		Src:           a4(),
		Dst:           a4(),
	}
}

func gopacketFlags(h Header) layers.IPv4Flag {
	var f layers.IPv4Flag
	if h.DontFragment {
		f |= layers.IPv4DontFragment
	}
	if h.MoreFragments {
		f |= layers.IPv4MoreFragments
	}
	return f
}

func decodeIPv4(t *testing.T, b []byte) *layers.IPv4 {
	t.Helper()
	var ip4 layers.IPv4
	require.NoError(t, ip4.DecodeFromBytes(b, gopacket.NilDecodeFeedback), "gopacket decodes our packet")
	return &ip4
}

func TestGopacket_DecodesOurHeaders(t *testing.T) {
	r := rand.New(rand.NewPCG(791, 1))
	for i := 0; i < 500; i++ {
		h := randomHeader(r)
		payload := make([]byte, r.IntN(100))
		b := AppendPacket(nil, &h, payload)

		g := decodeIPv4(t, b)
		require.Equal(t, uint8(4), g.Version)
		require.Equal(t, uint8(5), g.IHL)
		require.Equal(t, h.TOS, g.TOS)
		require.Equal(t, h.TotalLen, g.Length)
		require.Equal(t, h.ID, g.Id)
		require.Equal(t, gopacketFlags(h), g.Flags)
		require.Equal(t, h.FragOffset/8, g.FragOffset, "gopacket keeps the offset in 8-byte units")
		require.Equal(t, h.TTL, g.TTL)
		require.Equal(t, layers.IPProtocol(h.Protocol), g.Protocol)
		require.Equal(t, h.Checksum, g.Checksum)
		require.Equal(t, net.IP(h.Src.AsSlice()), g.SrcIP)
		require.Equal(t, net.IP(h.Dst.AsSlice()), g.DstIP)
		require.Equal(t, payload, g.Payload)

		// gopacket serializing the same fields with its own checksum must
		// give byte-identical output.
		gb := gopacket.NewSerializeBuffer()
		g.Checksum = 0
		require.NoError(t, gopacket.SerializeLayers(gb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, g, gopacket.Payload(payload)))
		require.Equal(t, b, gb.Bytes(), "gopacket and PutHeader build the same bytes and checksum")
	}
}

func TestGopacket_WeDecodeTheirPackets(t *testing.T) {
	r := rand.New(rand.NewPCG(791, 2))
	opts := [][]layers.IPv4Option{
		nil,
		{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}},                                          // Router Alert
		{{OptionType: 1}, {OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}, {OptionType: 0}}, // NOP, Record Route, EOL
	}
	for i := 0; i < 300; i++ {
		want := randomHeader(r)
		payload := make([]byte, r.IntN(64))
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		g := &layers.IPv4{
			Version: 4, TOS: want.TOS, Id: want.ID, Flags: gopacketFlags(want), FragOffset: want.FragOffset / 8,
			TTL: want.TTL, Protocol: layers.IPProtocol(want.Protocol),
			SrcIP: want.Src.AsSlice(), DstIP: want.Dst.AsSlice(), Options: opts[i%len(opts)],
		}
		gb := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(gb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, g, gopacket.Payload(payload)))

		got, gotPayload, err := Parse(gb.Bytes())
		require.NoError(t, err, "we accept gopacket's packet (options: %v)", g.Options)
		want.TotalLen = g.Length
		want.Checksum = g.Checksum
		want.HeaderLen = int(g.IHL) * 4
		require.Equal(t, want, got)
		require.Equal(t, payload, gotPayload, "RFC 9293 MUST-50: options are skipped")
	}
}

func TestGopacket_ICMPEcho(t *testing.T) {
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz!")
	req := AppendEchoRequest(nil, remote, local, 0x4242, 3, data)

	pkt := gopacket.NewPacket(req, layers.LayerTypeIPv4, gopacket.Default)
	require.Nil(t, pkt.ErrorLayer(), "gopacket decodes our echo request")
	icmp, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	require.True(t, ok)
	assert.Equal(t, layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), icmp.TypeCode)
	assert.Equal(t, uint16(0x4242), icmp.Id)
	assert.Equal(t, uint16(3), icmp.Seq)
	assert.Equal(t, data, icmp.Payload)
	verr, res := icmp.VerifyChecksum()
	require.NoError(t, verr)
	assert.True(t, res.Valid, "gopacket verifies our ICMP checksum")

	// gopacket builds a request; our Endpoint answers; gopacket checks the reply.
	g4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: remote.AsSlice(), DstIP: local.AsSlice()}
	gi := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 77, Seq: 78}
	gb := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(gb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, g4, gi, gopacket.Payload(data)))

	e := &Endpoint{Addr: local}
	_, _, out, _ := e.Input(gb.Bytes(), nil)
	require.NotNil(t, out, "we answer gopacket's echo request")
	pkt = gopacket.NewPacket(out, layers.LayerTypeIPv4, gopacket.Default)
	require.Nil(t, pkt.ErrorLayer())
	ip4 := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	assert.Equal(t, net.IP(local.AsSlice()), ip4.SrcIP, "addresses swapped")
	assert.Equal(t, net.IP(remote.AsSlice()), ip4.DstIP, "addresses swapped")
	icmp = pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	assert.Equal(t, layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), icmp.TypeCode)
	assert.Equal(t, uint16(77), icmp.Id)
	assert.Equal(t, uint16(78), icmp.Seq)
	assert.Equal(t, data, icmp.Payload)
	verr, res = icmp.VerifyChecksum()
	require.NoError(t, verr)
	assert.True(t, res.Valid, "gopacket verifies the reply's ICMP checksum")

	// gopacket's IP checksum of the same header equals ours.
	want := ip4.Checksum
	gb = gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(gb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip4, gopacket.Payload(ip4.Payload)))
	assert.Equal(t, want, ip4.Checksum, "gopacket recomputes the same IP header checksum")
}

func TestGopacket_ChecksumAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1071, 3))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		assert.Equal(t, gopacket.FoldChecksum(gopacket.ComputeChecksum(b, 0)), Checksum(b, 0), "n=%d", n)
	}
}
