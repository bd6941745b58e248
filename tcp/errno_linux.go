package tcp

import "syscall"

// errNoNet is what Linux reports for ICMP "source host isolated" (code 8).
const errNoNet = syscall.ENONET
