package tcp

// oooSeg is a segment that arrived ahead of RCV.NXT.
type oooSeg struct {
	seq  Seq
	data []byte
	fin  bool
}

func (s *oooSeg) end() Seq {
	e := s.seq.Add(uint32(len(s.data)))
	if s.fin {
		e = e.Add(1)
	}
	return e
}

// oooQueue holds out-of-order segments for later processing (RFC 9293
// SHLD-31), sorted by sequence number. Only segments inside the advertised
// window are stored, so its size is bounded by the receive buffer.
type oooQueue struct {
	segs  []oooSeg
	bytes int
}

// insert stores a copy of the segment unless queued segments already cover it.
func (q *oooQueue) insert(seq Seq, data []byte, fin bool) {
	n := oooSeg{seq: seq, fin: fin}
	end := n.seq.Add(uint32(len(data)))
	if fin {
		end = end.Add(1)
	}
	i := 0
	for ; i < len(q.segs); i++ {
		s := &q.segs[i]
		if s.seq.LessThanEq(seq) && end.LessThanEq(s.end()) {
			return // a duplicate of what we hold
		}
		if seq.LessThan(s.seq) {
			break
		}
	}
	n.data = append([]byte(nil), data...)
	q.segs = append(q.segs, oooSeg{})
	copy(q.segs[i+1:], q.segs[i:])
	q.segs[i] = n
	q.bytes += len(data)
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

func (q *oooQueue) clear() { *q = oooQueue{} }
