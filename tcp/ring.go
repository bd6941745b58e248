package tcp

// ring is a fixed-capacity byte FIFO: the send buffer (unacknowledged and
// unsent octets from SND.UNA on) and the receive buffer (octets the user has
// not read yet).
type ring struct {
	size int    // capacity
	buf  []byte // allocated on the first Write, so idle and half-open connections stay small
	head int    // index of the first octet
	n    int    // octets stored
}

func newRing(size int) ring { return ring{size: size} }

// Len is the number of octets stored.
func (r *ring) Len() int { return r.n }

// Free is the room left.
func (r *ring) Free() int { return r.size - r.n }

// Cap is the capacity.
func (r *ring) Cap() int { return r.size }

// Write appends as much of p as fits and returns how much that was.
func (r *ring) Write(p []byte) int {
	n := min(len(p), r.Free())
	if n == 0 {
		return 0
	}
	if r.buf == nil {
		r.buf = make([]byte, r.size)
	}
	tail := (r.head + r.n) % len(r.buf)
	c := copy(r.buf[tail:], p[:n])
	copy(r.buf, p[c:n])
	r.n += n
	return n
}

// Peek copies octets starting off octets past the head into p, without
// consuming them, and returns how many it copied.
func (r *ring) Peek(off int, p []byte) int {
	if off >= r.n {
		return 0
	}
	n := min(len(p), r.n-off)
	start := (r.head + off) % len(r.buf)
	c := copy(p[:n], r.buf[start:])
	copy(p[c:n], r.buf)
	return n
}

// Read consumes up to len(p) octets into p.
func (r *ring) Read(p []byte) int {
	n := r.Peek(0, p)
	r.Discard(n)
	return n
}

// Discard drops the first n octets (n <= Len).
func (r *ring) Discard(n int) {
	if n == 0 {
		return
	}
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
	if r.n == 0 {
		r.head = 0
	}
}
