package tcp

// Flags are the control bits of a TCP header (RFC 9293 §3.1).
type Flags uint8

// The control bits, in header order from the least significant bit.
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Has reports whether all bits of m are set.
func (f Flags) Has(m Flags) bool { return f&m == m }

// SACKBlock is one block of a SACK option (RFC 2018): octets [Left, Right) were received.
type SACKBlock struct {
	Left, Right Seq
}

// Options are the TCP options utcp understands (RFC 9293 §3.2, RFC 7323, RFC 2018).
// A zero value means "no options". Unknown options are skipped when parsing.
type Options struct {
	MSS            uint16 // Maximum Segment Size; 0 means absent
	WindowScale    uint8  // shift count, valid when HasWindowScale
	HasWindowScale bool
	SACKPermitted  bool
	SACKBlocks     []SACKBlock // at most 4 fit in 40 option bytes
	HasTimestamp   bool
	TSVal, TSEcr   uint32
}

// Segment is a parsed TCP segment: the header fields and the payload.
// Payload may alias the buffer the segment was parsed from.
type Segment struct {
	SrcPort, DstPort uint16
	Seq              Seq // SEG.SEQ
	Ack              Seq // SEG.ACK, meaningful when FlagACK is set
	Flags            Flags
	Window           uint16 // SEG.WND as sent (unscaled), RFC 9293 MUST-1: unsigned
	Urgent           uint16 // urgent pointer
	Options          Options
	Payload          []byte
	// ECN is the IP header's ECN codepoint (RFC 3168 §5: the two low bits
	// of the IPv4 TOS octet), which is not part of the TCP header: the
	// Stack copies it from and into the IP header.
	ECN uint8
	// GSOSize, on output, is non-zero when the segment is sent as one packet
	// that the link cuts into segments of GSOSize payload octets (TCP
	// segmentation offload): each carries this header, the last one the FIN
	// and PSH. Zero for an ordinary segment.
	GSOSize uint16
	// Why, on output, is why the stack sends the segment. It is not on the
	// wire: the codec neither writes nor reads it.
	Why Reason
}

// Len is SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags.Has(FlagSYN) {
		n++
	}
	if s.Flags.Has(FlagFIN) {
		n++
	}
	return n
}

// End is the sequence number just past the segment: SEG.SEQ + SEG.LEN.
func (s *Segment) End() Seq { return s.Seq.Add(s.Len()) }
