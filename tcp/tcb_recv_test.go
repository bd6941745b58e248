package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func newRecvSpace(buf int) *recvSpace {
	var r recvSpace
	r.init(&Config{RecvBuffer: buf, RecvBufferMax: buf, MTU: 1500}, 40)
	r.synReceived(99) // RCV.NXT = 100
	return &r
}

func TestRecvSpace_WindowScaleFitsBuffer_RFC7323(t *testing.T) {
	assert.Equal(t, uint8(0), newRecvSpace(65535).scale)
	assert.Equal(t, uint8(1), newRecvSpace(100000).scale)
	assert.Equal(t, uint8(3), newRecvSpace(256<<10).scale, "the smallest shift that describes the buffer")
	assert.Equal(t, uint8(14), newRecvSpace(1<<31).scale, "at most 14 (RFC 7323 §2.3)")
}

func TestRecvSpace_SWSHoldsTheEdge_MUST39(t *testing.T) {
	r := newRecvSpace(4000)
	assert.Equal(t, uint16(4000), r.advertise())
	r.buf.Write(make([]byte, 4000))
	r.nxt = r.nxt.Add(4000)
	assert.Equal(t, uint16(0), r.advertise(), "a full buffer: zero window")
	r.buf.Discard(1000)
	assert.Equal(t, uint16(0), r.advertise(), "1000 < min(4000/2, 1460): the edge stays, also from zero")
	r.buf.Discard(500)
	assert.Equal(t, uint16(1500), r.advertise(), "1500 >= the threshold: it moves")
}

// SHLD-14 with RFC 7323 §2.3 scaling: rounding the window to the scale
// never moves the edge the peer computes left while the buffer has room,
// and rounding up never takes it a whole unit past the buffer, however
// RCV.NXT moves.
func TestRecvSpace_ScaleRounding_SHLD14(t *testing.T) {
	for _, step := range []int{1, 3, 7, 1460} {
		r := newRecvSpace(100000) // scale 1
		u := 1 << r.scale
		r.advertise()
		prev := r.adv
		for i := range 200 {
			if r.buf.Free() < step {
				break
			}
			r.buf.Write(make([]byte, step))
			r.nxt = r.nxt.Add(uint32(step))
			if i%10 == 9 {
				r.buf.Discard(r.buf.Len()) // the application reads now and then
			}
			field := r.advertise()
			edge := r.nxt.Add(uint32(field) << r.scale)
			limit := r.nxt.Add(uint32(r.available()))
			assert.Less(t, int(edge.Sub(limit)), u, "step %d/%d: less than one unit past what the buffer offers", step, i)
			assert.False(t, edge.GreaterThan(r.nxt.Add(uint32(r.buf.Free()))), "step %d/%d: never past what it can hold", step, i)
			if !prev.GreaterThan(r.nxt.Add(uint32(r.available()))) {
				assert.False(t, edge.LessThan(prev), "step %d/%d: the edge never moves left while the buffer holds it", step, i)
			}
			assert.Less(t, int(prev.Sub(edge)), u, "step %d/%d: and never by a whole unit", step, i)
			prev = edge
		}
	}
}

func TestRecvSpace_WindowUpdateThreshold(t *testing.T) {
	r := newRecvSpace(64 << 10)
	r.buf.Write(make([]byte, 64<<10))
	r.nxt = r.nxt.Add(64 << 10)
	r.advertise()
	r.buf.Discard(2 * 1460)
	assert.True(t, r.windowUpdateWorthIt(), "2*MSS of opening is worth a segment")
	r = newRecvSpace(2000)
	r.buf.Write(make([]byte, 2000))
	r.nxt = r.nxt.Add(2000)
	r.advertise()
	r.buf.Discard(999)
	assert.False(t, r.windowUpdateWorthIt())
	r.buf.Discard(1)
	assert.True(t, r.windowUpdateWorthIt(), "half the buffer is worth a segment")
}

func TestRecvSpace_TextTrimmedToWindow(t *testing.T) {
	r := newRecvSpace(1000)
	r.advertise() // edge 1100
	cases := []struct {
		name     string
		seg      Segment
		seq      Seq
		n        int
		fin, cut bool
	}{
		{"inside", Segment{Seq: 100, Payload: make([]byte, 10), Flags: FlagFIN}, 100, 10, true, false},
		{"old part trimmed", Segment{Seq: 90, Payload: make([]byte, 20)}, 100, 10, false, false},
		{"old FIN", Segment{Seq: 90, Payload: make([]byte, 5), Flags: FlagFIN}, 95, 0, false, false},
		{"FIN right at RCV.NXT", Segment{Seq: 95, Payload: make([]byte, 5), Flags: FlagFIN}, 100, 0, true, false},
		{"past the right edge", Segment{Seq: 1050, Payload: make([]byte, 100), Flags: FlagFIN}, 1050, 50, false, true},
		{"SYN comes first", Segment{Seq: 99, Payload: make([]byte, 5), Flags: FlagSYN}, 100, 5, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seq, data, fin, cut := r.text(&tc.seg)
			assert.Equal(t, tc.seq, seq)
			assert.Len(t, data, tc.n)
			assert.Equal(t, tc.fin, fin, "fin")
			assert.Equal(t, tc.cut, cut, "cut")
		})
	}
}
