package tcp

import "sync/atomic"

// memAccount counts the buffer memory a stack's connections hold: what
// Config.MemoryLimit bounds and StackStats.BufferMemory reports. The loop
// writes it; Stats reads it from any goroutine. A nil account counts nothing.
type memAccount struct {
	used atomic.Int64
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
