package tcp

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

// These tests cross-check the codec against gopacket's TCP layer, an independent decoder and encoder.

// gopacketOptions interprets gopacket's raw option list the way RFC 9293 §3.2, RFC 7323 and RFC 2018 define it.
func gopacketOptions(t *testing.T, opts []layers.TCPOption) Options {
	t.Helper()
	var o Options
	for _, op := range opts {
		d := op.OptionData
		switch op.OptionType {
		case layers.TCPOptionKindMSS:
			require.Len(t, d, 2)
			o.MSS = binary.BigEndian.Uint16(d)
		case layers.TCPOptionKindWindowScale:
			require.Len(t, d, 1)
			o.HasWindowScale, o.WindowScale = true, min(d[0], maxWindowScale)
		case layers.TCPOptionKindSACKPermitted:
			o.SACKPermitted = true
		case layers.TCPOptionKindTimestamps:
			require.Len(t, d, 8)
			o.HasTimestamp, o.TSVal, o.TSEcr = true, binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		case layers.TCPOptionKindSACK:
			require.Zero(t, len(d)%8)
			o.SACKBlocks = nil
			for i := 0; i < len(d); i += 8 {
				o.SACKBlocks = append(o.SACKBlocks, SACKBlock{Seq(binary.BigEndian.Uint32(d[i:])), Seq(binary.BigEndian.Uint32(d[i+4:]))})
			}
		}
	}
	return o
}

func gopacketFlags(l *layers.TCP) Flags {
	var f Flags
	for _, b := range []struct {
		set bool
		f   Flags
	}{{l.FIN, FlagFIN}, {l.SYN, FlagSYN}, {l.RST, FlagRST}, {l.PSH, FlagPSH}, {l.ACK, FlagACK}, {l.URG, FlagURG}, {l.ECE, FlagECE}, {l.CWR, FlagCWR}} {
		if b.set {
			f |= b.f
		}
	}
	return f
}

// AppendSegment inside ip.AppendPacket, decoded by gopacket: every field, option and the checksum agree.
func TestGopacket_DecodesAppendSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		s := randCodecSegment(r, false)
		want := wireNormal(s)
		seg := AppendSegment(nil, &s, codecSrc, codecDst)
		pkt := ip.AppendPacket(nil, &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: codecSrc, Dst: codecDst}, seg)

		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
		require.Nil(t, p.ErrorLayer(), "segment %d %v: gopacket fails to decode", i, &s)
		l, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		require.True(t, ok, "segment %d: no TCP layer", i)

		assert.Equal(t, want.SrcPort, uint16(l.SrcPort))
		assert.Equal(t, want.DstPort, uint16(l.DstPort))
		assert.Equal(t, uint32(want.Seq), l.Seq)
		assert.Equal(t, uint32(want.Ack), l.Ack)
		assert.Equal(t, want.Flags, gopacketFlags(l))
		assert.False(t, l.NS, "the reserved/AE bit is sent as zero")
		assert.Equal(t, want.Window, l.Window)
		assert.Equal(t, want.Urgent, l.Urgent)
		assert.Equal(t, s.headerLen(), int(l.DataOffset)*4)
		assert.Equal(t, want.Options, gopacketOptions(t, l.Options), "segment %d %v", i, &s)
		assert.Empty(t, l.Padding, "the Linux layout needs no EOL padding")
		assert.Equal(t, len(want.Payload), len(l.Payload))
		if len(want.Payload) > 0 {
			assert.Equal(t, want.Payload, l.Payload)
		}

		// gopacket's own checksum of the segment with the field zeroed must be the one we wrote (MUST-2).
		zeroed := append([]byte(nil), pkt...)
		zeroed[ip.HeaderLen+16], zeroed[ip.HeaderLen+17] = 0, 0
		pz := gopacket.NewPacket(zeroed, layers.LayerTypeIPv4, gopacket.Default)
		lz := pz.Layer(layers.LayerTypeTCP).(*layers.TCP)
		require.NoError(t, lz.SetNetworkLayerForChecksum(pz.NetworkLayer()))
		sum, err := lz.ComputeChecksum()
		require.NoError(t, err)
		require.Equal(t, l.Checksum, sum, "segment %d: gopacket computes the checksum we sent", i)
	}
}

// randGopacketTCP builds a random gopacket TCP layer with options in random order, NOPs and
// an unknown option, and returns the Options decodeSegment should see.
func randGopacketTCP(r *rand.Rand) (*layers.TCP, Options) {
	l := &layers.TCP{
		SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
		Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
		FIN: r.IntN(2) == 0, SYN: r.IntN(2) == 0, RST: r.IntN(2) == 0, PSH: r.IntN(2) == 0,
		ACK: r.IntN(2) == 0, URG: r.IntN(2) == 0, ECE: r.IntN(2) == 0, CWR: r.IntN(2) == 0,
		NS: r.IntN(2) == 0, // the AE bit, which decodeSegment ignores
	}
	var want Options
	var cands []func() (layers.TCPOption, func())
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	cands = append(cands,
		func() (layers.TCPOption, func()) {
			v := uint16(1 + r.IntN(65535))
			return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: u16(v)}, func() { want.MSS = v }
		},
		func() (layers.TCPOption, func()) {
			v := uint8(r.Uint32())
			return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{v}},
				func() { want.HasWindowScale, want.WindowScale = true, min(v, maxWindowScale) }
		},
		func() (layers.TCPOption, func()) {
			return layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}, func() { want.SACKPermitted = true }
		},
		func() (layers.TCPOption, func()) {
			v, e := r.Uint32(), r.Uint32()
			d := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, v), e)
			return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: d},
				func() { want.HasTimestamp, want.TSVal, want.TSEcr = true, v, e }
		},
		func() (layers.TCPOption, func()) {
			var d []byte
			var blocks []SACKBlock
			for range 1 + r.IntN(4) {
				b := SACKBlock{Seq(r.Uint32()), Seq(r.Uint32())}
				blocks = append(blocks, b)
				d = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(d, uint32(b.Left)), uint32(b.Right))
			}
			return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: d}, func() { want.SACKBlocks = blocks }
		},
		func() (layers.TCPOption, func()) {
			d := make([]byte, r.IntN(7))
			for i := range d {
				d[i] = byte(r.Uint32())
			}
			return layers.TCPOption{OptionType: layers.TCPOptionKind(253 + r.IntN(2)), OptionData: d}, func() {} // MUST-6
		},
		func() (layers.TCPOption, func()) {
			return layers.TCPOption{OptionType: layers.TCPOptionKindNop}, func() {}
		},
	)
	r.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	size := 0
	for _, c := range cands[:r.IntN(len(cands)+1)] {
		op, apply := c()
		n := 2 + len(op.OptionData)
		if op.OptionType == layers.TCPOptionKindNop {
			n = 1
		}
		if size+n > MaxOptionsLen {
			continue
		}
		size += n
		l.Options = append(l.Options, op)
		apply()
	}
	return l, want
}

// Segments serialized by gopacket (with its checksum) decode with decodeSegment and verify with VerifyChecksum.
func TestGopacket_SerializedDecodeSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	srcIP, dstIP := net.IP(codecSrc.AsSlice()), net.IP(codecDst.AsSlice())
	for i := range 2000 {
		l, wantOpts := randGopacketTCP(r)
		payload := make([]byte, r.IntN(100))
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: srcIP, DstIP: dstIP}
		require.NoError(t, l.SetNetworkLayerForChecksum(ip4))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
			ip4, l, gopacket.Payload(payload)))

		h, seg, err := ip.Parse(buf.Bytes())
		require.NoError(t, err)
		require.True(t, VerifyChecksum(seg, h.Src, h.Dst), "segment %d: MUST-3 gopacket's checksum verifies", i)
		s, err := decodeSegment(seg)
		require.NoError(t, err, "segment %d: % x", i, seg)

		assert.Equal(t, uint16(l.SrcPort), s.SrcPort)
		assert.Equal(t, uint16(l.DstPort), s.DstPort)
		assert.Equal(t, Seq(l.Seq), s.Seq)
		assert.Equal(t, Seq(l.Ack), s.Ack)
		assert.Equal(t, gopacketFlags(l), s.Flags)
		assert.Equal(t, l.Window, s.Window)
		assert.Equal(t, l.Urgent, s.Urgent)
		assert.Equal(t, wantOpts, s.Options, "segment %d: % x", i, seg[HeaderLen:int(l.DataOffset)*4])
		assert.Equal(t, len(payload), len(s.Payload))
		if len(payload) > 0 {
			assert.Equal(t, payload, s.Payload)
		}
	}
}
