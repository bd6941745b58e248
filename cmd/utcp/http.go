package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// serveHTTP is `utcp http`: net/http over the stack's listener, with the
// status page at /, its JSON at /status.json, the process's expvars with
// the stack's under "utcp" at /debug/vars, the profiles of net/http/pprof
// under /debug/pprof/ and, with --dir, the files under /files/. It runs
// until ctx ends.
func (s *session) serveHTTP(ctx context.Context) error {
	ln, err := s.listenOn()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.httpHandler(time.Now()),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(s.stderr, "http: ", 0),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close() // closes the listener and every connection
		<-served
		return ctx.Err()
	case err := <-served:
		return fmt.Errorf("http: %s", describe(err))
	}
}

// checkDir verifies --dir before anything is set up.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--dir: %s", describe(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("--dir %s: not a directory", dir)
	}
	return nil
}

// httpHandler routes the requests of utcp http.
func (s *session) httpHandler(start time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, s.status(start)); err != nil {
			fmt.Fprintf(s.stderr, "http: status page: %v\n", err)
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.status(start))
	})
	if rec := s.web.rec; rec != nil {
		mux.Handle("/trace/", http.StripPrefix("/trace", rec.Handler())) // the page of tcpweb
	}
	if s.o.dir != "" {
		mux.Handle("GET /files/", http.StripPrefix("/files", http.FileServer(http.Dir(s.o.dir))))
	}
	mux.Handle("GET /debug/vars", s.varsHandler(start))
	// The pprof handlers on this mux, not http.DefaultServeMux.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// varsHandler serves what expvar.Handler does, the process's published
// variables, with this session's stack as an expvar.Func named "utcp": its
// counters and a summary of each connection (the status page's JSON). The
// Func is not published globally, so that each session has its own.
func (s *session) varsHandler(start time.Time) http.Handler {
	own := expvar.Func(func() any { return s.status(start) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(w, "{\n")
		expvar.Do(func(kv expvar.KeyValue) {
			if kv.Key != "utcp" {
				fmt.Fprintf(w, "%q: %s,\n", kv.Key, kv.Value)
			}
		})
		fmt.Fprintf(w, "%q: %s\n}\n", "utcp", own)
	})
}

// status is what the status page shows, and its JSON.
type status struct {
	Addr        string          `json:"addr"`
	Peer        string          `json:"peer"`
	TUN         string          `json:"tun"`
	MTU         int             `json:"mtu"`
	Uptime      string          `json:"uptime"`
	Files       bool            `json:"files"`
	Stack       map[string]any  `json:"stack"`
	IP          map[string]any  `json:"ip"`
	Connections []connectionRow `json:"connections"`
}

// connectionRow is one connection of the status page.
type connectionRow struct {
	Local  string         `json:"local"`
	Remote string         `json:"remote"`
	State  string         `json:"state"`
	Stats  map[string]any `json:"stats"`
	Info   map[string]any `json:"info"` // tcp.Info: congestion control, loss recovery, options
}

// status collects the stack's state now.
func (s *session) status(start time.Time) status {
	st := s.stack.Stats()
	out := status{
		Addr:        s.o.addr.String(),
		Peer:        s.o.peer.String(),
		TUN:         s.o.tun,
		MTU:         s.o.mtu,
		Uptime:      time.Since(start).Round(time.Second).String(),
		Files:       s.o.dir != "",
		Stack:       counterMap(st),
		IP:          counterMap(st.IP),
		Connections: []connectionRow{},
	}
	for _, c := range s.stack.Conns() {
		out.Connections = append(out.Connections, connectionRow{
			Local:  c.ID.Local.String(),
			Remote: c.ID.Remote.String(),
			State:  c.State.String(),
			Stats:  counterMap(c.Stats),
			Info:   counterMap(c.Info),
		})
	}
	return out
}

// counterMap is counters as a map for JSON: snake_case names, durations
// in milliseconds ("srtt_ms").
func counterMap(v any) map[string]any {
	m := make(map[string]any)
	for _, f := range counterFields(v) {
		if d, ok := f.value.(time.Duration); ok {
			m[f.name+"_ms"] = float64(d) / float64(time.Millisecond)
			continue
		}
		m[f.name] = f.value
	}
	return m
}

var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>utcp {{.Addr}}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>
</head><body>
<h1>utcp at {{.Addr}}</h1>
<p>A TCP stack in user space on TUN device {{.TUN}} (MTU {{.MTU}}); the kernel is {{.Peer}}. Up {{.Uptime}}.
Reload for fresh numbers; the same as JSON: <a href="/status.json">/status.json</a>, and as expvars: <a href="/debug/vars">/debug/vars</a>; profiles: <a href="/debug/pprof/">/debug/pprof/</a>; the segments as a ladder and graphs: <a href="/trace/">/trace/</a>{{if .Files}}; files: <a href="/files/">/files/</a>{{end}}.</p>
<h2>Connections ({{len .Connections}})</h2>
<table>
<tr><th>local</th><th>remote</th><th>state</th><th>segs in</th><th>segs out</th><th>bytes in</th><th>bytes out</th><th>retransmits</th><th>srtt ms</th><th>rto ms</th><th>cwnd</th><th>snd wnd</th><th>rcv wnd</th><th>cc</th><th>phase</th><th>ssthresh</th><th>min rtt ms</th><th>pipe</th><th>lost</th><th>rate B/s</th><th>options</th></tr>
{{range .Connections}}<tr><td>{{.Local}}</td><td>{{.Remote}}</td><td>{{.State}}</td><td>{{.Stats.segs_in}}</td><td>{{.Stats.segs_out}}</td><td>{{.Stats.bytes_in}}</td><td>{{.Stats.bytes_out}}</td><td>{{.Stats.retransmits}}</td><td>{{.Stats.srtt_ms}}</td><td>{{.Stats.rto_ms}}</td><td>{{.Stats.cwnd}}</td><td>{{.Stats.snd_wnd}}</td><td>{{.Stats.rcv_wnd}}</td><td>{{.Info.congestion}}</td><td>{{.Info.phase}}</td><td>{{.Info.ss_thresh}}</td><td>{{.Info.min_rtt_ms}}</td><td>{{.Info.pipe}}</td><td>{{.Info.lost_segs}}</td><td>{{.Info.delivery_rate}}</td><td>{{if .Info.sack}}sack {{end}}{{if .Info.timestamps}}ts {{end}}{{if .Info.window_scale}}ws {{end}}{{if .Info.ecn}}ecn{{end}}</td></tr>
{{end}}</table>
<h2>Stack counters</h2>
<table>{{range $k, $v := .Stack}}<tr><th>{{$k}}</th><td>{{$v}}</td></tr>{{end}}</table>
<h2>IP counters</h2>
<table>{{range $k, $v := .IP}}<tr><th>{{$k}}</th><td>{{$v}}</td></tr>{{end}}</table>
</body></html>
`))

// isClosed reports whether err says the connection or listener was closed.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
