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

// SegmentOut records a segment the stack sends, with why it sent it.
func (r *Recorder) SegmentOut(now time.Time, id tcp.FourTuple, seg *tcp.Segment) {
	r.segment(now, id, seg, true, reasonOf(seg.Why))
}

// SegmentDropped records an arriving segment the stack dropped or ignored.
func (r *Recorder) SegmentDropped(now time.Time, id tcp.FourTuple, seg *tcp.Segment, why tcp.Reason) {
	r.dropped(now, id, seg, reasonOf(why))
}

// StateChange records a transition of utcp's side.
func (r *Recorder) StateChange(now time.Time, id tcp.FourTuple, from, to tcp.State) {
	r.state(now, id, from, to)
}

// UserEvent records an application call.
func (r *Recorder) UserEvent(now time.Time, id tcp.FourTuple, ev tcp.UserEvent) {
	r.user(now, id, ev.Kind.String(), ev.N, ev.Err)
}

// Sender records the sender's congestion state.
func (r *Recorder) Sender(now time.Time, id tcp.FourTuple, s tcp.SenderState) {
	r.sender(now, id, Sender{
		Cwnd: s.Cwnd, SndWnd: s.SndWnd, InFlight: s.InFlight,
		SRTTms: float64(s.SRTT) / float64(time.Millisecond), Recovering: s.Recovering,
	}, s.SndUna, s.SndNxt, s.SSThresh)
}

// Flush ends a batch of the stack's work.
func (r *Recorder) Flush() { r.flush() }

func reasonOf(why tcp.Reason) reason {
	if why == tcp.ReasonNone {
		return reason{}
	}
	return reason{text: why.String(), rule: why.Rule(), name: why.Name()}
}
