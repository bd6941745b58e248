package tun

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

var (
	vnetSrc  = netip.MustParseAddr("10.9.0.1")
	vnetDst  = netip.MustParseAddr("10.9.0.2")
	vnetSrc6 = netip.MustParseAddr("fd00:9::1")
	vnetDst6 = netip.MustParseAddr("fd00:9::2")
)

// tcpSpec describes a TCP packet that gopacket builds.
type tcpSpec struct {
	v6                      bool           // IPv6 instead of IPv4 (id is then unused)
	src, dst                netip.AddrPort // default 10.9.0.1:5000 to 10.9.0.2:80, or fd00:9::1 to fd00:9::2
	id                      uint16
	seq, ackNum             uint32
	mss                     uint16 // an MSS option instead of timestamps (a SYN)
	fin, syn, psh, ack, cwr bool
	payload                 []byte
}

// buildTCP4 serializes s with gopacket, an independent codec, with full
// checksums and a timestamps option (so the TCP header is 32 octets).
func buildTCP4(t testing.TB, s tcpSpec) []byte {
	t.Helper()
	if !s.src.IsValid() {
		s.src, s.dst = netip.AddrPortFrom(vnetSrc, 5000), netip.AddrPortFrom(vnetDst, 80)
		if s.v6 {
			s.src, s.dst = netip.AddrPortFrom(vnetSrc6, 5000), netip.AddrPortFrom(vnetDst6, 80)
		}
	}
	if s.ackNum == 0 {
		s.ackNum = 77
	}
	var ipl gopacket.NetworkLayer = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: s.id, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP, SrcIP: net.IP(s.src.Addr().AsSlice()), DstIP: net.IP(s.dst.Addr().AsSlice())}
	if s.v6 {
		ipl = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(s.src.Addr().AsSlice()), DstIP: net.IP(s.dst.Addr().AsSlice())}
	}
	ts := make([]byte, 8)
	binary.BigEndian.PutUint32(ts, 1000)
	binary.BigEndian.PutUint32(ts[4:], 2000)
	opts := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts},
	}
	if s.mss != 0 {
		opts = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, s.mss)}}
	}
	tcpl := &layers.TCP{SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()), Seq: s.seq, Ack: s.ackNum, Window: 65535,
		FIN: s.fin, SYN: s.syn, PSH: s.psh, ACK: s.ack, CWR: s.cwr, Options: opts}
	require.NoError(t, tcpl.SetNetworkLayerForChecksum(ipl))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ipl.(gopacket.SerializableLayer), tcpl, gopacket.Payload(s.payload)))
	return append([]byte(nil), buf.Bytes()...)
}

// makePartial replaces the TCP checksum of pkt by the folded pseudo-header
// sum over the whole TCP length, as Linux's tcp_v4_send_check leaves it.
func makePartial(pkt []byte) {
	ipLen, src, dst := packetAddrs(pkt)
	binary.BigEndian.PutUint16(pkt[ipLen+16:], ^ip.Fold(ip.PseudoHeaderSum(src, dst, ip.ProtoTCP, len(pkt)-ipLen)))
}

// packetAddrs returns the IP header length (no IPv6 extension headers)
// and the addresses of pkt.
func packetAddrs(pkt []byte) (int, netip.Addr, netip.Addr) {
	if pkt[0]>>4 == 6 {
		return ip.Header6Len, netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	}
	return int(pkt[0]&0x0f) * 4, netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
}

// tcpChecksumOK verifies the full TCP checksum of an IPv4 TCP packet.
func tcpChecksumOK(pkt []byte) bool {
	ipLen, src, dst := packetAddrs(pkt)
	return ip.Checksum(pkt[ipLen:], ip.PseudoHeaderSum(src, dst, ip.ProtoTCP, len(pkt)-ipLen)) == 0
}

func withVnet(h VnetHeader, pkt []byte) []byte {
	b := make([]byte, VnetHdrLen+len(pkt))
	h.Put(b)
	copy(b[VnetHdrLen:], pkt)
	return b
}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func TestParseVnetHeader(t *testing.T) {
	small := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(100)}) // 20+32+100
	v6 := make([]byte, 60)
	v6[0], v6[6] = 0x60, ip.ProtoTCP
	udp4 := append([]byte(nil), small...)
	udp4[9] = 17
	partial := VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}
	tests := []struct {
		name    string
		b       []byte
		wantErr string // "" accepts
	}{
		{"plain", withVnet(VnetHeader{}, small), ""},
		{"data valid", withVnet(VnetHeader{Flags: VnetFlagDataValid}, small), ""},
		{"partial", withVnet(partial, small), ""},
		{"GSO TCPv4", withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 50, HdrLen: 52, CsumStart: 20, CsumOffset: 16}, small), ""},
		{"GSO TCPv6 on IPv6", withVnet(VnetHeader{GSOType: VnetGSOTCPv6, GSOSize: 10}, v6), ""},
		{"GSO UDP on IPv4 UDP", withVnet(VnetHeader{GSOType: VnetGSOUDP, GSOSize: 10}, udp4), ""},
		{"empty", nil, "0 octets"},
		{"truncated header", withVnet(VnetHeader{}, nil)[:9], "9 octets"},
		{"unknown flag", withVnet(VnetHeader{Flags: 4}, small), "unknown flags"},
		{"unknown GSO type", withVnet(VnetHeader{GSOType: 2, GSOSize: 10}, small), "unknown GSO type 2"},
		{"ECN bit", withVnet(VnetHeader{GSOType: VnetGSOTCPv4 | VnetGSOECN, GSOSize: 10}, small), "ECN"},
		{"checksum start outside", withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: uint16(len(small)), CsumOffset: 0}, small), "outside"},
		{"checksum field straddles the end", withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: uint16(len(small) - 21)}, small), "outside"},
		{"checksum offsets overflow 16 bits", withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 0xffff, CsumOffset: 0xffff}, small), "outside"},
		{"GSO size 0", withVnet(VnetHeader{GSOType: VnetGSOTCPv4}, small), "GSO size 0"},
		{"TCPv4 GSO on IPv6", withVnet(VnetHeader{GSOType: VnetGSOTCPv4, GSOSize: 10}, v6), "IP version 6"},
		{"TCPv6 GSO on IPv4", withVnet(VnetHeader{GSOType: VnetGSOTCPv6, GSOSize: 10}, small), "IP version 4"},
		{"TCPv4 GSO on UDP", withVnet(VnetHeader{GSOType: VnetGSOTCPv4, GSOSize: 10}, udp4), "protocol 17"},
		{"GSO on an empty packet", withVnet(VnetHeader{GSOType: VnetGSOTCPv4, GSOSize: 10}, nil), "GSO type 1 on a packet"},
		{"GSO on a short packet", withVnet(VnetHeader{GSOType: VnetGSOTCPv4, GSOSize: 10}, small[:19]), "GSO type 1 on a packet"},
		{"header length beyond the packet", withVnet(VnetHeader{HdrLen: uint16(len(small) + 1)}, small), "header length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, pkt, err := ParseVnetHeader(tt.b)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrVnetHeader)
				require.ErrorIs(t, err, ip.ErrBadOffload, "the stack counts it and reads on")
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.b[VnetHdrLen:], pkt)
			var enc [VnetHdrLen]byte
			h.Put(enc[:])
			assert.Equal(t, tt.b[:VnetHdrLen], enc[:], "Put encodes what ParseVnetHeader decoded")
		})
	}
}

func TestVnetHeader_LittleEndianLayout(t *testing.T) {
	h := VnetHeader{Flags: 1, GSOType: 4, HdrLen: 0x0102, GSOSize: 0x0304, CsumStart: 0x0506, CsumOffset: 0x0708}
	var b [VnetHdrLen]byte
	h.Put(b[:])
	// struct virtio_net_hdr: u8 flags, u8 gso_type, then four __virtio16.
	assert.Equal(t, []byte{1, 4, 2, 1, 4, 3, 6, 5, 8, 7}, b[:])
}

func TestVnetHeader_Offload(t *testing.T) {
	pkt := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(3000)})
	v6 := make([]byte, 60)
	v6[0], v6[5], v6[6], v6[40+12] = 0x60, 20, ip.ProtoTCP, 5<<4 // payload length 20, a bare TCP header
	tests := []struct {
		name    string
		h       VnetHeader
		pkt     []byte
		want    ip.Offload
		wantErr string
	}{
		{"plain", VnetHeader{}, pkt, ip.Offload{}, ""},
		{"data valid", VnetHeader{Flags: VnetFlagDataValid}, pkt, ip.Offload{ChecksumValid: true}, ""},
		{"partial", VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, pkt, ip.Offload{ChecksumPartial: true}, ""},
		{"GSO", VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 1448, HdrLen: 52, CsumStart: 20, CsumOffset: 16}, pkt,
			ip.Offload{GSOSize: 1448, ChecksumPartial: true}, ""},
		{"TCPv6 GSO", VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv6, GSOSize: 10, CsumStart: 40, CsumOffset: 16}, v6, ip.Offload{GSOSize: 10, ChecksumPartial: true}, ""},
		{"TCPv6 partial checksum at the IPv4 place", VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, v6, ip.Offload{}, "not the TCP checksum"},
		{"UDP GSO", VnetHeader{GSOType: VnetGSOUDP, GSOSize: 10}, pkt, ip.Offload{}, "GSO type 3 not handled"},
		{"partial checksum elsewhere", VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 6}, pkt, ip.Offload{}, "not the TCP checksum"},
		{"partial checksum on a truncated packet", VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, pkt[:100], ip.Offload{}, "not TCP with whole headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.h.Offload(tt.pkt)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrVnetHeader)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestVnetHeaderFor(t *testing.T) {
	big := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(5000)})
	small := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(100)})
	tests := []struct {
		name    string
		pkt     []byte
		o       ip.Offload
		want    VnetHeader
		wantErr bool
	}{
		{"plain", big, ip.Offload{}, VnetHeader{}, false},
		{"partial", small, ip.Offload{ChecksumPartial: true}, VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, false},
		{"GSO", big, ip.Offload{GSOSize: 1448, ChecksumPartial: true},
			VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 1448, HdrLen: 52, CsumStart: 20, CsumOffset: 16}, false},
		{"GSO of one segment is plain partial", small, ip.Offload{GSOSize: 1448, ChecksumPartial: true},
			VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, false},
		{"GSO without partial checksum", big, ip.Offload{GSOSize: 1448}, VnetHeader{}, true},
		{"partial on a non-TCP packet", echoPacketBytes(), ip.Offload{ChecksumPartial: true}, VnetHeader{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vnetHeaderFor(tt.pkt, tt.o)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			_, _, err = ParseVnetHeader(withVnet(got, tt.pkt))
			require.NoError(t, err, "what we write parses")
		})
	}
}

func echoPacketBytes() []byte {
	return ip.AppendEchoRequest(nil, vnetSrc, vnetDst, 1, 1, []byte("ping"))
}

// The software segmentation makes, byte for byte, the packets gopacket
// builds for each MSS-sized piece: lengths, IP ID, sequence numbers,
// FIN/PSH on the last only, CWR on the first only, full checksums.
func TestSegmenter_MatchesGopacket(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) { testSegmenterMatchesGopacket(t, false) })
	t.Run("IPv6", func(t *testing.T) { testSegmenterMatchesGopacket(t, true) })
}

func testSegmenterMatchesGopacket(t *testing.T, v6 bool) {
	mss := 1448 // a 1500-octet MTU less 52 octets of IPv4 and TCP headers
	id := func(i int) uint16 { return 9 + uint16(i) }
	if v6 {
		mss, id = 1428, func(int) uint16 { return 0 }
	}
	for _, size := range []int{1, mss - 1, mss, mss + 1, 10 * mss, 10*mss + 7, 65535 - 72} {
		data := payloadOf(size)
		gso := buildTCP4(t, tcpSpec{v6: v6, id: id(0), seq: 0xfffff000, fin: true, psh: true, ack: true, cwr: true, payload: data})
		makePartial(gso)

		var s segmenter
		require.NoError(t, s.start(gso, mss))
		var got [][]byte
		for s.pending() {
			b := make([]byte, 1500)
			n, err := s.next(b)
			require.NoError(t, err)
			got = append(got, b[:n])
		}
		want := (size + mss - 1) / mss
		require.Len(t, got, want, "payload %d", size)
		for i, seg := range got {
			off := i * mss
			end := min(off+mss, size)
			last := i == want-1
			exp := buildTCP4(t, tcpSpec{v6: v6, id: id(i), seq: 0xfffff000 + uint32(off), fin: last, psh: last, ack: true, cwr: i == 0, payload: data[off:end]})
			require.Equal(t, exp, seg, "payload %d, segment %d", size, i)
			assert.True(t, tcpChecksumOK(seg))
		}
	}
}

func TestSegmenter_ShortBufferLosesOneSegment(t *testing.T) {
	gso := buildTCP4(t, tcpSpec{ack: true, payload: payloadOf(3000)})
	var s segmenter
	require.NoError(t, s.start(gso, 1000))
	_, err := s.next(make([]byte, 100))
	require.ErrorIs(t, err, io.ErrShortBuffer)
	b := make([]byte, 1500)
	n, err := s.next(b)
	require.NoError(t, err)
	assert.Equal(t, 52+1000, n)
	assert.Equal(t, uint32(1000), binary.BigEndian.Uint32(b[24:]), "the second segment follows")
	assert.True(t, s.pending())
}

func TestSegmenter_RefusesNonTCP(t *testing.T) {
	var s segmenter
	require.ErrorIs(t, s.start(echoPacketBytes(), 1000), ErrVnetHeader)
	require.ErrorIs(t, s.start(buildTCP4(t, tcpSpec{payload: payloadOf(10)}), 0), ErrVnetHeader)
	assert.False(t, s.pending())
}

func TestCompleteChecksum(t *testing.T) {
	pkt := buildTCP4(t, tcpSpec{ack: true, psh: true, payload: payloadOf(777)})
	want := append([]byte(nil), pkt...)
	makePartial(pkt)
	require.False(t, tcpChecksumOK(pkt))
	completeChecksum(pkt, 20, 16)
	assert.Equal(t, want, pkt, "completing the pseudo-header sum gives the full checksum")
}
