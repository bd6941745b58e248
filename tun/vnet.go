package tun

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/utcp/utcp/ip"
)

// VnetHdrLen is the size of struct virtio_net_hdr, the header a TUN device
// opened with IFF_VNET_HDR puts before every packet (TUNSETVNETHDRSZ
// default).
const VnetHdrLen = 10

// The flags and GSO types of struct virtio_net_hdr (Virtio 1.1 §5.1.6,
// linux/virtio_net.h).
const (
	VnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at CsumStart+CsumOffset is partial
	VnetFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: the checksums have been verified

	VnetGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	VnetGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	VnetGSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP
	VnetGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	VnetGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN: the segments carry CWR (only with TUN_F_TSO_ECN)
)

// ErrVnetHeader means a packet's virtio-net header was malformed or asked
// for an offload the link does not handle; the packet is dropped. It wraps
// ip.ErrBadOffload.
var ErrVnetHeader = fmt.Errorf("tun: bad virtio-net header: %w", ip.ErrBadOffload)

// VnetHeader is struct virtio_net_hdr. A TUN device uses little-endian
// fields unless TUNSETVNETBE is set (tun_is_little_endian), which utcp never
// does.
type VnetHeader struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // length of the headers (Linux puts skb_headlen here: a hint)
	GSOSize    uint16 // payload octets per segment
	CsumStart  uint16 // where checksumming starts, from the start of the packet
	CsumOffset uint16 // where the checksum goes, from CsumStart
}

// ParseVnetHeader splits b into its virtio-net header and the packet after
// it and checks the header against the packet: known flags and GSO type,
// no ECN bit, a checksum region inside the packet, a non-zero GSO size with
// a GSO type whose IP version and protocol the packet has, and a header
// length no longer than the packet. Errors wrap ErrVnetHeader.
func ParseVnetHeader(b []byte) (VnetHeader, []byte, error) {
	if len(b) < VnetHdrLen {
		return VnetHeader{}, nil, fmt.Errorf("%w: %d octets, want %d", ErrVnetHeader, len(b), VnetHdrLen)
	}
	h := decodeVnetHeader(b)
	pkt := b[VnetHdrLen:]
	if err := h.check(pkt); err != nil {
		return VnetHeader{}, nil, err
	}
	return h, pkt, nil
}

// decodeVnetHeader decodes b[:VnetHdrLen].
func decodeVnetHeader(b []byte) VnetHeader {
	_ = b[VnetHdrLen-1]
	return VnetHeader{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
}

// check validates h against the packet it precedes (ParseVnetHeader).
func (h *VnetHeader) check(pkt []byte) error {
	if h.Flags&^(VnetFlagNeedsCsum|VnetFlagDataValid) != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrVnetHeader, h.Flags)
	}
	if h.GSOType&VnetGSOECN != 0 {
		return fmt.Errorf("%w: ECN bit set without TUN_F_TSO_ECN", ErrVnetHeader)
	}
	if h.Flags&VnetFlagNeedsCsum != 0 {
		if end := int(h.CsumStart) + int(h.CsumOffset) + 2; end > len(pkt) {
			return fmt.Errorf("%w: checksum at %d+%d outside the %d-octet packet", ErrVnetHeader, h.CsumStart, h.CsumOffset, len(pkt))
		}
	}
	if int(h.HdrLen) > len(pkt) {
		return fmt.Errorf("%w: header length %d beyond the %d-octet packet", ErrVnetHeader, h.HdrLen, len(pkt))
	}
	var version, proto uint8
	switch h.GSOType {
	case VnetGSONone:
		return nil
	case VnetGSOTCPv4:
		version, proto = 4, ip.ProtoTCP
	case VnetGSOTCPv6:
		version, proto = 6, ip.ProtoTCP
	case VnetGSOUDP:
		version, proto = 0, protoUDP // either version
	default:
		return fmt.Errorf("%w: unknown GSO type %d", ErrVnetHeader, h.GSOType)
	}
	if h.GSOSize == 0 {
		return fmt.Errorf("%w: GSO type %d with GSO size 0", ErrVnetHeader, h.GSOType)
	}
	if v, p, ok := ipVersionProto(pkt); !ok || (version != 0 && v != version) || p != proto {
		return fmt.Errorf("%w: GSO type %d on a packet of IP version %d, protocol %d", ErrVnetHeader, h.GSOType, v, p)
	}
	return nil
}

// ipVersionProto returns the IP version and the protocol (IPv4) or next
// header (IPv6, without extension headers) of pkt.
func ipVersionProto(pkt []byte) (version, proto uint8, ok bool) {
	if len(pkt) == 0 {
		return 0, 0, false
	}
	switch version = pkt[0] >> 4; version {
	case 4:
		if len(pkt) < ip.HeaderLen {
			return version, 0, false
		}
		return version, pkt[9], true
	case 6:
		if len(pkt) < 40 {
			return version, 0, false
		}
		return version, pkt[6], true // RFC 8200 §3: Next Header
	}
	return version, 0, false
}

// Put encodes h into b[:VnetHdrLen].
func (h *VnetHeader) Put(b []byte) {
	_ = b[VnetHdrLen-1]
	b[0], b[1] = h.Flags, h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
}

// protoUDP is UDP's IP protocol number (RFC 768).
const protoUDP = 17

// tcpCsumOffset is where the checksum sits in a TCP header (RFC 9293 §3.1).
const tcpCsumOffset = 16

// Offload converts a header that ParseVnetHeader accepted for pkt into the
// metadata the stack handles: TCP over IPv4 or IPv6 (a fixed header only).
// It refuses (ErrVnetHeader) a GSO type other than TCPv4 and TCPv6, one
// whose family is not the packet's, and a partial checksum anywhere but the
// TCP checksum, the only layout the software fallbacks complete.
func (h *VnetHeader) Offload(pkt []byte) (ip.Offload, error) {
	o := ip.Offload{
		ChecksumPartial: h.Flags&VnetFlagNeedsCsum != 0,
		ChecksumValid:   h.Flags&VnetFlagDataValid != 0,
	}
	switch h.GSOType {
	case VnetGSONone:
	case VnetGSOTCPv4, VnetGSOTCPv6:
		o.GSOSize = h.GSOSize
	default:
		return ip.Offload{}, fmt.Errorf("%w: GSO type %d not handled", ErrVnetHeader, h.GSOType)
	}
	if !o.ChecksumPartial && o.GSOSize == 0 {
		return o, nil
	}
	ipLen, _, ok := tcpHeaders(pkt)
	if !ok {
		return ip.Offload{}, fmt.Errorf("%w: offload on a packet that is not TCP with whole headers", ErrVnetHeader)
	}
	if o.GSOSize > 0 && (h.GSOType == VnetGSOTCPv6) != (ipLen == ip.Header6Len) {
		return ip.Offload{}, fmt.Errorf("%w: GSO type %d on an IPv%d packet", ErrVnetHeader, h.GSOType, pkt[0]>>4)
	}
	if o.ChecksumPartial && (int(h.CsumStart) != ipLen || h.CsumOffset != tcpCsumOffset) {
		return ip.Offload{}, fmt.Errorf("%w: partial checksum at %d+%d, not the TCP checksum", ErrVnetHeader, h.CsumStart, h.CsumOffset)
	}
	return o, nil
}

// tcpHeaders returns the IP header length and the IP+TCP header length of
// the TCP packet pkt, IPv4 or IPv6 without extension headers, whose length
// fields must account for all of pkt.
func tcpHeaders(pkt []byte) (ipLen, hdrLen int, ok bool) {
	switch {
	case len(pkt) >= ip.HeaderLen && pkt[0]>>4 == 4 && pkt[9] == ip.ProtoTCP:
		ipLen = int(pkt[0]&0x0f) * 4
		if ipLen < ip.HeaderLen || int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
			return 0, 0, false
		}
	case len(pkt) >= ip.Header6Len && pkt[0]>>4 == 6 && pkt[6] == ip.ProtoTCP:
		ipLen = ip.Header6Len
		if ip.Header6Len+int(binary.BigEndian.Uint16(pkt[4:])) != len(pkt) {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	if len(pkt) < ipLen+20 {
		return 0, 0, false
	}
	hdrLen = ipLen + int(pkt[ipLen+12]>>4)*4
	if hdrLen < ipLen+20 || hdrLen > len(pkt) {
		return 0, 0, false
	}
	return ipLen, hdrLen, true
}

// errOffloadPacket means WriteOffload was given metadata its packet does
// not fit.
var errOffloadPacket = errors.New("tun: offload metadata on a packet that is not TCP")

// vnetHeaderFor is the virtio-net header that hands pkt to the kernel with
// the offloads o asks for: GSOSize makes it a TCPv4 or TCPv6 GSO packet the kernel
// cuts into segments of GSOSize payload octets; ChecksumPartial (required
// with GSO) makes the kernel complete the TCP checksum.
func vnetHeaderFor(pkt []byte, o ip.Offload) (VnetHeader, error) {
	if o.GSOSize == 0 && !o.ChecksumPartial {
		return VnetHeader{}, nil
	}
	if o.GSOSize > 0 && !o.ChecksumPartial {
		return VnetHeader{}, fmt.Errorf("%w: GSO needs ChecksumPartial", errOffloadPacket)
	}
	ipLen, hdrLen, ok := tcpHeaders(pkt)
	if !ok {
		return VnetHeader{}, errOffloadPacket
	}
	// Virtio 1.1 §5.1.6.2: NEEDS_CSUM with csum_start at the TCP header and
	// csum_offset at its checksum field.
	h := VnetHeader{Flags: VnetFlagNeedsCsum, CsumStart: uint16(ipLen), CsumOffset: tcpCsumOffset}
	if o.GSOSize > 0 && len(pkt)-hdrLen > int(o.GSOSize) {
		h.GSOType, h.GSOSize, h.HdrLen = VnetGSOTCPv4, o.GSOSize, uint16(hdrLen)
		if ipLen == ip.Header6Len {
			h.GSOType = VnetGSOTCPv6
		}
	}
	return h, nil
}
