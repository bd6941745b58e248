package tcp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ecnEstablished is a passive connection with ECN agreed (RFC 3168 §6.1.1).
func ecnEstablished(t *testing.T) *core {
	t.Helper()
	h := newCore(t, func(c *Config) { c.Congestion = NewReno }) // the ssthresh figures below are NewReno's
	h.must("listen")
	h.must("SEW 0:0(0) win 65535 <mss 1000>", "SE. 0:0(0) ack 1 win 65535 <mss 1460>")
	h.must(". 1:1(0) ack 1 win 65535")
	require.True(t, h.c.negotiated().ECN)
	return h
}

// RFC 3168 §6.1.1: which SYN and SYN-ACK bits agree to ECN.
func TestECNNegotiation_RFC3168_6_1_1(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       ECN
		syn        string // the peer's SYN, to our listener
		wantSynAck string
		want       bool
	}{
		{"accept answers an ECN-setup SYN", ECNAccept, "SEW 0:0(0) win 100", "SE. 0:0(0) ack 1 win 65535 <mss 1460>", true},
		{"on answers it too", ECNOn, "SEW 0:0(0) win 100", "SE. 0:0(0) ack 1 win 65535 <mss 1460>", true},
		{"off does not", ECNOff, "SEW 0:0(0) win 100", "S. 0:0(0) ack 1 win 65535 <mss 1460>", false},
		{"ECE alone is no ECN-setup SYN", ECNAccept, "SE 0:0(0) win 100", "S. 0:0(0) ack 1 win 65535 <mss 1460>", false},
		{"CWR alone is no ECN-setup SYN", ECNAccept, "SW 0:0(0) win 100", "S. 0:0(0) ack 1 win 65535 <mss 1460>", false},
		{"a plain SYN", ECNOn, "S 0:0(0) win 100", "S. 0:0(0) ack 1 win 65535 <mss 1460>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCore(t, func(c *Config) { c.ECN = tc.mode })
			h.must("listen")
			h.must(tc.syn, tc.wantSynAck)
			assert.Equal(t, tc.want, h.c.negotiated().ECN)
		})
	}
	for _, tc := range []struct {
		name, synAck string
		want         bool
	}{
		{"an ECN-setup SYN-ACK agrees", "SE. 0:0(0) ack 1 win 100", true},
		{"a SYN-ACK with ECE and CWR reflects our bits: no ECN", "SEW. 0:0(0) ack 1 win 100", false},
		{"a plain SYN-ACK: no ECN", "S. 0:0(0) ack 1 win 100", false},
	} {
		t.Run("active: "+tc.name, func(t *testing.T) {
			h := newCore(t, func(c *Config) { c.ECN, c.NoSACK, c.NoTimestamps = ECNOn, true, true })
			h.must("open", "SEW 0:0(0) win 65535 <mss 1460,nop,wscale 1>")
			h.must(tc.synAck, ". 1:1(0) ack 1 win 65535")
			assert.Equal(t, tc.want, h.c.negotiated().ECN)
		})
	}
	t.Run("simultaneous open: both ECN-setup SYNs", func(t *testing.T) {
		h := newCore(t, func(c *Config) { c.ECN, c.NoSACK, c.NoTimestamps = ECNOn, true, true })
		h.must("open", "SEW 0:0(0) win 65535 <mss 1460,nop,wscale 1>")
		h.must("SEW 0:0(0) win 100", "SE. 0:0(0) ack 1 win 65535 <mss 1460>")
		assert.True(t, h.c.negotiated().ECN)
	})
}

// RFC 3168 §6.1.2: the reaction to ECE is ssthresh = max(FlightSize/2,
// 2*SMSS) and cwnd = ssthresh, once per window of data.
func TestECEReaction_RFC3168_6_1_2(t *testing.T) {
	h := ecnEstablished(t)
	_, err := h.c.send([]byte(strings.Repeat("x", 8000)))
	require.NoError(t, err)
	out := h.flush()
	require.Len(t, out, 8)
	for _, s := range out {
		require.True(t, strings.HasPrefix(s, "[ect0] "), "new data is ECT(0): %s", s)
	}
	h.must("E. 1:1(0) ack 1001 win 65535")
	assert.Equal(t, uint32(3500), h.c.cc.ssthresh(), "half the 7000 octets in flight")
	assert.Equal(t, uint32(3500), h.c.cc.cwnd(), "cwnd straight to ssthresh")
	h.must("E. 1:1(0) ack 2001 win 65535")
	assert.Equal(t, uint32(3500), h.c.cc.ssthresh(), "one reaction per window")
	h.must("E. 1:1(0) ack 8001 win 65535")
	assert.Equal(t, uint32(3500), h.c.cc.ssthresh(), "the ACK of the recover point itself ends the window, not starts one")
	assert.Equal(t, uint64(3), h.c.stats.ECEReceived)

	_, err = h.c.send([]byte(strings.Repeat("y", 4000)))
	require.NoError(t, err)
	out = h.flush()
	require.NotEmpty(t, out)
	assert.Equal(t, "[ect0] W. 8001:9001(1000) ack 1 win 65535", out[0], "CWR on the first new data after the reduction")
	for _, s := range out[1:] {
		assert.NotContains(t, s, "W", "and only on the first")
	}
	assert.Equal(t, uint64(1), h.c.stats.CWRSent)
	h.must("E. 1:1(0) ack 9001 win 65535")
	assert.Equal(t, uint32(2000), h.c.cc.ssthresh(), "an ECE past the recover point is new congestion: max(3000/2, 2*SMSS)")
	checkInvariants(t, h.c)
}

// RFC 3168 §6.1.3: CE makes ECE go on everything we send until CWR; a
// CE-marked pure ACK draws no ACK of its own.
func TestCEEcho_RFC3168_6_1_3(t *testing.T) {
	h := ecnEstablished(t)
	ce := h.segment(". 1:1(0) ack 1 win 65535")
	ce.ECN = ecnCE
	h.c.segmentArrives(h.now, ce)
	assert.Empty(t, h.flush(), "a pure ACK is not acknowledged, CE or not")
	assert.Equal(t, uint64(1), h.c.stats.CEReceived)
	h.must("close", "FE. 1:1(0) ack 1 win 65535")
	h.must(`PW. 1:3(2) ack 2 win 65535 "ok"`, ". 2:2(0) ack 3 win 65533")
}

// The Stack carries the ECN codepoint between Segment.ECN and the IPv4
// TOS octet (RFC 3168 §5), both ways, and reports what was negotiated.
func TestStack_ECNCodepoint_RFC3168_5(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, r := newRawPeer(t, fastConfig(addrB))
		ln, err := s.Listen(80)
		require.NoError(t, err)
		defer ln.Close()
		src, dst := netip.AddrPortFrom(addrPeer, 40000), netip.AddrPortFrom(addrB, 80)
		r.sendText(t, src, dst, "SEW 1000:1000(0) win 65535 <mss 1460,sackOK,TS val 7 ecr 0>")
		h, synack := r.recv(t)
		assert.Equal(t, FlagSYN|FlagACK|FlagECE, synack.Flags, "an ECN-setup SYN-ACK")
		assert.Equal(t, uint8(0), h.TOS&ecnMask, "§6.1.1: a SYN-ACK is Not-ECT")
		r.sendText(t, src, dst, fmt.Sprintf(". 1001:1001(0) ack %d win 65535 <nop,nop,TS val 8 ecr %d>", synack.Seq.Add(1), synack.Options.TSVal))
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		defer c.Abort()
		info := s.Conns()[0].Info.Options
		assert.Equal(t, NegotiatedOptions{MSS: 1448, SACK: true, Timestamps: true, ECN: true}, info, "ConnInfo reports the agreement")

		_, err = c.Write([]byte("hi"))
		require.NoError(t, err)
		h, data := r.recv(t)
		assert.Equal(t, ecnECT0, h.TOS&ecnMask, "§6.1.2: new data is ECT(0) in the IP header")
		r.sendText(t, src, dst, fmt.Sprintf(`[ce] P. 1001:1004(3) ack %d win 65535 <nop,nop,TS val 9 ecr %d> "abc"`, data.End(), data.Options.TSVal))
		h, ack := r.recv(t)
		assert.True(t, ack.Flags.Has(FlagECE), "§6.1.3: the CE in the IP header arrived and is echoed")
		assert.Equal(t, uint8(0), h.TOS&ecnMask, "a pure ACK is Not-ECT")
	})
}
