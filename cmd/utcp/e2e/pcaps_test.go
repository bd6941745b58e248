package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/tun/tuntest"
)

// updatePcaps makes TestMakePcaps record the captures of
// testdata/pcaps again: go test ./cmd/utcp/e2e -run TestMakePcaps -args -update-pcaps
var updatePcaps = flag.Bool("update-pcaps", false, "record testdata/pcaps/*.pcap* from kernel-to-kernel sessions")

// pcapDir holds the captures `utcp explain` is tested on, relative to this package.
const pcapDir = "../../../testdata/pcaps"

// pcapSnaplen keeps the headers and a little text of each packet, so the
// files stay small; explain counts the cut octets from the IP header.
const pcapSnaplen = 160

// TestMakePcaps records kernel-to-kernel TCP sessions over the loopback
// interface of the private namespace (its MTU set to 1500, as an
// Ethernet's), captured by an AF_PACKET socket, one file per session.
// Nothing shells out: the sessions are Go's net package, the kernel's TCP
// on both sides.
func TestMakePcaps(t *testing.T) {
	if !*updatePcaps {
		t.Skip("records the captures only with -update-pcaps")
	}
	tuntest.RequireNetns(t)
	lo, err := netlink.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, netlink.LinkSetMTU(lo, 1500), "the namespace's own lo")

	sessions := []struct {
		file string
		run  func(t *testing.T)
	}{
		{"request-response.pcap", sessionRequestResponse},
		{"refused.pcap", sessionRefused},
		{"half-close.pcap", sessionHalfClose},
		{"zero-window.pcap", sessionZeroWindow},
		{"keepalive.pcapng", sessionKeepAlive},
		{"ipv6-request-response.pcap", sessionIPv6},
	}
	for _, s := range sessions {
		t.Run(s.file, func(t *testing.T) {
			c := startCapture(t, lo.Attrs().Index)
			s.run(t)
			frames := c.stop(t)
			require.NotEmpty(t, frames, "the session's packets were captured")
			writeCapture(t, filepath.Join(pcapDir, s.file), frames)
		})
	}
}

// serveOne accepts one connection on ln and runs handle on it, then closes
// it; the channel carries handle's error.
func serveOne(ln net.Listener, handle func(net.Conn) error) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		err = handle(c)
		done <- errors.Join(err, c.Close())
	}()
	return done
}

// exchange dials addr, sends req (then its FIN if halfClose), reads to
// EOF, waits for the server and closes.
func exchange(t *testing.T, network, addr, req string, halfClose bool, done <-chan error) {
	c, err := net.Dial(network, addr)
	require.NoError(t, err)
	_, err = c.Write([]byte(req))
	require.NoError(t, err)
	if halfClose {
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
	}
	_, err = io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.NoError(t, c.Close())
}

// sessionRequestResponse: a request, a response, the server closes first.
func sessionRequestResponse(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:8080")
	require.NoError(t, err)
	defer ln.Close()
	done := serveOne(ln, func(c net.Conn) error {
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err == nil {
			_, err = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhello, " + string(bytes.TrimSpace(buf[:n])) + "\n"))
		}
		return err
	})
	exchange(t, "tcp4", "127.0.0.1:8080", "GET / HTTP/1.0\r\n\r\n", false, done)
}

// sessionRefused: a SYN to a port nobody listens on draws a RST.
func sessionRefused(t *testing.T) {
	_, err := net.Dial("tcp4", "127.0.0.1:9")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

// echoAfterFIN reads up to the client's FIN, then answers.
func echoAfterFIN(prefix string) func(net.Conn) error {
	return func(c net.Conn) error {
		got, err := io.ReadAll(c)
		if err == nil {
			_, err = c.Write(append([]byte(prefix), got...))
		}
		return err
	}
}

// sessionHalfClose: the client sends its request and its FIN; the server
// still sends a reply after that, then closes.
func sessionHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:7000")
	require.NoError(t, err)
	defer ln.Close()
	exchange(t, "tcp4", "127.0.0.1:7000", "half a conversation\n", true, serveOne(ln, echoAfterFIN("you said: ")))
}

// sessionZeroWindow: a receiver with a small buffer reads nothing for a
// while, so the sender meets a zero window and probes it; then it reads
// everything.
func sessionZeroWindow(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 2048) })
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:5001")
	require.NoError(t, err)
	defer ln.Close()
	const total = 64 << 10
	done := make(chan error, 1)
	start := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		<-start
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != total {
			err = io.ErrShortWrite
		}
		c.Close()
		done <- err
	}()
	c, err := net.Dial("tcp4", "127.0.0.1:5001")
	require.NoError(t, err)
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, total))
		wrote <- err
	}()
	// The sender blocks on the full window; the receiver reads after the
	// kernel has probed it a few times (its probes back off from 200 ms).
	select {
	case err := <-wrote:
		t.Fatalf("the write finished into a window that was never read: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	close(start)
	require.NoError(t, <-wrote)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	require.NoError(t, <-done)
	_, err = io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// sessionKeepAlive: an idle connection with keep-alive probes every 500 ms
// after 1 s idle, written as pcapng.
func sessionKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:6000")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: 500 * time.Millisecond, Count: 5}}
	c, err := d.Dial("tcp4", "127.0.0.1:6000")
	require.NoError(t, err)
	s := <-accepted
	require.NotNil(t, s)
	// Idle for 2.2 s: the read's deadline is the wait, two probes go out.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(2200*time.Millisecond)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.Close())
	_, err = io.ReadAll(s)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// sessionIPv6: a request, its FIN, the answer over ::1.
func sessionIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:8080")
	require.NoError(t, err)
	defer ln.Close()
	exchange(t, "tcp6", "[::1]:8080", "ping\n", true, serveOne(ln, echoAfterFIN("pong: ")))
}

// capturedFrame is one Ethernet frame lo carried, cut to pcapSnaplen.
type capturedFrame struct {
	at     time.Time
	data   []byte
	length int // the frame's length on the wire
}

// loCapture reads frames from an AF_PACKET socket bound to lo.
type loCapture struct {
	fd     int
	wg     sync.WaitGroup
	mu     sync.Mutex
	frames []capturedFrame
	stopCh chan struct{}
}

// startCapture opens the AF_PACKET socket and reads on a goroutine until stop.
func startCapture(t *testing.T, ifindex int) *loCapture {
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	require.NoError(t, err)
	require.NoError(t, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}))
	require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1))
	// A short receive timeout lets the reader notice stop.
	require.NoError(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000}))
	c := &loCapture{fd: fd, stopCh: make(chan struct{})}
	c.wg.Add(1)
	go c.read()
	return c
}

func (c *loCapture) read() {
	defer c.wg.Done()
	buf := make([]byte, 1<<16)
	oob := make([]byte, 128)
	for {
		select {
		case <-c.stopCh:
			return
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_TRUNC)
		if err != nil {
			continue // the timeout: look at stop again
		}
		// Loopback hands each packet to a packet socket twice, going out
		// and coming in: keep the incoming copy, as tcpdump does.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		at := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					at = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
				}
			}
		}
		keep := min(n, len(buf), pcapSnaplen)
		c.mu.Lock()
		c.frames = append(c.frames, capturedFrame{at: at, data: append([]byte(nil), buf[:keep]...), length: n})
		c.mu.Unlock()
	}
}

// stop waits until lo has been quiet for 300 ms (the last ACKs of a close),
// then ends the reader and returns the frames.
func (c *loCapture) stop(t *testing.T) []capturedFrame {
	count := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.frames)
	}
	for last := -1; last != count(); {
		last = count()
		quiet := time.NewTimer(300 * time.Millisecond)
		<-quiet.C
	}
	close(c.stopCh)
	c.wg.Wait()
	require.NoError(t, unix.Close(c.fd))
	return c.frames
}

// writeCapture writes frames as pcap or, for a .pcapng name, pcapng; both
// with the Ethernet link type lo has.
func writeCapture(t *testing.T, path string, frames []capturedFrame) {
	var buf bytes.Buffer
	if filepath.Ext(path) == ".pcapng" {
		w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "lo", LinkType: layers.LinkTypeEthernet, SnapLength: pcapSnaplen}, pcapgo.DefaultNgWriterOptions)
		require.NoError(t, err)
		for _, f := range frames {
			require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: f.length}, f.data))
		}
		require.NoError(t, w.Flush())
	} else {
		w := pcapgo.NewWriter(&buf)
		require.NoError(t, w.WriteFileHeader(pcapSnaplen, layers.LinkTypeEthernet))
		for _, f := range frames {
			require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: f.length}, f.data))
		}
	}
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	t.Logf("%s: %d packets, %d octets", path, len(frames), buf.Len())
}

// htons is v in network order, as the socket calls take it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
