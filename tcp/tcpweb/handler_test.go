package tcpweb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
)

// sseMsg is one server-sent event.
type sseMsg struct {
	id    string
	event string
	data  string
}

// sseStream reads the events of /events.
type sseStream struct {
	resp *http.Response
	r    *bufio.Reader
}

func openEvents(t *testing.T, ctx context.Context, url, lastID string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/events", nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &sseStream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event, skipping comments and retry lines.
func (s *sseStream) next(t *testing.T) sseMsg {
	t.Helper()
	var m sseMsg
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m.data != "" {
				return m
			}
		case strings.HasPrefix(line, "id: "):
			m.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m.data = line[6:]
		}
	}
}

// nextEvent returns the next event's Event.
func (s *sseStream) nextEvent(t *testing.T) Event {
	t.Helper()
	m := s.next(t)
	require.Empty(t, m.event, "a data event")
	var ev Event
	require.NoError(t, json.Unmarshal([]byte(m.data), &ev))
	assert.Equal(t, strconv.FormatUint(ev.ID, 10), m.id, "the SSE id is the event's")
	return ev
}

func TestHandler_EventsSnapshotThenLiveThenResume(t *testing.T) {
	r := NewRecorder(Options{})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	passiveOpen(r, tuple1, t0)
	all := r.Events()
	s := openEvents(t, ctx, srv.URL, "")
	assert.Equal(t, "reset", s.next(t).event, "a fresh browser is told to start over")
	for _, want := range all {
		assert.Equal(t, want.ID, s.nextEvent(t).ID, "the snapshot, in order")
	}

	// Live: a new connection's events follow as they happen.
	tuple2 := tcp.FourTuple{Local: tuple1.Local, Remote: netipPort(tuple1, 1)}
	r.SegmentIn(t0, tuple2, &tcp.Segment{Flags: tcp.FlagSYN})
	conn := s.nextEvent(t)
	assert.Equal(t, KindConn, conn.Kind)
	assert.Equal(t, 2, conn.Conn)
	syn := s.nextEvent(t)
	assert.Equal(t, "S", syn.Flags)

	// A browser that reconnects with Last-Event-ID gets only what it missed.
	r.SegmentOut(t0, tuple2, &tcp.Segment{Flags: tcp.FlagSYN | tcp.FlagACK})
	again := openEvents(t, ctx, srv.URL, strconv.FormatUint(syn.ID, 10))
	ev := again.nextEvent(t)
	assert.Equal(t, syn.ID+1, ev.ID, "no reset: resumes after the last event seen")
	assert.Equal(t, "SA", ev.Flags)

	// One that asks for more than was ever sent starts over.
	over := openEvents(t, ctx, srv.URL, "999999")
	assert.Equal(t, "reset", over.next(t).event)
}

// netipPort is id's remote address with the port d higher.
func netipPort(id tcp.FourTuple, d uint16) netip.AddrPort {
	return netip.AddrPortFrom(id.Remote.Addr(), id.Remote.Port()+d)
}

// A browser that resumes after a connection it saw was forgotten starts
// over, since what it holds no longer matches.
func TestHandler_ResumeAfterForgetResets(t *testing.T) {
	r := NewRecorder(Options{MaxConns: 1})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	passiveOpen(r, tuple1, t0)
	last := r.Events()[2].ID
	passiveOpen(r, tcp.FourTuple{Local: tuple1.Local, Remote: netipPort(tuple1, 1)}, t0)
	s := openEvents(t, ctx, srv.URL, strconv.FormatUint(last, 10))
	assert.Equal(t, "reset", s.next(t).event)
	assert.Equal(t, 2, s.nextEvent(t).Conn, "then the connection kept")
}

// A subscriber that does not read is cut off when its buffer fills; the
// stack's calls never wait for it.
func TestRecorder_SlowSubscriberIsCutOff(t *testing.T) {
	r := NewRecorder(Options{SubscriberBuffer: 8})
	_, _, sub := r.subscribe(0, false)
	for i := range 100 {
		r.SegmentIn(t0, tuple1, &tcp.Segment{Seq: tcp.Seq(i), Flags: tcp.FlagACK})
	}
	assert.Equal(t, uint64(1), r.Stats().SubscribersClosed)
	n := 0
	for range sub.ch {
		n++
	}
	assert.Equal(t, 8, n, "what fitted in the buffer, then the channel is closed")
	r.unsubscribe(sub) // already gone: no double close
}

func TestHandler_PageAndAssets(t *testing.T) {
	r := NewRecorder(Options{})
	srv := httptest.NewServer(http.StripPrefix("/trace", r.Handler()))
	defer srv.Close()
	for _, tc := range []struct{ path, contains string }{
		{"/trace/", `<svg id="ladder"`},
		{"/trace/app.js", `new EventSource("events")`},
		{"/trace/style.css", `#ladder`},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, tc.path)
		assert.Contains(t, string(b), tc.contains, tc.path)
	}
}

// externalRef matches anything that would make the browser fetch from
// elsewhere: a URL in src/href, a CSS url() or @import, fetch(), a CDN.
var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(|XMLHttpRequest`)

func TestWriteHTML_SelfContained(t *testing.T) {
	r := NewRecorder(Options{})
	passiveOpen(r, tuple1, t0)
	// A hostile string must not end the inlined script.
	r.dropped(t0, tuple1, &tcp.Segment{Flags: tcp.FlagRST}, reason{text: "</script><script>alert(1)</script>"})
	var b bytes.Buffer
	require.NoError(t, r.WriteHTML(&b))
	page := b.String()

	assert.NotContains(t, page, `src="app.js"`, "the script is inlined")
	assert.NotContains(t, page, `href="style.css"`, "the style sheet is inlined")
	assert.Empty(t, externalRef.FindAllString(page, -1), "nothing is loaded from elsewhere")
	assert.Equal(t, 2, strings.Count(page, "</script>"), "the data's and the script's, no other")

	m := regexp.MustCompile(`(?s)<script id="trace-data" type="application/json">(.*?)</script>`).FindStringSubmatch(page)
	require.NotNil(t, m)
	var snap snapshot
	require.NoError(t, json.Unmarshal([]byte(m[1]), &snap))
	assert.Equal(t, r.Events(), snap.Events, "every event kept")
	assert.Equal(t, 1, snap.Stats.Conns)
}

func TestAssets_NoScriptEndInsideTheScript(t *testing.T) {
	js, err := assets.ReadFile("assets/app.js")
	require.NoError(t, err)
	assert.NotContains(t, strings.ToLower(string(js)), "</script", "WriteHTML inlines app.js in a <script>")
}

// The connection that carries an event stream is not recorded while the
// stream lasts: served over the recorded stack, its own segments would
// feed it without end.
func TestHandler_StreamConnectionIsNotRecorded(t *testing.T) {
	r := NewRecorder(Options{})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var client netip.AddrPort
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		client = netip.MustParseAddrPort(i.Conn.LocalAddr().String())
	}}
	passiveOpen(r, tuple1, t0)
	s := openEvents(t, httptrace.WithClientTrace(ctx, trace), srv.URL, strconv.FormatUint(r.Events()[0].ID, 10))
	s.nextEvent(t) // the stream is open: the handler has marked its connection
	id := tcp.FourTuple{Local: netip.MustParseAddrPort(srv.Listener.Addr().String()), Remote: client}
	r.SegmentOut(t0, id, &tcp.Segment{Flags: tcp.FlagACK | tcp.FlagPSH, Payload: []byte("data: ...")})
	for _, e := range r.Events() {
		assert.Equal(t, 1, e.Conn, "the stream's connection is not recorded")
	}
}
