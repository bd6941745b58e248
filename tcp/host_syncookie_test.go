package tcp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptCookieKey is the cookie secret of the packet scripts, so that the
// cookies they show are the same on every run.
func scriptCookieKey() (uint64, uint64) { return 0x0123456789abcdef, 0xfedcba9876543210 }

var cookieID = FourTuple{Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.2:40000")}

func TestCookie_MSSRoundsDownToTheTable(t *testing.T) {
	g := newCookieGen()
	for _, row := range []struct{ offered, want uint16 }{
		{0, 536}, {100, 536}, {536, 536}, {1299, 536}, {1300, 1300}, {1439, 1300},
		{1440, 1440}, {1459, 1440}, {1460, 1460}, {8960, 1460}, {65535, 1460},
	} {
		t.Run(fmt.Sprint(row.offered), func(t *testing.T) {
			c := g.make(testEpoch, cookieID, 5000, row.offered)
			mss, ok := g.check(testEpoch, cookieID, 5000, c)
			require.True(t, ok, "a fresh cookie is valid")
			assert.Equal(t, row.want, mss, "the largest table entry not above the offer (the smallest below it)")
		})
	}
}

func TestCookie_Validity(t *testing.T) {
	g := newCookieGen()
	c := g.make(testEpoch, cookieID, 5000, 1460)
	other := cookieID
	other.Remote = netip.MustParseAddrPort("10.0.0.2:40001")
	for _, row := range []struct {
		name   string
		id     FourTuple
		irs    Seq
		cookie Seq
		at     time.Duration
		ok     bool
	}{
		{"the same tick", cookieID, 5000, c, 0, true},
		{"the next tick", cookieID, 5000, c, cookiePeriod + time.Second, true},
		{"the end of the next tick", cookieID, 5000, c, 2*cookiePeriod - time.Nanosecond, true},
		{"two ticks on: too old", cookieID, 5000, c, 2 * cookiePeriod, false},
		{"32 ticks on: the counter's low bits agree, the hash does not", cookieID, 5000, c, 32 * cookiePeriod, false},
		{"another four-tuple", other, 5000, c, 0, false},
		{"another peer ISN", cookieID, 5001, c, 0, false},
		{"a hash bit flipped", cookieID, 5000, c ^ 1, 0, false},
		{"the MSS index changed", cookieID, 5000, c ^ 1<<cookieMSSShift, 0, false},
		{"a counter from the future", cookieID, 5000, c + 1<<cookieCtrShift, 0, false},
	} {
		t.Run(row.name, func(t *testing.T) {
			_, ok := g.check(testEpoch.Add(row.at), row.id, row.irs, row.cookie)
			assert.Equal(t, row.ok, ok)
		})
	}
	g2 := newCookieGen()
	g2.epoch = g.epoch
	_, ok := g2.check(testEpoch, cookieID, 5000, c)
	assert.False(t, ok, "another secret")
}

func TestCookie_TimestampOptions(t *testing.T) {
	for scale := range 16 { // 15: no window scale
		for bits := range 4 {
			o := cookieOpts{scaleOK: scale < 15, sack: bits&1 != 0, ecn: bits&2 != 0}
			if o.scaleOK {
				o.scale = uint8(scale)
			}
			t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
				for _, now := range []uint32{0, 63, 64, 1000, 0xffffffff, 0x80000020} {
					ts := cookieTSVal(now, o)
					assert.LessOrEqual(t, now-ts, uint32(63), "TSval %d at clock %d: at most 63 ticks behind", ts, now)
					assert.LessOrEqual(t, int32(ts-now), int32(0), "never ahead of the clock")
					assert.Equal(t, o, cookieTSOpts(ts), "TSecr gives back what TSval carried")
				}
			})
		}
	}
}

// TestCookie_ScriptValues prints the cookies the scripts in testdata/scripts
// expect (go test -run TestCookie_ScriptValues -v).
func TestCookie_ScriptValues(t *testing.T) {
	g := &cookieGen{}
	g.k0, g.k1 = scriptCookieKey()
	g.epoch = scriptEpoch
	for _, port := range []uint16{40000, 40001, 40002} {
		id := cookieID
		id.Remote = netip.AddrPortFrom(id.Remote.Addr(), port)
		for _, mss := range []uint16{1460, 0} {
			t.Logf("port %d mss %d irs 5000: cookie %d", port, mss, uint32(g.make(scriptEpoch, id, 5000, mss)))
		}
	}
}

// BenchmarkSYNFlood is the host's work per spoofed SYN once a listener's
// half-open table is full: host.input and flush, the SYN answered with a
// cookie, each from another source address and port, with timestamps.
func BenchmarkSYNFlood(b *testing.B) {
	for _, ts := range []bool{false, true} {
		b.Run(fmt.Sprintf("timestamps=%v", ts), func(b *testing.B) {
			cfg := Config{Addr: hostAddr, MaxHalfOpen: 16}
			cfg = cfg.withDefaults()
			h := newHost(&cfg)
			ln, err := h.listen(80)
			require.NoError(b, err)
			now := testEpoch
			seg := Segment{DstPort: 80, Flags: FlagSYN, Window: 65535,
				Options: Options{MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true, HasTimestamp: ts, TSVal: 1}}
			var sent int
			emit := func(FourTuple, *Segment) { sent++ }
			src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)}) }
			for i := range cfg.MaxHalfOpen { // fill the half-open table
				seg.SrcPort, seg.Seq = uint16(1024+i), Seq(i)
				h.input(now, src(i), hostAddr, &seg)
			}
			h.flush(now, emit, nil)
			require.Equal(b, cfg.MaxHalfOpen, ln.halfOpen)
			sent = 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := cfg.MaxHalfOpen + i
				seg.SrcPort, seg.Seq = uint16(1024+j%60000), Seq(j*7919)
				h.input(now, src(j), hostAddr, &seg)
				if i%16 == 15 {
					h.flush(now, emit, nil)
				}
			}
			h.flush(now, emit, nil)
			b.StopTimer()
			require.Equal(b, b.N, sent, "every SYN is answered")
			require.Equal(b, cfg.MaxHalfOpen, len(h.conns), "and none keeps state")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SYNs/s")
		})
	}
}
