package tcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reasons in packet scripts (see TestScripts):
//
//	> SEGMENT why=NAME   the segment sent must carry the Reason NAME (Segment.Why)
//	drop NAME            since the last '<' line, an arriving segment was dropped
//	                     or ignored for the Reason NAME (Tracer.SegmentDropped)
//	drop none            ... none was
//	< SEGMENT badcsum    the segment arrives with a wrong checksum
//	< SEGMENT badhdr     ... with a data offset below 5 (a malformed header)
//
// badcsum and badhdr send the segment's octets through checkArriving, the
// check the Stack makes before the host sees a segment.

// scriptParseKeepAlive parses "option keepalive=IDLE,INTERVAL,COUNT", which
// turns keep-alive on (Config.KeepAlive).
func scriptParseKeepAlive(cfg *Config, v string) error {
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return fmt.Errorf("keepalive=%s: want IDLE,INTERVAL,COUNT", v)
	}
	idle, err1 := time.ParseDuration(parts[0])
	interval, err2 := time.ParseDuration(parts[1])
	count, err3 := strconv.Atoi(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	cfg.KeepAlive = net.KeepAliveConfig{Enable: true, Idle: idle, Interval: interval, Count: count}
	return nil
}

// scriptCutWhy takes the why=NAME and badcsum/badhdr words off the
// arguments of a '<' or '>' line.
func scriptCutWhy(l *scriptLine, arg string) (string, error) {
	words := strings.Fields(arg)
	keep := words[:0]
	for _, w := range words {
		name, isWhy := strings.CutPrefix(w, "why=")
		switch {
		case isWhy && l.op == ">":
			r, ok := ParseReason(name)
			if !ok || r.Drop() {
				return "", fmt.Errorf("why=%s: not the name of a reason to send", name)
			}
			l.why = r
		case (w == "badcsum" || w == "badhdr") && l.op == "<":
			l.corrupt = w
		default:
			keep = append(keep, w)
		}
	}
	return strings.Join(keep, " "), nil
}

// scriptParseDrop parses the argument of "drop NAME" and "drop none".
func scriptParseDrop(l *scriptLine, arg string) error {
	if arg == "none" {
		return nil
	}
	r, ok := ParseReason(arg)
	if !ok || !r.Drop() {
		return fmt.Errorf("drop %s: not the name of a drop reason", arg)
	}
	l.why = r
	return nil
}

// checkWhy fails the script if s does not carry the reason a '>' line wants.
func (r *scriptRunner) checkWhy(l *scriptLine, s *scriptSent) {
	if l.why != ReasonNone && s.seg.Why != l.why {
		r.failf("got why=%s (%s), want why=%s (%s)\n(that segment was %s)", s.seg.Why.Name(), s.seg.Why, l.why.Name(), l.why, r.fmtSent(s))
	}
}

// checkDrop runs a drop line against the drops since the last '<' line.
func (r *scriptRunner) checkDrop(l *scriptLine) {
	if l.why == ReasonNone {
		if len(r.drops) > 0 {
			r.failf("got drop %s (%s), want none", r.drops[0].Name(), r.drops[0])
		}
		return
	}
	for i, d := range r.drops {
		if d == l.why {
			r.drops = append(r.drops[:i], r.drops[i+1:]...)
			return
		}
	}
	var got []string
	for _, d := range r.drops {
		got = append(got, d.Name())
	}
	r.failf("want drop %s, got drops [%s] since the last '<' line", l.why.Name(), strings.Join(got, " "))
}

// injectCorrupt sends seg as octets with a wrong checksum or data offset
// through checkArriving, and on to the host if it passes.
func (r *scriptRunner) injectCorrupt(l *scriptLine, seg *Segment) {
	src, dst := r.opt.id.Remote.Addr(), r.opt.id.Local.Addr()
	b := AppendSegment(nil, seg, src, dst)
	switch l.corrupt {
	case "badcsum":
		b[16] ^= 0xff
	case "badhdr":
		// A data offset of 16 octets, below the fixed header, with the
		// checksum updated to match (RFC 1624: HC' = ~(~HC + ~m + m')).
		old := uint32(binary.BigEndian.Uint16(b[12:]))
		b[12] = 4<<4 | b[12]&0x0f
		sum := uint32(^binary.BigEndian.Uint16(b[16:])) + (^old & 0xffff) + uint32(binary.BigEndian.Uint16(b[12:]))
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(b[16:], ^uint16(sum))
	}
	var in Segment
	if why := checkArriving(&in, b, src, dst, false); why != ReasonNone {
		traceDrop(r.cfg.Tracer, r.now, src, dst, &in, why)
		r.flush()
		return
	}
	if c := r.h.input(r.now, src, dst, &in); c != nil {
		r.conns[r.port(l)] = c
	}
	r.flush()
}

// scriptReasonsChecked returns, for each Reason, the scripts that check it
// with why=NAME or drop NAME.
func scriptReasonsChecked(t *testing.T) map[Reason][]string {
	files, err := filepath.Glob(filepath.Join(scriptDir, "*.pkt"))
	require.NoError(t, err)
	re := regexp.MustCompile(`(?:why=|\bdrop\s+)([a-z0-9-]+)`)
	got := map[Reason][]string{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			for _, m := range re.FindAllStringSubmatch(scriptStripComment(line), -1) {
				if r, ok := ParseReason(m[1]); ok {
					got[r] = append(got[r], filepath.Base(path))
				}
			}
		}
	}
	return got
}

// TestReason_EveryReasonScripted fails for a Reason that no packet script
// checks: each is reached by a script (TestScripts runs them all).
func TestReason_EveryReasonScripted(t *testing.T) {
	checked := scriptReasonsChecked(t)
	for r := ReasonNone + 1; r < reasonCount; r++ {
		assert.NotEmpty(t, checked[r], "no script in %s checks %s (%q): add a line that checks it to one", scriptDir, r.Name(), r)
	}
}

// The runner checks reasons: a wrong why= or a missing drop is reported
// with got and want.
func TestScriptRunner_Why(t *testing.T) {
	const handshake = "0 listen\n+0 < S 0:0(0) win 65535 <mss 1460>\n"
	tests := []struct {
		name    string
		script  string
		wantErr []string
	}{
		{name: "the right reason passes",
			script: handshake + "+0 > S. 0:0(0) ack 1 why=synack-listen\n"},
		{name: "a wrong reason fails",
			script:  handshake + "+0 > S. 0:0(0) ack 1 why=syn-cookie\n",
			wantErr: []string{"t.pkt:3", "got why=synack-listen", "want why=syn-cookie"}},
		{name: "an unknown reason is a parse error",
			script:  handshake + "+0 > S. 0:0(0) ack 1 why=frob\n",
			wantErr: []string{"t.pkt:3", "why=frob"}},
		{name: "a drop reason after > is a parse error",
			script:  handshake + "+0 > S. 0:0(0) ack 1 why=drop-paws\n",
			wantErr: []string{"t.pkt:3", "not the name of a reason to send"}},
		{name: "a drop is checked",
			script: "0 listen\n+0 < R 0:0(0)\n+0 drop drop-listen-rst\n"},
		{name: "a missing drop fails",
			script:  handshake + "+0 > S. 0:0(0) ack 1\n+0 drop drop-paws\n",
			wantErr: []string{"t.pkt:4", "want drop drop-paws", "got drops []"}},
		{name: "drop none fails after a drop",
			script:  "0 listen\n+0 < R 0:0(0)\n+0 drop none\n",
			wantErr: []string{"t.pkt:3", "got drop drop-listen-rst", "want none"}},
		{name: "a bad checksum is dropped before the host",
			script: "0 listen\n+0 < S 0:0(0) badcsum\n+0 drop drop-bad-checksum\n+0 > none\n+0 state LISTEN\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkScriptRun(t, tt.script, tt.wantErr) })
	}
}

// checkScriptRun runs a script of the runner's own tests: it passes when
// wantErr is empty, else it fails with an error holding each of wantErr.
func checkScriptRun(t *testing.T, script string, wantErr []string) {
	t.Helper()
	err := scriptRun("t.pkt", strings.NewReader(script))
	if len(wantErr) == 0 {
		assert.NoError(t, err, "a correct script passes")
		return
	}
	require.Error(t, err, "the mistake is caught")
	for _, want := range wantErr {
		assert.Contains(t, err.Error(), want, "the report names the line and shows got/want")
	}
}
