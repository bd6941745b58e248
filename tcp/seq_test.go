package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The comparisons are RFC 9293 §3.4's modular arithmetic: b is after a when it lies less than 2^31 ahead.
func TestSeqCompare(t *testing.T) {
	tests := []struct {
		name   string
		a, b   Seq
		lt, le bool // a < b, a <= b
		gt, ge bool // a > b, a >= b
		sub    int32
		max    Seq
	}{
		{name: "equal", a: 5, b: 5, le: true, ge: true, sub: 0, max: 5},
		{name: "plain less", a: 1, b: 2, lt: true, le: true, sub: -1, max: 2},
		{name: "plain greater", a: 2, b: 1, gt: true, ge: true, sub: 1, max: 2},
		{name: "across the wrap, before", a: 0xFFFFFFF0, b: 0x10, lt: true, le: true, sub: -0x20, max: 0x10},
		{name: "across the wrap, after", a: 0x10, b: 0xFFFFFFF0, gt: true, ge: true, sub: 0x20, max: 0x10},
		{name: "max value then zero", a: 0xFFFFFFFF, b: 0, lt: true, le: true, sub: -1, max: 0},
		{name: "just under half the space ahead", a: 0, b: 0x7FFFFFFF, lt: true, le: true, sub: -0x7FFFFFFF, max: 0x7FFFFFFF},
		// At exactly 2^31 apart int32(a-b) is MinInt32 both ways: each is "less" than the other.
		{name: "half the space apart", a: 0, b: 0x80000000, gt: false, ge: false, lt: true, le: true, sub: -0x80000000, max: 0x80000000},
		{name: "just over half the space ahead is behind", a: 0, b: 0x80000001, gt: true, ge: true, sub: 0x7FFFFFFF, max: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.lt, tt.a.LessThan(tt.b), "LessThan")
			assert.Equal(t, tt.le, tt.a.LessThanEq(tt.b), "LessThanEq")
			assert.Equal(t, tt.gt, tt.a.GreaterThan(tt.b), "GreaterThan")
			assert.Equal(t, tt.ge, tt.a.GreaterThanEq(tt.b), "GreaterThanEq")
			assert.Equal(t, tt.sub, tt.a.Sub(tt.b), "Sub is the signed distance a-b")
			assert.Equal(t, tt.max, tt.a.Max(tt.b), "Max is the later of the two")
		})
	}
}

func TestSeqAdd(t *testing.T) {
	tests := []struct {
		name string
		s    Seq
		n    uint32
		want Seq
	}{
		{name: "zero", s: 100, n: 0, want: 100},
		{name: "plain", s: 100, n: 5, want: 105},
		{name: "wraps past 2^32", s: 0xFFFFFFFE, n: 3, want: 1},
		{name: "to exactly zero", s: 0xFFFFFFFF, n: 1, want: 0},
		{name: "full space minus one goes back one", s: 10, n: 0xFFFFFFFF, want: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.Add(tt.n)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, int32(tt.n), got.Sub(tt.s), "Sub undoes Add (as a signed distance)")
		})
	}
}

// InWindow decides segment acceptability (RFC 9293 §3.10.7.4), so check them across the wrap.
func TestSeqInWindow(t *testing.T) {
	tests := []struct {
		name     string
		s, start Seq
		size     uint32
		want     bool
	}{
		{name: "at the left edge", s: 100, start: 100, size: 10, want: true},
		{name: "last octet", s: 109, start: 100, size: 10, want: true},
		{name: "right edge is outside", s: 110, start: 100, size: 10, want: false},
		{name: "left of the window", s: 99, start: 100, size: 10, want: false},
		{name: "empty window holds nothing", s: 100, start: 100, size: 0, want: false},
		{name: "window across the wrap, before it", s: 0xFFFFFFF8, start: 0xFFFFFFF0, size: 0x20, want: true},
		{name: "window across the wrap, after it", s: 0x08, start: 0xFFFFFFF0, size: 0x20, want: true},
		{name: "window across the wrap, past the end", s: 0x10, start: 0xFFFFFFF0, size: 0x20, want: false},
		{name: "window across the wrap, left of it", s: 0xFFFFFFEF, start: 0xFFFFFFF0, size: 0x20, want: false},
		{name: "maximum scaled window", s: 0x3FFFBFFF, start: 0, size: 65535 << 14, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.s.InWindow(tt.start, tt.size), "InWindow")
		})
	}
}
