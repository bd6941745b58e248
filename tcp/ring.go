package tcp

// ring is a byte FIFO of a given capacity: the send buffer (unacknowledged
// and unsent octets from SND.UNA on) and the receive buffer (octets the user
// has not read yet). Its memory follows its use: none until octets arrive,
// then ringMinAlloc octets, doubling as more are held, up to the capacity;
// release gives it back once the ring is empty, so an idle connection holds
// no buffer memory.
type ring struct {
	size int    // capacity: the most the ring may hold
	buf  []byte // the memory behind it, len(buf) <= size
	head int    // index of the first octet
	n    int    // octets stored
	acct *memAccount
}

// ringMinAlloc is the first allocation of a ring's memory: a page, room
// for a few small messages.
const ringMinAlloc = 4 << 10

func newRing(size int) ring { return ring{size: size} }

// Allocated is the memory the ring holds now.
func (r *ring) Allocated() int { return len(r.buf) }

// reserve makes the memory reach need octets past the head, copying the
// octets held so that every position relative to the head stays put.
func (r *ring) reserve(need int) {
	if need <= len(r.buf) {
		return
	}
	size := max(ringMinAlloc, 2*len(r.buf))
	for size < need {
		size *= 2
	}
	size = min(size, r.size)
	nb := make([]byte, size)
	if r.buf != nil {
		c := copy(nb, r.buf[r.head:])
		copy(nb[c:], r.buf[:r.head])
	}
	r.acct.add(size - len(r.buf))
	r.buf, r.head = nb, 0
}

// release gives the ring's memory back. The ring must be empty, with
// nothing WriteAt put past the stored octets that is still wanted.
func (r *ring) release() {
	if r.n != 0 || r.buf == nil {
		return
	}
	r.acct.add(-len(r.buf))
	r.buf, r.head = nil, 0
}

// Len is the number of octets stored.
func (r *ring) Len() int { return r.n }

// Free is the room left.
func (r *ring) Free() int { return r.size - r.n }

// Cap is the capacity.
func (r *ring) Cap() int { return r.size }

// Grow raises the capacity to size; memory follows as octets arrive.
func (r *ring) Grow(size int) { r.size = max(r.size, size) }

// Resize sets the capacity to size, or to Len if more is stored: a ring
// never drops what it holds. The memory stays as it is until release.
func (r *ring) Resize(size int) { r.size = max(size, r.n) }

// Write appends as much of p as fits and returns how much that was. The
// octets it appends overwrite whatever WriteAt put at those positions.
func (r *ring) Write(p []byte) int {
	n := r.WriteAt(0, p)
	r.Commit(n)
	return n
}

// WriteAt copies p to the positions off octets past the stored ones, without
// storing them: Len stays as it is. It is for out-of-order data (RFC 9293
// §3.10.7.4, seventh check, SHLD-31), held in place until the octets before
// it arrive and Commit takes it in. Octets that would land past Cap are
// dropped; WriteAt returns how many octets from the start of p it copied,
// 0 when off >= Free. off must not be negative.
func (r *ring) WriteAt(off int, p []byte) int {
	if off < 0 {
		panic("tcp: ring.WriteAt with a negative offset")
	}
	free := r.Free()
	if off >= free {
		return 0
	}
	n := min(len(p), free-off)
	if n == 0 {
		return 0
	}
	r.reserve(r.n + off + n)
	at := (r.head + r.n + off) % len(r.buf)
	c := copy(r.buf[at:], p[:n])
	copy(r.buf, p[c:n])
	return n
}

// Commit stores the n octets after the stored ones that WriteAt already put
// in place: held out-of-order data that in-order data now reaches (RFC 9293
// §3.10.7.4, SHLD-31). 0 <= n <= Free.
func (r *ring) Commit(n int) {
	if n < 0 || n > r.Free() {
		panic("tcp: ring.Commit out of range")
	}
	r.reserve(r.n + n)
	r.n += n
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

// Discard drops the first n octets (n <= Len). The head does not go back
// to the start of the buffer when the ring empties: octets WriteAt put past
// the stored ones must stay where they are.
func (r *ring) Discard(n int) {
	if n == 0 {
		return
	}
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
}
