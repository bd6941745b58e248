package tcp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// NewLadderWhy returns a Ladder that writes to w and also says why: each
// segment sent ends with its reason and the rule it follows, each segment
// dropped or ignored is marked with its reason, and the application's
// calls on utcp's side (Write, Read, Close, CloseWrite, CloseRead, Abort,
// and the errors it sees) get a line each.
func NewLadderWhy(w io.Writer) *Ladder {
	l := NewLadder(w)
	l.why = true
	return l
}

// ladderIn identifies the arriving segment whose line is pending, so that
// a drop is marked on it rather than drawn again.
type ladderIn struct {
	id       FourTuple
	seq, ack Seq
	flags    Flags
	n        int
}

func ladderInOf(id FourTuple, seg *Segment) ladderIn {
	return ladderIn{id: id, seq: seg.Seq, ack: seg.Ack, flags: seg.Flags, n: len(seg.Payload)}
}

// appendWhy ends the pending line of a segment sent with its reason.
func (l *Ladder) appendWhy(r Reason) {
	if !l.why || r == ReasonNone {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending.Len() > 0 {
		fmt.Fprintf(&l.pending, "  why: %s (%s)", r, r.Rule())
	}
}

// dropped marks an arriving segment as dropped, on its pending line, or
// on a line of its own when none was drawn (a bad checksum).
func (l *Ladder) dropped(now time.Time, id FourTuple, seg *Segment, r Reason) {
	if !l.why {
		return
	}
	l.mu.Lock()
	pendingIn := l.pending.Len() > 0 && l.pendingIn == ladderInOf(id, seg)
	l.mu.Unlock()
	if !pendingIn {
		l.segment(now, id, seg, false)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.pending, "  DROPPED: %s (%s)", r, r.Rule())
}

// userEventText is the marker line of a socket call, "" for none.
func (l *Ladder) userEventText(ev UserEvent) string {
	if !l.why {
		return ""
	}
	switch ev.Kind {
	case EventWrite:
		return fmt.Sprintf("Write: %d octets queued", ev.N)
	case EventRead:
		return fmt.Sprintf("Read returns %d octets", ev.N)
	case EventClose:
		if ev.N > 0 {
			return fmt.Sprintf("Close with %d octets unread: RST (%s)", ev.N, ReasonRstUnreadData.Rule())
		}
		return "Close: FIN queued"
	case EventCloseWrite:
		return "CloseWrite: FIN queued"
	case EventCloseRead:
		return "CloseRead: Read returns EOF; what arrives is acknowledged and dropped"
	case EventAbort:
		return "Abort: RST, queued data dropped"
	case EventError:
		return "error: " + errText(ev.Err)
	}
	return ""
}

// errnoNames spells the errnos an application of utcp sees.
var errnoNames = map[syscall.Errno]string{
	syscall.ECONNRESET: "ECONNRESET", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.ECONNABORTED: "ECONNABORTED", syscall.EPIPE: "EPIPE", syscall.ENOTCONN: "ENOTCONN",
	syscall.EHOSTUNREACH: "EHOSTUNREACH", syscall.ENETUNREACH: "ENETUNREACH", syscall.ENOBUFS: "ENOBUFS",
	syscall.ENOPROTOOPT: "ENOPROTOOPT", syscall.EPROTO: "EPROTO", syscall.EOPNOTSUPP: "EOPNOTSUPP",
}

// errText is err's text, with the errno's name: "connection reset by peer (ECONNRESET)".
func errText(err error) string {
	if err == nil {
		return "none"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if name, ok := errnoNames[e]; ok && !strings.Contains(err.Error(), name) {
			return err.Error() + " (" + name + ")"
		}
	}
	return err.Error()
}
