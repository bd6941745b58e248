package tcp

import "time"

// drop tells the tracer that seg, which arrived for id, is dropped or
// ignored by the host, for the reason why.
func (h *host) drop(now time.Time, id FourTuple, seg *Segment, why Reason) {
	if tr := h.cfg.Tracer; tr != nil {
		tr.SegmentDropped(now, id, seg, why)
	}
}
