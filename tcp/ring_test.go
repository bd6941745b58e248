package tcp

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll reads every stored octet.
func readAll(r *ring) []byte {
	p := make([]byte, r.Len())
	return p[:r.Read(p)]
}

// WriteAt puts octets past the stored ones without storing them; Commit
// takes them in and Read returns them in order.
func TestRingWriteAt(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		skip    int    // octets written and read first, to move the head
		stored  string // octets Written before WriteAt
		off     int
		p       string
		wantN   int
		commit  int
		wantLen int
		want    string // what Read returns after the Commit
	}{
		{name: "at the tail", size: 8, stored: "ab", off: 0, p: "cd", wantN: 2, commit: 2, wantLen: 4, want: "abcd"},
		{name: "past the tail", size: 8, stored: "ab", off: 2, p: "ef", wantN: 2, commit: 0, wantLen: 2, want: "ab"},
		{name: "into an empty ring", size: 8, off: 3, p: "xyz", wantN: 3, commit: 0, wantLen: 0, want: ""},
		{name: "wraps at the buffer end", size: 8, skip: 6, stored: "ab", off: 1, p: "wxyz", wantN: 4, commit: 0, wantLen: 2, want: "ab"},
		{name: "clipped at the capacity", size: 8, stored: "abc", off: 2, p: "wxyz", wantN: 3, commit: 0, wantLen: 3, want: "abc"},
		{name: "clipped after wrapping", size: 8, skip: 5, stored: "abc", off: 1, p: "wxyz", wantN: 4, commit: 0, wantLen: 3, want: "abc"},
		{name: "off at Free writes nothing", size: 8, stored: "abc", off: 5, p: "x", wantN: 0, wantLen: 3, want: "abc"},
		{name: "off past Free writes nothing", size: 8, stored: "abc", off: 9, p: "x", wantN: 0, wantLen: 3, want: "abc"},
		{name: "full ring writes nothing", size: 4, stored: "abcd", off: 0, p: "x", wantN: 0, wantLen: 4, want: "abcd"},
		{name: "empty p", size: 8, stored: "ab", off: 0, p: "", wantN: 0, wantLen: 2, want: "ab"},
		{name: "commit the octets at the tail, wrapped", size: 8, skip: 7, stored: "a", off: 0, p: "bcdefgh", wantN: 7, commit: 7, wantLen: 8, want: "abcdefgh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.size)
			if tt.skip > 0 {
				require.Equal(t, tt.skip, r.Write(make([]byte, tt.skip)))
				require.Len(t, readAll(&r), tt.skip)
			}
			require.Equal(t, len(tt.stored), r.Write([]byte(tt.stored)))
			assert.Equal(t, tt.wantN, r.WriteAt(tt.off, []byte(tt.p)))
			assert.Equal(t, len(tt.stored), r.Len(), "WriteAt changed Len")
			r.Commit(tt.commit)
			assert.Equal(t, tt.wantLen, r.Len())
			assert.Equal(t, tt.want, string(readAll(&r)))
		})
	}
}

// Octets written past the tail come out in order once the gap is filled and
// committed, wherever the buffer wraps.
func TestRingWriteAtCommitRead(t *testing.T) {
	for skip := range 8 {
		r := newRing(8)
		r.Write(make([]byte, skip))
		readAll(&r)
		require.Equal(t, 3, r.WriteAt(2, []byte("cde")))
		require.Equal(t, 2, r.WriteAt(6, []byte("ghij")), "skip %d", skip)
		require.Equal(t, 1, r.WriteAt(5, []byte("f")))
		require.Equal(t, 2, r.Write([]byte("ab")))
		r.Commit(6)
		assert.Equal(t, "abcdefgh", string(readAll(&r)), "skip %d", skip)
	}
}

// An in-order Write over positions WriteAt already filled overwrites them.
func TestRingWriteOverWriteAt(t *testing.T) {
	r := newRing(8)
	r.Write([]byte("a"))
	require.Equal(t, 3, r.WriteAt(1, []byte("XYZ")))
	require.Equal(t, 3, r.Write([]byte("bcd"))) // covers the gap and the first two octets of "XYZ"
	r.Commit(1)
	assert.Equal(t, "abcdZ", string(readAll(&r)))
}

// When a Read empties the ring the head stays put, so octets WriteAt put
// past the tail are still there to Commit.
func TestRingWriteAtWhileEmpty(t *testing.T) {
	r := newRing(8)
	r.Write([]byte("abc"))
	require.Equal(t, 2, r.WriteAt(1, []byte("ef")))
	require.Equal(t, "abc", string(readAll(&r)))
	require.Equal(t, 0, r.Len())
	require.Equal(t, 1, r.Write([]byte("d")))
	r.Commit(2)
	assert.Equal(t, "def", string(readAll(&r)))

	// The same with Discard instead of Read.
	r.Write([]byte("gh"))
	require.Equal(t, 1, r.WriteAt(0, []byte("i")))
	r.Discard(2)
	r.Commit(1)
	assert.Equal(t, "i", string(readAll(&r)))
}

func TestRingCommitOutOfRange(t *testing.T) {
	r := newRing(4)
	r.Write([]byte("abc"))
	assert.Panics(t, func() { r.Commit(2) })
	assert.Panics(t, func() { r.Commit(-1) })
	assert.Panics(t, func() { r.WriteAt(-1, []byte("x")) })
}

// A randomized run of every operation against a model: the stored octets and
// the buffer's octets beyond them, indexed by logical position.
func TestRingModel(t *testing.T) {
	const size = 37
	rng := rand.New(rand.NewPCG(1, 2))
	r := newRing(size)
	var stored []byte            // what Peek and Read return
	beyond := make([]byte, size) // logical position Len()+i holds beyond[i] for i < Free()
	known := make([]bool, size)  // beyond[i] was written by WriteAt or Write
	randBytes := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	// shift moves the model's beyond-the-tail positions by n when n octets are stored.
	shift := func(n int) {
		copy(beyond, beyond[n:])
		copy(known, known[n:])
		clear(known[len(known)-n:])
	}
	committed := 0 // octets taken in by Commit, to check the run exercises it
	for op := range 10000 {
		switch rng.IntN(6) {
		case 0: // Write
			p := randBytes(rng.IntN(size / 2))
			n := r.Write(p)
			want := min(len(p), size-len(stored))
			require.Equal(t, want, n, "op %d: Write", op)
			stored = append(stored, p[:n]...)
			shift(n)
		case 1, 2: // WriteAt
			off := rng.IntN(size + 2)
			p := randBytes(rng.IntN(size / 2))
			n := r.WriteAt(off, p)
			free := size - len(stored)
			want := 0
			if off < free {
				want = min(len(p), free-off)
			}
			require.Equal(t, want, n, "op %d: WriteAt(%d, %d octets)", op, off, len(p))
			for i := range n {
				beyond[off+i], known[off+i] = p[i], true
			}
		case 3: // Commit what WriteAt put in place
			n := 0
			for n < size-len(stored) && known[n] {
				n++
			}
			n = rng.IntN(n + 1)
			r.Commit(n)
			committed += n
			stored = append(stored, beyond[:n]...)
			shift(n)
		case 4: // Read
			p := make([]byte, rng.IntN(size))
			n := r.Read(p)
			want := min(len(p), len(stored))
			require.Equal(t, want, n, "op %d: Read", op)
			require.Equal(t, string(stored[:n]), string(p[:n]), "op %d: Read", op)
			stored = stored[n:]
		case 5: // Discard
			n := rng.IntN(len(stored) + 1)
			r.Discard(n)
			stored = stored[n:]
		}
		require.Equal(t, len(stored), r.Len(), "op %d", op)
		require.Equal(t, size-len(stored), r.Free(), "op %d", op)
		p := make([]byte, len(stored))
		require.Equal(t, len(stored), r.Peek(0, p), "op %d", op)
		require.Equal(t, string(stored), string(p), "op %d", op)
		if len(stored) > 0 {
			off := rng.IntN(len(stored))
			q := make([]byte, size)
			require.Equal(t, len(stored)-off, r.Peek(off, q), "op %d", op)
			require.Equal(t, string(stored[off:]), string(q[:len(stored)-off]), "op %d", op)
		}
	}
	assert.Greater(t, committed, 1000, "the run hardly committed WriteAt octets")
}
