package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// stdinPipe is a stdin the test writes to; closing it is EOF.
func stdinPipe(t *testing.T) (*io.PipeReader, *io.PipeWriter) {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r, w
}

func writeString(t *testing.T, w io.Writer, s string) {
	t.Helper()
	_, err := io.WriteString(w, s)
	require.NoError(t, err)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	return line
}

func requireEOF(t *testing.T, r io.Reader) {
	t.Helper()
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Empty(t, string(rest))
}

// closeWriteFirst half-closes the peer's side and waits until utcp has
// acknowledged that FIN, so utcp's own FIN cannot cross it (a simultaneous
// close would end in TIME-WAIT on utcp's side too).
func closeWriteFirst(t *testing.T, conn *tcp.Conn) {
	t.Helper()
	require.NoError(t, conn.CloseWrite())
	require.Eventually(t, func() bool { return conn.State() == tcp.StateFinWait2 },
		waitLimit, 5*time.Millisecond, "utcp never acknowledged the peer's FIN")
}

// The nc -N case: the peer closes first, utcp passes through CLOSE-WAIT and
// LAST-ACK and exits as soon as its FIN is acknowledged, without TIME-WAIT.
func TestListen_PeerClosesFirst_HalfCloseBothWays(t *testing.T) {
	n := newTestNet(t, netOpts{})
	stdin, toStdin := stdinPipe(t)
	// An MSL of an hour: if utcp waited out a TIME-WAIT the test would time out.
	c := start(t, n.open, stdin, "listen", "4567", "--msl", "1h")
	c.stderr.waitFor(t, "listening on 10.9.0.2:4567\n")

	conn := n.dial(t, 4567)
	c.stderr.waitFor(t, "connection from "+conn.LocalAddr().String()+"\n")
	r := bufio.NewReader(conn)

	// Like nc -l, utcp takes one connection: the next SYN is refused.
	_, err := n.peer.DialAddrPort(context.Background(), netip.AddrPortFrom(utcpAddr, 4567))
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	writeString(t, conn, "hello from the peer\n")
	c.stdout.waitFor(t, "hello from the peer\n")
	writeString(t, toStdin, "hello from utcp\n")
	assert.Equal(t, "hello from utcp\n", readLine(t, r))

	// The peer half-closes; utcp goes on sending stdin.
	closeWriteFirst(t, conn)
	writeString(t, toStdin, "still sending after your FIN\n")
	assert.Equal(t, "still sending after your FIN\n", readLine(t, r))

	// EOF on stdin: utcp's FIN; it exits once the FIN is acknowledged.
	require.NoError(t, toStdin.Close())
	requireEOF(t, r)
	assert.Equal(t, exitOK, c.wait(t))
	assert.Equal(t, "hello from the peer\n", c.stdout.String())
	assert.NotContains(t, c.stderr.String(), "TIME-WAIT")
	assert.True(t, n.cmdEnd.closed.Load(), "the link is closed")
	conn.Close()
}

// utcp closes first: after both FINs it holds TIME-WAIT for 2×MSL, saying
// so once, then exits 0.
func TestListen_UtcpClosesFirst_TimeWait(t *testing.T) {
	n := newTestNet(t, netOpts{})
	stdin, toStdin := stdinPipe(t)
	c := start(t, n.open, stdin, "listen", "--msl", "250ms", "4567")
	c.stderr.waitFor(t, "listening on 10.9.0.2:4567\n")
	conn := n.dial(t, 4567)
	r := bufio.NewReader(conn)

	writeString(t, toStdin, "bye\n")
	require.NoError(t, toStdin.Close())
	assert.Equal(t, "bye\n", readLine(t, r))
	requireEOF(t, r)

	// utcp has half-closed; it still reads what the peer sends.
	writeString(t, conn, "your FIN arrived, here is more\n")
	c.stdout.waitFor(t, "here is more\n")
	require.NoError(t, conn.Close())

	assert.Equal(t, exitOK, c.wait(t))
	assert.Equal(t, 1, strings.Count(c.stderr.String(), timeWaitLine), c.stderr.String())
}

// Ctrl-C during the TIME-WAIT hold exits at once and removes the link.
func TestListen_InterruptDuringTimeWait(t *testing.T) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "listen", "4567", "--msl", "1h")
	c.stderr.waitFor(t, "listening on")
	conn := n.dial(t, 4567)
	requireEOF(t, conn) // stdin is empty: utcp's FIN comes at once
	require.NoError(t, conn.Close())
	c.stderr.waitFor(t, timeWaitLine)

	c.interrupt(syscall.SIGINT)
	assert.Equal(t, 130, c.wait(t))
	assert.True(t, n.cmdEnd.closed.Load())
}

func TestListen_KeepOpen(t *testing.T) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "listen", "-k", "4567")
	c.stderr.waitFor(t, "listening on")
	for _, msg := range []string{"one\n", "two\n", "three\n"} {
		conn := n.dial(t, 4567)
		writeString(t, conn, msg)
		requireEOF(t, conn) // stdin is at EOF: each connection gets a FIN
		require.NoError(t, conn.Close())
		c.stdout.waitFor(t, msg)
	}
	assert.Equal(t, "one\ntwo\nthree\n", c.stdout.String())
	assert.Equal(t, 3, strings.Count(c.stderr.String(), "connection from 10.9.0.1:"))

	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
}

func TestDial_HalfCloseBothWays_Verbose(t *testing.T) {
	n := newTestNet(t, netOpts{})
	ln, err := n.peer.Listen(8080)
	require.NoError(t, err)
	stdin, toStdin := stdinPipe(t)
	c := start(t, n.open, stdin, "dial", "10.9.0.1", "8080", "--msl", "250ms", "-v")
	conn, err := ln.AcceptTCP()
	require.NoError(t, err)
	c.stderr.waitFor(t, "connected to 10.9.0.1:8080 from "+conn.RemoteAddr().String()+"\n")
	r := bufio.NewReader(conn)

	writeString(t, toStdin, "GET ready\n")
	assert.Equal(t, "GET ready\n", readLine(t, r))
	writeString(t, conn, "ok\n")
	c.stdout.waitFor(t, "ok\n")

	require.NoError(t, toStdin.Close()) // utcp half-closes first
	requireEOF(t, r)
	writeString(t, conn, "after EOF\n")
	require.NoError(t, conn.Close())

	assert.Equal(t, exitOK, c.wait(t))
	assert.Equal(t, "ok\nafter EOF\n", c.stdout.String())
	stderr := c.stderr.String()
	assert.Equal(t, 1, strings.Count(stderr, timeWaitLine))
	assert.Contains(t, stderr, "\ntcp: segs_in=")
	assert.Contains(t, stderr, " conns_dialed=1 ")
	assert.Contains(t, stderr, "\nip: received=")
	assert.Contains(t, stderr, "connection 10.9.0.2:")
	assert.Regexp(t, `info: state=CLOSED .*congestion=cubic phase=\S+ cwnd=\d+ .*sack=\w+`, stderr, "-v prints Conn.Info at exit")
}

func TestDial_Refused(t *testing.T) {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "dial", "10.9.0.1", "9")
	assert.Equal(t, exitRuntime, c.wait(t))
	assert.Equal(t, "connect to 10.9.0.1:9: connection refused\n", c.stderr.String())
}

func TestDial_Timeout(t *testing.T) {
	a, b := tun.Pipe(defaultMTU) // nobody answers on b
	t.Cleanup(func() { a.Close(); b.Close() })
	open := func(linkConfig) (tcp.Link, error) { return a, nil }
	c := start(t, open, nil, "dial", "-w", "50ms", "10.9.0.1", "80")
	assert.Equal(t, exitRuntime, c.wait(t))
	assert.Equal(t, "connect to 10.9.0.1:80: connection timed out\n", c.stderr.String())
}

// SIGTERM mid-transfer: the peer is reset, the link closed, the capture
// flushed, and the exit code is 143.
func TestListen_SignalResetsConnectionAndFlushesPcap(t *testing.T) {
	n := newTestNet(t, netOpts{})
	pcapPath := filepath.Join(t.TempDir(), "x.pcap")
	stdin, toStdin := stdinPipe(t)
	c := start(t, n.open, stdin, "listen", "4567", "--pcap", pcapPath)
	c.stderr.waitFor(t, "listening on")
	conn := n.dial(t, 4567)
	writeString(t, toStdin, "partial")
	buf := make([]byte, 7)
	_, err := io.ReadFull(conn, buf)
	require.NoError(t, err)

	c.interrupt(syscall.SIGTERM)
	assert.Equal(t, 143, c.wait(t))
	assert.True(t, n.cmdEnd.closed.Load(), "the link is closed")
	_, err = conn.Read(buf)
	assert.ErrorIs(t, err, syscall.ECONNRESET)

	pkts := readPcap(t, pcapPath)
	require.NotEmpty(t, pkts)
	last := pkts[len(pkts)-1].Layer(layers.LayerTypeTCP).(*layers.TCP)
	assert.True(t, last.RST, "the last packet resets the connection")
}

// failingWriter is a stdout whose reader has gone.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

func TestListen_StdoutGoneResetsConnection(t *testing.T) {
	n := newTestNet(t, netOpts{})
	stdin, _ := stdinPipe(t)
	stderr := newSyncBuffer()
	exit := make(chan int, 1)
	go func() {
		exit <- run(context.Background(), []string{"listen", "4567"}, stdin, failingWriter{}, stderr, n.open)
	}()
	stderr.waitFor(t, "listening on")
	conn := n.dial(t, 4567)
	writeString(t, conn, "nobody reads this")
	_, err := conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	select {
	case code := <-exit:
		assert.Equal(t, exitRuntime, code)
	case <-time.After(waitLimit):
		require.FailNow(t, "the command did not exit")
	}
	assert.Contains(t, stderr.String(), "\nstdout: broken pipe; connection with "+conn.LocalAddr().String()+" reset\n")
}

// traceListen runs utcp listen with the trace flag, sends it "hi" and
// returns its stderr.
func traceListen(t *testing.T, flag string) string {
	n := newTestNet(t, netOpts{})
	c := start(t, n.open, nil, "listen", "4567", flag, "--msl", "20ms")
	c.stderr.waitFor(t, "listening on")
	conn := n.dial(t, 4567)
	writeString(t, conn, "hi")
	requireEOF(t, conn) // stdin is empty: utcp closes first
	require.NoError(t, conn.Close())
	assert.Equal(t, exitOK, c.wait(t))
	return c.stderr.String()
}

func TestListen_TraceLadder(t *testing.T) {
	stderr := traceListen(t, "--trace")
	for _, want := range []string{"handshake 1/3", "handshake 2/3", "handshake 3/3", "SYN-RECEIVED", "ESTABLISHED",
		"Accept returns", "FIN-WAIT-1", "TIME-WAIT → CLOSED", "[SYN]", "[SYN, ACK]"} {
		assert.Contains(t, stderr, want)
	}
	assert.NotContains(t, stderr, "why:", "plain --trace gives no reasons")
}

func TestListen_TraceWhy(t *testing.T) {
	stderr := traceListen(t, "--trace=why")
	for _, want := range []string{
		"(handshake 2/3)  why: SYN-ACK: SYN arrived in LISTEN (RFC 9293 §3.10.7.2)",
		"==> Read returns 2 octets",
		"FIN queued",
		"why: FIN: the application called",
	} {
		assert.Contains(t, stderr, want, "--trace=why says why")
	}
}

func TestListen_PcapHasEveryPacket(t *testing.T) {
	n := newTestNet(t, netOpts{})
	pcapPath := filepath.Join(t.TempDir(), "x.pcap")
	stdin, toStdin := stdinPipe(t)
	c := start(t, n.open, stdin, "listen", "--pcap", pcapPath, "4567")
	c.stderr.waitFor(t, "listening on")
	conn := n.dial(t, 4567)
	writeString(t, conn, "hello")
	closeWriteFirst(t, conn) // the peer closes first: no TIME-WAIT on utcp's side
	c.stdout.waitFor(t, "hello")
	writeString(t, toStdin, "back")
	require.NoError(t, toStdin.Close())
	assert.Equal(t, exitOK, c.wait(t))

	pkts := readPcap(t, pcapPath)
	assert.Equal(t, int(n.cmdEnd.reads.Load()+n.cmdEnd.writes.Load()), len(pkts), "one record per packet in and out")
	first := pkts[0]
	ip4 := first.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	seg := first.Layer(layers.LayerTypeTCP).(*layers.TCP)
	assert.Equal(t, "10.9.0.1", ip4.SrcIP.String())
	assert.Equal(t, "10.9.0.2", ip4.DstIP.String())
	assert.True(t, seg.SYN && !seg.ACK)
	assert.Equal(t, layers.TCPPort(4567), seg.DstPort)
	var payload strings.Builder
	for _, p := range pkts {
		require.Nil(t, p.ErrorLayer(), "every record decodes")
		payload.Write(p.Layer(layers.LayerTypeTCP).(*layers.TCP).Payload)
	}
	assert.Equal(t, "helloback", payload.String())
}

func readPcap(t *testing.T, path string) []gopacket.Packet {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeRaw, r.LinkType())
	var pkts []gopacket.Packet
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return pkts
		}
		require.NoError(t, err)
		pkts = append(pkts, gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default))
	}
}
