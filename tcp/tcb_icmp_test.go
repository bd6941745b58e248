package tcp

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/ip"
)

// icmp hands the core an ICMP error written as a packet script's "< icmp"
// line (without "< icmp"), if the host would accept it.
func (h *core) icmp(arg string) {
	h.t.Helper()
	m, err := scriptParseICMP("icmp " + arg)
	require.NoError(h.t, err, "icmp %q", arg)
	if h.c.icmpAcceptable(h.iss.Add(m.seq)) {
		h.c.icmpError(h.now, m.typ, m.code, int(m.mtu), int(m.qlen))
	}
}

func TestICMPErrno_LinuxMapping(t *testing.T) {
	tests := []struct {
		typ, code uint8
		want      error
	}{
		{3, 0, syscall.ENETUNREACH}, {3, 1, syscall.EHOSTUNREACH}, {3, 2, syscall.ENOPROTOOPT},
		{3, 3, syscall.ECONNREFUSED}, {3, 4, syscall.EMSGSIZE}, {3, 5, syscall.EOPNOTSUPP},
		{3, 6, syscall.ENETUNREACH}, {3, 7, syscall.EHOSTDOWN}, {3, 8, syscall.ENONET},
		{3, 9, syscall.EHOSTUNREACH}, {3, 10, syscall.EHOSTUNREACH}, {3, 11, syscall.ENETUNREACH},
		{3, 12, syscall.EHOSTUNREACH}, {3, 13, syscall.EHOSTUNREACH}, {3, 15, syscall.EHOSTUNREACH},
		{11, 0, syscall.EHOSTUNREACH}, {11, 1, syscall.EHOSTUNREACH}, {12, 0, syscall.EPROTO},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, icmpErrno(tt.typ, tt.code), "type %d code %d (icmp_err_convert)", tt.typ, tt.code)
	}
}

func TestNextHopMTU_RFC1191Plateaus(t *testing.T) {
	tests := []struct{ mtu, quoted, want int }{
		{1280, 1500, 1280}, // the router's value
		{0, 1500, 1492},    // RFC 1191 §7: the plateau below the datagram
		{0, 1492, 1006},
		{0, 576, 508},
		{0, 68, 68},
		{10, 1500, 1492}, // below 68 is no MTU: the plateau
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, nextHopMTU(tt.mtu, tt.quoted), "mtu %d, quoted %d", tt.mtu, tt.quoted)
	}
}

// The send MSS follows the path MTU less the headers and the timestamps,
// and Info reports both.
func TestPMTU_MSSWithTimestamps(t *testing.T) {
	h := fixture(t, StateSynSent, false)
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1460,TS val 5 ecr 0>", ". 1:1(0) ack 1 win 65535 <nop,nop,TS val 0 ecr 5>")
	require.Equal(t, 1448, h.c.snd.mss, "1460 less the 12 octets of timestamps")
	h.icmp("unreach frag-needed mtu 1280 seq 1")
	in := h.c.info()
	assert.Equal(t, 1280-40-12, in.Options.MSS, "RFC 1191 §3 and RFC 7323 §3.2")
	assert.Equal(t, 1280, in.PathMTU)
	assert.Equal(t, uint64(1), in.PMTUDecreases)
	assert.NoError(t, in.SoftError, "frag needed is not a soft error")
}

// A host's PMTU cache starts new connections to the same destination with
// the path MTU learnt (RFC 1191 §6.3), for about ten minutes; its size is
// bounded.
func TestHost_PMTUCache_RFC1191(t *testing.T) {
	cfg := Config{Addr: netip.MustParseAddr("10.0.0.1"), MTU: 1500, NoTimestamps: true}
	cfg = cfg.withDefaults()
	h := newHost(&cfg)
	now := testEpoch
	remote := netip.MustParseAddrPort("10.0.0.2:80")
	t1, err := h.dial(now, remote)
	require.NoError(t, err)
	h.flush(now, func(FourTuple, *Segment) {}, nil)
	e := ip.ICMPError{Type: 3, Code: 4, MTU: 1300, QuotedLen: 60, Src: cfg.Addr, Dst: remote.Addr(),
		SrcPort: t1.id.Local.Port(), DstPort: 80, Seq: uint32(t1.snd.iss)}
	h.icmpError(now, &e)
	assert.Equal(t, 1300, t1.pathMTU())
	e.Seq += 100 // outside SND.UNA..SND.NXT
	e.MTU = 1000
	h.icmpError(now, &e)
	assert.Equal(t, 1300, t1.pathMTU(), "an out-of-window error is ignored")
	assert.Equal(t, uint64(1), h.icmp.accepted.Load())
	assert.Equal(t, uint64(1), h.icmp.ignored.Load())

	t2, err := h.dial(now.Add(time.Minute), remote)
	require.NoError(t, err)
	assert.Equal(t, 1300, t2.pathMTU(), "a new connection to the destination starts with the cached MTU")
	other, err := h.dial(now, netip.MustParseAddrPort("10.0.0.3:80"))
	require.NoError(t, err)
	assert.Equal(t, 1500, other.pathMTU(), "another destination does not")
	t3, err := h.dial(now.Add(pmtuReprobe), remote)
	require.NoError(t, err)
	assert.Equal(t, 1500, t3.pathMTU(), "after ten minutes the entry has aged out")

	for i := range 2 * pmtuCacheSize {
		h.pmtuStore(now.Add(time.Duration(i)), netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1400)
	}
	assert.Len(t, h.icmp.pmtu, pmtuCacheSize, "the cache is bounded")
	_, ok := h.icmp.pmtu[netip.AddrFrom4([4]byte{10, 1, 0, 0})]
	assert.False(t, ok, "the oldest entries made room")
}

// Black-hole detection is on by default and Config can turn it off.
func TestBlackHole_Config(t *testing.T) {
	for _, off := range []bool{false, true} {
		h := newCore(t, func(c *Config) { c.NoPMTUBlackHoleDetection = off; c.NoTimestamps = true; c.NoSACK = true })
		h.must("open", "S 0:0(0) win 65535 <mss 1460,nop,wscale 1>")
		h.must("S. 0:0(0) ack 1 win 65535 <mss 1460>", ". 1:1(0) ack 1 win 65535")
		_, err := h.c.send(make([]byte, 1460))
		require.NoError(t, err)
		h.flush()
		h.waitSend() // the retransmission timeouts, past the reclaim timer
		h.waitSend()
		if off {
			assert.Equal(t, 1460, h.c.snd.mss, "detection off: the MSS stays")
			assert.Zero(t, h.c.stats.BlackHoleDetections)
		} else {
			assert.Equal(t, 1240, h.c.snd.mss, "two timeouts: MSS for 1280")
			assert.Equal(t, uint64(1), h.c.stats.BlackHoleDetections)
		}
		h.waitSend()
		assert.ErrorIs(t, h.c.softError(), syscall.ETIMEDOUT, "R1: three timeouts are reported (SHLD-9)")
	}
}

// lowerMSS cuts the records in one pass and stops at split's bound, the
// rest left for resend to cut; the lost octets add up.
func TestLowerMSS_RecordBound(t *testing.T) {
	h := newCore(t, nil)
	q := &h.c.snd.recs
	start := Seq(1)
	for range maxSendRecords {
		q.push(sendRecord{start: start, end: start.Add(1448)})
		start = start.Add(1448)
	}
	q.setSacked(q.at(0)) // a SACKed record is not sent again
	h.c.snd.mss = 1448
	h.c.lowerMSS(512)
	assert.Equal(t, 512, h.c.snd.mss)
	require.Equal(t, 2*maxSendRecords, q.len(), "at the bound")
	var lost uint32
	next := Seq(1)
	for i := range q.len() {
		r := q.at(i)
		require.Equal(t, next, r.start, "record %d follows the one before", i)
		next = r.end
		if i == 0 {
			assert.True(t, r.sacked && !r.lost, "the SACKed record stays")
			continue
		}
		assert.True(t, r.lost, "record %d is to be sent again", i)
		lost += r.length()
	}
	assert.Equal(t, start, next, "the records still cover everything sent")
	assert.Equal(t, lost, q.lostBytes)
	assert.Greater(t, q.at(q.len()-1).length(), uint32(512), "past the bound a record stays long: resend cuts it")
}
