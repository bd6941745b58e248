package tcpweb

import (
	"time"

	"github.com/utcp/utcp/tcp"
)

var _ tcp.Tracer = (*Recorder)(nil)

// SegmentIn records an arriving segment.
func (r *Recorder) SegmentIn(now time.Time, id tcp.FourTuple, seg *tcp.Segment) {
	r.segment(now, id, seg, false, reason{})
}

// SegmentOut records a segment the stack sends.
func (r *Recorder) SegmentOut(now time.Time, id tcp.FourTuple, seg *tcp.Segment) {
	r.segment(now, id, seg, true, reason{})
}

// StateChange records a transition of utcp's side.
func (r *Recorder) StateChange(now time.Time, id tcp.FourTuple, from, to tcp.State) {
	r.state(now, id, from, to)
}

// UserEvent records an application call returning.
func (r *Recorder) UserEvent(now time.Time, id tcp.FourTuple, ev tcp.UserEvent) {
	r.user(now, id, ev.String(), 0, nil)
}

// Flush ends a batch of the stack's work.
func (r *Recorder) Flush() { r.flush() }
