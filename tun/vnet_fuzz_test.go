package tun

import (
	"bytes"
	"testing"
)

// FuzzVnetHeader feeds ParseVnetHeader and the conversion to ip.Offload
// arbitrary reads. Neither may panic; an accepted partial checksum lies
// inside the packet; an accepted header encodes back to the same octets;
// and what a GSO packet turns into through the software segmenter, or a
// partial checksum through its completion, stays in bounds.
func FuzzVnetHeader(f *testing.F) {
	tcp := func(n int) []byte {
		return buildTCP4(f, tcpSpec{ack: true, psh: true, payload: payloadOf(n)})
	}
	f.Add(withVnet(VnetHeader{}, tcp(10)))
	f.Add(withVnet(VnetHeader{Flags: VnetFlagDataValid}, tcp(100)))
	f.Add(withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: 20, CsumOffset: 16}, tcp(100)))
	f.Add(withVnet(VnetHeader{Flags: VnetFlagNeedsCsum, GSOType: VnetGSOTCPv4, GSOSize: 100, HdrLen: 52, CsumStart: 20, CsumOffset: 16}, tcp(1000)))
	f.Add(withVnet(VnetHeader{GSOType: VnetGSOTCPv6, GSOSize: 10}, append([]byte{0x60, 0, 0, 0, 0, 0, 6}, make([]byte, 60)...)))
	f.Add(withVnet(VnetHeader{GSOType: VnetGSOUDP, GSOSize: 10}, tcp(5)))
	f.Add([]byte{1, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, pkt, err := ParseVnetHeader(b)
		if err != nil {
			return
		}
		if h.Flags&VnetFlagNeedsCsum != 0 && int(h.CsumStart)+int(h.CsumOffset)+2 > len(pkt) {
			t.Fatalf("accepted a checksum at %d+%d outside %d octets", h.CsumStart, h.CsumOffset, len(pkt))
		}
		var enc [VnetHdrLen]byte
		h.Put(enc[:])
		if !bytes.Equal(enc[:], b[:VnetHdrLen]) {
			t.Fatalf("encode %x, parsed from %x", enc, b[:VnetHdrLen])
		}
		if h2, pkt2, err := ParseVnetHeader(append(enc[:], pkt...)); err != nil || h2 != h || !bytes.Equal(pkt2, pkt) {
			t.Fatalf("round trip: %+v %v, want %+v", h2, err, h)
		}
		o, err := h.Offload(pkt)
		if err != nil {
			return
		}
		if o.GSOSize > 0 && h.GSOType != VnetGSOTCPv4 {
			t.Fatalf("GSO size from GSO type %d", h.GSOType)
		}
		// The ReadPacket fallbacks on what the device passed.
		var r offloadReader
		out := make([]byte, 1500)
		pkt = bytes.Clone(pkt)
		n, err := r.deliver(pkt, o, out)
		for i := 0; err == nil && r.seg.pending(); i++ {
			if n > len(out) || i > len(pkt) {
				t.Fatalf("segment %d of %d octets", i, n)
			}
			n, err = r.seg.next(out)
		}
		if o.GSOSize > 0 || o.ChecksumPartial {
			// Metadata on a TCP packet: a fallback's output is one.
			if _, _, ok := tcpHeaders(pkt); !ok {
				t.Fatalf("offload %+v accepted on a packet that is not TCP", o)
			}
		}
	})
}
