package ip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEndpoint_AnyDst: with AnyDst the Endpoint takes TCP segments and ICMP
// errors to any address (a quote must come from the error's destination),
// and with EchoAny answers echo requests to any unicast address from it.
func TestEndpoint_AnyDst(t *testing.T) {
	other := netip.MustParseAddr("198.18.0.7")
	router := netip.MustParseAddr("10.0.0.254")
	tcp := func(dst netip.Addr) []byte {
		return AppendPacket(nil, &Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: dst}, []byte("seg"))
	}
	fromOther := quotedTCP(8, func(h *Header) { h.Src = other })
	rows := []struct {
		name         string
		anyDst, echo bool
		pkt          []byte
		want         StatsSnapshot
		seg, reply   bool
		icmpErr      bool
	}{
		{"TCP to another address, AnyDst off: not for us", false, false, tcp(other), StatsSnapshot{NotForUs: 1}, false, false, false},
		{"TCP to another address, AnyDst: delivered", true, false, tcp(other), StatsSnapshot{Delivered: 1}, true, false, false},
		{"echo to another address, EchoAny off: not for us", true, false, AppendEchoRequest(nil, remote, other, 1, 1, nil),
			StatsSnapshot{NotForUs: 1}, false, false, false},
		{"echo to another address, EchoAny: answered from it", true, true, AppendEchoRequest(nil, remote, other, 1, 1, nil),
			StatsSnapshot{Delivered: 1, EchoRequests: 1, EchoReplies: 1}, false, true, false},
		{"echo to our own address, AnyDst: answered", true, false, AppendEchoRequest(nil, remote, local, 1, 1, nil),
			StatsSnapshot{Delivered: 1, EchoRequests: 1, EchoReplies: 1}, false, true, false},
		{"echo to a multicast address, EchoAny: not answered", true, true, AppendEchoRequest(nil, remote, netip.MustParseAddr("224.0.0.1"), 1, 1, nil),
			StatsSnapshot{NotForUs: 1}, false, false, false},
		{"echo to the limited broadcast, EchoAny: not answered", true, true, AppendEchoRequest(nil, remote, limitedBroadcast, 1, 1, nil),
			StatsSnapshot{NotForUs: 1}, false, false, false},
		{"ICMP error to another address quoting it: delivered", true, false, AppendICMPError(nil, router, other, 3, 4, 1280, fromOther),
			StatsSnapshot{Delivered: 1, ICMPErrors: 1}, false, false, true},
		{"ICMP error to another address quoting ours: not ours", true, false, AppendICMPError(nil, router, other, 3, 4, 1280, quotedTCP(8, nil)),
			StatsSnapshot{ICMPDropped: 1, ICMPErrorNotOurs: 1, Unhandled: 1}, false, false, false}, // and handed to Config.Unhandled
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			e := &Endpoint{Addr: local, AnyDst: row.anyDst, EchoAny: row.echo}
			h, seg, out, ie := e.Input(row.pkt, nil)
			row.want.Received = 1
			got := e.Stats.Snapshot()
			assert.Equal(t, row.want, got)
			assert.Equal(t, got.Received, outcomes(got), "each packet has exactly one outcome")
			assert.Equal(t, row.seg, seg != nil, "a TCP segment is delivered")
			assert.Equal(t, row.icmpErr, ie.Type != 0, "an ICMP error is delivered")
			if ie.Type != 0 {
				assert.Equal(t, other, ie.Src, "the quoted source: the forwarded address")
			}
			require.Equal(t, row.reply, out != nil, "an echo reply")
			if out != nil {
				rh, _, err := Parse(out)
				require.NoError(t, err)
				assert.Equal(t, h.Dst, rh.Src, "RFC 1122 §3.2.2.6: the reply comes from the address asked")
			}
		})
	}
}

// TestEndpoint_AnyDst6: the same over IPv6.
func TestEndpoint_AnyDst6(t *testing.T) {
	other := netip.MustParseAddr("2001:db8:18::7")
	tcp := packet6(ProtoTCP, make([]byte, 20))
	binaryDst := func(p []byte, a netip.Addr) []byte {
		q := append([]byte(nil), p...)
		d := a.As16()
		copy(q[24:40], d[:])
		return q
	}
	rows := []struct {
		name         string
		anyDst, echo bool
		pkt          []byte
		want         StatsSnapshot
		seg, reply   bool
	}{
		{"TCP to another address, AnyDst off: not for us", false, false, binaryDst(tcp, other), StatsSnapshot{NotForUs: 1}, false, false},
		{"TCP to another address, AnyDst: delivered", true, false, binaryDst(tcp, other), StatsSnapshot{Delivered: 1}, true, false},
		{"echo to another address, EchoAny off: not for us", true, false, AppendEchoRequest6(nil, remote6, other, 1, 1, nil), StatsSnapshot{NotForUs: 1}, false, false},
		{"echo to another address, EchoAny: answered from it", true, true, AppendEchoRequest6(nil, remote6, other, 1, 1, nil),
			StatsSnapshot{Delivered: 1, EchoRequests: 1, EchoReplies: 1}, false, true},
		{"echo to a multicast address, EchoAny: not answered", true, true, AppendEchoRequest6(nil, remote6, netip.MustParseAddr("ff02::1"), 1, 1, nil),
			StatsSnapshot{NotForUs: 1}, false, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			e := &Endpoint{Addr: local6, AnyDst: row.anyDst, EchoAny: row.echo}
			h, seg, out, _ := e.InputAt(time.Unix(1, 0), row.pkt, nil)
			row.want.Received = 1
			got := e.Stats.Snapshot()
			assert.Equal(t, row.want, got)
			assert.Equal(t, row.seg, seg != nil)
			require.Equal(t, row.reply, out != nil)
			if out != nil {
				rh, _, err := Parse6(out)
				require.NoError(t, err)
				assert.Equal(t, h.Dst, rh.Src, "RFC 4443 §4.2: the reply comes from the address asked")
			}
		})
	}
}
