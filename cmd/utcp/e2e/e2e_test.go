package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun/tuntest"
)

// Each test has its own TUN device name and port, so that a test that
// failed and left something behind cannot disturb the next one.

// nc -N shuts its socket down (FIN) at EOF on stdin: the kernel closes
// first. utcp's reading side ends (Read returns EOF, shown by --trace) while
// it can still send; EOF on utcp's stdin then sends its FIN, nc sees EOF and
// exits, and utcp exits 0 from LAST-ACK without a TIME-WAIT.
func TestNcToListen_LinesBothWays_KernelHalfClosesFirst(t *testing.T) {
	// An MSL of an hour: if utcp waited out a TIME-WAIT here, the test would time out.
	u := startUtcp(t, "utcpt1", "listen", "4001", "--trace", "--msl", "1h")
	u.waitStderr(t, "listening on 10.9.0.2:4001\n")
	nc := startTool(t, "nc", "-N", "10.9.0.2", "4001")
	u.waitStderr(t, "connection from 10.9.0.1:")

	nc.write(t, "hello from the kernel\n")
	u.waitStdout(t, "hello from the kernel\n")
	u.write(t, "hello from utcp\n")
	nc.waitStdout(t, "hello from utcp\n")

	nc.closeStdin(t) // nc -N: FIN
	u.waitStderr(t, "Read returns EOF")
	u.write(t, "utcp still sends after the kernel's FIN\n")
	nc.waitStdout(t, "utcp still sends after the kernel's FIN\n")

	u.closeStdin(t) // utcp's FIN
	assert.Equal(t, 0, nc.wait(t), "nc exits 0 once it has seen utcp's FIN")
	assert.Equal(t, 0, u.wait(t), "utcp exits 0 once both directions are closed")
	assert.Equal(t, "hello from the kernel\n", u.stdout.String())
	assert.Equal(t, "hello from utcp\nutcp still sends after the kernel's FIN\n", nc.stdout.String())
	assert.NotRegexp(t, ` → TIME-WAIT|TIME-WAIT: holding`, u.stderr.String(), "the side that closes second has no TIME-WAIT (RFC 9293 §3.6)")
	assert.Contains(t, u.stderr.String(), "peer→ TIME-WAIT~", "the kernel's, closing first, as inferred")
}

// EOF on utcp's stdin sends its FIN first; the kernel (nc) can still send,
// and its FIN after that ends the connection: utcp waits out TIME-WAIT and
// exits 0, and nc exits 0, which it does only once it has read utcp's FIN.
func TestListenToNc_LinesBothWays_UtcpHalfClosesFirst(t *testing.T) {
	u := startUtcp(t, "utcpt1b", "listen", "4101", "--trace", "--msl", "100ms")
	u.waitStderr(t, "listening on 10.9.0.2:4101\n")
	nc := startTool(t, "nc", "-N", "10.9.0.2", "4101")
	u.waitStderr(t, "connection from 10.9.0.1:")

	u.write(t, "hello from utcp\n")
	nc.waitStdout(t, "hello from utcp\n")
	u.closeStdin(t) // utcp's FIN
	u.waitStderr(t, "FIN-WAIT-1 → FIN-WAIT-2")

	nc.write(t, "the kernel still sends after utcp's FIN\n")
	u.waitStdout(t, "the kernel still sends after utcp's FIN\n")
	nc.closeStdin(t) // nc -N: FIN

	assert.Equal(t, 0, nc.wait(t), "nc exits once stdin and the connection are both at EOF")
	assert.Equal(t, 0, u.wait(t), "utcp exits 0 after TIME-WAIT")
	assert.Equal(t, "the kernel still sends after utcp's FIN\n", u.stdout.String())
	assert.Equal(t, "hello from utcp\n", nc.stdout.String())
	requireInOrder(t, u.stderr.String(), "Read returns EOF", "TIME-WAIT: holding", "TIME-WAIT → CLOSED")
}

// utcp dials the kernel's listener (nc -l): lines both ways, then the
// kernel half-closes (nc -N at EOF on its stdin) while utcp still sends,
// and utcp's FIN ends the connection; both exit 0, utcp without a
// TIME-WAIT. (nc -l itself exits as soon as it reads a FIN, so the kernel
// must be the one to close first here.)
func TestDialToNcListen_DataBothWaysCleanExit(t *testing.T) {
	nc := startTool(t, "nc", "-l", "-v", "-n", "-N", "4002")
	nc.waitStderr(t, "Listening on 0.0.0.0 4002")
	// An MSL of an hour: if utcp waited out a TIME-WAIT here, the test would time out.
	u := startUtcp(t, "utcpt2", "dial", "10.9.0.1", "4002", "--msl", "1h", "--trace")
	u.waitStderr(t, "connected to 10.9.0.1:4002 from 10.9.0.2:")
	nc.waitStderr(t, "Connection received on 10.9.0.2 ")

	u.write(t, "from utcp\n")
	nc.waitStdout(t, "from utcp\n")
	nc.write(t, "from the kernel\n")
	u.waitStdout(t, "from the kernel\n")

	nc.closeStdin(t) // the kernel's FIN first
	u.waitStderr(t, "Read returns EOF")
	u.write(t, "utcp still sends after the kernel's FIN\n")
	nc.waitStdout(t, "utcp still sends after the kernel's FIN\n")
	u.closeStdin(t)

	assert.Equal(t, 0, nc.wait(t))
	assert.Equal(t, 0, u.wait(t), "utcp exits 0 from LAST-ACK")
	assert.Equal(t, "from utcp\nutcp still sends after the kernel's FIN\n", nc.stdout.String())
	assert.Equal(t, "from the kernel\n", u.stdout.String())
	requireInOrder(t, u.stderr.String(), "CLOSED → SYN-SENT", "SYN-SENT → ESTABLISHED", "Dial (connect) returns",
		"ESTABLISHED → CLOSE-WAIT", "CLOSE-WAIT → LAST-ACK", "LAST-ACK → CLOSED")
	assert.NotRegexp(t, ` → TIME-WAIT|TIME-WAIT: holding`, u.stderr.String(), "the side that closes second has no TIME-WAIT")
}

// The heavy one: the kernel opens 100 connections at once to `utcp echo`
// and sends 10 MiB on each (2 MiB under the race detector, which slows
// utcp five to ten times) from one goroutine while another reads the echo
// back; the SHA-256 and length of what returns must match what was sent,
// and each connection must end with EOF (utcp's FIN) after the last byte.
func TestEchoFromKernel_100Connections_SHA256(t *testing.T) {
	const conns = 100
	perConn := int64(10 << 20)
	if tuntest.RaceEnabled() {
		perConn = 2 << 20
	}
	u := startUtcp(t, "utcpt3", "echo", "4003")
	u.waitStderr(t, "listening on 10.9.0.2:4003\n")

	start := time.Now()
	type result struct {
		sent, got  [sha256.Size]byte
		n          int64
		sendErr    error
		recvErr    error
		recvFinish time.Duration
	}
	results := make([]result, conns)
	var wg sync.WaitGroup
	for i := range conns {
		c := dialKernel(t, utcpAt(4003), 0)
		t.Cleanup(func() { c.Close() })
		// Bound every connection: a lost FIN or a stall fails instead of
		// hanging.
		require.NoError(t, c.SetDeadline(time.Now().Add(procTimeout-time.Minute)))
		r := &results[i]
		wg.Go(func() {
			h := sha256.New()
			src := io.TeeReader(io.LimitReader(newPattern(uint64(i)), perConn), h)
			if _, err := io.CopyBuffer(c, src, make([]byte, 64<<10)); err != nil {
				r.sendErr = err
				return
			}
			r.sendErr = c.CloseWrite()
			copy(r.sent[:], h.Sum(nil))
		})
		wg.Go(func() {
			h := sha256.New()
			r.n, r.recvErr = io.CopyBuffer(h, c, make([]byte, 64<<10)) // to EOF
			copy(r.got[:], h.Sum(nil))
			r.recvFinish = time.Since(start)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, r := range results {
		require.NoError(t, r.sendErr, "connection %d: send", i)
		require.NoError(t, r.recvErr, "connection %d: receive to EOF", i)
		assert.Equal(t, perConn, r.n, "connection %d: every byte comes back, then EOF", i)
		assert.Equal(t, r.sent, r.got, "connection %d: the echo is byte-identical", i)
	}
	total := float64(conns*perConn) / (1 << 20)
	t.Logf("echoed %d × %d MiB in %v: %.1f MiB/s each way (race=%v)", conns, perConn>>20, elapsed.Round(time.Millisecond), total/elapsed.Seconds(), tuntest.RaceEnabled())
	assert.False(t, u.exited(), "utcp echo keeps serving")
	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 128+int(syscall.SIGTERM), u.wait(t))
}

// newPattern is a deterministic pseudo-random byte stream, different for
// each seed.
func newPattern(seed uint64) io.Reader {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return mrand.NewChaCha8(key)
}

// curl fetches utcp http's status page, whose table lists curl's own
// connection, and a file under --dir, byte for byte.
func TestCurlToHTTP_StatusPageAndFile(t *testing.T) {
	dir := t.TempDir()
	blob := make([]byte, 3<<20+17) // more than the send buffer, and not a round size
	_, err := io.ReadFull(newPattern(4), blob)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blob.bin"), blob, 0o644))

	u := startUtcp(t, "utcpt4", "http", "4004", "--dir", dir)
	u.waitStderr(t, "listening on 10.9.0.2:4004\n")

	page := startTool(t, "curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", "http://10.9.0.2:4004/")
	require.Equal(t, 0, page.wait(t), "curl: %s", page.stderr.String())
	out := page.stdout.String()
	i := strings.LastIndexByte(out, '\n') // -w put the status code on a line of its own
	require.GreaterOrEqual(t, i, 0, "curl output %q", out)
	body := out[:i]
	assert.Equal(t, "200", out[i+1:], "status code")
	assert.Contains(t, body, "<h2>Connections (")
	assert.Contains(t, body, "<td>10.9.0.2:4004</td><td>10.9.0.1:", "the table lists curl's connection")
	assert.Contains(t, body, "<td>ESTABLISHED</td>")

	js := startTool(t, "curl", "-sS", "--fail", "--max-time", "20", "http://10.9.0.2:4004/status.json")
	require.Equal(t, 0, js.wait(t), "curl: %s", js.stderr.String())
	var st struct {
		Addr        string `json:"addr"`
		Connections []struct {
			Local, State string
		} `json:"connections"`
	}
	require.NoError(t, json.Unmarshal([]byte(js.stdout.String()), &st))
	assert.Equal(t, "10.9.0.2", st.Addr)
	assert.NotEmpty(t, st.Connections, "the JSON lists curl's connection")

	gotPath := filepath.Join(t.TempDir(), "got.bin")
	file := startTool(t, "curl", "-sS", "--fail", "--max-time", "60", "-o", gotPath, "http://10.9.0.2:4004/files/blob.bin")
	require.Equal(t, 0, file.wait(t), "curl: %s", file.stderr.String())
	got, err := os.ReadFile(gotPath)
	require.NoError(t, err)
	assert.Equal(t, len(blob), len(got))
	assert.Equal(t, sha256.Sum256(blob), sha256.Sum256(got), "the served file is byte-identical")

	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 128+int(syscall.SIGTERM), u.wait(t))
}

// crypto/tls and net/http run unchanged over a utcp Listener; curl reaches
// them over HTTPS through the kernel's TCP.
func TestTLSOverUtcpListener_Curl(t *testing.T) {
	curl := tuntest.RequireTool(t, "curl")
	st := stackOnTUN(t, "utcpt5", tcp.Config{})
	ln, err := st.Listen(4005)
	require.NoError(t, err)

	body := make([]byte, 1<<20)
	_, err = io.ReadFull(newPattern(5), body)
	require.NoError(t, err)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				w.Write(body)
				return
			}
			fmt.Fprintf(w, "hello over TLS %s from %s\n", tlsVersion(r.TLS), r.RemoteAddr)
		}),
		ReadHeaderTimeout: waitTimeout,
	}
	tlsLn := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tlsLn) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})

	hello := startProc(t, curl, "-sS", "--insecure", "--max-time", "20", "https://10.9.0.2:4005/")
	require.Equal(t, 0, hello.wait(t), "curl: %s", hello.stderr.String())
	assert.Regexp(t, `^hello over TLS 1\.3 from 10\.9\.0\.1:\d+\n$`, hello.stdout.String())

	out := filepath.Join(t.TempDir(), "big")
	big := startProc(t, curl, "-sS", "--insecure", "--fail", "--max-time", "60", "-o", out, "https://10.9.0.2:4005/big")
	require.Equal(t, 0, big.wait(t), "curl: %s", big.stderr.String())
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(body), sha256.Sum256(got), "1 MiB over TLS arrives intact")
}

func tlsVersion(cs *tls.ConnectionState) string {
	if cs == nil {
		return "none"
	}
	return strings.TrimPrefix(tls.VersionName(cs.Version), "TLS ")
}

// selfSigned makes a certificate for 10.9.0.2, valid for an hour.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "utcp e2e"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{utcpIP.AsSlice()},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// utcp's --pcap capture of an nc session, read by tshark: the three-way
// handshake, the data, the four-way close with each FIN acknowledged, and
// not one bad checksum or malformed packet.
func TestPcapOfNcSession_TsharkSeesHandshakeAndCloseWithGoodChecksums_MUST2(t *testing.T) {
	skipUnderOffload(t, "with offload both sides leave the TCP checksum partial for the other to trust (NEEDS_CSUM), so a capture shows it incomplete")
	tshark := tuntest.RequireTool(t, "tshark")
	pcap := filepath.Join(t.TempDir(), "session.pcap")
	// --trace only to see when the kernel's FIN has arrived, so that nc
	// closes first rather than both at once.
	u := startUtcp(t, "utcpt6", "listen", "4006", "--pcap", pcap, "--msl", "100ms", "--trace")
	u.waitStderr(t, "listening on 10.9.0.2:4006\n")
	nc := startTool(t, "nc", "-N", "10.9.0.2", "4006")
	nc.write(t, "ping\n")
	u.waitStdout(t, "ping\n")
	u.write(t, "pong\n")
	nc.waitStdout(t, "pong\n")
	nc.closeStdin(t)
	u.waitStderr(t, "Read returns EOF")
	u.closeStdin(t)
	assert.Equal(t, 0, nc.wait(t))
	require.Equal(t, 0, u.wait(t))

	// One line per packet: source, flags, relative seq and ack, length.
	// Only TCP: the capture holds all the link carries, such as the
	// kernel's IPv6 router solicitations on the new device.
	fields := startProc(t, tshark, "-n", "-r", pcap, "-Y", "tcp", "-T", "fields", "-E", "separator=,",
		"-e", "ip.src", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset",
		"-e", "tcp.seq", "-e", "tcp.ack", "-e", "tcp.len")
	require.Equal(t, 0, fields.wait(t), "tshark: %s", fields.stderr.String())
	type pkt struct {
		src                 string
		syn, ack, fin, rst  bool
		seq, ackNo, payload int
	}
	var pkts []pkt
	for _, l := range lines(fields.stdout.String()) {
		f := strings.Split(l, ",")
		require.Len(t, f, 8, "tshark line %q", l)
		n := func(s string) int {
			v, err := strconv.Atoi(s)
			require.NoError(t, err, "tshark line %q", l)
			return v
		}
		pkts = append(pkts, pkt{src: f[0], syn: f[1] == "1", ack: f[2] == "1", fin: f[3] == "1", rst: f[4] == "1",
			seq: n(f[5]), ackNo: n(f[6]), payload: n(f[7])})
	}
	t.Logf("capture:\n%s", fields.stdout.String())
	require.GreaterOrEqual(t, len(pkts), 7, "a handshake, data and a close")

	// The capture must be in causal order: no packet acknowledges a sequence
	// number the other side's packets before it in the file have not sent.
	sent := map[string]int{} // per source: the highest relative sequence number sent, plus one
	for i, p := range pkts {
		end := p.seq + p.payload
		if p.syn || p.fin {
			end++ // SYN and FIN each occupy a sequence number
		}
		sent[p.src] = max(sent[p.src], end)
		other := "10.9.0.1"
		if p.src == other {
			other = "10.9.0.2"
		}
		if p.ack {
			assert.LessOrEqualf(t, p.ackNo, sent[other],
				"packet %d from %s acknowledges %d, but the capture shows %s's segments only up to %d before it: "+
					"a packet is recorded after the reply it caused (tun.Sniffer records a written packet after the write)",
				i+1, p.src, p.ackNo, other, sent[other])
		}
	}

	const k, u2 = "10.9.0.1", "10.9.0.2"
	assert.Equal(t, pkt{src: k, syn: true}, pkts[0], "handshake 1/3: the kernel's SYN")
	assert.Equal(t, pkt{src: u2, syn: true, ack: true, ackNo: 1}, pkts[1], "handshake 2/3: utcp's SYN-ACK acknowledges the SYN")
	assert.Equal(t, pkt{src: k, ack: true, seq: 1, ackNo: 1}, pkts[2], "handshake 3/3: the kernel's ACK")
	var fins []int
	for i, p := range pkts {
		assert.False(t, p.rst, "packet %d: no reset in a clean session", i+1)
		assert.False(t, p.syn && i > 1, "packet %d: no SYN after the handshake", i+1)
		if p.fin {
			fins = append(fins, i)
		}
	}
	require.Len(t, fins, 2, "one FIN from each side")
	for _, i := range fins {
		fin := pkts[i]
		finEnd := fin.seq + fin.payload + 1 // the FIN occupies one sequence number
		acked := false
		for _, p := range pkts[i+1:] {
			if p.src != fin.src && p.ack && p.ackNo >= finEnd {
				acked = true
				break
			}
		}
		assert.True(t, acked, "the FIN of %s (packet %d) is acknowledged by the other side", fin.src, i+1)
	}
	assert.NotEqual(t, pkts[fins[0]].src, pkts[fins[1]].src, "the two FINs come from the two sides")
	assert.Equal(t, k, pkts[fins[0]].src, "nc closed first")

	// tshark checks every checksum; the filter prints the packets that fail.
	bad := startProc(t, tshark, "-n", "-r", pcap, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", `tcp.checksum.status == "Bad" || ip.checksum.status == "Bad" || _ws.malformed || _ws.expert.severity >= "Error"`)
	require.Equal(t, 0, bad.wait(t), "tshark: %s", bad.stderr.String())
	assert.Empty(t, bad.stdout.String(), "no packet with a bad checksum, malformed, or an expert error")
	// And the check ran: every packet's checksums were verified as good.
	good := startProc(t, tshark, "-n", "-r", pcap, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", `tcp.checksum.status == "Good" && ip.checksum.status == "Good"`, "-T", "fields", "-e", "frame.number")
	require.Equal(t, 0, good.wait(t), "tshark: %s", good.stderr.String())
	assert.Len(t, lines(good.stdout.String()), len(pkts), "tshark verified the checksums of every packet")
}

// utcp closes first (its stdin is empty), holds the connection in
// TIME-WAIT for 2×MSL, prints the TIME-WAIT line and exits 0 only then.
// After that the kernel connects again from the same port to the same
// port: the same four-tuple carries a new connection.
func TestListen_UtcpClosesFirst_TimeWaitHolds2MSL_MUST13_ThenSamePortPairAgain(t *testing.T) {
	const (
		port   = 4007
		from   = 41007
		msl    = 300 * time.Millisecond
		tunDev = "utcpt7"
	)
	for round := range 2 {
		u := startUtcp(t, tunDev, "listen", strconv.Itoa(port), "--msl", msl.String())
		u.write(t, fmt.Sprintf("round %d\n", round))
		u.closeStdin(t)
		u.waitStderr(t, "listening on 10.9.0.2:4007\n")
		c := dialKernel(t, utcpAt(port), from)
		assert.Equal(t, fmt.Sprintf("round %d\n", round), readAllString(t, c), "utcp's data, then its FIN")
		_, err := c.Write([]byte("bye\n"))
		require.NoError(t, err, "the kernel may send after utcp's FIN")
		closed := time.Now()
		require.NoError(t, c.Close()) // the kernel's FIN: utcp goes FIN-WAIT-2 → TIME-WAIT
		u.waitStderr(t, "TIME-WAIT: holding")
		assert.Equal(t, 0, u.wait(t))
		held := time.Since(closed)
		// A lower bound only: TIME-WAIT began after the kernel's FIN was sent.
		assert.GreaterOrEqual(t, held, 2*msl, "RFC 9293 §3.6.1: utcp holds TIME-WAIT for 2×MSL before it exits")
		assert.Equal(t, "bye\n", u.stdout.String())
	}
}

// RFC 9293 §3.6.1 MAY-2 (RFC 6191 without timestamps): with `listen -k`
// still listening, a new SYN from the same kernel port, with a sequence
// number above the old connection's, ends utcp's TIME-WAIT and opens the
// new connection at once, though the MSL is an hour.
func TestListenKeepOpen_SynInTimeWaitReopens_MAY2(t *testing.T) {
	const (
		port = 4017
		from = 41017
	)
	u := startUtcp(t, "utcpt7b", "listen", "-k", strconv.Itoa(port), "--msl", "1h", "-v")
	u.closeStdin(t) // every connection gets utcp's FIN at once: utcp closes first
	u.waitStderr(t, "listening on 10.9.0.2:4017\n")
	for round := range 3 {
		c := dialKernel(t, utcpAt(port), from)
		_, err := c.Write(fmt.Appendf(nil, "round %d\n", round))
		require.NoError(t, err)
		assert.Equal(t, "", readAllString(t, c), "round %d: utcp's FIN arrives", round)
		require.NoError(t, c.Close())
		u.waitStdout(t, fmt.Sprintf("round %d\n", round))
	}
	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 128+int(syscall.SIGTERM), u.wait(t))
	assert.Equal(t, 3, strings.Count(u.stderr.String(), "connection from 10.9.0.1:41017\n"), "three connections on one four-tuple")
	assert.Contains(t, u.stderr.String(), "time_wait_reopened=2", "rounds 2 and 3 each reopened a TIME-WAIT connection (-v counters)")
}

// The same in-process, where the stack's tables can be read: the TIME-WAIT
// connection is there until a SYN reopens it, and a TIME-WAIT that expires
// frees the four-tuple for an ordinary new connection.
func TestStack_TimeWaitReopenedBySYN_MAY2_ThenExpires_MUST13(t *testing.T) {
	const (
		port = 4027
		from = 41027
		msl  = 2 * time.Second // the second connection must come within 2×MSL
	)
	st := stackOnTUN(t, "utcpt7c", tcp.Config{MSL: msl})
	ln, err := st.Listen(port)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })

	// serve accepts one connection, closes it first and waits for the kernel's
	// FIN, which puts the connection in TIME-WAIT.
	serve := func() {
		t.Helper()
		k := dialKernel(t, utcpAt(port), from)
		c, err := ln.AcceptTCP()
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		assert.Equal(t, "", readAllString(t, k), "utcp's FIN")
		require.NoError(t, k.Close())
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
		_, err = io.ReadAll(c)
		require.NoError(t, err, "the kernel's FIN")
		require.NoError(t, c.Close())
		assert.Equal(t, tcp.StateTimeWait, c.State(), "utcp closed first")
	}
	inTimeWait := func() int {
		n := 0
		for _, ci := range st.Conns() {
			if ci.ID.Remote == kernelAt(from) && ci.State == tcp.StateTimeWait {
				n++
			}
		}
		return n
	}

	serve()
	require.Equal(t, 1, inTimeWait())
	serve() // a SYN on the same four-tuple, within 2×MSL
	assert.Equal(t, uint64(1), st.Stats().TimeWaitReopened, "MAY-2: the SYN reopened the TIME-WAIT connection")
	require.Equal(t, 1, inTimeWait(), "the new connection is in TIME-WAIT in turn")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, st.Wait(ctx), "TIME-WAIT ends after 2×MSL")
	require.Equal(t, 0, inTimeWait())
	serve()
	assert.Equal(t, uint64(1), st.Stats().TimeWaitReopened, "after TIME-WAIT expired, the SYN opened an ordinary connection")
}

// SIGTERM in the middle of a transfer: utcp resets the connection, removes
// its TUN device and exits 143 at once.
func TestListen_SIGTERMDuringTransfer_ResetsRemovesTUNExits143(t *testing.T) {
	const tunDev = "utcpt8"
	u := startUtcp(t, tunDev, "listen", "4008")
	u.waitStderr(t, "listening on 10.9.0.2:4008\n")
	c := dialKernel(t, utcpAt(4008), 0)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, newPattern(8)) // endless, until the reset
		sendErr <- err
	}()
	u.waitStdoutBytes(t, 4<<20)
	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 128+int(syscall.SIGTERM), u.wait(t), "exit 128+SIGTERM")
	requireNoLink(t, tunDev)
	// The kernel reports a reset once, to whichever call comes first; the
	// other then sees EOF (a read) or EPIPE (a write).
	_, readErr := c.Read(make([]byte, 1))
	writeErr := <-sendErr
	assert.True(t, errors.Is(readErr, syscall.ECONNRESET) || errors.Is(writeErr, syscall.ECONNRESET),
		"utcp resets the connection it drops: read %v, write %v", readErr, writeErr)
}

// --trace draws the handshake and the close; the state transitions must
// come in the order RFC 9293 §3.5 and §3.6 give them, for either side
// closing first.
func TestTrace_HandshakeAndCloseStatesInOrder(t *testing.T) {
	handshake := []string{
		"(handshake 1/3)", "LISTEN → SYN-RECEIVED",
		"(handshake 2/3)",
		"(handshake 3/3)", "SYN-RECEIVED → ESTABLISHED",
		"Accept returns",
	}
	for i, tc := range []struct {
		name       string
		utcpFirst  bool
		closeOrder []string
	}{
		{
			name: "kernel closes first: CLOSE-WAIT, LAST-ACK",
			// The ACK of the kernel's FIN is delayed: it rides on our FIN
			// ("close 2+3/4") when utcp closes within the delayed-ACK time,
			// else goes alone ("close 2/4") before it.
			closeOrder: []string{
				"(close 1/4)", "ESTABLISHED → CLOSE-WAIT",
				"Read returns EOF",
				"(close 2",
				"(close 4/4)", "LAST-ACK → CLOSED",
			},
		},
		{
			name:      "utcp closes first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT",
			utcpFirst: true,
			closeOrder: []string{
				"ESTABLISHED → FIN-WAIT-1", "(close 1/4)",
				"(close 2/4)", "FIN-WAIT-1 → FIN-WAIT-2",
				"(close 3/4)", "FIN-WAIT-2 → TIME-WAIT",
				"(close 4/4)",
				"Read returns EOF",
				"TIME-WAIT → CLOSED",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := strconv.Itoa(4009 + 100*i)
			u := startUtcp(t, fmt.Sprintf("utcpt9%d", i), "listen", port, "--trace", "--msl", "100ms")
			u.waitStderr(t, "listening on 10.9.0.2:"+port+"\n")
			nc := startTool(t, "nc", "-N", "10.9.0.2", port)
			nc.write(t, "x\n")
			u.waitStdout(t, "x\n")
			first, second := nc, u
			if tc.utcpFirst {
				first, second = u, nc
			}
			first.closeStdin(t)
			if tc.utcpFirst {
				u.waitStderr(t, "FIN-WAIT-1 → FIN-WAIT-2")
			} else {
				u.waitStderr(t, "Read returns EOF")
			}
			second.closeStdin(t)
			assert.Equal(t, 0, nc.wait(t))
			require.Equal(t, 0, u.wait(t))
			trace := u.stderr.String()
			t.Logf("trace:\n%s", trace)
			requireInOrder(t, trace, append(handshake, tc.closeOrder...)...)
		})
	}
}

// The stack answers ICMP echo (ping) on its address while it listens.
func TestPing_EchoRepliesWhileListening(t *testing.T) {
	u := startUtcp(t, "utcpt10", "listen", "4010")
	u.waitStderr(t, "listening on 10.9.0.2:4010\n")
	ping := startTool(t, "ping", "-n", "-c", "3", "-i", "0.2", "-w", "20", "10.9.0.2")
	require.Equal(t, 0, ping.wait(t), "ping: %s%s", ping.stdout.String(), ping.stderr.String())
	assert.Contains(t, ping.stdout.String(), "3 packets transmitted, 3 received")
	assert.Contains(t, ping.stdout.String(), "64 bytes from 10.9.0.2: icmp_seq=1 ttl=64")
	u.signal(t, syscall.SIGTERM)
	assert.Equal(t, 128+int(syscall.SIGTERM), u.wait(t))
}

// Mistakes give one line on stderr and exit 2 (usage) or 1 (runtime).
func TestErrors_OneLineAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		holdTUN  bool // another utcp holds the TUN name first
		args     []string
		wantCode int
		wantLine string
	}{
		{name: "bad port", args: []string{"listen", "99999"}, wantCode: 2,
			wantLine: `bad port "99999": want 1-65535`},
		{name: "port zero", args: []string{"dial", "10.9.0.1", "0"}, wantCode: 2,
			wantLine: `bad port "0": want 1-65535`},
		{name: "TUN name in use", holdTUN: true, args: []string{"listen", "4012"}, wantCode: 1,
			wantLine: "TUN device utcpt11 already exists (another utcp running?); pick another with --tun"},
		// No other TUN device may be up here: the kernel would route its RST
		// to 10.9.0.2 through that one.
		{name: "connection refused", args: []string{"dial", "10.9.0.1", "4013"}, wantCode: 1,
			wantLine: "connect to 10.9.0.1:4013: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const tunDev = "utcpt11"
			var holder *proc
			if tc.holdTUN {
				holder = startUtcp(t, tunDev, "listen", "4011")
				holder.waitStderr(t, "listening on 10.9.0.2:4011\n")
			}
			u := startUtcp(t, tunDev, tc.args...)
			assert.Equal(t, tc.wantCode, u.wait(t))
			assert.Equal(t, []string{tc.wantLine}, lines(u.stderr.String()), "one line on stderr")
			assert.Empty(t, u.stdout.String())
			if holder != nil {
				assert.False(t, holder.exited(), "the first utcp is not disturbed")
				holder.signal(t, syscall.SIGTERM)
				assert.Equal(t, 128+int(syscall.SIGTERM), holder.wait(t))
			}
			requireNoLink(t, tunDev)
		})
	}
}
