package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoOnce sends data on a new connection, half-closes, and returns what
// comes back before utcp's FIN.
func echoOnce(n *testNet, port uint16, data []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := n.peer.DialAddrPort(ctx, netip.AddrPortFrom(utcpAddr, port))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		if err == nil {
			err = conn.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(conn) // ends with utcp's FIN
	if err != nil {
		return got, err
	}
	return got, <-werr
}

func TestEcho_ConcurrentConnections(t *testing.T) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "echo", "7", "-v")
	c.stderr.waitFor(t, "listening on 10.9.0.2:7\n")

	// One idle connection stays open: the interrupt must reset it.
	idle := n.dial(t, 7)

	const conns = 6
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			data := bytes.Repeat([]byte(fmt.Sprintf("connection %d says hello; ", i)), 2000+500*i)
			got, err := echoOnce(n, 7, data)
			if assert.NoError(t, err, "connection %d", i) {
				assert.True(t, bytes.Equal(data, got), "connection %d: %d bytes sent, %d echoed", i, len(data), len(got))
			}
		})
	}
	wg.Wait()
	c.stderr.waitFor(t, "echoed")
	assert.Equal(t, conns+1, strings.Count(c.stderr.String(), "connection from 10.9.0.1:"))

	c.interrupt(syscall.SIGINT)
	assert.Equal(t, 130, c.wait(t))
	_, err := idle.Read(make([]byte, 1))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
}

// Small MTU: every packet utcp sends fits, and the data still arrives whole.
func TestEcho_SmallMTU(t *testing.T) {
	n := newTestNet(t, netOpts{mtu: 576})
	c := start(t, n.open, nil, "echo", "7", "--mtu", "576")
	c.stderr.waitFor(t, "listening on")
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	got, err := echoOnce(n, 7, data)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	assert.LessOrEqual(t, n.cmdEnd.maxWritten.Load(), int64(576))
	assert.Equal(t, int64(576), n.cmdEnd.maxWritten.Load(), "full-sized segments were sent")
	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
}

// httpClient sends its requests through the peer stack.
func httpClient(n *testNet) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.peer.DialContext}}
}

func get(t *testing.T, client *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

// startHTTP runs `utcp http 8080` and returns it with a client through the
// peer stack; the test's cleanup closes the client's idle connections.
func startHTTP(t *testing.T) (*cmd, *http.Client) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "http", "8080")
	c.stderr.waitFor(t, "listening on 10.9.0.2:8080\n")
	client := httpClient(n)
	t.Cleanup(client.CloseIdleConnections)
	return c, client
}

func TestHTTP_StatusPageAndJSON(t *testing.T) {
	c, client := startHTTP(t)

	code, body, hdr := get(t, client, "http://10.9.0.2:8080/")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "text/html; charset=utf-8", hdr.Get("Content-Type"))
	assert.Contains(t, body, "utcp at 10.9.0.2")
	assert.Contains(t, body, "<td>ESTABLISHED</td>", "the request's own connection is listed")
	assert.Contains(t, body, "<td>10.9.0.1:")
	assert.Contains(t, body, "segs_in")

	code, body, hdr = get(t, client, "http://10.9.0.2:8080/status.json")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	var st struct {
		Addr        string
		TUN         string
		MTU         int
		Stack       map[string]float64
		IP          map[string]float64
		Connections []struct {
			Local, Remote, State string
			Stats                map[string]float64
			Info                 map[string]any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, "10.9.0.2", st.Addr)
	assert.Equal(t, "utcp0", st.TUN)
	assert.Equal(t, 1500, st.MTU)
	assert.Greater(t, st.Stack["segs_in"], 0.0)
	assert.Equal(t, 1.0, st.Stack["conns_accepted"], "keep-alive: one connection for both requests")
	assert.Greater(t, st.IP["received"], 0.0)
	require.Len(t, st.Connections, 1)
	conn := st.Connections[0]
	assert.Equal(t, "10.9.0.2:8080", conn.Local)
	assert.True(t, strings.HasPrefix(conn.Remote, "10.9.0.1:"), conn.Remote)
	assert.Equal(t, "ESTABLISHED", conn.State)
	assert.Greater(t, conn.Stats["bytes_in"], 0.0)
	assert.Contains(t, conn.Stats, "srtt_ms")
	assert.Equal(t, "cubic", conn.Info["congestion"], "Conn.Info per connection")
	assert.Contains(t, conn.Info, "phase")
	assert.Contains(t, conn.Info, "min_rtt_ms")

	code, _, _ = get(t, client, "http://10.9.0.2:8080/files/x")
	assert.Equal(t, http.StatusNotFound, code, "no --dir, no files")

	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
}

// /debug/vars has the process's expvars and the stack's under "utcp";
// /debug/pprof/ the profiles, on the server's own mux.
func TestHTTP_ExpvarAndPprof(t *testing.T) {
	c, client := startHTTP(t)

	code, body, hdr := get(t, client, "http://10.9.0.2:8080/debug/vars")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json; charset=utf-8", hdr.Get("Content-Type"))
	var vars struct {
		Memstats map[string]any `json:"memstats"`
		Cmdline  []string       `json:"cmdline"`
		Utcp     struct {
			Addr        string             `json:"addr"`
			Stack       map[string]float64 `json:"stack"`
			Connections []struct {
				Local, State string
				Stats        map[string]float64
			} `json:"connections"`
		} `json:"utcp"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &vars), body)
	assert.NotEmpty(t, vars.Memstats, "the standard expvars are there")
	assert.NotEmpty(t, vars.Cmdline)
	assert.Equal(t, "10.9.0.2", vars.Utcp.Addr)
	assert.Greater(t, vars.Utcp.Stack["segs_in"], 0.0)
	assert.Contains(t, vars.Utcp.Stack, "unhandled")
	require.Len(t, vars.Utcp.Connections, 1, "the request's own connection")
	assert.Equal(t, "ESTABLISHED", vars.Utcp.Connections[0].State)
	assert.Greater(t, vars.Utcp.Connections[0].Stats["segs_in"], 0.0)

	code, body, _ = get(t, client, "http://10.9.0.2:8080/debug/pprof/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "goroutine")
	code, body, _ = get(t, client, "http://10.9.0.2:8080/debug/pprof/goroutine?debug=1")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "goroutine profile:")
	code, _, _ = get(t, client, "http://10.9.0.2:8080/debug/pprof/cmdline")
	assert.Equal(t, http.StatusOK, code)

	code, body, _ = get(t, client, "http://10.9.0.2:8080/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `href="/debug/vars"`)

	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
}

func TestHTTP_Dir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello over utcp\n"), 0o644))
	big := bytes.Repeat([]byte("utcp "), 100_000)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))

	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "http", "--dir", dir, "80")
	c.stderr.waitFor(t, "listening on 10.9.0.2:80\n")
	client := httpClient(n)
	defer client.CloseIdleConnections()

	code, body, _ := get(t, client, "http://10.9.0.2/files/hello.txt")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "hello over utcp\n", body)

	code, body, _ = get(t, client, "http://10.9.0.2/files/big.bin")
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, body == string(big), "big.bin: got %d bytes, want %d", len(body), len(big))

	code, body, _ = get(t, client, "http://10.9.0.2/files/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `href="hello.txt"`)

	code, body, _ = get(t, client, "http://10.9.0.2/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `href="/files/"`)

	code, _, _ = get(t, client, "http://10.9.0.2/files/missing")
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = get(t, client, "http://10.9.0.2/nothing")
	assert.Equal(t, http.StatusNotFound, code)

	c.interrupt(syscall.SIGINT)
	assert.Equal(t, 130, c.wait(t))
}
