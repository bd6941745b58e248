package tcp

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tun"
)

var (
	addrA    = netip.MustParseAddr("10.0.0.1")
	addrB    = netip.MustParseAddr("10.0.0.2")
	addrPeer = netip.MustParseAddr("10.0.0.9") // a raw test peer
)

// fastConfig is a Config with timers short enough for tests.
func fastConfig(addr netip.Addr) Config {
	return Config{
		Addr:        addr,
		MSL:         time.Second,
		InitialRTO:  20 * time.Millisecond,
		MinRTO:      20 * time.Millisecond,
		MaxRTO:      time.Second,
		UserTimeout: time.Minute,
	}
}

// recorder is a Tracer that keeps the state transitions and user events of
// every connection and signals each change.
type recorder struct {
	mu      sync.Mutex
	states  map[FourTuple][]State // every state entered, in order
	events  map[FourTuple][]UserEventKind
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{states: map[FourTuple][]State{}, events: map[FourTuple][]UserEventKind{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) SegmentIn(time.Time, FourTuple, *Segment)              {}
func (r *recorder) SegmentOut(time.Time, FourTuple, *Segment)             {}
func (r *recorder) SegmentDropped(time.Time, FourTuple, *Segment, Reason) {}
func (r *recorder) Sender(time.Time, FourTuple, SenderState)              {}

func (r *recorder) StateChange(_ time.Time, id FourTuple, _, to State) {
	r.mu.Lock()
	r.states[id] = append(r.states[id], to)
	r.mu.Unlock()
	signal(r.changed)
}

func (r *recorder) Flush() {}

func (r *recorder) UserEvent(_ time.Time, id FourTuple, ev UserEvent) {
	r.mu.Lock()
	r.events[id] = append(r.events[id], ev.Kind)
	r.mu.Unlock()
	signal(r.changed)
}

// statesOf returns the states id has entered so far.
func (r *recorder) statesOf(id FourTuple) []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states[id])
}

// eventsOf returns the kinds of the user events of id so far.
func (r *recorder) eventsOf(id FourTuple) []UserEventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[id])
}

// waitState waits until connection id has entered st.
func (r *recorder) waitState(t *testing.T, id FourTuple, st State) {
	t.Helper()
	timeout := time.After(time.Minute)
	for !slices.Contains(r.statesOf(id), st) {
		select {
		case <-r.changed:
		case <-timeout:
			require.Failf(t, "state not reached", "%v never entered %v; it went through %v", id, st, r.statesOf(id))
		}
	}
}

// pair is two stacks, A (10.0.0.1) and B (10.0.0.2), joined by a tun.Pipe.
type pair struct {
	a, b   *Stack
	ea, eb *tun.PipeEnd // ea is A's end: faults set on it apply to A→B
	ra, rb *recorder
}

// newPair starts two stacks over a pipe; the test's cleanup closes them.
// Each config gets a recorder as its Tracer unless it has one.
func newPair(t *testing.T, cfgA, cfgB Config) *pair {
	t.Helper()
	p := &pair{ra: newRecorder(), rb: newRecorder()}
	p.ea, p.eb = tun.Pipe(1500)
	if cfgA.Tracer == nil {
		cfgA.Tracer = p.ra
	}
	if cfgB.Tracer == nil {
		cfgB.Tracer = p.rb
	}
	var err error
	p.a, err = NewStack(p.ea, cfgA)
	require.NoError(t, err, "stack A must start")
	p.b, err = NewStack(p.eb, cfgB)
	require.NoError(t, err, "stack B must start")
	t.Cleanup(func() {
		p.a.Close()
		p.b.Close()
		p.ea.Close()
		p.eb.Close()
	})
	return p
}

// connect listens on B's port, dials it from A and accepts: ca is A's end,
// cb is B's. The listener is closed by the test's cleanup.
func (p *pair) connect(t *testing.T, port uint16) (ca, cb *Conn) {
	t.Helper()
	ln, err := p.b.Listen(port)
	require.NoError(t, err, "B must listen on %d", port)
	t.Cleanup(func() { ln.Close() })
	ca, err = p.a.Dial(netip.AddrPortFrom(addrB, port))
	require.NoError(t, err, "A must connect to B's listener")
	cb, err = ln.AcceptTCP()
	require.NoError(t, err, "B must accept A's connection")
	return ca, cb
}

// rawPeer drives a Stack with hand-made packets through the other end of
// its pipe, from address addrPeer. Use it inside a synctest bubble.
type rawPeer struct {
	end  *tun.PipeEnd
	pkts chan []byte
}

// newRawPeer starts a stack with cfg and a raw peer wired to it.
func newRawPeer(t testing.TB, cfg Config) (*Stack, *rawPeer) {
	t.Helper()
	ea, eb := tun.Pipe(1500)
	s, err := NewStack(eb, cfg)
	require.NoError(t, err, "the stack must start")
	return s, startRawPeer(t, s, ea, eb)
}

// startRawPeer reads what s sends through ea, its peer's end of the pipe
// ending at eb; the test's cleanup closes s and both ends.
func startRawPeer(t testing.TB, s *Stack, ea, eb *tun.PipeEnd) *rawPeer {
	r := &rawPeer{end: ea, pkts: make(chan []byte, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b := make([]byte, 2000)
			n, err := ea.ReadPacket(b) // on an offload pipe, GSO packets arrive cut into MSS-sized ones
			if err != nil {
				return
			}
			r.pkts <- b[:n]
		}
	}()
	t.Cleanup(func() {
		s.Close()
		ea.Close()
		eb.Close()
		<-done
	})
	return r
}

// send writes seg from src to dst as an IPv4 packet.
func (r *rawPeer) send(t testing.TB, src, dst netip.AddrPort, seg Segment) {
	t.Helper()
	seg.SrcPort, seg.DstPort = src.Port(), dst.Port()
	tcp := AppendSegment(nil, &seg, src.Addr(), dst.Addr())
	var pkt []byte
	if src.Addr().Is6() {
		pkt = ip.AppendPacket6(nil, &ip.Header6{TrafficClass: seg.ECN, HopLimit: 64, NextHeader: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()}, tcp)
	} else {
		pkt = ip.AppendPacket(nil, &ip.Header{TOS: seg.ECN, TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()}, tcp)
	}
	require.NoError(t, r.end.WritePacket(pkt), "the pipe must take the packet")
}

// sendText is send with the segment in packetdrill notation ("S 100:100(0) win 1000").
func (r *rawPeer) sendText(t *testing.T, src, dst netip.AddrPort, text string) {
	t.Helper()
	seg, err := parseSegment(text)
	require.NoError(t, err, "bad segment text %q", text)
	r.send(t, src, dst, seg)
}

// next returns the next packet the stack sent, once every goroutine of the
// bubble is idle, or false if there is none.
func (r *rawPeer) next() ([]byte, bool) {
	synctest.Wait()
	select {
	case p := <-r.pkts:
		return p, true
	default:
		return nil, false
	}
}

// recv returns the next TCP segment the stack sent, with its IP header.
func (r *rawPeer) recv(t *testing.T) (ip.Header, Segment) {
	t.Helper()
	p, ok := r.next()
	require.True(t, ok, "the stack must have sent a packet")
	h, payload, err := parseIP(p)
	require.NoError(t, err, "the stack must send valid IPv4 or IPv6")
	require.Equal(t, uint8(ip.ProtoTCP), h.Protocol, "the packet must carry TCP")
	require.True(t, VerifyChecksum(payload, h.Src, h.Dst), "MUST-2: the stack must checksum its segments")
	seg, err := decodeSegment(payload)
	require.NoError(t, err, "the stack must send a valid segment")
	return h, seg
}

// recvNone checks that the stack sent nothing.
func (r *rawPeer) recvNone(t *testing.T, why string) {
	t.Helper()
	p, ok := r.next()
	if ok {
		h, payload, _ := parseIP(p)
		seg, _ := decodeSegment(payload)
		assert.Failf(t, "unexpected packet", "%s; got %v→%v %v", why, h.Src, h.Dst, &seg)
	}
}

// parseIP parses an IPv4 or IPv6 packet, giving an IPv6 header's fields
// the names of their IPv4 counterparts.
func parseIP(p []byte) (ip.Header, []byte, error) {
	if ip.Version(p) != 6 {
		return ip.Parse(p)
	}
	h6, payload, err := ip.Parse6(p)
	return ip.Header{TOS: h6.TrafficClass, TTL: h6.HopLimit, Protocol: h6.NextHeader, Src: h6.Src, Dst: h6.Dst,
		HeaderLen: h6.HeaderLen, TotalLen: uint16(ip.Header6Len + int(h6.PayloadLen))}, payload, err
}

func TestNewStack_InvalidAddress_MUST46(t *testing.T) {
	ea, eb := tun.Pipe(1500)
	defer ea.Close()
	defer eb.Close()
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "224.0.0.1", "::1", "::", "ff02::1"} {
		_, err := NewStack(ea, Config{Addr: netip.MustParseAddr(a)})
		assert.ErrorIs(t, err, ErrInvalidAddr, "%s cannot be a host's own address", a)
	}
	_, err := NewStack(ea, Config{})
	assert.ErrorIs(t, err, ErrInvalidAddr, "the address is required")
	_, err = NewStack(ea, Config{Addr: addrA, MTU: 9000})
	assert.Error(t, err, "the MTU cannot exceed the link's")
	_, err = NewStack(ea, Config{Addr: addrA, Addrs: []netip.Addr{netip.MustParseAddr("ff02::1")}})
	assert.ErrorIs(t, err, ErrInvalidAddr, "every address is checked")
	_, err = NewStack(ea, Config{Addr: netip.MustParseAddr("fd00::2"), MTU: 1000})
	assert.Error(t, err, "RFC 8200 §5: IPv6 needs an MTU of 1280")
}

func TestStack_RSTToClosedPort_3_10_7_1(t *testing.T) {
	local := netip.AddrPortFrom(addrB, 7)
	peer := netip.AddrPortFrom(addrPeer, 40000)
	rows := []struct {
		rule string
		in   string
		want string // the RST, or "" for none
	}{
		{"ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", "S 1000:1000(0) win 1000", "R. 0:0(0) ack 1001"},
		{"ACK off, data and FIN count in SEG.LEN", "F 1000:1010(10) win 1000", "R. 0:0(0) ack 1011"},
		{"ACK on: <SEQ=SEG.ACK><CTL=RST>", ". 1000:1000(0) ack 5000 win 1000", "R 5000:5000(0)"},
		{"ACK on, with data", "P. 1000:1005(5) ack 77 win 1000", "R 77:77(0)"},
		{"an incoming RST is discarded", "R 1000:1000(0)", ""},
		{"an incoming RST with ACK is discarded", "R. 1000:1000(0) ack 1 win 0", ""},
	}
	for _, row := range rows {
		t.Run(row.rule, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, r := newRawPeer(t, fastConfig(addrB))
				r.sendText(t, peer, local, row.in)
				if row.want == "" {
					r.recvNone(t, "RFC 9293 §3.10.7.1: a RST to a closed port is not answered")
					assert.Zero(t, s.Stats().NoPort, "no RST may be counted")
					return
				}
				h, seg := r.recv(t)
				want, err := parsePattern(row.want)
				require.NoError(t, err)
				assert.NoError(t, want.Match(&seg, 0, 0), "RFC 9293 §3.10.7.1: the reset must carry the RFC's numbers")
				assert.Equal(t, local.Port(), seg.SrcPort, "the RST comes from the port the segment was sent to")
				assert.Equal(t, peer.Port(), seg.DstPort, "the RST goes back to the sender's port")
				assert.Equal(t, addrB, h.Src, "the RST comes from the stack's address")
				assert.Equal(t, addrPeer, h.Dst, "the RST goes to the sender")
				assert.Equal(t, uint64(1), s.Stats().NoPort, "the RST is counted")
			})
		})
	}
}

func TestStack_ACKToListeningPort_3_10_7_2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newRawPeer(t, fastConfig(addrB))
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		local := netip.AddrPortFrom(addrB, 80)
		peer := netip.AddrPortFrom(addrPeer, 40000)

		r.sendText(t, peer, local, ". 1000:1000(0) ack 4242 win 1000")
		_, seg := r.recv(t)
		want, _ := parsePattern("R 4242:4242(0)")
		assert.NoError(t, want.Match(&seg, 0, 0), "§3.10.7.2 second check: an ACK in LISTEN draws <SEQ=SEG.ACK><CTL=RST>")

		r.sendText(t, peer, local, "R 1000:1000(0)")
		r.recvNone(t, "§3.10.7.2 first check: a RST in LISTEN is ignored")
		r.sendText(t, peer, local, "P 1000:1004(4)")
		r.recvNone(t, "§3.10.7.2 fourth: a segment with neither SYN nor ACK is dropped")
		assert.Empty(t, s.Conns(), "no segment without SYN may create a connection")
	})
}

func TestStack_SYNFromBroadcastOrMulticast_MUST57_MUST63(t *testing.T) {
	for _, src := range []string{"255.255.255.255", "224.0.0.1", "0.0.0.0"} {
		t.Run(src, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, r := newRawPeer(t, fastConfig(addrB))
				ln, err := s.Listen(80)
				require.NoError(t, err)
				defer ln.Close()
				r.sendText(t, netip.AddrPortFrom(netip.MustParseAddr(src), 40000), netip.AddrPortFrom(addrB, 80), "S 1000:1000(0) win 1000")
				r.recvNone(t, "a SYN from a broadcast, multicast or unspecified source is silently discarded")
				assert.Equal(t, uint64(1), s.Stats().BadAddr, "the discarded SYN is counted")
				assert.Empty(t, s.Conns(), "no connection may be created")
			})
		})
	}
}

func TestStack_BadChecksumDropped_MUST3(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newRawPeer(t, fastConfig(addrB))
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		seg := Segment{SrcPort: src.Port(), DstPort: dst.Port(), Seq: 1000, Flags: FlagSYN, Window: 1000}
		tcp := AppendSegment(nil, &seg, src.Addr(), dst.Addr())
		tcp[16] ^= 0x01 // break the TCP checksum (the IP header stays valid)
		pkt := ip.AppendPacket(nil, &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()}, tcp)
		require.NoError(t, r.end.WritePacket(pkt))
		r.recvNone(t, "MUST-3: a segment with a bad checksum is dropped, not answered")
		st := s.Stats()
		assert.Equal(t, uint64(1), st.BadChecksum, "the bad segment is counted")
		assert.Zero(t, st.SegsIn, "a segment that fails the checksum is not a valid segment")
		assert.Empty(t, s.Conns(), "the bad SYN must not open a connection")

		r.send(t, src, dst, Segment{Seq: 1000, Flags: FlagSYN, Window: 1000})
		_, reply := r.recv(t)
		assert.Equal(t, FlagSYN|FlagACK, reply.Flags, "the same SYN with a good checksum is answered with a SYN-ACK")
	})
}

func TestStack_MalformedSegmentDropped(t *testing.T) {
	src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
	rows := []struct {
		name    string
		options []byte // after a 20-octet header
		offset  int    // data offset in 32-bit words
		wantErr error  // what decodeSegment says
	}{
		{"data offset past the segment", nil, 15, ErrDataOffset},
		{"data offset inside the fixed header", nil, 4, ErrDataOffset},
		{"an option of length 0 (MUST-7)", []byte{optMSS, 0, 0, 0}, 6, ErrOptionLength},
		{"an MSS option of the wrong length", []byte{optMSS, 3, 0, 0}, 6, ErrOptionLength},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, r := newRawPeer(t, fastConfig(addrB))
				ln, err := s.Listen(80)
				require.NoError(t, err)
				defer ln.Close()
				seg := Segment{SrcPort: src.Port(), DstPort: dst.Port(), Seq: 1000, Flags: FlagSYN, Window: 1000}
				tcp := append(AppendSegment(nil, &seg, src.Addr(), dst.Addr()), row.options...)
				tcp[12] = byte(row.offset << 4)
				tcp[16], tcp[17] = 0, 0
				binary.BigEndian.PutUint16(tcp[16:], ip.Checksum(tcp, ip.PseudoHeaderSum(src.Addr(), dst.Addr(), ip.ProtoTCP, len(tcp))))
				require.True(t, VerifyChecksum(tcp, src.Addr(), dst.Addr()), "the checksum is valid, so decoding is what fails")
				_, err = decodeSegment(tcp)
				require.ErrorIs(t, err, row.wantErr, "the header does not parse")
				pkt := ip.AppendPacket(nil, &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()}, tcp)
				require.NoError(t, r.end.WritePacket(pkt))
				r.recvNone(t, "a segment whose header does not parse is dropped, not answered")
				st := s.Stats()
				assert.Equal(t, uint64(1), st.Malformed, "the malformed segment is counted")
				assert.Zero(t, st.BadChecksum, "its checksum was good")
				assert.Zero(t, st.SegsIn, "it is not a valid segment")
				assert.Empty(t, s.Conns(), "the SYN opened nothing")
			})
		})
	}
}

func TestStack_ICMPEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newRawPeer(t, fastConfig(addrB))
		req := ip.AppendEchoRequest(nil, addrPeer, addrB, 7, 3, []byte("ping"))
		require.NoError(t, r.end.WritePacket(req))
		p, ok := r.next()
		require.True(t, ok, "RFC 1122 §3.2.2.6: the stack must answer an echo request")
		h, payload, err := ip.Parse(p)
		require.NoError(t, err)
		assert.Equal(t, addrB, h.Src, "the reply comes from the address pinged")
		assert.Equal(t, addrPeer, h.Dst, "the reply goes back to the sender")
		m, err := ip.ParseICMP(payload)
		require.NoError(t, err, "the reply is valid ICMP")
		assert.Equal(t, uint8(ip.ICMPTypeEchoReply), m.Type, "it is an echo reply")
		assert.Equal(t, []uint16{7, 3}, []uint16{m.ID, m.Seq}, "identifier and sequence number come back unchanged")
		assert.Equal(t, "ping", string(m.Data), "the data comes back unchanged")
		assert.Equal(t, uint64(1), s.Stats().IP.EchoReplies, "the reply is counted")
	})
}

func TestStack_SYNACKNumbersAndOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.ISN = func(FourTuple, time.Time) Seq { return 5000 }
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		r.sendText(t, src, dst, "S 1000:1000(0) win 65535 <mss 1460>")
		h, seg := r.recv(t)
		want, _ := parsePattern("S. 5000:5000(0) ack 1001 <mss 1460>")
		assert.NoError(t, want.Match(&seg, 0, 0), "§3.10.7.2: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, ISS from Config.ISN, MSS = MTU-40")
		assert.True(t, h.DontFragment, "the stack sets DF: the MSS keeps segments within the MTU")
		assert.Equal(t, uint8(64), h.TTL, "TTL 64, as Linux")
		r.sendText(t, src, dst, ". 1001:1001(0) ack 5001 win 65535")
		r.recvNone(t, "the third segment of the handshake needs no answer")
		c, err := ln.AcceptTCP()
		require.NoError(t, err, "the handshake completed, so Accept returns")
		assert.Equal(t, StateEstablished, c.State(), "the accepted connection is ESTABLISHED")
		assert.Equal(t, src.String(), c.RemoteAddr().String(), "RemoteAddr is the peer's address and port")
		c.Abort()
	})
}

func TestStack_TimeWaitReopen_MAY2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		iss := Seq(5000)
		cfg.ISN = func(FourTuple, time.Time) Seq { return iss }
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)

		// A connection the stack closes first, so the stack holds the TIME-WAIT.
		r.sendText(t, src, dst, "S 1000:1000(0) win 65535 <mss 1460>")
		r.recv(t) // SYN-ACK 5000
		r.sendText(t, src, dst, ". 1001:1001(0) ack 5001 win 65535")
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		require.NoError(t, c.Close())
		_, fin := r.recv(t)
		require.True(t, fin.Flags.Has(FlagFIN), "Close sends a FIN")
		r.sendText(t, src, dst, "F. 1001:1001(0) ack 5002 win 65535")
		r.recv(t) // the ACK of our FIN
		require.Equal(t, []ConnInfo{{ID: c.ID(), State: StateTimeWait}}, stateOnly(s.Conns()), "the stack is in TIME-WAIT")

		// A SYN above RCV.NXT (1002) ends TIME-WAIT and opens a new connection
		// whose ISS lies above the old SND.NXT, although Config.ISN repeats 5000.
		r.sendText(t, src, dst, "S 90000:90000(0) win 65535 <mss 1460>")
		_, synack := r.recv(t)
		assert.Equal(t, FlagSYN|FlagACK, synack.Flags, "MAY-2: the SYN reopens the connection")
		assert.Equal(t, Seq(90001), synack.Ack, "the new connection acknowledges the new SYN")
		assert.True(t, synack.Seq.GreaterThan(5002), "RFC 1122 §4.2.2.13: the new ISS lies above the old SND.NXT")
		assert.Equal(t, uint64(1), s.Stats().TimeWaitReopened, "the reopening is counted")
		assert.Equal(t, []ConnInfo{{ID: c.ID(), State: StateSynReceived}}, stateOnly(s.Conns()), "the new incarnation replaced the old")

		r.sendText(t, src, dst, fmt.Sprintf(". 90001:90001(0) ack %d win 65535", synack.Seq.Add(1)))
		c2, err := ln.AcceptTCP()
		require.NoError(t, err, "the reopened connection is accepted")
		c2.Abort()
	})
}

// stateOnly keeps the ID and State of each ConnInfo.
func stateOnly(in []ConnInfo) []ConnInfo {
	out := make([]ConnInfo, len(in))
	for i, c := range in {
		out[i] = ConnInfo{ID: c.ID, State: c.State}
	}
	return out
}

func TestStack_WaitAndConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		infos := p.a.Conns()
		require.Len(t, infos, 1, "A has one connection")
		assert.Equal(t, ca.ID(), infos[0].ID, "Conns lists it by its four-tuple")
		assert.Equal(t, StateEstablished, infos[0].State, "Conns reports its state")

		require.NoError(t, ca.Close())
		require.NoError(t, cb.Close())
		start := time.Now()
		require.NoError(t, p.a.Wait(context.Background()), "Wait returns when the last connection is gone")
		assert.Empty(t, p.a.Conns(), "no connection is left after Wait")
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "A closed first, so it waited 2×MSL in TIME-WAIT")
		require.NoError(t, p.b.Wait(context.Background()), "B's connection closed too (LAST-ACK → CLOSED)")
		sa, sb := p.a.Stats(), p.b.Stats()
		assert.Equal(t, [2]uint64{1, 1}, [2]uint64{sa.ConnsDialed, sa.ConnsClosed}, "A dialled one connection and closed it")
		assert.Equal(t, [2]uint64{1, 1}, [2]uint64{sb.ConnsAccepted, sb.ConnsClosed}, "B accepted one connection and closed it")
		assert.Equal(t, sa.SegsOut, sb.SegsIn, "a perfect pipe delivers every segment")

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ca2, _ := p.connect(t, 81)
		assert.ErrorIs(t, p.a.Wait(ctx), context.DeadlineExceeded, "Wait gives up when its context ends")
		ca2.Abort()
	})
}

func TestStack_CloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ea, eb := tun.Pipe(1500)
	a, err := NewStack(ea, Config{Addr: addrA})
	require.NoError(t, err)
	b, err := NewStack(eb, Config{Addr: addrB})
	require.NoError(t, err)
	ln, err := b.Listen(80)
	require.NoError(t, err)
	c, err := a.Dial(netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	go func() { c.Read(make([]byte, 10)) }() // a reader blocked at Close time
	go func() { ln.Accept() }()              // and an Accept

	require.NoError(t, a.Close(), "Close always succeeds")
	require.NoError(t, b.Close())
	require.NoError(t, a.Close(), "a second Close is harmless")
	_, err = a.Dial(netip.AddrPortFrom(addrB, 80))
	assert.ErrorIs(t, err, net.ErrClosed, "Dial on a closed stack fails with net.ErrClosed")
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed, "Write on a closed stack fails with net.ErrClosed")
	// The stack does not own the link: closing it ends the reader goroutines.
	ea.Close()
	eb.Close()
}

func TestStack_HotPathDoesNotAllocate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.ISN = func(FourTuple, time.Time) Seq { return 5000 }
		cfg.DelayedACK = -1 // every data segment is answered at once
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		r.sendText(t, src, dst, "S 1000:1000(0) win 65535 <mss 1460>")
		r.recv(t)
		r.sendText(t, src, dst, ". 1001:1001(0) ack 5001 win 65535")
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		defer c.Abort()
		r.sendText(t, src, dst, "P. 1001:1011(10) ack 5001 win 65535")
		r.recv(t) // its ACK; the receive buffer now exists

		// A repeated data segment is old news: the core drops it and ACKs
		// (§3.10.7.4 first check). Input, output and the link write must
		// reuse their buffers.
		seg, err := parseSegment("P. 1001:1011(10) ack 5001 win 65535")
		require.NoError(t, err)
		seg.SrcPort, seg.DstPort = src.Port(), dst.Port()
		pkt := ip.AppendPacket(nil, &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()},
			AppendSegment(nil, &seg, src.Addr(), dst.Addr()))
		var allocs float64
		counter := &countingLink{Link: s.link}
		require.NoError(t, s.runOnLoop(func(now time.Time) {
			s.link = counter // the pipe copies each packet; count the stack's allocations only
			allocs = testing.AllocsPerRun(100, func() {
				s.handlePacket(now, pkt, false)
				s.flush(now)
				s.drainTx() // as unlock does
			})
			s.link = counter.Link
		}))
		// Neither the shell (IP input, demultiplexing, packet building) nor
		// the core (which reuses one outgoing Segment per TCB) allocates.
		assert.Zero(t, allocs, "receiving a segment and sending its ACK must not allocate once warm")
		assert.Equal(t, 101, counter.n, "each duplicate is answered with an ACK")
	})
}

// countingLink counts the packets written and drops them.
type countingLink struct {
	Link
	n int
}

func (l *countingLink) WritePacket([]byte) error { l.n++; return nil }

func TestStack_TTLConfigurable_MUST49(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastConfig(addrB)
		cfg.TTL = 7
		s, r := newRawPeer(t, cfg)
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		r.sendText(t, netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80), "S 1000:1000(0) win 65535 <mss 1460>")
		h, _ := r.recv(t)
		assert.Equal(t, uint8(7), h.TTL, "MUST-49: the TTL of sent segments comes from Config.TTL")
	})
}
