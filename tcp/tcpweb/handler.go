package tcpweb

import (
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/utcp/utcp/tcp"
)

//go:embed assets
var assets embed.FS

// assetFS is the page: index.html, style.css, app.js.
var assetFS, _ = fs.Sub(assets, "assets")

// subscriber is one browser's stream of events.
type subscriber struct{ ch chan Event }

// publish hands ev to every subscriber without waiting: one whose buffer
// is full is cut off (its channel closed) and resumes by Last-Event-ID.
func (r *Recorder) publish(ev Event) {
	for s := range r.subs {
		select {
		case s.ch <- ev:
		default:
			close(s.ch)
			delete(r.subs, s)
			r.stats.SubscribersClosed++
		}
	}
}

// subscribe registers a subscriber and returns what it must be sent
// first: the events after last when resume is possible, else all of them
// with reset set.
func (r *Recorder) subscribe(last uint64, resume bool) ([]Event, bool, *subscriber) {
	r.mu.Lock()
	reset := !resume || last < r.lost || last > r.nextID
	if reset {
		last = 0
	}
	s := &subscriber{ch: make(chan Event, r.opt.SubscriberBuffer)}
	r.subs[s] = struct{}{}
	parts := r.partsAfter(last)
	r.mu.Unlock()
	return merge(parts), reset, s
}

func (r *Recorder) unsubscribe(s *subscriber) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.subs[s]; ok {
		delete(r.subs, s)
		close(s.ch)
	}
}

// partsAfter returns, per connection, the kept events with IDs above
// last. A connection's events are only ever appended to, so the slices
// can be read after the lock is released: copying them, which a large
// record makes slow, does not hold up the stack.
func (r *Recorder) partsAfter(last uint64) [][]Event {
	parts := make([][]Event, 0, len(r.conns))
	for _, c := range r.conns {
		i, _ := slices.BinarySearchFunc(c.events, last+1, func(e Event, id uint64) int { return cmp.Compare(e.ID, id) })
		parts = append(parts, c.events[i:len(c.events):len(c.events)])
	}
	return parts
}

// merge puts the events of parts in ID order.
func merge(parts [][]Event) []Event {
	var out []Event
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.SortFunc(out, func(a, b Event) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Events returns every kept event, in order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	parts := r.partsAfter(0)
	r.mu.Unlock()
	return merge(parts)
}

// heartbeat is how often an idle event stream sends a comment, so that a
// browser that went away is noticed.
const heartbeat = 15 * time.Second

// Handler serves the page at / (relative links, so it can be mounted
// under a prefix with http.StripPrefix), the events at /events as
// server-sent events (everything kept, then live; a browser that
// reconnects with Last-Event-ID gets only what it missed), and the page's
// script and style sheet.
func (r *Recorder) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", r.serveEvents)
	mux.Handle("GET /", http.FileServerFS(assetFS))
	return mux
}

func (r *Recorder) serveEvents(w http.ResponseWriter, req *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	defer r.quietFor(req)()
	last, err := strconv.ParseUint(req.Header.Get("Last-Event-ID"), 10, 64)
	snap, reset, s := r.subscribe(last, err == nil)
	defer r.unsubscribe(s)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	bw := &sseWriter{w: w}
	bw.printf("retry: 1000\n\n")
	if reset {
		bw.printf("event: reset\ndata: {}\n\n")
	}
	for i := range snap {
		bw.event(&snap[i])
	}
	if bw.err != nil {
		return
	}
	fl.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				return // fell behind: the browser reconnects with Last-Event-ID
			}
			bw.event(&ev)
			if len(s.ch) > 0 {
				continue
			}
		case <-tick.C:
			bw.printf(": ping\n\n")
		case <-req.Context().Done():
			return
		}
		if bw.err != nil {
			return
		}
		fl.Flush()
	}
}

// quietFor stops recording the connection req arrived on, until the
// returned function is called: when the page is served over the recorded
// stack itself (utcp http's /trace/), each event sent would be a segment
// to record and send again.
func (r *Recorder) quietFor(req *http.Request) func() {
	remote, err1 := netip.ParseAddrPort(req.RemoteAddr)
	la, _ := req.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if la == nil || err1 != nil {
		return func() {}
	}
	local, err2 := netip.ParseAddrPort(la.String())
	if err2 != nil {
		return func() {}
	}
	id := tcp.FourTuple{Local: local, Remote: remote}
	r.mu.Lock()
	r.quiet[id]++
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.quiet[id]--; r.quiet[id] <= 0 {
			delete(r.quiet, id)
		}
	}
}

// sseWriter writes server-sent events, keeping the first error.
type sseWriter struct {
	w   io.Writer
	err error
}

func (s *sseWriter) printf(format string, a ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, a...)
	}
}

func (s *sseWriter) event(ev *Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		s.err = err
		return
	}
	s.printf("id: %d\ndata: %s\n\n", ev.ID, b)
}

// The places in index.html that WriteHTML fills in.
const (
	markData   = `<script id="trace-data" type="application/json"></script>`
	markStyle  = `<link rel="stylesheet" href="style.css">`
	markScript = `<script src="app.js"></script>`
)

// snapshot is the recorded events as WriteHTML embeds them.
type snapshot struct {
	Events        []Event   `json:"events"`
	Stats         Stats     `json:"stats"`
	Names         [2]string `json:"names"`
	LocalInferred bool      `json:"localInferred"`
}

// WriteHTML writes one self-contained HTML file with the page, its style
// sheet and script, and every event kept, for reading offline.
func (r *Recorder) WriteHTML(w io.Writer) error {
	snap := snapshot{Events: r.Events(), Stats: r.Stats(), Names: r.opt.Names, LocalInferred: r.opt.LocalInferred}
	data, err := json.Marshal(snap) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	page, err := fs.ReadFile(assetFS, "index.html")
	if err != nil {
		return err
	}
	css, err := fs.ReadFile(assetFS, "style.css")
	if err != nil {
		return err
	}
	js, err := fs.ReadFile(assetFS, "app.js")
	if err != nil {
		return err
	}
	out := string(page)
	for _, rep := range [...][2]string{
		{markData, `<script id="trace-data" type="application/json">` + string(data) + `</script>`},
		{markStyle, "<style>\n" + string(css) + "</style>"},
		{markScript, "<script>\n" + string(js) + "</script>"},
	} {
		if !strings.Contains(out, rep[0]) {
			return fmt.Errorf("tcpweb: index.html lacks %s", rep[0])
		}
		out = strings.Replace(out, rep[0], rep[1], 1)
	}
	_, err = io.WriteString(w, out)
	return err
}
