package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tcp/tcpweb"
)

// webFlags defines --web and --trace-html.
func webFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.web, "web", "", "serve a live page of the connections (ladder, states, time-sequence graph) at `ADDR`, such as 127.0.0.1:8081, while utcp runs")
	fs.StringVar(&o.traceHTML, "trace-html", "", "write the connections as one self-contained HTML page to `FILE` when utcp exits")
}

// web is what --web and --trace-html set up.
type web struct {
	rec      *tcpweb.Recorder
	srv      *http.Server
	served   chan struct{}
	htmlFile *os.File
}

// setupWeb makes the recorder when a page is wanted (always for utcp http,
// which serves it at /trace/), opens the --trace-html file and starts the
// --web server.
func (s *session) setupWeb() error {
	o := s.o
	if o.web == "" && o.traceHTML == "" && o.cmd != "http" {
		return nil
	}
	s.web.rec = tcpweb.NewRecorder(tcpweb.Options{})
	if o.traceHTML != "" {
		f, err := os.Create(o.traceHTML)
		if err != nil {
			return fmt.Errorf("--trace-html: %v", describe(err))
		}
		s.web.htmlFile = f
	}
	if o.web == "" {
		return nil
	}
	ln, err := net.Listen("tcp", o.web)
	if err != nil {
		return fmt.Errorf("--web %s: %v", o.web, describe(err))
	}
	s.web.srv = &http.Server{
		Handler:           s.web.rec.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(s.stderr, "web: ", 0),
	}
	s.web.served = make(chan struct{})
	go func() {
		defer close(s.web.served)
		s.web.srv.Serve(ln)
	}()
	fmt.Fprintf(s.stderr, "web: http://%s/\n", ln.Addr())
	return nil
}

// webTracer adds the recorder, if any, to the stack's tracer tr.
func (s *session) webTracer(tr tcp.Tracer) tcp.Tracer {
	switch {
	case s.web.rec == nil:
		return tr
	case tr == nil:
		return s.web.rec
	}
	return tee{tr, s.web.rec}
}

// teardownWeb stops the --web server and writes the --trace-html file,
// after the stack has closed, so the page ends with the last segments.
func (s *session) teardownWeb() error {
	var errs []error
	if s.web.srv != nil {
		s.web.srv.Close()
		<-s.web.served
	}
	if f := s.web.htmlFile; f != nil {
		if err := s.web.rec.WriteHTML(f); err != nil {
			errs = append(errs, fmt.Errorf("--trace-html: %v", err))
		}
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--trace-html: %v", err))
		}
	}
	return errors.Join(errs...)
}

// tee passes every call on to two tracers.
type tee [2]tcp.Tracer

func (t tee) SegmentIn(now time.Time, id tcp.FourTuple, seg *tcp.Segment) {
	t[0].SegmentIn(now, id, seg)
	t[1].SegmentIn(now, id, seg)
}

func (t tee) SegmentOut(now time.Time, id tcp.FourTuple, seg *tcp.Segment) {
	t[0].SegmentOut(now, id, seg)
	t[1].SegmentOut(now, id, seg)
}

func (t tee) SegmentDropped(now time.Time, id tcp.FourTuple, seg *tcp.Segment, why tcp.Reason) {
	t[0].SegmentDropped(now, id, seg, why)
	t[1].SegmentDropped(now, id, seg, why)
}

func (t tee) StateChange(now time.Time, id tcp.FourTuple, from, to tcp.State) {
	t[0].StateChange(now, id, from, to)
	t[1].StateChange(now, id, from, to)
}

func (t tee) UserEvent(now time.Time, id tcp.FourTuple, ev tcp.UserEvent) {
	t[0].UserEvent(now, id, ev)
	t[1].UserEvent(now, id, ev)
}

func (t tee) Sender(now time.Time, id tcp.FourTuple, st tcp.SenderState) {
	t[0].Sender(now, id, st)
	t[1].Sender(now, id, st)
}

func (t tee) Flush() {
	t[0].Flush()
	t[1].Flush()
}

func init() { explainHTML = writeExplainHTML }

// writeExplainHTML is `utcp explain --html`: the picked conversations of
// the capture as the trace page, to w or to the -o file.
func writeExplainHTML(c *capture, o *explainOptions, w io.Writer) error {
	rec := tcpweb.NewRecorder(tcpweb.Options{
		MaxConns: max(len(c.convs), 1), MaxEventsPerConn: 1 << 16, MaxEvents: 1 << 20,
		Names: [2]string{"client", "server"}, LocalInferred: true,
	})
	for i, conv := range c.convs {
		if o.picked(i+1, conv) {
			explainDrive(conv, rec)
		}
	}
	if o.dest == "" {
		return rec.WriteHTML(w)
	}
	f, err := os.Create(o.dest)
	if err != nil {
		return fmt.Errorf("-o: %v", describe(err))
	}
	if err := rec.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
