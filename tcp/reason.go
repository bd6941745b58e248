package tcp

// Reason says why the stack sent a segment, or why it dropped or ignored
// one that arrived. The core decides it where it decides to send or drop,
// and the Tracer sees it: Segment.Why on SegmentOut, the argument of
// SegmentDropped. Each Reason has a human text (String), the rule it
// follows (Rule) and a stable identifier (Name) for scripts and JSON.
type Reason uint8

// Reasons for a segment the stack sends.
const (
	ReasonNone Reason = iota

	ReasonSyn                // SYN: active open
	ReasonSynRetransmit      // SYN again: retransmission timeout
	ReasonSynAckListen       // SYN-ACK: SYN arrived in LISTEN
	ReasonSynAckSimultaneous // SYN-ACK: SYN arrived in SYN-SENT
	ReasonSynAckRetransmit   // SYN-ACK again: retransmission timeout
	ReasonSynAckRepeat       // SYN-ACK again: the peer repeated its SYN
	ReasonSynCookie          // SYN-ACK carrying a SYN cookie

	ReasonAckHandshake      // ACK of the SYN-ACK: handshake 3/3
	ReasonAckSimultaneous   // ACK: a SYN-ACK completed a simultaneous open
	ReasonDelayedAckTimer   // ACK: the delayed-ACK timer expired
	ReasonSecondFullSegment // ACK: a second full-sized segment arrived
	ReasonAckData           // ACK at once: in-order data, delayed ACKs off
	ReasonAckFIN            // ACK of the peer's FIN
	ReasonAckHoleFilled     // ACK at once: data filled a hole
	ReasonDupAckOutOfOrder  // duplicate ACK: out-of-order data
	ReasonAckCE             // ACK at once: CE-marked data
	ReasonChallengeAck      // challenge ACK: RST in the window but not exact
	ReasonChallengeAckSyn   // challenge ACK: SYN in a synchronized state
	ReasonChallengeAckOld   // challenge ACK: ACK older than the window
	ReasonAckUnacceptable   // ACK: the segment failed the sequence check
	ReasonAckDuplicate      // ACK: data received before (D-SACK)
	ReasonAckUnsent         // ACK: the segment acknowledged unsent data
	ReasonAckWindowFull     // ACK: text past the window was dropped
	ReasonAckPAWS           // ACK: PAWS rejected the segment
	ReasonAckTimeWaitFIN    // ACK: the peer's FIN again in TIME-WAIT
	ReasonAckTimeWait       // ACK: another segment in TIME-WAIT
	ReasonWindowUpdate      // window update: reading, or a larger buffer, opened the window

	ReasonData                 // data: new data
	ReasonDataNagle            // data: a short segment, nothing in flight (Nagle)
	ReasonDataOverride         // data: the SWS override timeout sends what a small window takes
	ReasonFINClose             // FIN: the application called Close
	ReasonFINCloseWrite        // FIN: the application called CloseWrite
	ReasonRetransmitRTO        // retransmission: RTO
	ReasonFastRetransmit       // fast retransmit: three duplicate ACKs, or IsLost
	ReasonRetransmitPartialAck // retransmission: a partial ACK in recovery
	ReasonRetransmitRACK       // retransmission: RACK deems it lost
	ReasonTLP                  // tail-loss probe
	ReasonRetransmitPMTU       // retransmission: the path MTU went down
	ReasonZeroWindowProbe      // zero-window probe
	ReasonKeepAlive            // keep-alive probe
	ReasonRstNoListener        // RST: no connection or listener
	ReasonRstListenAck         // RST: an ACK arrived for a listener
	ReasonRstSynSentBadAck     // RST: unacceptable ACK in SYN-SENT
	ReasonRstSynRcvdBadAck     // RST: unacceptable ACK in SYN-RECEIVED
	ReasonRstBadCookie         // RST: an ACK with no valid SYN cookie
	ReasonRstAbort             // RST: the application aborted
	ReasonRstUnreadData        // RST: Close with unread data
	ReasonRstDataAfterClose    // RST: data arrived after Close
	ReasonRstUserTimeout       // RST: R2 expired
	ReasonRstKeepAlive         // RST: keep-alive probes unanswered
	ReasonRstFinWait2          // RST: FIN-WAIT-2 timed out
	ReasonRstForwardRefused    // RST: the application refused a forwarded connection

	// Reasons for an arriving segment that is dropped or ignored
	// (Tracer.SegmentDropped). Each is a drop (Reason.Drop).
	ReasonDropBadChecksum
	ReasonDropMalformed
	ReasonDropBadAddress
	ReasonDropOutsideWindow
	ReasonDropDuplicate
	ReasonDropRstOutsideWindow
	ReasonDropRstNotExact
	ReasonDropSynSynchronized
	ReasonDropPAWS
	ReasonDropNoTimestamp
	ReasonDropAckUnsent
	ReasonDropOldAck
	ReasonDropNoAck
	ReasonDropTextAfterFIN
	ReasonDropOutOfOrderBound
	ReasonDropClosedRst
	ReasonDropNoListener
	ReasonDropListenRst
	ReasonDropListenAck
	ReasonDropListenNoSyn
	ReasonDropSynSentBadAck
	ReasonDropSynSentRst
	ReasonDropSynSentNoSyn
	ReasonDropSynRcvdBadAck
	ReasonDropBacklogFull
	ReasonDropAcceptQueueFull
	ReasonDropBadCookie
	ReasonDropMaxConns
	ReasonDropMemoryLimit
	ReasonDropTimeWait
	ReasonDropForwardPending
	ReasonDropForwardFull

	reasonCount
)

// firstDrop is the first drop reason.
const firstDrop = ReasonDropBadChecksum

type reasonInfo struct{ name, text, rule string }

// reasons holds every Reason's Name, String and Rule.
var reasons = [reasonCount]reasonInfo{
	ReasonNone: {"none", "no reason recorded", ""},

	ReasonSyn:                {"syn", "SYN: active open (connect)", "RFC 9293 §3.10.1"},
	ReasonSynRetransmit:      {"syn-retransmit", "SYN again: retransmission timeout", "RFC 9293 §3.8.1, RFC 6298 §5.4"},
	ReasonSynAckListen:       {"synack-listen", "SYN-ACK: SYN arrived in LISTEN", "RFC 9293 §3.10.7.2"},
	ReasonSynAckSimultaneous: {"synack-simultaneous", "SYN-ACK: SYN arrived in SYN-SENT (simultaneous open)", "RFC 9293 §3.10.7.3"},
	ReasonSynAckRetransmit:   {"synack-retransmit", "SYN-ACK again: retransmission timeout", "RFC 9293 §3.8.1, RFC 6298 §5.4"},
	ReasonSynAckRepeat:       {"synack-repeat", "SYN-ACK again: the peer repeated its SYN", "RFC 9293 §3.10.7.4 first check"},
	ReasonSynCookie:          {"syn-cookie", "SYN-ACK with a SYN cookie: no state kept", "RFC 4987 §3.6"},

	ReasonAckHandshake:      {"ack-handshake", "ACK: SYN-ACK arrived in SYN-SENT (handshake 3/3)", "RFC 9293 §3.10.7.3"},
	ReasonAckSimultaneous:   {"ack-simultaneous", "ACK: a SYN-ACK completed a simultaneous open", "RFC 9293 §3.5 Figure 7"},
	ReasonDelayedAckTimer:   {"delayed-ack-timer", "ACK: delayed-ACK timer", "RFC 9293 §3.8.6.3"},
	ReasonSecondFullSegment: {"second-full-segment", "ACK: second full-sized segment", "RFC 9293 §3.8.6.3 (MUST-58)"},
	ReasonAckData:           {"ack-data", "ACK at once: in-order data, delayed ACKs off", "RFC 9293 §3.10.7.4 seventh check"},
	ReasonAckFIN:            {"ack-fin", "ACK: the peer's FIN arrived", "RFC 9293 §3.10.7.4 eighth check"},
	ReasonAckHoleFilled:     {"ack-hole-filled", "ACK at once: data filled a hole", "RFC 5681 §4.2"},
	ReasonDupAckOutOfOrder:  {"dupack-out-of-order", "duplicate ACK: out-of-order data", "RFC 5681 §4.2"},
	ReasonAckCE:             {"ack-ce", "ACK at once: data arrived marked CE", "RFC 3168 §6.1.3"},
	ReasonChallengeAck:      {"challenge-ack", "challenge ACK: RST in the window, not at RCV.NXT", "RFC 5961 §3.2"},
	ReasonChallengeAckSyn:   {"challenge-ack-syn", "challenge ACK: SYN in a synchronized state", "RFC 5961 §4.2"},
	ReasonChallengeAckOld:   {"challenge-ack-old-ack", "challenge ACK: ACK below SND.UNA-MAX.SND.WND", "RFC 5961 §5.2"},
	ReasonAckUnacceptable:   {"ack-unacceptable", "ACK: the segment is outside the window", "RFC 9293 §3.10.7.4 first check"},
	ReasonAckDuplicate:      {"ack-duplicate", "ACK: a duplicate of what arrived before", "RFC 9293 §3.10.7.4 first check, RFC 2883 §4"},
	ReasonAckUnsent:         {"ack-unsent", "ACK: the segment acknowledged data not yet sent", "RFC 9293 §3.10.7.4 fifth check"},
	ReasonAckWindowFull:     {"ack-window-full", "ACK: text past the window was dropped", "RFC 9293 §3.10.7.4 seventh check"},
	ReasonAckPAWS:           {"ack-paws", "ACK: the timestamp is older than TS.Recent (PAWS)", "RFC 7323 §5.3 R1"},
	ReasonAckTimeWaitFIN:    {"ack-timewait-fin", "ACK: the peer's FIN again in TIME-WAIT", "RFC 9293 §3.10.7.4 fifth check"},
	ReasonAckTimeWait:       {"ack-timewait", "ACK: a segment in TIME-WAIT (throttled)", "RFC 9293 §3.10.7.4 first check, RFC 5961 §7"},
	ReasonWindowUpdate:      {"window-update", "window update: reading, or a larger receive buffer, opened the window", "RFC 9293 §3.8.6.2.2"},

	ReasonData:                 {"data", "data: new data in the window", "RFC 9293 §3.8.6"},
	ReasonDataNagle:            {"data-nagle", "data: a short segment, nothing unacknowledged (Nagle)", "RFC 9293 §3.7.4"},
	ReasonDataOverride:         {"data-sws-override", "data: a window too small for a full segment, nothing in flight: the override timeout sends what fits", "RFC 9293 §3.8.6.2.1"},
	ReasonFINClose:             {"fin-close", "FIN: the application called Close", "RFC 9293 §3.10.4"},
	ReasonFINCloseWrite:        {"fin-closewrite", "FIN: the application called CloseWrite", "RFC 9293 §3.10.4"},
	ReasonRetransmitRTO:        {"retransmit-rto", "retransmission: RTO", "RFC 6298 §5.4"},
	ReasonFastRetransmit:       {"fast-retransmit", "fast retransmit: three duplicate ACKs, or three segments SACKed above", "RFC 5681 §3.2, RFC 6675 §5"},
	ReasonRetransmitPartialAck: {"retransmit-partial-ack", "retransmission: a partial ACK in fast recovery", "RFC 6582 §3.2 step 5"},
	ReasonRetransmitRACK:       {"retransmit-rack", "retransmission: RACK deems it lost", "RFC 8985 §6.2"},
	ReasonTLP:                  {"tlp", "tail-loss probe", "RFC 8985 §7.3"},
	ReasonRetransmitPMTU:       {"retransmit-pmtu", "retransmission: the path MTU went down", "RFC 1191 §6.5, RFC 4821 §7.5"},
	ReasonZeroWindowProbe:      {"zero-window-probe", "zero-window probe", "RFC 9293 §3.8.6.1"},
	ReasonKeepAlive:            {"keepalive", "keep-alive probe", "RFC 9293 §3.8.4"},
	ReasonRstNoListener:        {"rst-no-listener", "RST: no listener or connection", "RFC 9293 §3.10.7.1"},
	ReasonRstListenAck:         {"rst-listen-ack", "RST: an ACK arrived for a listener", "RFC 9293 §3.10.7.2 second check"},
	ReasonRstSynSentBadAck:     {"rst-synsent-bad-ack", "RST: unacceptable ACK in SYN-SENT", "RFC 9293 §3.10.7.3 first check"},
	ReasonRstSynRcvdBadAck:     {"rst-synrcvd-bad-ack", "RST: unacceptable ACK in SYN-RECEIVED", "RFC 9293 §3.10.7.4 fifth check"},
	ReasonRstBadCookie:         {"rst-bad-cookie", "RST: an ACK with no valid SYN cookie", "RFC 9293 §3.10.7.2 second check"},
	ReasonRstAbort:             {"rst-abort", "RST: the application aborted", "RFC 9293 §3.10.5"},
	ReasonRstUnreadData:        {"rst-unread-data", "RST: Close with unread data", "RFC 9293 §3.10.4 (SHLD-3), RFC 2525 §2.17"},
	ReasonRstDataAfterClose:    {"rst-data-after-close", "RST: data arrived after Close", "RFC 9293 §3.6.1 (SHLD-3)"},
	ReasonRstUserTimeout:       {"rst-user-timeout", "RST: user timeout (R2), giving up", "RFC 9293 §3.8.3"},
	ReasonRstKeepAlive:         {"rst-keepalive", "RST: keep-alive probes unanswered", "RFC 9293 §3.8.4"},
	ReasonRstFinWait2:          {"rst-finwait2-timeout", "RST: FIN-WAIT-2 timed out", "Config.FinTimeout, as Linux tcp_fin_timeout (RFC 9293 §3.6 sets no bound)"},
	ReasonRstForwardRefused:    {"rst-forward-refused", "RST: the application refused the forwarded connection (ForwardRequest.Refuse)", "RFC 9293 §3.10.7.1"},

	ReasonDropBadChecksum:      {"drop-bad-checksum", "bad checksum", "RFC 9293 §3.1 (MUST-3)"},
	ReasonDropMalformed:        {"drop-malformed", "malformed header or options", "RFC 9293 §3.1, §3.2 (MUST-7)"},
	ReasonDropBadAddress:       {"drop-bad-address", "SYN from a broadcast, multicast or invalid address", "RFC 9293 §3.9.2.3 (MUST-57)"},
	ReasonDropOutsideWindow:    {"drop-outside-window", "outside the window: answered with an ACK", "RFC 9293 §3.10.7.4 first check"},
	ReasonDropDuplicate:        {"drop-duplicate", "a duplicate of what arrived before: answered with an ACK", "RFC 9293 §3.10.7.4 first check"},
	ReasonDropRstOutsideWindow: {"drop-rst-outside-window", "RST outside the window: ignored", "RFC 5961 §3.2"},
	ReasonDropRstNotExact:      {"drop-rst-not-exact", "RST in the window, not at RCV.NXT: challenge ACK", "RFC 5961 §3.2"},
	ReasonDropSynSynchronized:  {"drop-syn-synchronized", "SYN in a synchronized state: challenge ACK", "RFC 5961 §4.2"},
	ReasonDropPAWS:             {"drop-paws", "timestamp older than TS.Recent (PAWS): answered with an ACK", "RFC 7323 §5.3 R1"},
	ReasonDropNoTimestamp:      {"drop-no-timestamp", "no timestamp on a connection that agreed them", "RFC 7323 §3.2"},
	ReasonDropAckUnsent:        {"drop-ack-unsent", "acknowledges data not yet sent: answered with an ACK", "RFC 9293 §3.10.7.4 fifth check"},
	ReasonDropOldAck:           {"drop-old-ack", "ACK below SND.UNA-MAX.SND.WND: challenge ACK", "RFC 5961 §5.2"},
	ReasonDropNoAck:            {"drop-no-ack", "no ACK bit in a synchronized state", "RFC 9293 §3.10.7.4 fifth check"},
	ReasonDropTextAfterFIN:     {"drop-text-after-fin", "text after the peer's FIN: ignored", "RFC 9293 §3.10.7.4 seventh check"},
	ReasonDropOutOfOrderBound:  {"drop-ooo-bound", "out of order past the bound on held ranges", "RFC 9293 §3.10.7.4 (SHLD-31)"},
	ReasonDropClosedRst:        {"drop-closed-rst", "RST for no connection: discarded", "RFC 9293 §3.10.7.1"},
	ReasonDropNoListener:       {"drop-no-listener", "no listener or connection: answered with a RST", "RFC 9293 §3.10.7.1"},
	ReasonDropForwardPending:   {"drop-forward-pending", "forwarding: the application has not decided on this SYN's connection yet", "RFC 9293 §3.10.7.2 (a LISTEN awaiting its user)"},
	ReasonDropForwardFull:      {"drop-forward-full", "forwarding: too many SYNs await the application's decision (Config.MaxForwardPending)", "RFC 4987 §3.3 (a bounded backlog)"},
	ReasonDropListenRst:        {"drop-listen-rst", "RST to a listener: ignored", "RFC 9293 §3.10.7.2 first check"},
	ReasonDropListenAck:        {"drop-listen-ack", "ACK to a listener: answered with a RST", "RFC 9293 §3.10.7.2 second check"},
	ReasonDropListenNoSyn:      {"drop-listen-no-syn", "no SYN, ACK or RST to a listener", "RFC 9293 §3.10.7.2 fourth check"},
	ReasonDropSynSentBadAck:    {"drop-synsent-bad-ack", "unacceptable ACK in SYN-SENT", "RFC 9293 §3.10.7.3 first check"},
	ReasonDropSynSentRst:       {"drop-synsent-rst", "RST without an ACK in SYN-SENT", "RFC 9293 §3.10.7.3 second check"},
	ReasonDropSynSentNoSyn:     {"drop-synsent-no-syn", "neither SYN nor RST in SYN-SENT", "RFC 9293 §3.10.7.3 fifth check"},
	ReasonDropSynRcvdBadAck:    {"drop-synrcvd-bad-ack", "unacceptable ACK in SYN-RECEIVED: answered with a RST", "RFC 9293 §3.10.7.4 fifth check"},
	ReasonDropBacklogFull:      {"drop-backlog-full", "SYN: the listener's accept queue is full", "RFC 9293 §3.10.7.2 (Config.Backlog, as Linux)"},
	ReasonDropAcceptQueueFull:  {"drop-accept-queue-full", "handshake ACK: the accept queue is full", "RFC 9293 §3.10.7.4 (Config.Backlog, as Linux)"},
	ReasonDropBadCookie:        {"drop-bad-cookie", "ACK to a listener with no valid SYN cookie", "RFC 4987 §3.6"},
	ReasonDropMaxConns:         {"drop-max-conns", "SYN: the stack holds Config.MaxConns connections", "RFC 9293 §3.10.7.2 (resources)"},
	ReasonDropMemoryLimit:      {"drop-memory-limit", "SYN: the stack is over Config.MemoryLimit", "RFC 9293 §3.10.7.2 (resources)"},
	ReasonDropTimeWait:         {"drop-timewait", "TIME-WAIT: not a retransmitted FIN", "RFC 9293 §3.10.7.4 first check"},
}

// String returns the human text of the reason, without its rule.
func (r Reason) String() string {
	if r >= reasonCount {
		return "unknown reason"
	}
	return reasons[r].text
}

// Rule returns the rule the reason follows, e.g. "RFC 9293 §3.10.7.2";
// empty for ReasonNone.
func (r Reason) Rule() string {
	if r >= reasonCount {
		return ""
	}
	return reasons[r].rule
}

// Name returns the reason's stable identifier, e.g. "synack-listen".
func (r Reason) Name() string {
	if r >= reasonCount {
		return "unknown"
	}
	return reasons[r].name
}

// Drop reports whether r is a reason to drop an arriving segment, not one
// to send.
func (r Reason) Drop() bool { return r >= firstDrop && r < reasonCount }

// ParseReason returns the Reason whose Name is name.
func ParseReason(name string) (Reason, bool) {
	for r := range reasonCount {
		if reasons[r].name == name {
			return r, true
		}
	}
	return ReasonNone, false
}
