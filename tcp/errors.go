package tcp

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// Errors of the Stack and Listener API. Connection errors are the errnos a
// kernel socket returns (syscall.ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...)
// inside a *net.OpError, so errors.Is works as it does with package net.
var (
	// ErrInvalidAddr is returned by NewStack and Dial for an address that
	// cannot be a connection endpoint: not IPv4, unspecified, multicast or
	// broadcast (RFC 9293 MUST-46).
	ErrInvalidAddr = errors.New("tcp: invalid address")
	// ErrNoPorts means every ephemeral port is in use: by Dial, toward that
	// remote address and port; by Listen(0), at all.
	ErrNoPorts = errors.New("tcp: no free ephemeral port")
)

// opError wraps err the way package net does: "read tcp 10.0.0.1:1->10.0.0.2:2: ...".
func opError(op string, local, remote net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: local, Addr: remote, Err: err}
}

// readError maps the core's RECEIVE result to what net.Conn.Read returns:
// io.EOF bare (as package net does), everything else an errno.
func readError(err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, errNoConnection):
		return syscall.ENOTCONN
	case errors.Is(err, errConnectionClosing):
		return io.EOF
	}
	return err
}

// writeError maps the core's SEND result to an errno: writing after our own
// FIN is EPIPE, as on Linux after shutdown(SHUT_WR).
func writeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errConnectionClosing), errors.Is(err, errNoConnection):
		return syscall.EPIPE
	}
	return err
}

// dialError maps why a handshake failed: the tcb's error (ECONNREFUSED
// after a RST, ETIMEDOUT after R2) or, when it has none, ECONNABORTED.
func dialError(err error) error {
	if err == nil {
		return syscall.ECONNABORTED
	}
	return err
}
