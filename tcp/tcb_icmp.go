package tcp

import (
	"syscall"
	"time"

	"github.com/utcp/utcp/ip"
)

// ICMP errors about our segments (RFC 9293 §3.9.2.2, RFC 1122 §4.2.3.9,
// RFC 5927), path MTU discovery (RFC 1191) and PMTU black-hole detection
// (RFC 4821, RFC 8899) for one connection.

const (
	// minPMTU is the lowest path MTU a fragmentation-needed message can set:
	// Linux's min_pmtu (512 octets of data and two headers). RFC 1191 §3
	// allows 68, but so small a value is mostly what a forged message asks
	// for (RFC 5927 §7.2).
	minPMTU = 552
	// blackHoleRTOs is how many retransmission timeouts in a row of a large
	// segment, with no ICMP error to explain them, make us suspect a PMTU
	// black hole: a path that drops large packets without a message. Linux
	// waits for tcp_retries1 (3); two cost a second less on a fresh path.
	blackHoleRTOs = 2
	// pmtuReprobe is how long a lowered estimate is kept before the link's
	// MTU is tried again: RFC 1191 §6.3's ten minutes, RFC 8899 §5.1.1's
	// PMTU_RAISE_TIMER (600 s).
	pmtuReprobe = 10 * time.Minute
	// r1Retransmits is R1 of RFC 9293 §3.8.3: after this many
	// retransmissions of one segment the application is told of the trouble
	// (SHLD-9), through the soft error.
	r1Retransmits = 3
)

// pmtuPlateaus are the MTUs of RFC 1191 §7, largest first: the estimate
// when a router's fragmentation-needed message gives no next-hop MTU.
var pmtuPlateaus = [...]int{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// blackHoleMTUs are the steps of black-hole detection, largest first. 1280
// (MSS 1240) fits the common narrow paths, tunnels and IPv6-minimum links;
// 576 (MSS 536, MUST-15) is the datagram every IPv4 host accepts (RFC
// 791), the floor. Linux goes at once to tcp_base_mss (1024; 512 in older
// kernels): on a 1280-octet path that leaves a sixth (a half) of the
// throughput unused, where the step at 1280 uses it all, at the cost of
// two more timeouts on a narrower path.
var blackHoleMTUs = [...]int{1280, 576}

// icmpState is what ICMP errors and PMTU discovery keep for a connection.
type icmpState struct {
	pmtu    int   // the path MTU estimate; 0 means the link's (Config.MTU)
	peerMSS int   // the peer's MSS option (536 without one); 0 before its SYN
	softErr error // the latest soft error (MUST-56), until progress clears it
	rtoRun  int   // retransmission timeouts in a row, without progress: R1 (SHLD-9)
	bhRun   int   // the same, without ICMP either and since the last step down

	// raiseAt is when an estimate below the link's MTU, learnt from ICMP
	// or black-hole detection, is given up for the link's again; zero
	// while the estimate is the link's.
	raiseAt time.Time
}

// pathMTU is the connection's path MTU estimate.
func (c *tcb) pathMTU() int {
	if c.icmp.pmtu == 0 {
		return c.cfg.MTU
	}
	return c.icmp.pmtu
}

// mssFor is the send MSS over a path of MTU mtu: the peer's MSS option,
// limited by what mtu carries past the IP and TCP headers (RFC 1191 §3,
// RFC 8201 §5),
// less the option space on every segment: RFC 9293 MUST-16, RFC 7323 §3.2
// (Linux takes the same 12 octets for timestamps off).
func (c *tcb) mssFor(mtu int) int {
	m := min(c.icmp.peerMSS, mtu-headersLen(c.id))
	if c.opt.ts {
		m -= tsOptionLen
	}
	return max(m, 64)
}

// icmpAcceptable reports whether an ICMP error quoting sequence number seq
// may concern this connection. RFC 5927 §4.1: only if the quoted SEQ lies
// in SND.UNA..SND.NXT, as Linux's between(seq, snd_una, snd_nxt), which
// includes SND.NXT (a bare ACK carries it). In TIME-WAIT nothing is in
// flight; Linux ignores errors there too.
func (c *tcb) icmpAcceptable(seq Seq) bool {
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		return false
	}
	return c.snd.una.LessThanEq(seq) && seq.LessThanEq(c.snd.nxt)
}

// icmpError acts on an acceptable ICMP error (RFC 9293 MUST-54): typ and
// code of the message; for a fragmentation-needed one, the next-hop MTU
// (0 if not given) and the quoted datagram's total length.
func (c *tcb) icmpError(now time.Time, typ, code uint8, mtu, quotedLen int) {
	if typ == ip.ICMPTypeDestUnreachable && code == ip.ICMPCodeFragNeeded {
		c.pmtuDecrease(now, mtu, quotedLen)
		return
	}
	err := icmpErrno(typ, code)
	// RFC 1122 §4.2.3.9, RFC 9293 SHLD-26: protocol and port unreachable
	// are hard errors; RFC 5927 §4.2: only while the connection is being
	// opened. A dial ends with the errno; a passive child in SYN-RECEIVED
	// is dropped without a word, as Linux drops the request.
	hard := typ == ip.ICMPTypeDestUnreachable && (code == ip.ICMPCodeProtoUnreachable || code == ip.ICMPCodePortUnreachable)
	if hard && (c.state == StateSynSent || c.state == StateSynReceived) {
		c.reset(now, err)
		return
	}
	// MUST-56: a soft error never aborts; the latest is kept for the user
	// (MUST-47, SHLD-25), as Linux keeps sk_err_soft.
	c.icmp.softErr = err
}

// icmpErrno is the errno Linux reports for an ICMP error (icmp_err_convert
// for destination unreachable; EHOSTUNREACH for time exceeded; EPROTO for
// parameter problem).
func icmpErrno(typ, code uint8) error {
	switch typ {
	case ip.ICMPTypeTimeExceeded:
		return syscall.EHOSTUNREACH
	case ip.ICMPTypeParamProblem:
		return syscall.EPROTO
	}
	switch code {
	case 0, 6, 11:
		return syscall.ENETUNREACH
	case ip.ICMPCodeProtoUnreachable:
		return syscall.ENOPROTOOPT
	case ip.ICMPCodePortUnreachable:
		return syscall.ECONNREFUSED
	case ip.ICMPCodeFragNeeded:
		return syscall.EMSGSIZE
	case ip.ICMPCodeSourceRouteFail:
		return syscall.EOPNOTSUPP
	case 7:
		return syscall.EHOSTDOWN
	case 8:
		return errNoNet
	}
	return syscall.EHOSTUNREACH // 1, 9, 10, 12-15 and codes RFC 1812 does not name
}

// nextHopMTU is the path MTU a fragmentation-needed message gives: its
// next-hop MTU or, from a router that gives none, the plateau below the
// quoted datagram's length (RFC 1191 §5, §7).
func nextHopMTU(mtu, quotedLen int) int {
	if mtu >= 68 {
		return mtu
	}
	for _, p := range pmtuPlateaus {
		if p < quotedLen {
			return p
		}
	}
	return 68
}

// pmtuDecrease applies a fragmentation-needed message (RFC 1191 §6.1,
// MUST-54): the estimate only goes down, never below minPMTU, and the send
// MSS follows it.
func (c *tcb) pmtuDecrease(now time.Time, mtu, quotedLen int) {
	mtu = max(nextHopMTU(mtu, quotedLen), minPMTU)
	if c.id.Local.Addr().Is6() {
		mtu = max(mtu, ip.MinMTU6) // RFC 8201 §4: never below IPv6's minimum link MTU
	}
	if mtu >= c.pathMTU() {
		return
	}
	c.icmp.pmtu, c.icmp.raiseAt = mtu, now.Add(pmtuReprobe)
	c.icmp.bhRun = 0 // the message explains the losses: not a black hole
	c.stats.PMTUDecreases++
	if c.icmp.peerMSS != 0 { // else the peer's SYN will set the MSS from the estimate
		c.lowerMSS(c.mssFor(mtu))
	}
}

// lowerMSS makes mss the send MSS, if smaller. As Linux's
// tcp_simple_retransmit, every record sent longer than that is marked lost
// and cut into segments of mss, so output resends them at once: the path
// dropped them for their size, not for congestion, so cwnd stays. The
// records are rebuilt in one pass, at most 2×maxSendRecords of them (the
// bound of split); resend cuts what is left longer.
func (c *tcb) lowerMSS(mss int) {
	snd := &c.snd
	if mss >= snd.mss {
		return
	}
	snd.mss = mss
	q := &snd.recs
	extra := 0
	for i := range q.len() {
		if r := q.at(i); !r.sacked && c.recordData(r) > mss {
			extra += (c.recordData(r) - 1) / mss
		}
	}
	if extra == 0 {
		return
	}
	room := max(0, 2*maxSendRecords-q.len())
	out := make([]sendRecord, 0, q.len()+min(extra, room))
	for i := range q.len() {
		r := *q.at(i)
		if r.sacked || c.recordData(&r) <= mss {
			out = append(out, r)
			continue
		}
		if !r.lost {
			r.lost = true
			q.lostBytes += r.length()
		}
		r.lostWhy = ReasonRetransmitPMTU
		for ; room > 0 && c.recordData(&r) > mss; room-- {
			head := r
			head.end, head.fin = r.start.Add(uint32(mss)), false
			out = append(out, head)
			r.start = head.end
		}
		out = append(out, r)
	}
	q.r, q.head, q.n = out, 0, len(out)
}

// icmpOnTimeout runs after a retransmission timeout has marked everything
// lost: black-hole detection (RFC 4821, RFC 8899 §4.3: loss of packets of
// one size is the indication). After blackHoleRTOs timeouts in a row of a
// segment larger than the next step carries, with no ICMP error seen, the
// estimate goes down to that step and the segments go out again at its size.
func (c *tcb) icmpOnTimeout(now time.Time) {
	c.icmp.rtoRun++
	c.icmp.bhRun++
	if c.cfg.NoPMTUBlackHoleDetection || !c.snd.synAcked || c.icmp.bhRun < blackHoleRTOs || c.snd.recs.len() == 0 {
		return
	}
	cur, next := c.pathMTU(), 0
	for _, mtu := range blackHoleMTUs {
		// RFC 8200 §5: an IPv6 path carries 1280 octets; there is no step below.
		if mtu < cur && (mtu >= ip.MinMTU6 || !c.id.Local.Addr().Is6()) {
			next = mtu
			break
		}
	}
	if next == 0 || c.recordData(c.snd.recs.at(0)) <= c.mssFor(next) {
		return // the lowest step, or a segment the step would not cut: not the path's MTU
	}
	c.icmp.pmtu, c.icmp.raiseAt = next, now.Add(pmtuReprobe)
	c.icmp.bhRun = 0 // the next step takes as many timeouts again
	c.stats.BlackHoleDetections++
	c.lowerMSS(c.mssFor(next))
}

// icmpProgress runs when an ACK acknowledges new data: the soft error is
// cleared, as Linux clears sk_err_soft, and the timeout run ends. Once a
// lowered estimate has aged pmtuReprobe, the link's MTU is tried again
// (RFC 1191 §6.3); if the path is still narrower, a router's message or
// black-hole detection lowers it again.
func (c *tcb) icmpProgress(now time.Time) {
	c.icmp.softErr, c.icmp.rtoRun, c.icmp.bhRun = nil, 0, 0
	if !c.icmp.raiseAt.IsZero() && !now.Before(c.icmp.raiseAt) {
		c.icmp.pmtu, c.icmp.raiseAt = 0, time.Time{}
		c.snd.mss = c.mssFor(c.pathMTU())
	}
}

// pmtuStart starts a new connection with a path MTU learnt by an earlier
// one (the host's cache), to be given up at raiseAt.
func (c *tcb) pmtuStart(mtu int, raiseAt time.Time) {
	if mtu < c.cfg.MTU {
		c.icmp.pmtu, c.icmp.raiseAt = mtu, raiseAt
	}
}

// softError is what the user is told of trouble that did not end the
// connection: the latest ICMP soft error, or ETIMEDOUT once the oldest
// segment has gone R1 times (RFC 9293 §3.8.3, SHLD-9).
func (c *tcb) softError() error {
	if c.icmp.softErr != nil {
		return c.icmp.softErr
	}
	if c.icmp.rtoRun >= r1Retransmits {
		return syscall.ETIMEDOUT
	}
	return nil
}

// timeoutError is the error of a connection that timed out: its soft
// error if it had one, else ETIMEDOUT, as Linux's tcp_write_err.
func (c *tcb) timeoutError() error {
	if err := c.softError(); err != nil {
		return err
	}
	return syscall.ETIMEDOUT
}
