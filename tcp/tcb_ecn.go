package tcp

import (
	"fmt"
	"strings"
	"time"
)

// Explicit Congestion Notification for TCP (RFC 3168 §6.1): negotiation
// on the SYNs, ECT(0) on new data, the receiver's echo of CE as ECE until
// CWR, and the sender's reaction to ECE once per window.

// ECN selects whether connections use Explicit Congestion Notification
// (RFC 3168), as Linux's net.ipv4.tcp_ecn does.
type ECN uint8

const (
	// ECNAccept uses ECN when the peer's SYN asks for it, and does not ask
	// on our SYNs: the default, as Linux's tcp_ecn=2.
	ECNAccept ECN = iota
	// ECNOn asks for ECN on our SYNs and accepts it on the peer's (tcp_ecn=1).
	ECNOn
	// ECNOff neither asks nor accepts (tcp_ecn=0).
	ECNOff
)

func (e ECN) String() string {
	switch e {
	case ECNAccept:
		return "accept"
	case ECNOn:
		return "on"
	case ECNOff:
		return "off"
	}
	return fmt.Sprintf("ECN(%d)", uint8(e))
}

// ParseECN returns the ECN setting named s ("on", "off" or "accept", any case).
func ParseECN(s string) (ECN, error) {
	switch strings.ToLower(s) {
	case "accept":
		return ECNAccept, nil
	case "on":
		return ECNOn, nil
	case "off":
		return ECNOff, nil
	}
	return 0, fmt.Errorf("tcp: unknown ECN setting %q (want on, off or accept)", s)
}

// The ECN codepoints of the IP header (RFC 3168 §5), as in Segment.ECN.
const (
	ecnNotECT uint8 = 0b00
	ecnECT1   uint8 = 0b01
	ecnECT0   uint8 = 0b10
	ecnCE     uint8 = 0b11
	ecnMask   uint8 = 0b11 // the two low bits of the IPv4 TOS octet
)

// ecnState is the TCB's part of RFC 3168.
type ecnState struct {
	asked   bool // our SYN carried ECE and CWR (an ECN-setup SYN)
	echo    bool // a CE mark arrived: ECE on what we send until a CWR arrives (§6.1.3)
	cwrDue  bool // our window was reduced: CWR on the next new data segment (§6.1.2)
	reacted bool // we reacted to ECE; recover is meaningful
	recover Seq  // SND.NXT when we reacted: no other reaction for ACKs up to it
}

// ecnSYN sets the ECN bits of our SYN or SYN,ACK (RFC 3168 §6.1.1).
func (c *tcb) ecnSYN(s *Segment) {
	if c.state != StateSynSent {
		// "the TCP host sends an ECN-setup SYN-ACK packet": ECE set, CWR clear.
		if c.opt.ecn {
			s.Flags |= FlagECE
		}
		return
	}
	// An ECN-setup SYN has ECE and CWR set. RFC 3168 §6.1.1.1: a SYN that
	// goes again may be sent without them, in case a middlebox drops
	// ECN-setup SYNs; Linux does so (tcp_ecn_fallback).
	c.ecn.asked = c.cfg.ECN == ECNOn && !c.snd.synSent
	if c.ecn.asked {
		s.Flags |= FlagECE | FlagCWR
	}
}

// ecnNegotiate takes the ECN bits of the peer's SYN or SYN,ACK (RFC 3168 §6.1.1).
func (c *tcb) ecnNegotiate(seg *Segment) {
	ece, cwr := seg.Flags.Has(FlagECE), seg.Flags.Has(FlagCWR)
	switch {
	case c.state == StateListen:
		// An ECN-setup SYN, which we accept unless ECN is off.
		c.ecn = ecnState{}
		c.opt.ecn = c.cfg.ECN != ECNOff && ece && cwr
	case seg.Flags.Has(FlagACK):
		// An ECN-setup SYN,ACK answers ours: ECE set, CWR clear (a SYN,ACK
		// with both is a reflection of our SYN's bits, not an agreement).
		c.opt.ecn = c.ecn.asked && ece && !cwr
	default:
		// Simultaneous open: both SYNs ECN-setup SYNs.
		c.opt.ecn = c.ecn.asked && ece && cwr
	}
}

// ecnOut sets the ECN bits and codepoint of a segment we send once ECN
// is agreed. The SYN,ACK's bits are ecnSYN's.
func (c *tcb) ecnOut(s *Segment) {
	if !c.opt.ecn || s.Flags.Has(FlagSYN) || s.Flags.Has(FlagRST) {
		return // RFC 3168 §6.1.1: SYNs are not ECN-capable; nor are RSTs
	}
	if c.ecn.echo {
		// RFC 3168 §6.1.3: ECE on every segment until the peer says CWR.
		s.Flags |= FlagECE
	}
	// RFC 3168 §6.1.2 (ECT on data packets), §6.1.4 (not on pure ACKs or
	// window probes), §6.1.5 (not on retransmissions): only new data,
	// starting at SND.NXT and within the peer's window, is ECN-capable.
	snd := &c.snd
	if n := uint32(len(s.Payload)); n == 0 || s.Seq != snd.nxt || s.Seq.Add(n).GreaterThan(snd.una.Add(snd.wnd)) {
		return
	}
	s.ECN = ecnECT0
	if c.ecn.cwrDue {
		// RFC 3168 §6.1.2: "the TCP sender sets the CWR flag in the TCP
		// header of the first new data packet sent after the window reduction".
		s.Flags |= FlagCWR
		c.ecn.cwrDue = false
		c.stats.CWRSent++
	}
}

// ecnArrives takes the ECN signals of an acceptable segment whose ACK was
// processed in a synchronized state: CE and CWR as the receiver, ECE as
// the sender.
func (c *tcb) ecnArrives(now time.Time, seg *Segment) {
	if !c.opt.ecn {
		return
	}
	// RFC 3168 §6.1.3: "the receiver ... continues to set the ECE flag in
	// ACK packets until it receives a CWR packet". A CWR and a CE on the
	// same segment leave the echo on: the CE is news.
	if seg.Flags.Has(FlagCWR) {
		c.ecn.echo = false
	}
	if seg.ECN == ecnCE {
		c.stats.CEReceived++
		c.ecn.echo = true
		if len(seg.Payload) > 0 || seg.Flags.Has(FlagFIN) {
			c.ackFor(ReasonAckCE) // the sender's window may be small: tell it at once
		}
	}
	if !seg.Flags.Has(FlagECE) {
		return
	}
	c.stats.ECEReceived++
	// RFC 3168 §6.1.2: react "at most once per window of data": not to
	// an ECE that acknowledges no more than what was in flight when we
	// last reacted. Once SND.UNA passes that point the old value is
	// forgotten, so it cannot compare wrongly after the sequence space wraps.
	if c.ecn.reacted && c.snd.una.GreaterThan(c.ecn.recover) {
		c.ecn.reacted = false
	}
	if c.ecn.reacted {
		return
	}
	c.ecn.reacted, c.ecn.recover = true, c.snd.nxt
	c.congestionSignal(now)
	c.ecn.cwrDue = true
}

// ecnWindowReduced notes a reduction of the window for any reason: with ECN
// agreed, the next new data segment carries CWR (RFC 3168 §6.1.2), so a
// peer echoing ECE knows the sender reacted.
func (c *tcb) ecnWindowReduced() {
	if c.opt.ecn {
		c.ecn.cwrDue = true
	}
}
