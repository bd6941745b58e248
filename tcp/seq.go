package tcp

// Seq is a TCP sequence number. Arithmetic and comparisons wrap modulo 2^32
// (RFC 9293 §3.4): a is "less than" b when b lies less than 2^31 ahead of a.
// Never compare two Seq values with < or >; use these methods.
type Seq uint32

// Add returns s advanced by n octets.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the signed distance s - o.
func (s Seq) Sub(o Seq) int32 { return int32(s - o) }

// LessThan reports whether s comes before o.
func (s Seq) LessThan(o Seq) bool { return int32(s-o) < 0 }

// LessThanEq reports whether s comes before o or equals it.
func (s Seq) LessThanEq(o Seq) bool { return int32(s-o) <= 0 }

// GreaterThan reports whether s comes after o.
func (s Seq) GreaterThan(o Seq) bool { return int32(s-o) > 0 }

// GreaterThanEq reports whether s comes after o or equals it.
func (s Seq) GreaterThanEq(o Seq) bool { return int32(s-o) >= 0 }

// InWindow reports whether s lies in the window [start, start+size).
func (s Seq) InWindow(start Seq, size uint32) bool { return uint32(s-start) < size }

// Max returns the later of s and o.
func (s Seq) Max(o Seq) Seq {
	if s.LessThan(o) {
		return o
	}
	return s
}

// Min returns the earlier of s and o.
func (s Seq) Min(o Seq) Seq {
	if s.LessThan(o) {
		return s
	}
	return o
}
