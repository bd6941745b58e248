package tcp

// oooSeg is data that arrived ahead of RCV.NXT.
type oooSeg struct {
	seq  Seq
	data []byte
}

func (s *oooSeg) end() Seq { return s.seq.Add(uint32(len(s.data))) }

// oooQueue holds out-of-order data for later processing (RFC 9293 SHLD-31),
// sorted by sequence number and never holding an octet twice, so its size
// is bounded by the window it was accepted into. A FIN that arrived out of
// order is remembered by its sequence number.
type oooQueue struct {
	segs   []oooSeg
	bytes  int
	fin    bool
	finSeq Seq
}

// insert stores the octets of data (starting at seq) that are not held yet.
func (q *oooQueue) insert(seq Seq, data []byte, fin bool) {
	if fin {
		q.fin, q.finSeq = true, seq.Add(uint32(len(data)))
	}
	i := 0
	for len(data) > 0 {
		for i < len(q.segs) && q.segs[i].end().LessThanEq(seq) {
			i++
		}
		if i < len(q.segs) && q.segs[i].seq.LessThanEq(seq) {
			// The head of data is held already: skip it.
			n := min(len(data), int(q.segs[i].end().Sub(seq)))
			data, seq = data[n:], seq.Add(uint32(n))
			continue
		}
		// The head is new: store it, up to the next segment held.
		n := len(data)
		if i < len(q.segs) {
			n = min(n, int(q.segs[i].seq.Sub(seq)))
		}
		q.segs = append(q.segs, oooSeg{})
		copy(q.segs[i+1:], q.segs[i:])
		q.segs[i] = oooSeg{seq: seq, data: append([]byte(nil), data[:n]...)}
		q.bytes += n
		data, seq = data[n:], seq.Add(uint32(n))
		i++
	}
}

// pop removes and returns the first segment if it starts at or before rcvNxt.
func (q *oooQueue) pop(rcvNxt Seq) (oooSeg, bool) {
	if len(q.segs) == 0 || q.segs[0].seq.GreaterThan(rcvNxt) {
		return oooSeg{}, false
	}
	s := q.segs[0]
	q.segs[0] = oooSeg{}
	q.segs = q.segs[1:]
	q.bytes -= len(s.data)
	if len(q.segs) == 0 {
		q.segs = nil
	}
	return s, true
}

// finAt reports whether a held FIN comes right at rcvNxt.
func (q *oooQueue) finAt(rcvNxt Seq) bool { return q.fin && q.finSeq == rcvNxt }

func (q *oooQueue) clear() { *q = oooQueue{} }
