package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/utcp/utcp/tcp"
)

// echo is `utcp echo`: every connection gets its bytes back (RFC 862) and
// is closed once the peer's FIN has arrived and everything is echoed. It
// runs until ctx ends, then resets the connections still open.
func (s *session) echo(ctx context.Context) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = make(map[*tcp.Conn]struct{})
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Abort() // interrupted: reset the connections still open
		}
		mu.Unlock()
		wg.Wait()
	}()
	return s.acceptEach(ctx, func(_ *tcp.Listener, c *tcp.Conn) (bool, error) {
		fmt.Fprintf(s.stderr, "connection from %v\n", c.RemoteAddr())
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			s.echoConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		})
		return false, nil
	})
}

// echoBufs are the connections' copy buffers, reused from one connection
// to the next. On the heap: a 32 KiB buffer on the stack would double the
// goroutine's stack to 64 KiB for as long as the connection lasts.
var echoBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// echoConn echoes c until the peer's FIN, then sends its own.
func (s *session) echoConn(c *tcp.Conn) {
	b := echoBufs.Get().(*[copyBufSize]byte)
	defer echoBufs.Put(b)
	buf := b[:]
	var n int64
	for {
		k, err := c.Read(buf)
		if k > 0 {
			if _, werr := c.Write(buf[:k]); werr != nil {
				err = werr
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			c.Abort()
			if !isClosed(err) {
				fmt.Fprintf(s.stderr, "%v: %s after %d bytes\n", c.RemoteAddr(), describe(err), n)
			}
			return
		}
	}
	// The peer's FIN arrived and everything is queued: our FIN follows the
	// data (RFC 9293 §3.10.4); the stack finishes the close.
	c.CloseWrite()
	c.Close()
	if s.o.verbose {
		fmt.Fprintf(s.stderr, "%v: echoed %d bytes\n", c.RemoteAddr(), n)
	}
}
