package tun_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// readStep is what one Read of a fakeWG returns.
type readStep struct {
	pkts  [][]byte // written at bufs[i][offset:]
	sizes []int    // if set, reported instead of the packets' lengths
	n     *int     // if set, returned instead of len(pkts)
	err   error
}

// fakeWG is an in-memory wireguard-go-style device with scripted reads. Like
// wireguard-go's devices it needs headroom: 4 octets on Read (macOS), 10 on
// Write (Linux's virtio-net header), and it overwrites them.
type fakeWG struct {
	mtu, batch int
	reads      chan readStep
	done       chan struct{}
	closeOnce  sync.Once

	mu       sync.Mutex
	readN    int        // Read calls
	offsets  []int      // of every call
	writes   [][][]byte // the packets of every Write call
	writeErr func(call int, n int) (int, error)
}

func newFakeWG(mtu, batch int) *fakeWG {
	return &fakeWG{mtu: mtu, batch: batch, reads: make(chan readStep, 16), done: make(chan struct{})}
}

func (d *fakeWG) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.mu.Lock()
	d.readN++
	d.offsets = append(d.offsets, offset)
	d.mu.Unlock()
	if offset < 4 {
		return 0, io.ErrShortBuffer
	}
	var st readStep
	select {
	case st = <-d.reads:
	case <-d.done:
		return 0, os.ErrClosed
	}
	for i, p := range st.pkts {
		copy(bufs[i][offset-4:offset], "\xde\xad\xbe\xef")
		sizes[i] = copy(bufs[i][offset:], p)
		if st.sizes != nil {
			sizes[i] = st.sizes[i]
		}
	}
	n := len(st.pkts)
	if st.n != nil {
		n = *st.n
	}
	return n, st.err
}

func (d *fakeWG) Write(bufs [][]byte, offset int) (int, error) {
	if offset < 10 {
		return 0, io.ErrShortBuffer
	}
	var pkts [][]byte
	for _, b := range bufs {
		pkts = append(pkts, bytes.Clone(b[offset:]))
		for i := range b[:offset] {
			b[i] = 0xff // a virtio-net header
		}
		b[offset] ^= 0xff // GRO may rewrite the packet too
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offsets = append(d.offsets, offset)
	d.writes = append(d.writes, pkts)
	if d.writeErr != nil {
		return d.writeErr(len(d.writes), len(bufs))
	}
	return len(bufs), nil
}

func (d *fakeWG) MTU() (int, error) { return d.mtu, nil }
func (d *fakeWG) BatchSize() int    { return d.batch }
func (d *fakeWG) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	return nil
}

func intp(n int) *int { return &n }

// readAll reads one ReadPackets call into k buffers of size sz.
func readBatch(t *testing.T, l *tun.WGLink, k, sz int) ([][]byte, error) {
	t.Helper()
	bufs, sizes := make([][]byte, k), make([]int, k)
	for i := range bufs {
		bufs[i] = make([]byte, sz)
	}
	n, err := l.ReadPackets(bufs, sizes)
	var out [][]byte
	for i := range n {
		out = append(out, bufs[i][:sizes[i]])
	}
	return out, err
}

func newWG(t *testing.T, mtu, batch int) (*fakeWG, *tun.WGLink) {
	t.Helper()
	d := newFakeWG(mtu, batch)
	l, err := tun.WireGuard(d)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return d, l
}

func TestWGLink_ReadBatchesWithHeadroom(t *testing.T) {
	d, l := newWG(t, 1420, 8)
	assert.Equal(t, 1420, l.MTU())
	assert.Equal(t, 8, l.BatchSize())
	d.reads <- readStep{pkts: [][]byte{{1}, {2, 2}, {3, 3, 3}}}
	got, err := readBatch(t, l, 8, 1420)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{1}, {2, 2}, {3, 3, 3}}, got, "the packets without the headroom in front")
	assert.Equal(t, []int{tun.WGHeadroom}, d.offsets, "Read gets wireguard-go's 16-octet offset")

	// Fewer buffers than packets: the rest come from the same device Read.
	d.reads <- readStep{pkts: [][]byte{{4}, {5}, {6}}}
	got, err = readBatch(t, l, 2, 1420)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{4}, {5}}, got)
	got, err = readBatch(t, l, 2, 1420)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{6}}, got, "a call returns what is pending without blocking for more")
	buf := make([]byte, 100)
	d.reads <- readStep{pkts: [][]byte{{7}, {8}}}
	n, err := l.ReadPacket(buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{7}, buf[:n])
	n, err = l.ReadPacket(buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{8}, buf[:n], "ReadPacket shares the pending packets")
	assert.Equal(t, 3, d.readN, "one device Read per batch")
}

func TestWGLink_ReadShortAndOddPackets(t *testing.T) {
	d, l := newWG(t, 100, 8)
	big := make([]byte, 101)
	d.reads <- readStep{pkts: [][]byte{{1}, {2}, {3}}, n: intp(2)}                       // a short read: two of three
	d.reads <- readStep{pkts: [][]byte{{}, big, {4}}}                                    // empty, over the MTU, fine
	d.reads <- readStep{pkts: [][]byte{{5}, {6}, {7}}, sizes: []int{-1, 1 << 20, 1}}     // sizes outside the buffer
	d.reads <- readStep{pkts: [][]byte{{8}}, n: intp(99)}                                // n beyond the buffers
	d.reads <- readStep{pkts: [][]byte{{9}, {10}}, err: errors.New("too many segments")} // cut short, goes on
	for _, want := range [][][]byte{{{1}, {2}}, {{4}}, {{7}}, {{8}}, {{9}, {10}}} {
		got, err := readBatch(t, l, 8, 100)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	st := l.Stats()
	// The empty packet, and the 7 slots past the one packet that n=99 claims
	// (the batch is 8).
	assert.Equal(t, uint64(1+7), st.Empty, "zero-length packets are skipped and counted")
	assert.Equal(t, uint64(1), st.TooBig, "a packet over the MTU is dropped and counted")
	assert.Equal(t, uint64(2), st.BadSize, "sizes outside the buffer are counted")
	assert.Equal(t, uint64(1), st.TooManySegments)

	// A packet longer than the caller's buffer is dropped too.
	d.reads <- readStep{pkts: [][]byte{{1, 2, 3}, {4}}}
	got, err := readBatch(t, l, 8, 2)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{4}}, got)
}

func TestWGLink_ReadErrorAfterItsPackets(t *testing.T) {
	d, l := newWG(t, 100, 4)
	boom := errors.New("boom")
	d.reads <- readStep{pkts: [][]byte{{1}}, err: boom}
	got, err := readBatch(t, l, 4, 100)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{1}}, got, "the packets of a failed Read are delivered first")
	_, err = readBatch(t, l, 4, 100)
	require.ErrorIs(t, err, boom)
	_, err = readBatch(t, l, 4, 100)
	require.ErrorIs(t, err, boom, "a failed device stays failed, as wireguard-go's own device stops")
}

func TestWGLink_CloseUnblocksRead(t *testing.T) {
	_, l := newWG(t, 100, 4)
	done := make(chan error)
	go func() {
		_, err := readBatch(t, l, 4, 100)
		done <- err
	}()
	waitBlockedIn(t, "(*fakeWG).Read")
	require.NoError(t, l.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
	_, err := l.ReadPacket(make([]byte, 100))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, l.WritePacket([]byte{1}), net.ErrClosed)
	assert.NoError(t, l.Close(), "Close again")
}

func TestWGLink_Write(t *testing.T) {
	d, l := newWG(t, 100, 2)
	pkts := [][]byte{{1}, make([]byte, 101), {3}, {4}, {5}}
	n, err := l.WritePackets(pkts)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "written or dropped")
	assert.Equal(t, [][][]byte{{{1}, {3}}, {{4}, {5}}}, d.writes, "BatchSize packets per device Write, the one over the MTU dropped")
	assert.Equal(t, []int{tun.WGHeadroom, tun.WGHeadroom}, d.offsets)
	assert.Equal(t, [][]byte{{1}, make([]byte, 101), {3}, {4}, {5}}, pkts, "the caller's packets are not touched")
	assert.Equal(t, uint64(1), l.Stats().TooBig)

	// A partial write: the device takes one packet of a call, then fails.
	d.writes = nil
	d.writeErr = func(call, n int) (int, error) { return 1, errors.New("ring full") }
	n, err = l.WritePackets([][]byte{{1}, make([]byte, 101), {3}, {4}})
	require.Error(t, err)
	assert.Equal(t, 2, n, "the first packet went and the second was dropped; the third is the first not sent")
	assert.Equal(t, uint64(1), l.Stats().WriteErrors)
	d.writeErr = func(call, n int) (int, error) { return 1 << 20, errors.New("bytes, not packets") }
	n, err = l.WritePackets([][]byte{{1}, {2}})
	require.Error(t, err)
	assert.Equal(t, 0, n, "a count that is not of packets counts as none sent")
	d.writeErr = func(call, n int) (int, error) { return 0, os.ErrClosed }
	assert.ErrorIs(t, l.WritePacket([]byte{1}), net.ErrClosed)
}

func TestWireGuard_BadMTU(t *testing.T) {
	_, err := tun.WireGuard(newFakeWG(20, 1))
	assert.ErrorIs(t, err, tun.ErrInvalidConfig)
	_, err = tun.WireGuard(mtuErrWG{newFakeWG(1420, 1)})
	assert.Error(t, err)
}

type mtuErrWG struct{ *fakeWG }

func (mtuErrWG) MTU() (int, error) { return 0, errors.New("no MTU") }

// pipeWG is a wireguard-go-style device over one end of a pipe: what a
// stack on a WGLink over it sends arrives at the other end.
type pipeWG struct {
	e     *tun.BatchPipeEnd
	batch int
	sub   [][]byte
}

func (d *pipeWG) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.sub = d.sub[:0]
	for _, b := range bufs {
		copy(b[:offset], "0123456789abcdef") // headroom the device uses
		d.sub = append(d.sub, b[offset:])
	}
	return d.e.ReadPackets(d.sub, sizes)
}

func (d *pipeWG) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if err := d.e.WritePacket(b[offset:]); err != nil {
			return i, err
		}
		clear(b[:offset])
	}
	return len(bufs), nil
}

func (d *pipeWG) MTU() (int, error) { return d.e.MTU(), nil }
func (d *pipeWG) BatchSize() int    { return d.batch }
func (d *pipeWG) Close() error      { return d.e.Close() }

// A utcp stack on the adapter, over a fake device joined by a pipe with
// loss and reordering to a utcp stack on the pipe's other end: data cross
// intact both ways.
func TestWGLink_StackTransfer(t *testing.T) {
	ea, eb := tun.Pipe(1420)
	ea.SetFaults(tun.Faults{Seed: 1, Loss: 0.01, Reorder: 0.02})
	eb.SetFaults(tun.Faults{Seed: 2, Loss: 0.01, Reorder: 0.02})
	wl, err := tun.WireGuard(&pipeWG{e: ea.Batch(16), batch: 16})
	require.NoError(t, err)
	a, err := tcp.NewStack(wl, tcp.Config{Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	b, err := tcp.NewStack(eb, tcp.Config{Addr: netip.MustParseAddr("10.0.0.2")})
	require.NoError(t, err)
	defer func() {
		a.Close()
		b.Close()
		wl.Close()
		eb.Close()
	}()
	ln, err := b.Listen(80)
	require.NoError(t, err)
	defer ln.Close()
	ca, err := a.Dial(netip.MustParseAddrPort("10.0.0.2:80"))
	require.NoError(t, err)
	cb, err := ln.AcceptTCP()
	require.NoError(t, err)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); hashTransfer(t, ca, cb, 1<<20, 1) }()
	go func() { defer wg.Done(); hashTransfer(t, cb, ca, 1<<20, 2) }()
	wg.Wait()
	require.NoError(t, ca.Close())
	require.NoError(t, cb.Close())
	assert.Zero(t, a.Stats().LinkWriteErrors)
	assert.Zero(t, wl.Stats().TooBig+wl.Stats().BadSize)
}

// hashTransfer sends n random octets from w to r, half-closes w, and checks
// that r reads them all, by SHA-256.
func hashTransfer(t *testing.T, w, r *tcp.Conn, n int, seed uint64) {
	want, got := sha256.New(), sha256.New()
	errc := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(seed, 0))
		buf := make([]byte, 16<<10)
		for left := n; left > 0; left -= len(buf) {
			buf = buf[:min(left, len(buf))]
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			want.Write(buf)
			if _, err := w.Write(buf); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.CloseWrite()
	}()
	m, err := io.Copy(got, r)
	assert.NoError(t, err)
	assert.NoError(t, <-errc)
	assert.Equal(t, int64(n), m)
	assert.Equal(t, fmt.Sprintf("%x", want.Sum(nil)), fmt.Sprintf("%x", got.Sum(nil)), "the data arrive intact (SHA-256)")
}

// steadyWG returns the same three packets on every Read and takes every
// Write, without allocating.
type steadyWG struct{}

func (steadyWG) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for i := range 3 {
		sizes[i] = copy(bufs[i][offset:], "\x45\x00\x00\x14")
	}
	return 3, nil
}
func (steadyWG) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (steadyWG) MTU() (int, error)                            { return 1420, nil }
func (steadyWG) BatchSize() int                               { return 8 }
func (steadyWG) Close() error                                 { return nil }

func TestWGLink_DoesNotAllocate(t *testing.T) {
	l, err := tun.WireGuard(steadyWG{})
	require.NoError(t, err)
	bufs, sizes := make([][]byte, 8), make([]int, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1420)
	}
	one := make([]byte, 1420)
	allocs := testing.AllocsPerRun(100, func() {
		n, err := l.ReadPackets(bufs, sizes)
		if err != nil || n == 0 {
			t.Fatalf("ReadPackets: %d, %v", n, err)
		}
		if _, err := l.WritePackets(bufs[:n]); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadPacket(one); err != nil {
			t.Fatal(err)
		}
		if err := l.WritePacket(one[:20]); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "reads and writes reuse the adapter's buffers")
}
