package tcp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

const protoUDP = 17

// appendUDP builds a UDP packet over IPv4 or IPv6 with a valid checksum
// (RFC 768; RFC 8200 §8.1).
func appendUDP(b []byte, src, dst netip.AddrPort, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	sum := ip.Checksum(udp, ip.PseudoHeaderSum(src.Addr(), dst.Addr(), protoUDP, len(udp)))
	if sum == 0 {
		sum = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	if src.Addr().Is6() {
		h := ip.Header6{NextHeader: protoUDP, HopLimit: 64, Src: src.Addr(), Dst: dst.Addr()}
		return ip.AppendPacket6(b, &h, udp)
	}
	h := ip.Header{TTL: 64, Protocol: protoUDP, Src: src.Addr(), Dst: dst.Addr()}
	return ip.AppendPacket(b, &h, udp)
}

// parseUDP returns the addresses and ports, and the payload, of a UDP
// packet over IPv4 or IPv6.
func parseUDP(pkt []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	var sa, da netip.Addr
	var proto uint8
	var body []byte
	if ip.Version(pkt) == 6 {
		h, b, err := ip.Parse6(pkt)
		if err != nil {
			return src, dst, nil, false
		}
		sa, da, proto, body = h.Src, h.Dst, h.NextHeader, b
	} else {
		h, b, err := ip.Parse(pkt)
		if err != nil {
			return src, dst, nil, false
		}
		sa, da, proto, body = h.Src, h.Dst, h.Protocol, b
	}
	if proto != protoUDP || len(body) < 8 {
		return src, dst, nil, false
	}
	src = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(body[0:]))
	dst = netip.AddrPortFrom(da, binary.BigEndian.Uint16(body[2:]))
	return src, dst, body[8:], true
}

// udpEcho answers a UDP packet to port with the same payload, through
// WritePacket: a DNS-shaped service beside the stack.
func udpEcho(s **Stack, port uint16, answered *int) func(pkt []byte) {
	return func(pkt []byte) {
		src, dst, payload, ok := parseUDP(pkt)
		if !ok || dst.Port() != port {
			return
		}
		if err := (*s).WritePacket(appendUDP(nil, dst, src, payload)); err == nil {
			*answered++
		}
	}
}

// A UDP echo on port 53 of B answers A's queries through Unhandled and
// WritePacket while a TCP transfer runs between the same two stacks, over
// IPv4 and, on a dual-stack pair, IPv6.
func TestUnhandled_UDPEchoBesideTCP(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) { udpEchoBesideTCP(t, addrA, addrB) })
	t.Run("IPv6", func(t *testing.T) { udpEchoBesideTCP(t, addrA6, addrB6) })
}

func udpEchoBesideTCP(t *testing.T, client, server netip.Addr) {
	synctest.Test(t, func(t *testing.T) {
		var b *Stack
		answered := 0
		var mu sync.Mutex
		var replies [][]byte
		cfgA, cfgB := fastConfig(addrA), fastConfig(addrB)
		cfgA.Addrs, cfgB.Addrs = []netip.Addr{addrA6}, []netip.Addr{addrB6}
		cfgA.Unhandled = func(pkt []byte) {
			mu.Lock()
			defer mu.Unlock()
			replies = append(replies, bytes.Clone(pkt)) // pkt is not retained
		}
		cfgB.Unhandled = udpEcho(&b, 53, &answered)
		p := newPair(t, cfgA, cfgB)
		b = p.b
		ca, cb := p.connect(t, 80)
		defer ca.Close()
		defer cb.Close()

		done := make(chan struct{})
		go func() {
			defer close(done)
			transfer(t, ca, cb, 1<<20, 1)
		}()
		from, to := netip.AddrPortFrom(client, 40000), netip.AddrPortFrom(server, 53)
		const queries = 5
		for i := range queries {
			q := []byte{0x12, byte(i), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
			require.NoError(t, p.a.WritePacket(appendUDP(nil, from, to, q)))
		}
		require.NoError(t, p.a.WritePacket(appendUDP(nil, from, netip.AddrPortFrom(server, 54), []byte("no one"))))
		<-done
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		require.Len(t, replies, queries, "every query came back; the packet to port 54 went unanswered")
		for i, r := range replies {
			src, dst, payload, ok := parseUDP(r)
			require.True(t, ok, "a UDP packet")
			assert.Equal(t, to, src)
			assert.Equal(t, from, dst)
			assert.Equal(t, byte(i), payload[1], "the echo carries query %d's ID", i)
		}
		assert.Equal(t, queries, answered)
		assert.Equal(t, uint64(queries+1), p.b.Stats().Unhandled, "B counts every UDP packet")
		assert.Equal(t, uint64(queries), p.a.Stats().Unhandled)
	})
}

// Without Config.Unhandled the packets are counted and dropped.
func TestUnhandled_CountedWithoutHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		require.NoError(t, p.a.WritePacket(appendUDP(nil, netip.AddrPortFrom(addrA, 1), netip.AddrPortFrom(addrB, 53), []byte("q"))))
		synctest.Wait()
		assert.Equal(t, uint64(1), p.b.Stats().Unhandled)
		assert.Equal(t, uint64(1), p.b.Stats().IP.UnknownProtocol)
	})
}

func TestWritePacket_Rejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		good := appendUDP(nil, netip.AddrPortFrom(addrA, 1), netip.AddrPortFrom(addrB, 53), []byte("query"))
		badSum := bytes.Clone(good)
		badSum[10] ^= 0xff
		tests := []struct {
			name string
			pkt  []byte
			want error
		}{
			{"empty", nil, ip.ErrTruncated},
			{"version 5", append([]byte{0x50}, make([]byte, 39)...), ip.ErrVersion},
			{"IPv6 without payload", append([]byte{0x60}, make([]byte, 39)...), ip.ErrPayloadLength},
			{"IPv6 with trailing octets", append(appendUDP(nil, netip.AddrPortFrom(addrA6, 1), netip.AddrPortFrom(addrB6, 53), nil), 0), ErrBadPacket},
			{"bad header checksum", badSum, ip.ErrChecksum},
			{"truncated", good[:len(good)-1], ip.ErrTotalLength},
			{"trailing octets", append(bytes.Clone(good), 0), ErrBadPacket},
			{"over the MTU", appendUDP(nil, netip.AddrPortFrom(addrA, 1), netip.AddrPortFrom(addrB, 53), make([]byte, 1500)), nil},
		}
		for _, tt := range tests {
			err := p.a.WritePacket(tt.pkt)
			require.Error(t, err, tt.name)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want, tt.name)
			} else {
				assert.ErrorContains(t, err, "exceed the MTU", tt.name)
			}
		}
		synctest.Wait()
		assert.Zero(t, p.b.Stats().IP.Received, "nothing rejected reached the link")
		p.a.Close()
		assert.ErrorIs(t, p.a.WritePacket(good), net.ErrClosed)
	})
}

// WritePacket from many goroutines while the stack sends on its own.
func TestWritePacket_Concurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		defer ca.Close()
		defer cb.Close()
		var wg sync.WaitGroup
		wg.Go(func() { transfer(t, ca, cb, 256<<10, 2) })
		for g := range 4 {
			wg.Go(func() {
				for range 50 {
					assert.NoError(t, p.a.WritePacket(appendUDP(nil, netip.AddrPortFrom(addrA, uint16(g+1)), netip.AddrPortFrom(addrB, 53), []byte("q"))))
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, uint64(200), p.b.Stats().Unhandled)
	})
}
