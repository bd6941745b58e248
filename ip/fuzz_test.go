package ip

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// fuzzSeeds are packets that reach every branch of Parse and Input.
func fuzzSeeds() [][]byte {
	tcp := Header{ID: 1, DontFragment: true, TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}
	frag := Header{MoreFragments: true, FragOffset: 1480, TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: local}
	udp := Header{TTL: 64, Protocol: 17, Src: remote, Dst: local}
	other := Header{TTL: 64, Protocol: ProtoTCP, Src: remote, Dst: netip.MustParseAddr("10.9.0.9")}
	opts := withOptions([]byte{0x94, 0x04, 0x00, 0x00}, 8)
	copy(opts[12:16], remote.AsSlice())
	copy(opts[16:20], local.AsSlice())
	opts[9] = ProtoTCP
	fixChecksum(opts)
	badSum := AppendPacket(nil, &tcp, []byte("bad"))
	badSum[11]++
	return [][]byte{
		nil,
		{0x45},
		knownPacket(),
		AppendPacket(nil, &tcp, []byte("hello, tcp")),
		append(AppendPacket(nil, &tcp, []byte("pad")), 0, 0, 0),
		AppendPacket(nil, &frag, make([]byte, 16)),
		AppendPacket(nil, &udp, make([]byte, 8)),
		AppendPacket(nil, &other, nil),
		AppendEchoRequest(nil, remote, local, 1, 2, []byte("ping data")),
		AppendEchoRequest(nil, netip.MustParseAddr("255.255.255.255"), local, 1, 2, nil),
		opts,
		badSum,
		AppendICMPError(nil, remote, local, ICMPTypeDestUnreachable, ICMPCodeFragNeeded, 1280, quotedTCP(8, nil)),
		AppendICMPError(nil, remote, local, ICMPTypeTimeExceeded, 0, 0, quotedTCP(7, nil)),
		AppendICMPError(nil, remote, local, ICMPTypeSourceQuench, 0, 0, quotedTCP(8, nil)),
		AppendICMPError(nil, remote, local, ICMPTypeParamProblem, 0, 0, quotedTCP(8, func(h *Header) { h.Src = remote })),
	}
}

// FuzzParse: Parse never panics, and a parsed header rebuilt without options
// parses back to the same values (and, for an options-less header, to the
// same bytes).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := Parse(b)
		if err != nil {
			return
		}
		if h.HeaderLen < HeaderLen || int(h.TotalLen) != h.HeaderLen+len(payload) || int(h.TotalLen) > len(b) {
			t.Fatalf("inconsistent lengths: %+v, payload %d, packet %d", h, len(payload), len(b))
		}
		if !bytes.Equal(payload, b[h.HeaderLen:h.TotalLen]) {
			t.Fatal("payload is not the bytes between the header and the total length")
		}
		h2 := h
		out := AppendPacket(nil, &h2, payload)
		got, gotPayload, err := Parse(out)
		if err != nil {
			t.Fatalf("rebuilt packet does not parse: %v", err)
		}
		want := h
		want.HeaderLen = HeaderLen
		want.TotalLen = uint16(HeaderLen + len(payload))
		want.Checksum = h2.Checksum
		if got != want || !bytes.Equal(gotPayload, payload) {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
		// Without options and with the reserved flag clear, the rebuilt
		// bytes are the original ones; the checksum may differ only as
		// +0 (0x0000) versus -0 (0xffff).
		if h.HeaderLen == HeaderLen && b[6]&0x80 == 0 {
			orig := b[:h.TotalLen]
			if !bytes.Equal(out[:10], orig[:10]) || !bytes.Equal(out[12:], orig[12:]) {
				t.Fatalf("rebuilt bytes differ:\n got %x\nwant %x", out, orig)
			}
			if c, oc := binary.BigEndian.Uint16(out[10:]), binary.BigEndian.Uint16(orig[10:]); c != oc && c|oc != 0xffff {
				t.Fatalf("checksum %#04x, original %#04x", c, oc)
			}
		}
	})
}

// FuzzEndpointInput: Input never panics, gives each packet exactly one
// outcome, anything it sends back is a valid echo reply, and an ICMP error
// it returns quotes a TCP segment from our address.
func FuzzEndpointInput(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var passed [][]byte
		e := &Endpoint{Addr: local, Unhandled: func(p []byte) { passed = append(passed, p) }}
		_, seg, out, ie := e.Input(pkt, make([]byte, 0, 64))
		s := e.Stats.Snapshot()
		if s.Received != 1 || outcomes(s) != 1 {
			t.Fatalf("want exactly one outcome: %v", s)
		}
		if uint64(len(passed)) != s.Unhandled || len(passed) > 1 {
			t.Fatalf("%d packets passed to Unhandled, counted %d", len(passed), s.Unhandled)
		}
		for _, p := range passed {
			// A whole, valid IPv4 packet to our address, and nothing else came of it.
			if h, _, err := Parse(p); err != nil || int(h.TotalLen) != len(p) || h.Dst != local || seg != nil || out != nil || ie.Type != 0 {
				t.Fatalf("Unhandled got %x (%v), with segment %v, reply %v, error %+v", p, err, seg != nil, out != nil, ie)
			}
		}
		if seg != nil && out != nil {
			t.Fatal("both a TCP segment and a reply")
		}
		if ie.Type != 0 {
			if seg != nil || out != nil || ie.Src != local || s.ICMPErrors != 1 {
				t.Fatalf("ICMP error %+v with segment %v, reply %v, stats %v", ie, seg != nil, out != nil, s)
			}
			if ie.Type != ICMPTypeDestUnreachable && ie.Type != ICMPTypeTimeExceeded && ie.Type != ICMPTypeParamProblem {
				t.Fatalf("ICMP error of type %d returned", ie.Type)
			}
		}
		if out == nil {
			return
		}
		rh, payload, err := Parse(out)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		m, err := ParseICMP(payload)
		if err != nil || m.Type != ICMPTypeEchoReply || rh.Src != local {
			t.Fatalf("bad reply %+v %+v: %v", rh, m, err)
		}
	})
}
