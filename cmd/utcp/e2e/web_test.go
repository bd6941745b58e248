package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun/tuntest"
)

// browserTimeout bounds the whole browser session; it takes a few seconds.
const browserTimeout = 90 * time.Second

// pageDOM is what the browser test reads of the page.
type pageDOM struct {
	Segs []struct {
		Dir, Flags, Step, Label string
	}
	Users   []string
	Local   string
	Peer    string
	Diagram struct{ Local, Peer string } // the highlighted boxes of the state diagram
	Series  map[string]int               // data-count of each series of the graph; -1: missing
	Pos     string
}

// readDOM is the script that fills a pageDOM.
const readDOM = `(() => {
  const q = (s) => document.querySelector(s);
  const series = {};
  for (const k of ["data", "retrans", "ack", "window", "cwnd", "ssthresh"]) {
    const el = q("#tsg .series-" + k);
    series[k] = el ? +el.dataset.count : -1;
  }
  return {
    Segs: [...document.querySelectorAll('#ladder .row[data-kind="segment"]')].map((g) => ({
      Dir: g.dataset.dir, Flags: g.dataset.flags, Step: g.dataset.step,
      Label: g.querySelector(".seg-label").textContent,
    })),
    Users: [...document.querySelectorAll('#ladder .row[data-kind="user"]')].map((g) => g.dataset.user),
    Local: q("#state-local").textContent,
    Peer: q("#state-peer").textContent,
    Diagram: {
      Local: (q("#state-diagram .node.is-local") || {dataset: {}}).dataset.state || "",
      Peer: (q("#state-diagram .node.is-peer") || {dataset: {}}).dataset.state || "",
    },
    Series: series,
    Pos: q("#step-pos").textContent,
  };
})()`

// chromiumPath finds Debian's chromium; without it the test skips, or
// fails under CI=true (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install chromium); CI=true makes this a failure")
	}
	t.Skip("chromium is not installed (apt-get install chromium): the browser test needs it")
	return ""
}

// artifactDir is where the test writes its screenshot: $UTCP_ARTIFACTS if
// set, else a temporary directory that outlives the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("UTCP_ARTIFACTS"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	d, err := os.MkdirTemp("", "utcp-web-")
	require.NoError(t, err)
	return d
}

// newBrowser starts headless Chromium for one test, stopped at cleanup.
func newBrowser(t *testing.T, chrome string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // as root, which the private namespace needs
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	return bctx
}

// The live page of `utcp listen --web` in headless Chromium during an nc
// session: the handshake's three arrows with their labels, both sides'
// states, the Accept marker and the time-sequence graph's series; stepping
// back to the first event moves the states back.
func TestWeb_LivePageInChromium(t *testing.T) {
	tuntest.RequireNetns(t)
	chrome := chromiumPath(t)
	u := startUtcp(t, "utcpweb0", "listen", "7000", "--web", "127.0.0.1:0", "--msl", "100ms")
	u.waitStderr(t, "listening on 10.9.0.2:7000\n")
	m := regexp.MustCompile(`web: (http://127\.0\.0\.1:\d+/)\n`).FindStringSubmatch(u.stderr.String())
	require.NotNil(t, m, "utcp prints the page's address; stderr:\n%s", u.stderr.String())
	url := m[1]

	nc := startTool(t, "nc", "-N", "10.9.0.2", "7000")
	u.waitStderr(t, "connection from 10.9.0.1:")
	nc.write(t, "hello from the kernel\n")
	u.waitStdout(t, "hello from the kernel\n")
	u.write(t, "hello from utcp\n")
	nc.waitStdout(t, "hello from utcp\n")

	bctx := newBrowser(t, chrome)

	// Live: the page follows the connection to its present state.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(url)))
	_, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](`document.getElementById("state-local").textContent === "ESTABLISHED" &&
		document.querySelector('#ladder .row[data-kind="user"][data-user="Accept returns"]') !== null &&
		+document.querySelector("#tsg .series-data").dataset.count > 0 &&
		+document.querySelector("#tsg .series-cwnd").dataset.count > 0`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		dom, _ := chromedp.Run(bctx, chromedp.Evaluate[pageDOM](readDOM))
		require.NoError(t, err, "the page must show the established connection; it shows %+v", dom)
	}
	live, err := chromedp.Run(bctx, chromedp.Evaluate[pageDOM](readDOM))
	require.NoError(t, err)
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(artifactDir(t), "web-page.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot of the live page: %s (%d bytes)", shot, len(png))

	require.GreaterOrEqual(t, len(live.Segs), 3, "%+v", live)
	handshake := live.Segs[:3]
	for i, w := range []struct{ dir, flags, step, label string }{
		{"in", "S", "handshake 1/3", "[SYN] Seq=0 "},
		{"out", "SA", "handshake 2/3", "[SYN, ACK] Seq=0 Ack=1 "},
		{"in", "A", "handshake 3/3", "[ACK] Seq=1 Ack=1 "},
	} {
		assert.Equal(t, w.dir, handshake[i].Dir, "arrow %d's direction", i+1)
		assert.Equal(t, w.flags, handshake[i].Flags, "arrow %d's flags", i+1)
		assert.Equal(t, w.step, handshake[i].Step, "arrow %d's step label", i+1)
		assert.Contains(t, handshake[i].Label, w.label, "arrow %d's label", i+1)
	}
	assert.Contains(t, live.Users, "Accept returns", "the Accept marker")
	assert.Equal(t, "ESTABLISHED", live.Local, "utcp's state")
	assert.Equal(t, "ESTABLISHED", live.Peer, "the peer's inferred state")
	assert.Equal(t, "ESTABLISHED", live.Diagram.Local, "the state diagram highlights utcp's state")
	assert.Equal(t, "ESTABLISHED", live.Diagram.Peer, "and the peer's")
	for _, k := range []string{"data", "ack", "window", "cwnd"} {
		assert.Positive(t, live.Series[k], "the graph's %s series has points", k)
	}

	// Back to the first event: the SYN has just arrived.
	require.NoError(t, chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("step-first").click()`)))
	first, err := chromedp.Run(bctx, chromedp.Evaluate[pageDOM](readDOM))
	require.NoError(t, err)
	assert.Regexp(t, `^event 1 of \d+$`, first.Pos)
	assert.Equal(t, "SYN-RECEIVED", first.Local, "after the SYN, utcp is in SYN-RECEIVED")
	assert.Equal(t, "SYN-SENT", first.Peer, "and the peer, having sent it, in SYN-SENT")
	assert.Equal(t, "SYN-RECEIVED", first.Diagram.Local)
	assert.Zero(t, first.Series["data"], "no data has been sent at the first event")

	// One step on with the keyboard: the SYN-ACK.
	require.NoError(t, chromedp.Do(bctx, chromedp.KeyEvent(kb.ArrowRight)))
	second, err := chromedp.Run(bctx, chromedp.Evaluate[pageDOM](readDOM))
	require.NoError(t, err)
	assert.Regexp(t, `^event 2 of \d+$`, second.Pos)

	nc.closeStdin(t)
	u.closeStdin(t)
	assert.Equal(t, 0, nc.wait(t))
	assert.Equal(t, 0, u.wait(t))
}

// utcp http serves the page at /trace/ over utcp itself: the browser
// loads it through the kernel's TCP and the TUN device, and its own
// connections are on it.
func TestWeb_HTTPTracePageOverUtcp(t *testing.T) {
	tuntest.RequireNetns(t)
	chrome := chromiumPath(t)
	u := startUtcp(t, "utcpweb1", "http", "8080")
	u.waitStderr(t, "listening on 10.9.0.2:8080\n")
	bctx := newBrowser(t, chrome)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("http://10.9.0.2:8080/trace/")))
	_, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](`document.getElementById("stream-status").textContent === "live" &&
		document.querySelectorAll('#ladder .row[data-kind="segment"]').length >= 3`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		dom, _ := chromedp.Run(bctx, chromedp.Evaluate[pageDOM](readDOM))
		require.NoError(t, err, "the page must show its own connection; it shows %+v", dom)
	}
	dom, err := chromedp.Run(bctx, chromedp.Evaluate[pageDOM](readDOM))
	require.NoError(t, err)
	var flags []string
	for _, s := range dom.Segs[:3] {
		flags = append(flags, s.Dir+" "+s.Flags)
	}
	assert.Equal(t, []string{"in S", "out SA", "in A"}, flags, "the browser's connection to utcp, from its handshake")
	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 143, u.wait(t))
}
