//go:build !linux

package tcp

import "syscall"

// errNoNet is ENONET where the system has it (errno_linux.go); elsewhere
// "source host isolated" reads as the host being unreachable.
const errNoNet = syscall.EHOSTUNREACH
