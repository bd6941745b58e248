package tcp

import (
	"context"
	"log/slog"
	"time"
)

// NewSlogTracer returns a Tracer that logs every event to l: segments in,
// out and dropped, and the congestion state, at Debug level; state changes
// and the application's calls at Info. Each record carries the time ("at")
// and the connection ("conn"); a segment's has "dir" (in, out, drop),
// "flags", "seq", "ack", "len", "win", and for one sent or dropped "why"
// (the Reason's name) and "rule". An event at a level l does not log costs
// a call to Enabled.
func NewSlogTracer(l *slog.Logger) Tracer { return &slogTracer{l: l} }

type slogTracer struct{ l *slog.Logger }

func (t *slogTracer) enabled(level slog.Level) bool { return t.l.Enabled(context.Background(), level) }

// log writes one record with the time and the connection first.
func (t *slogTracer) log(level slog.Level, msg string, now time.Time, id FourTuple, attrs ...slog.Attr) {
	all := append([]slog.Attr{slog.Time("at", now), slog.String("conn", id.Local.String()+"-"+id.Remote.String())}, attrs...)
	t.l.LogAttrs(context.Background(), level, msg, all...)
}

func (t *slogTracer) segment(now time.Time, id FourTuple, seg *Segment, dir string, why Reason) {
	if !t.enabled(slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("dir", dir),
		slog.String("flags", flagNames(seg.Flags)),
		slog.Uint64("seq", uint64(seg.Seq)),
		slog.Uint64("ack", uint64(seg.Ack)),
		slog.Int("len", len(seg.Payload)),
		slog.Uint64("win", uint64(seg.Window)),
	}
	if why != ReasonNone {
		attrs = append(attrs, slog.String("why", why.Name()), slog.String("rule", why.Rule()))
	}
	t.log(slog.LevelDebug, "segment "+dir, now, id, attrs...)
}

func (t *slogTracer) SegmentIn(now time.Time, id FourTuple, seg *Segment) {
	t.segment(now, id, seg, "in", ReasonNone)
}

func (t *slogTracer) SegmentOut(now time.Time, id FourTuple, seg *Segment) {
	t.segment(now, id, seg, "out", seg.Why)
}

func (t *slogTracer) SegmentDropped(now time.Time, id FourTuple, seg *Segment, why Reason) {
	t.segment(now, id, seg, "drop", why)
}

func (t *slogTracer) StateChange(now time.Time, id FourTuple, from, to State) {
	if t.enabled(slog.LevelInfo) {
		t.log(slog.LevelInfo, "state", now, id, slog.String("from", from.String()), slog.String("to", to.String()))
	}
}

func (t *slogTracer) UserEvent(now time.Time, id FourTuple, ev UserEvent) {
	if !t.enabled(slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.String("event", ev.Kind.String())}
	switch ev.Kind {
	case EventWrite, EventRead, EventClose, EventCloseRead:
		attrs = append(attrs, slog.Int("n", ev.N))
	case EventError:
		attrs = append(attrs, slog.String("err", errText(ev.Err)))
	}
	if ev.FIN {
		attrs = append(attrs, slog.Bool("fin", true))
	}
	t.log(slog.LevelInfo, "user", now, id, attrs...)
}

func (t *slogTracer) Sender(now time.Time, id FourTuple, s SenderState) {
	if !t.enabled(slog.LevelDebug) {
		return
	}
	t.log(slog.LevelDebug, "sender", now, id,
		slog.Uint64("cwnd", uint64(s.Cwnd)), slog.Uint64("ssthresh", uint64(s.SSThresh)),
		slog.Uint64("snd_una", uint64(s.SndUna)), slog.Uint64("snd_nxt", uint64(s.SndNxt)),
		slog.Uint64("snd_wnd", uint64(s.SndWnd)), slog.Uint64("in_flight", uint64(s.InFlight)),
		slog.Duration("srtt", s.SRTT), slog.Bool("recovering", s.Recovering))
}

func (t *slogTracer) Flush() {}
