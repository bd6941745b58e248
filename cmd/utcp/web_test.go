package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// traceData is the JSON a --trace-html file inlines.
var traceData = regexp.MustCompile(`(?s)<script id="trace-data" type="application/json">(.*?)</script>`)

// The file of --trace-html holds the whole connection, written at exit.
func TestListen_TraceHTML(t *testing.T) {
	n := newTestNet(t, netOpts{})
	file := filepath.Join(t.TempDir(), "trace.html")
	c := start(t, n.open, nil, "listen", "4567", "--trace-html", file, "--msl", "20ms")
	c.stderr.waitFor(t, "listening on")
	conn := n.dial(t, 4567)
	writeString(t, conn, "hi")
	requireEOF(t, conn) // stdin is empty: utcp closes first
	require.NoError(t, conn.Close())
	assert.Equal(t, exitOK, c.wait(t))

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	m := traceData.FindSubmatch(b)
	require.NotNil(t, m, "the events are inlined")
	var snap struct {
		Events []struct{ Kind, Flags, Step, To, User string }
	}
	require.NoError(t, json.Unmarshal(m[1], &snap))
	var got []string
	for _, e := range snap.Events {
		switch {
		case e.Step != "":
			got = append(got, e.Kind+" "+e.Flags+" "+e.Step)
		case e.User == "Accept returns":
			got = append(got, e.User)
		case e.To == "CLOSED":
			got = append(got, "CLOSED")
		}
	}
	assert.Equal(t, []string{"in S handshake 1/3", "out SA handshake 2/3", "in A handshake 3/3", "Accept returns"}, got[:4])
	assert.Equal(t, "CLOSED", got[len(got)-1], "written after the connection ended (TIME-WAIT → CLOSED)")
}

// --web serves the page and the event stream while the command runs.
func TestListen_Web(t *testing.T) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "listen", "4567", "--web", "127.0.0.1:0")
	c.stderr.waitFor(t, "listening on")
	m := regexp.MustCompile(`web: (http://127\.0\.0\.1:\d+/)\n`).FindStringSubmatch(c.stderr.String())
	require.NotNil(t, m, c.stderr.String())
	conn := n.dial(t, 4567)
	defer conn.Close()
	c.stderr.waitFor(t, "connection from")

	resp, err := http.Get(m[1])
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", m[1]+"events", nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var flags []string
	for len(flags) < 3 {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if f := regexp.MustCompile(`"flags":"(\w+)"`).FindStringSubmatch(line); f != nil {
			flags = append(flags, f[1])
		}
	}
	assert.Equal(t, []string{"S", "SA", "A"}, flags, "the handshake, from the snapshot")
	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
}

// utcp http serves the page at /trace/ of its own server.
func TestHTTP_TracePage(t *testing.T) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "http", "8080")
	c.stderr.waitFor(t, "listening on 10.9.0.2:8080\n")
	client := httpClient(n)
	defer client.CloseIdleConnections()
	code, body, _ := get(t, client, "http://10.9.0.2:8080/trace/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<svg id="ladder"`)
	code, body, _ = get(t, client, "http://10.9.0.2:8080/trace/app.js")
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.Contains(body, "EventSource"))
	_, body, _ = get(t, client, "http://10.9.0.2:8080/")
	assert.Contains(t, body, `href="/trace/"`, "the status page links to it")
	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
}

func TestRun_BadWebFlagsFailBeforeTheLink(t *testing.T) {
	code, _, stderr := runSync(t, noLink(t), "listen", "4567", "--trace-html", t.TempDir()+"/no/such/dir/x.html")
	assert.Equal(t, exitRuntime, code)
	assert.Regexp(t, `^--trace-html: .*/no/such/dir/x.html: no such file or directory\n$`, stderr)
	code, _, stderr = runSync(t, noLink(t), "listen", "4567", "--web", "256.0.0.1:80")
	assert.Equal(t, exitRuntime, code)
	assert.Regexp(t, `^--web 256.0.0.1:80: `, stderr)
}

// explain --html writes a capture's conversations as the page, both sides'
// states inferred.
func TestExplain_HTML(t *testing.T) {
	file := filepath.Join(t.TempDir(), "explain.html")
	code, stdout, stderr := runSync(t, noLink(t), "explain", "--html", "-o", file, "../../testdata/pcaps/half-close.pcap")
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stdout, "-o: the page goes to the file")
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	m := traceData.FindSubmatch(b)
	require.NotNil(t, m)
	var snap struct {
		Names  []string
		Events []struct{ Kind, Flags, Step, To, Peer string }
	}
	require.NoError(t, json.Unmarshal(m[1], &snap))
	assert.Equal(t, []string{"client", "server"}, snap.Names)
	var steps, states []string
	for _, e := range snap.Events {
		if e.Step != "" {
			steps = append(steps, e.Kind+" "+e.Flags+" "+e.Step)
		}
		if e.Kind == "state" {
			states = append(states, e.To)
		}
	}
	assert.Equal(t, "out S handshake 1/3", steps[0], "the client is the left side")
	assert.Equal(t, "out A close 4/4", steps[len(steps)-1], "the client acknowledges the server's FIN")
	assert.Equal(t, "TIME-WAIT", states[len(states)-1], "the client closed first")

	code, stdout, _ = runSync(t, noLink(t), "explain", "--html", "../../testdata/pcaps/half-close.pcap")
	assert.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(stdout, "<!DOCTYPE html>"), "without -o, to stdout")
}
