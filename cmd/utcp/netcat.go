package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"

	"github.com/utcp/utcp/tcp"
)

// copyBufSize is the size of the chunks copied between stdio and a connection.
const copyBufSize = 32 << 10

// timeWaitLine is printed once when utcp closed first and waits out TIME-WAIT.
const timeWaitLine = "TIME-WAIT: holding the connection for 2×MSL so a lost final ACK can be repeated; Ctrl-C to skip"

// listenOn starts the listener of listen, echo and http and announces it.
func (s *session) listenOn() (*tcp.Listener, error) {
	ln, err := s.stack.Listen(s.o.port)
	if err != nil {
		return nil, fmt.Errorf("listen on %v: %s", netip.AddrPortFrom(s.o.addr, s.o.port), describe(err))
	}
	if s.o.addr6.IsValid() {
		fmt.Fprintf(s.stderr, "listening on %v and %v\n", ln.Addr(), netip.AddrPortFrom(s.o.addr6, ln.Port()))
	} else {
		fmt.Fprintf(s.stderr, "listening on %v\n", ln.Addr())
	}
	return ln, nil
}

// acceptEach listens and hands each connection to handle until handle
// says stop, the listener fails, or ctx ends (which closes the listener).
func (s *session) acceptEach(ctx context.Context, handle func(ln *tcp.Listener, c *tcp.Conn) (stop bool, err error)) error {
	ln, err := s.listenOn()
	if err != nil {
		return err
	}
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("accept: %s", describe(err))
		}
		if done, err := handle(ln, c); done || err != nil {
			return err
		}
	}
}

// listen is `utcp listen`: like nc -l, accept a connection and join it to
// stdin and stdout; with -k, one connection after another.
func (s *session) listen(ctx context.Context) error {
	return s.acceptEach(ctx, func(ln *tcp.Listener, c *tcp.Conn) (bool, error) {
		if !s.o.keepOpen {
			// As nc -l: one connection; SYNs to the port are refused from now on.
			ln.Close()
			fmt.Fprintf(s.stderr, "connection from %v\n", c.RemoteAddr())
			return true, s.converse(ctx, c, true)
		}
		fmt.Fprintf(s.stderr, "connection from %v\n", c.RemoteAddr())
		if err := s.converse(ctx, c, false); err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			fmt.Fprintln(s.stderr, oneLine(err.Error())) // -k goes on with the next connection
		}
		return false, nil
	})
}

// dial is `utcp dial`: like nc HOST PORT, connect and join the connection
// to stdin and stdout.
func (s *session) dial(ctx context.Context) error {
	to := netip.AddrPortFrom(s.o.host, s.o.port)
	dctx := ctx
	if s.o.timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, s.o.timeout)
		defer cancel()
	}
	c, err := s.stack.DialAddrPort(dctx, to)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("connect to %v: %s", to, describe(err))
	}
	fmt.Fprintf(s.stderr, "connected to %v from %v\n", to, c.LocalAddr())
	return s.converse(ctx, c, true)
}

// converse copies c to stdout and stdin to c until both directions are
// closed: the peer's FIN (or an error) ends the first, EOF on stdin ends
// the second with a FIN (CloseWrite). Then it closes c and, if wait is
// set, waits until the stack has let go of it: at once after LAST-ACK,
// after 2×MSL in TIME-WAIT. When ctx ends it resets c.
func (s *session) converse(ctx context.Context, c *tcp.Conn, wait bool) error {
	in := s.stdinChunks()
	readDone := make(chan error, 1)
	writeDone := make(chan error, 1)
	dead := make(chan struct{}) // the connection failed: stop sending stdin
	go func() { readDone <- s.copyToStdout(c) }()
	go func() { writeDone <- copyFromStdin(ctx, c, in, dead) }()

	var first error // the first failure, which ends both directions
	fail := func(err error) {
		if err != nil && first == nil {
			first = err
			close(dead)
			c.Abort() // RFC 9293 §3.10.5: reset, or stdout is gone: reset the peer
		}
	}
	for readDone != nil || writeDone != nil {
		select {
		case err := <-readDone:
			readDone = nil
			fail(err)
		case err := <-writeDone:
			writeDone = nil
			fail(err)
		case <-ctx.Done():
			c.Abort() // interrupted: reset the peer
			if readDone != nil {
				<-readDone
			}
			if writeDone != nil {
				<-writeDone
			}
			return ctx.Err()
		}
	}
	if first != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se stdoutError
		if errors.As(first, &se) {
			why := se.err.Error()
			var errno syscall.Errno
			if errors.As(se.err, &errno) {
				why = errno.Error()
			}
			return fmt.Errorf("stdout: %s; connection with %v reset", why, c.RemoteAddr())
		}
		return fmt.Errorf("%v: %s", c.RemoteAddr(), describe(first))
	}
	c.Close() // both directions are closed; the stack finishes the close
	if !wait {
		return nil
	}
	switch c.State() {
	case tcp.StateTimeWait, tcp.StateClosing, tcp.StateFinWait1, tcp.StateFinWait2:
		// utcp sent its FIN first (RFC 9293 §3.6.1): TIME-WAIT follows.
		fmt.Fprintln(s.stderr, timeWaitLine)
	}
	if err := s.stack.Wait(ctx); err != nil {
		return err
	}
	if s.o.verbose {
		fmt.Fprintf(s.stderr, "connection %v-%v: %s\n", c.LocalAddr(), c.RemoteAddr(), counters(c.Stats()))
		fmt.Fprintf(s.stderr, "connection %v-%v info: %s\n", c.LocalAddr(), c.RemoteAddr(), counters(c.Info()))
	}
	return nil
}

// stdoutError is a failure to write stdout (a closed pipe), as opposed to
// one of the connection.
type stdoutError struct{ err error }

func (e stdoutError) Error() string { return "write stdout: " + e.err.Error() }
func (e stdoutError) Unwrap() error { return e.err }

// copyToStdout writes what c receives to stdout, each chunk at once, until
// the peer's FIN (nil) or an error.
func (s *session) copyToStdout(c *tcp.Conn) error {
	buf := make([]byte, copyBufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := s.stdout.Write(buf[:n]); werr != nil {
				return stdoutError{werr}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copyFromStdin sends the chunks of stdin on c and half-closes c at EOF.
func copyFromStdin(ctx context.Context, c *tcp.Conn, in <-chan []byte, dead <-chan struct{}) error {
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return c.CloseWrite() // stdin EOF: our FIN, RFC 9293 §3.10.4
			}
			if _, err := c.Write(b); err != nil {
				return err
			}
		case <-dead:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// stdinChunks starts, once, the goroutine that reads stdin, and returns
// the channel of its chunks, closed at EOF. With listen -k the connections
// take their turns on it.
func (s *session) stdinChunks() <-chan []byte {
	s.stdinOnce.Do(func() {
		ch := make(chan []byte)
		s.stdinCh = ch
		go func() {
			defer close(ch)
			// Two buffers in turn: the channel is unbuffered and the
			// reader of a chunk is done with it (Write has copied it into
			// the send buffer) before it takes the next, so the buffer sent
			// two chunks ago is free again. No allocation per chunk.
			bufs := [2][]byte{make([]byte, copyBufSize), make([]byte, copyBufSize)}
			for i := 0; ; i ^= 1 {
				buf := bufs[i]
				n, err := s.stdin.Read(buf)
				if n > 0 {
					select {
					case ch <- buf[:n]:
					case <-s.done:
						return
					}
				}
				if err != nil {
					if err != io.EOF {
						fmt.Fprintf(s.stderr, "stdin: %s; treating it as EOF\n", describe(err))
					}
					return
				}
			}
		}()
	})
	return s.stdinCh
}
