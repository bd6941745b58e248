package tcp

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// memAccount counts the buffer memory a stack's connections hold: what
// Config.MemoryLimit bounds and StackStats.BufferMemory reports. The loop
// writes it; Stats reads it from any goroutine. A nil account counts nothing.
type memAccount struct {
	used  atomic.Int64
	limit int64 // Config.MemoryLimit; 0 for none
}

// pressure reports whether the account is over its limit: buffers then
// stop growing their capacity and the host admits no new connection.
func (a *memAccount) pressure() bool {
	return a != nil && a.limit > 0 && a.used.Load() > a.limit
}

func (a *memAccount) add(n int) {
	if a != nil {
		a.used.Add(int64(n))
	}
}

func (a *memAccount) load() int64 {
	if a == nil {
		return 0
	}
	return a.used.Load()
}

// What a connection costs beyond its buffers, for the account: a TCB with
// its congestion controller, its table entries and the Conn standing for
// it; and a TIME-WAIT record with its table entry.
const (
	connOverhead     = int(unsafe.Sizeof(tcb{})+unsafe.Sizeof(cubic{})+unsafe.Sizeof(Conn{})) + 256
	timeWaitOverhead = int(unsafe.Sizeof(timeWaitRecord{})) + 96
)

// roomForConn applies Config.MaxConns and Config.MemoryLimit to a new
// connection, and counts a refusal, with the reason for a SYN it drops.
// Connections already open are never touched: over a limit only new ones
// are refused.
func (h *host) roomForConn() (Reason, error) {
	switch {
	case h.cfg.MaxConns > 0 && len(h.conns) >= h.cfg.MaxConns:
		h.stats.refusedMaxConns.Add(1)
		return ReasonDropMaxConns, syscall.ENOBUFS
	case h.mem.pressure():
		h.stats.refusedMemory.Add(1)
		return ReasonDropMemoryLimit, syscall.ENOBUFS
	}
	return ReasonNone, nil
}
