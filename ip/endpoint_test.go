package ip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	local  = netip.MustParseAddr("10.9.0.2")
	remote = netip.MustParseAddr("10.9.0.1")
)

// outcomes sums the per-packet outcome counters; it must equal Received.
func outcomes(s StatsSnapshot) uint64 {
	return s.Delivered + s.Malformed + s.BadChecksum + s.Fragments + s.NotForUs + s.UnknownProtocol + s.ICMPDropped
}

func TestEndpoint_EchoRequestGetsReply(t *testing.T) {
	e := &Endpoint{Addr: local}
	data := []byte("abcdefghijklmnopqrstuvwabcdefghi")
	req := AppendEchoRequest(nil, remote, local, 0x1234, 7, data)
	req[1] = 0x10 // a TOS the reply should copy

	fixChecksum(req)
	reply := make([]byte, 0, 1500)
	h, seg, out, _ := e.Input(req, reply)
	require.NotNil(t, out, "an echo request to our address is answered")
	assert.Nil(t, seg, "an ICMP packet is not a TCP segment")
	assert.Equal(t, uint8(ProtoICMP), h.Protocol)
	assert.Equal(t, &reply[:1][0], &out[0], "the reply is built in the caller's buffer")

	rh, payload, err := Parse(out)
	require.NoError(t, err, "the reply's IP header checksum verifies")
	assert.Equal(t, local, rh.Src, "RFC 1122 §3.2.2.6: the reply comes from the address the request was sent to")
	assert.Equal(t, remote, rh.Dst, "the reply goes back to the requester")
	assert.Equal(t, uint8(ProtoICMP), rh.Protocol)
	assert.Equal(t, uint8(64), rh.TTL, "TTL defaults to 64")
	assert.Equal(t, uint8(0x10), rh.TOS, "TOS is copied from the request")
	assert.Equal(t, uint16(1), rh.ID, "the IP ID comes from NextID")
	assert.False(t, rh.IsFragment())

	m, err := ParseICMP(payload)
	require.NoError(t, err, "the reply's ICMP checksum verifies")
	assert.Equal(t, uint8(ICMPTypeEchoReply), m.Type)
	assert.Equal(t, uint8(0), m.Code)
	assert.Equal(t, uint16(0x1234), m.ID, "identifier is echoed")
	assert.Equal(t, uint16(7), m.Seq, "sequence number is echoed")
	assert.Equal(t, data, m.Data, "RFC 792: the data is returned unchanged")

	s := e.Stats.Snapshot()
	assert.Equal(t, StatsSnapshot{Received: 1, Delivered: 1, EchoRequests: 1, EchoReplies: 1}, s)

	// The second reply gets a fresh IP ID.
	_, _, out, _ = e.Input(req, reply)
	rh, _, err = Parse(out)
	require.NoError(t, err)
	assert.Equal(t, uint16(2), rh.ID, "each reply has a new IP identification")
}

func TestEndpoint_EchoWithOptionsAndCustomTTL(t *testing.T) {
	e := &Endpoint{Addr: local, TTL: 9}
	icmp := appendEcho(nil, ICMPTypeEchoRequest, 1, 2, []byte("ping"))
	req := withOptions([]byte{1, 1, 1, 0}, len(icmp))
	copy(req[24:], icmp)
	req[9] = ProtoICMP
	copy(req[12:16], remote.AsSlice())
	copy(req[16:20], local.AsSlice())
	fixChecksum(req)
	_, _, out, _ := e.Input(req, nil)
	require.NotNil(t, out, "a request with IP options is still answered (options ignored)")
	rh, payload, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, HeaderLen, rh.HeaderLen, "the reply carries no options")
	assert.Equal(t, uint8(9), rh.TTL, "the configured TTL is used")
	m, err := ParseICMP(payload)
	require.NoError(t, err)
	assert.Equal(t, []byte("ping"), m.Data)
}

func TestEndpoint_TCPDelivered(t *testing.T) {
	e := &Endpoint{Addr: local}
	h := Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}
	pkt := AppendPacket(nil, &h, []byte("segment"))
	pkt = append(pkt, 0, 0) // link padding
	got, seg, out, _ := e.Input(pkt, nil)
	assert.Equal(t, h, got)
	assert.Equal(t, []byte("segment"), seg, "the TCP segment is the payload, padding trimmed")
	assert.Nil(t, out)
	assert.Equal(t, StatsSnapshot{Received: 1, Delivered: 1}, e.Stats.Snapshot())
}

func TestEndpoint_Drops(t *testing.T) {
	build := func(h Header, payload []byte) []byte { return AppendPacket(nil, &h, payload) }
	echo := appendEcho(nil, ICMPTypeEchoRequest, 1, 1, []byte("x"))
	badEcho := append([]byte(nil), echo...)
	badEcho[8] ^= 1
	badCode := appendEcho(nil, ICMPTypeEchoRequest, 1, 1, nil)
	badCode[1] = 1
	badCode[2], badCode[3] = 0, 0
	fixICMP(badCode)
	badIP := build(Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}, nil)
	badIP[10] ^= 0xff

	tests := []struct {
		name string
		pkt  []byte
		want StatsSnapshot
	}{
		{"truncated", []byte{0x45}, StatsSnapshot{Malformed: 1}},
		{"IPv6", append([]byte{0x60}, make([]byte, 39)...), StatsSnapshot{Malformed: 1}},
		{"bad header checksum", badIP, StatsSnapshot{BadChecksum: 1}},
		{"more fragments", build(Header{MoreFragments: true, TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}, make([]byte, 8)), StatsSnapshot{Fragments: 1}},
		{"last fragment", build(Header{FragOffset: 1480, TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}, make([]byte, 8)), StatsSnapshot{Fragments: 1}},
		{"not for us", build(Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: netip.MustParseAddr("10.9.0.3")}, nil), StatsSnapshot{NotForUs: 1}},
		{"echo not for us", build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: netip.MustParseAddr("10.9.0.255")}, echo), StatsSnapshot{NotForUs: 1}},
		{"UDP", build(Header{TTL: 64, Protocol: 17, Src: remote, Dst: local}, make([]byte, 8)), StatsSnapshot{UnknownProtocol: 1, Unhandled: 1}},
		{"ICMP truncated", build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: local}, echo[:7]), StatsSnapshot{ICMPDropped: 1}},
		{"ICMP bad checksum", build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: local}, badEcho), StatsSnapshot{ICMPDropped: 1}},
		{"ICMP echo code 1", build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: local}, badCode), StatsSnapshot{ICMPDropped: 1}},
		{"ICMP echo reply", AppendEchoRequest(nil, remote, local, 1, 1, nil), StatsSnapshot{Delivered: 1, EchoRequests: 1, EchoReplies: 1}}, // control row: a request is answered
		{"echo from broadcast source", AppendEchoRequest(nil, netip.MustParseAddr("255.255.255.255"), local, 1, 1, nil), StatsSnapshot{EchoRequests: 1, ICMPDropped: 1}},
		{"echo from multicast source", AppendEchoRequest(nil, netip.MustParseAddr("224.0.0.1"), local, 1, 1, nil), StatsSnapshot{EchoRequests: 1, ICMPDropped: 1}},
		{"echo from 0.0.0.0", AppendEchoRequest(nil, netip.MustParseAddr("0.0.0.0"), local, 1, 1, nil), StatsSnapshot{EchoRequests: 1, ICMPDropped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Endpoint{Addr: local}
			_, seg, out, _ := e.Input(tt.pkt, nil)
			assert.Nil(t, seg, "nothing is delivered to TCP")
			if tt.want.EchoReplies == 0 {
				assert.Nil(t, out, "nothing is sent back")
			}
			tt.want.Received = 1
			got := e.Stats.Snapshot()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got.Received, outcomes(got), "each packet has exactly one outcome")
		})
	}

	t.Run("echo reply is dropped", func(t *testing.T) {
		e := &Endpoint{Addr: local}
		icmp := appendEcho(nil, ICMPTypeEchoReply, 1, 1, nil)
		_, _, out, _ := e.Input(build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: local}, icmp), nil)
		assert.Nil(t, out, "we never answer a reply")
		assert.Equal(t, StatsSnapshot{Received: 1, ICMPDropped: 1, Unhandled: 1}, e.Stats.Snapshot())
	})
}

// Packets Input does not handle go to Unhandled, whole; the rest do not.
func TestEndpoint_Unhandled(t *testing.T) {
	build := func(h Header, payload []byte) []byte { return AppendPacket(nil, &h, payload) }
	udp := build(Header{TTL: 64, Protocol: 17, Src: remote, Dst: local}, make([]byte, 12))
	tests := []struct {
		name string
		pkt  []byte
		pass bool
	}{
		{"UDP", udp, true},
		{"UDP with trailing link padding", append(append([]byte{}, udp...), 0, 0), true},
		{"echo reply", build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: local}, appendEcho(nil, ICMPTypeEchoReply, 1, 1, nil)), true},
		{"echo request", AppendEchoRequest(nil, remote, local, 1, 1, nil), false},
		{"TCP", build(Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}, make([]byte, 20)), false},
		{"UDP not for us", build(Header{TTL: 64, Protocol: 17, Src: remote, Dst: netip.MustParseAddr("10.9.0.3")}, make([]byte, 8)), false},
		{"ICMP truncated", build(Header{TTL: 64, Protocol: ProtoICMP, Src: remote, Dst: local}, []byte{8, 0}), false},
		{"UDP over IPv6", AppendPacket6(nil, &Header6{NextHeader: 17, HopLimit: 64, Src: remote6, Dst: local6}, make([]byte, 12)), true},
		{"ICMPv6 echo request", AppendEchoRequest6(nil, remote6, local6, 1, 1, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]byte
			e := &Endpoint{Addr: local, Addrs: []netip.Addr{local6}, Unhandled: func(pkt []byte) { got = append(got, append([]byte{}, pkt...)) }}
			e.Input(tt.pkt, nil)
			if !tt.pass {
				assert.Empty(t, got)
				assert.Zero(t, e.Stats.Unhandled.Load())
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, ipLen(tt.pkt), len(got[0]), "the IP packet, without link padding")
			assert.Equal(t, tt.pkt[:len(got[0])], got[0])
			assert.Equal(t, uint64(1), e.Stats.Unhandled.Load())
		})
	}
}

// ipLen is the length an IP packet's header gives it.
func ipLen(pkt []byte) int {
	if Version(pkt) == 6 {
		return Header6Len + (int(pkt[4])<<8 | int(pkt[5]))
	}
	return int(pkt[2])<<8 | int(pkt[3])
}

// fixICMP recomputes the checksum of an ICMP message after a test edited it.
func fixICMP(b []byte) {
	b[2], b[3] = 0, 0
	c := Checksum(b, 0)
	b[2], b[3] = byte(c>>8), byte(c)
}

func TestParseICMP(t *testing.T) {
	good := appendEcho(nil, ICMPTypeEchoRequest, 0xabcd, 0x0102, []byte{9, 8, 7})
	m, err := ParseICMP(good)
	require.NoError(t, err)
	assert.Equal(t, uint8(ICMPTypeEchoRequest), m.Type)
	assert.Equal(t, uint16(0xabcd), m.ID)
	assert.Equal(t, uint16(0x0102), m.Seq)
	assert.Equal(t, []byte{9, 8, 7}, m.Data)

	bad := append([]byte(nil), good...)
	bad[len(bad)-1]++
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrICMPTruncated},
		{"7 bytes", good[:7], ErrICMPTruncated},
		{"bad checksum", bad, ErrICMPChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseICMP(tt.b)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestEndpoint_NextID(t *testing.T) {
	e := &Endpoint{}
	seen := make(map[uint16]bool)
	for range 1 << 16 {
		id := e.NextID()
		require.False(t, seen[id], "IDs do not repeat within 65536 packets")
		seen[id] = true
	}
	assert.Equal(t, uint16(1), e.NextID(), "the counter wraps")
}

func TestEndpoint_InputNoAllocs(t *testing.T) {
	e := &Endpoint{Addr: local}
	req := AppendEchoRequest(nil, remote, local, 1, 1, make([]byte, 56))
	h := Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}
	seg := AppendPacket(nil, &h, make([]byte, 1460))
	reply := make([]byte, 0, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		_, _, reply, _ = e.Input(req, reply)
		_, _, _, _ = e.Input(seg, reply)
	})
	assert.Zero(t, allocs, "the input path does not allocate when reply has room")
}

func TestStatsSnapshot_String(t *testing.T) {
	var e Endpoint
	e.Stats.Received.Add(3)
	e.Stats.ICMPDropped.Add(2)
	s := e.Stats.Snapshot().String()
	assert.True(t, strings.HasPrefix(s, "received=3 "), s)
	assert.Contains(t, s, "icmp_dropped=2")
}

func TestEndpoint_ConcurrentStatsRead(t *testing.T) {
	// Stats may be read while Input runs (race detector check).
	e := &Endpoint{Addr: local}
	req := AppendEchoRequest(nil, remote, local, 1, 1, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reply := make([]byte, 0, 64)
		for range 1000 {
			_, _, reply, _ = e.Input(req, reply)
		}
	}()
	for range 100 {
		_ = e.Stats.Snapshot()
	}
	<-done
	assert.Equal(t, uint64(1000), e.Stats.Snapshot().EchoReplies)
}

func BenchmarkEndpointInput(b *testing.B) {
	h := Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}
	tcp := AppendPacket(nil, &h, make([]byte, 1460))
	echo := AppendEchoRequest(nil, remote, local, 1, 1, make([]byte, 56))
	reply := make([]byte, 0, 1500)
	b.Run("tcp", func(b *testing.B) {
		e := &Endpoint{Addr: local}
		for b.Loop() {
			_, _, _, _ = e.Input(tcp, reply)
		}
	})
	b.Run("echo", func(b *testing.B) {
		e := &Endpoint{Addr: local}
		for b.Loop() {
			_, _, reply, _ = e.Input(echo, reply)
		}
	})
}
