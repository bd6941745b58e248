package tcp

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// FuzzOOOStore drives an oooStore with adds, removals of the highest range, advances (some of which slide
// the window on, as RCV.NXT does) and clears decoded from the input, and
// checks it against the bitmap model after every step.
func FuzzOOOStore(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xf0, 0x50, 0, 10, 0x28, 0, 30, 0x30, 0, 20, 0x05, 0, 10, 0x06, 0, 15})
	f.Add([]byte{0, 0, 0, 0, 0x08, 1, 0, 0x08, 1, 2, 0x08, 1, 4, 0xf8, 0, 0, 0x07, 0, 0, 0x08, 1, 1})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0xf8, 0, 100, 0xf9, 0, 50, 0xfa, 0, 20, 0x06, 0, 200, 0x05, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const window = 256
		if len(data) < 4 {
			return
		}
		base := Seq(binary.BigEndian.Uint32(data))
		data = data[4:]
		var q oooStore
		m := newOOOModel(base, window)
		for step := 0; len(data) >= 3 && step < 256; step++ {
			op, off := data[0], uint32(binary.BigEndian.Uint16(data[1:]))%(window-32)
			data = data[3:]
			var what string
			switch op % 8 {
			case 4: // drop the highest range
				what = fmt.Sprintf("step %d: removeLast", step)
				want, wantOK := m.removeLast()
				if s, e, ok := q.removeLast(); ok != wantOK || ok && (span{uint32(s - m.base), uint32(e - m.base)}) != want {
					t.Fatalf("%s: got [%d,%d) %v, want %v %v", what, s-m.base, e-m.base, ok, want, wantOK)
				}
			case 0, 1, 2, 3: // add up to 31 octets
				s, e := m.base.Add(off), m.base.Add(off+uint32(op>>3))
				what = fmt.Sprintf("step %d: add [%d,%d)", step, off, off+uint32(op>>3))
				if got, want := q.add(s, e), m.add(s, e); got != want {
					t.Fatalf("%s: added %d, want %d", what, got, want)
				}
			case 5: // advance
				what = fmt.Sprintf("step %d: advance %d", step, off)
				if got, want := q.advance(m.base.Add(off)), m.advance(m.base.Add(off)); got != want {
					t.Fatalf("%s: got %d, want %d", what, got-m.base, want-m.base)
				}
			case 6: // advance and slide the window to the new RCV.NXT
				what = fmt.Sprintf("step %d: advance %d and slide", step, off)
				got, want := q.advance(m.base.Add(off)), m.advance(m.base.Add(off))
				if got != want {
					t.Fatalf("%s: got %d, want %d", what, got-m.base, want-m.base)
				}
				m.slide(got)
			case 7:
				what = fmt.Sprintf("step %d: clear", step)
				q.clear()
				m.clear()
			}
			m.compare(t, &q, what)
		}
	})
}
