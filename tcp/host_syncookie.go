package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// SYN cookies (RFC 4987 §3.6): a listener whose half-open table is full
// answers a SYN with a SYN-ACK whose ISS encodes what the connection needs,
// and keeps nothing; the ACK that returns the cookie makes the connection.

// SYNCookieMode selects when a listener sends SYN cookies.
type SYNCookieMode uint8

const (
	// SYNCookiesWhenFull sends cookies once a listener has MaxHalfOpen
	// children in SYN-RECEIVED: the default, as Linux's tcp_syncookies=1.
	SYNCookiesWhenFull SYNCookieMode = iota
	// SYNCookiesOff never sends them; a full half-open table gives the
	// oldest child's slot to the new SYN (RFC 4987 §3.3).
	SYNCookiesOff
	// SYNCookiesAlways answers every SYN with a cookie (tcp_syncookies=2).
	SYNCookiesAlways
)

func (m SYNCookieMode) String() string {
	switch m {
	case SYNCookiesWhenFull:
		return "on"
	case SYNCookiesOff:
		return "off"
	case SYNCookiesAlways:
		return "always"
	}
	return fmt.Sprintf("SYNCookieMode(%d)", uint8(m))
}

// ParseSYNCookies returns the mode named s ("on", "off" or "always", any case).
func ParseSYNCookies(s string) (SYNCookieMode, error) {
	switch strings.ToLower(s) {
	case "on":
		return SYNCookiesWhenFull, nil
	case "off":
		return SYNCookiesOff, nil
	case "always":
		return SYNCookiesAlways, nil
	}
	return 0, fmt.Errorf("tcp: unknown SYN cookie setting %q (want on, off or always)", s)
}

// The cookie, an ISS: the counter's low 5 bits, the MSS index, and a keyed
// hash of the four-tuple, the peer's ISN, the counter and the index (the
// layout of RFC 4987 §3.6, with 25 bits of hash).
const (
	cookiePeriod   = 64 * time.Second // one tick of the counter
	cookieMaxAge   = 1                // ticks: the current counter and the one before, as Linux
	cookieHashBits = 25
	cookieMSSShift = cookieHashBits
	cookieCtrShift = cookieHashBits + 2
	cookieHashMask = 1<<cookieHashBits - 1
)

// cookieMSS is the MSS table of a cookie's 2-bit index: Linux's for IPv4.
var cookieMSS = [4]uint16{536, 1300, 1440, 1460}

// With timestamps, the low 6 bits of our SYN-ACK's TSval carry the
// options the cookie cannot (as Linux's cookie_init_timestamp), and the
// ACK's TSecr brings them back.
const (
	cookieTSBits    = 6
	cookieTSMask    = 1<<cookieTSBits - 1
	cookieTSNoScale = 0xf    // the low 4 bits: the peer's window scale, or this for none
	cookieTSSACK    = 1 << 4 // SACK-permitted
	cookieTSECN     = 1 << 5 // ECN agreed
)

// cookieOpts are the options a cookie's TSval carries.
type cookieOpts struct {
	scaleOK   bool
	scale     uint8 // the peer's shift
	sack, ecn bool
}

// cookieGen makes and checks cookies with a secret of its own, apart from
// the ISN generator's key.
type cookieGen struct {
	k0, k1 uint64
	epoch  time.Time // the counter's origin: the first now seen
}

func newCookieGen() *cookieGen {
	var key [16]byte
	rand.Read(key[:]) // never fails (crypto/rand, Go 1.24+)
	return &cookieGen{k0: binary.LittleEndian.Uint64(key[:8]), k1: binary.LittleEndian.Uint64(key[8:])}
}

// counter is the coarse clock at now, in cookiePeriod ticks.
func (g *cookieGen) counter(now time.Time) uint32 {
	if g.epoch.IsZero() {
		g.epoch = now
	}
	return uint32(max(0, now.Sub(g.epoch)) / cookiePeriod)
}

// hash is the keyed hash a cookie carries.
func (g *cookieGen) hash(id FourTuple, irs Seq, ctr uint32, mssIdx uint8) uint32 {
	var msg [45]byte
	l, r := id.Local.Addr().As16(), id.Remote.Addr().As16()
	copy(msg[0:16], l[:])
	binary.BigEndian.PutUint16(msg[16:], id.Local.Port())
	copy(msg[18:34], r[:])
	binary.BigEndian.PutUint16(msg[34:], id.Remote.Port())
	binary.BigEndian.PutUint32(msg[36:], uint32(irs))
	binary.BigEndian.PutUint32(msg[40:], ctr)
	msg[44] = mssIdx
	return uint32(sipHash24(g.k0, g.k1, msg[:])) & cookieHashMask
}

// make returns the cookie for a SYN from id with sequence number irs,
// whose MSS option said mss (0: none).
func (g *cookieGen) make(now time.Time, id FourTuple, irs Seq, mss uint16) Seq {
	// The largest table entry the peer can take; below the smallest, the
	// smallest (RFC 9293 MUST-15's default, as Linux).
	idx := uint8(len(cookieMSS) - 1)
	for idx > 0 && mss < cookieMSS[idx] {
		idx--
	}
	ctr := g.counter(now)
	return Seq(ctr<<cookieCtrShift | uint32(idx)<<cookieMSSShift | g.hash(id, irs, ctr, idx))
}

// check validates a cookie returned by an ACK from id (SEG.ACK-1, with
// irs = SEG.SEQ-1) and returns the MSS it encodes. A cookie is valid
// during the tick it was made in and the next.
func (g *cookieGen) check(now time.Time, id FourTuple, irs, cookie Seq) (uint16, bool) {
	c := uint32(cookie)
	ctr := g.counter(now)
	age := (ctr - c>>cookieCtrShift) & (1<<(32-cookieCtrShift) - 1)
	if age > cookieMaxAge || age > ctr {
		return 0, false
	}
	idx := uint8(c >> cookieMSSShift & 3)
	if g.hash(id, irs, ctr-age, idx) != c&cookieHashMask {
		return 0, false
	}
	return cookieMSS[idx], true
}

// cookieTSVal puts opts in the low bits of ts, our clock, never above it.
func cookieTSVal(ts uint32, o cookieOpts) uint32 {
	bits := uint32(cookieTSNoScale)
	if o.scaleOK {
		bits = uint32(o.scale)
	}
	if o.sack {
		bits |= cookieTSSACK
	}
	if o.ecn {
		bits |= cookieTSECN
	}
	v := ts&^cookieTSMask | bits
	if int32(v-ts) > 0 {
		v -= 1 << cookieTSBits
	}
	return v
}

// cookieTSOpts reads the options from the TSecr of a cookie's ACK.
func cookieTSOpts(tsecr uint32) cookieOpts {
	o := cookieOpts{sack: tsecr&cookieTSSACK != 0, ecn: tsecr&cookieTSECN != 0}
	if s := uint8(tsecr & cookieTSNoScale); s != cookieTSNoScale {
		o.scaleOK, o.scale = true, s // 0-14, RFC 7323 §2.3's limit
	}
	return o
}

// cookieTS reports whether a SYN or its ACK brings timestamps we use.
func (h *host) cookieTS(seg *Segment) bool {
	return seg.Options.HasTimestamp && !h.cfg.NoTimestamps
}

// sendCookie answers seg, a SYN to ln from id, with a SYN-ACK whose ISS is
// a cookie, and keeps no state. A TCB of the moment negotiates and forms
// the SYN-ACK, as a child would, and is dropped.
func (h *host) sendCookie(now time.Time, ln *listenState, id FourTuple, seg *Segment) {
	syn := *seg
	syn.Payload = nil // text on a SYN is not queued (§3.10.7.2); the peer sends it again
	if !h.cookieTS(seg) {
		// Without timestamps there is nowhere to keep window scaling, SACK
		// and ECN: the connection goes without them (as Linux).
		syn.Options.HasWindowScale, syn.Options.SACKPermitted = false, false
		syn.Flags &^= FlagECE | FlagCWR
	}
	t := h.newTCB(now, id, h.cookies.make(now, id, seg.Seq, seg.Options.MSS))
	t.cfg = &h.quietCfg
	t.openPassive(now)
	t.segmentArrives(now, &syn)
	o := cookieOpts{scaleOK: t.rcv.scaleOK, scale: t.snd.scale, sack: t.opt.sack, ecn: t.opt.ecn}
	t.output(now, func(id FourTuple, s *Segment) {
		if s.Options.HasTimestamp {
			s.Options.TSVal = cookieTSVal(s.Options.TSVal, o)
		}
		s.Why = ReasonSynCookie
		h.ctl = append(h.ctl, hostSegment{id, *s})
	})
	ln.cookieAt = now
	h.stats.cookiesSent.Add(1)
}

// cookieACK handles an ACK to ln that matches no connection, while ln
// sends cookies or has lately. It reports false if the ACK returns no
// valid cookie (the caller answers it as §3.10.7.2 says), with
// ReasonDropBadCookie if it was checked as one. A valid one
// makes the connection the cookie stands for, which the ACK finds in
// SYN-RECEIVED and takes to ESTABLISHED and the accept queue; if the
// queue is full, the ACK is dropped, as Linux drops it, and the reason
// returned.
func (h *host) cookieACK(now time.Time, ln *listenState, id FourTuple, seg *Segment) (*tcb, bool, Reason) {
	if h.cfg.SYNCookies == SYNCookiesOff || seg.Flags&(FlagSYN|FlagRST|FlagACK) != FlagACK {
		return nil, false, ReasonNone
	}
	if h.cfg.SYNCookies != SYNCookiesAlways && (ln.cookieAt.IsZero() || now.Sub(ln.cookieAt) > (cookieMaxAge+1)*cookiePeriod) {
		return nil, false, ReasonNone // no cookie of ln's can be valid
	}
	irs, iss := seg.Seq.Add(^uint32(0)), seg.Ack.Add(^uint32(0))
	mss, ok := h.cookies.check(now, id, irs, iss)
	var o cookieOpts
	ts := h.cookieTS(seg)
	if ts {
		o = cookieTSOpts(seg.Options.TSEcr)
	}
	if !ok {
		h.stats.cookiesRejected.Add(1)
		return nil, false, ReasonDropBadCookie
	}
	if len(ln.queue) >= h.cfg.Backlog {
		h.stats.overflow.Add(1)
		return nil, true, ReasonDropAcceptQueueFull
	}
	if why, err := h.roomForConn(); err != nil {
		return nil, true, why // over MaxConns or MemoryLimit: dropped, as the SYN would be
	}
	// The SYN the cookie answered, as far as it matters.
	syn := Segment{SrcPort: seg.SrcPort, DstPort: seg.DstPort, Seq: irs, Flags: FlagSYN, Window: seg.Window}
	syn.Options = Options{MSS: mss, HasWindowScale: o.scaleOK, WindowScale: o.scale, SACKPermitted: o.sack,
		HasTimestamp: ts, TSVal: seg.Options.TSVal}
	if o.ecn {
		syn.Flags |= FlagECE | FlagCWR
	}
	t := h.newTCB(now, id, iss)
	t.openPassive(now)
	t.takeEvents() // entering LISTEN is not a close
	h.add(t)
	h.halfOpenAdd(ln, t)
	t.segmentArrives(now, &syn)
	// Our SYN-ACK went out when the cookie did: replay its bookkeeping
	// quietly. Its time is unknown, so it gives no RTT sample (Karn), and
	// the ACK's TSecr, which holds the options, gives none either.
	t.cfg = &h.quietCfg
	t.output(now, func(FourTuple, *Segment) {})
	t.cfg = h.cfg
	t.snd.synSentAt = time.Time{}
	ack := *seg
	ack.Options.TSEcr = 0
	t.segmentArrives(now, &ack)
	h.touch(now, t)
	h.stats.cookiesAccepted.Add(1)
	return t, true, ReasonNone
}
