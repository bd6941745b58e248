package tun_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// scriptWG is a device whose one Read reports the count and sizes a fuzz
// input gives, over buffers filled with a pattern, then fails for good.
type scriptWG struct {
	n     int
	sizes []int
	err   error
	used  bool
}

func (d *scriptWG) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if d.used {
		return 0, errors.New("script done")
	}
	d.used = true
	for i, b := range bufs {
		for j := range b {
			b[j] = byte(i + j - offset)
		}
		if i < len(d.sizes) {
			sizes[i] = d.sizes[i]
		}
	}
	return d.n, d.err
}

func (d *scriptWG) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (d *scriptWG) MTU() (int, error)                            { return 200, nil }
func (d *scriptWG) BatchSize() int                               { return 4 }
func (d *scriptWG) Close() error                                 { return nil }

// FuzzWGLinkRead feeds the adapter any count, sizes and error a device may
// report: it never panics, and every packet it returns is one the device
// wrote, whole, within the MTU and the caller's buffer.
func FuzzWGLinkRead(f *testing.F) {
	f.Add([]byte{2, 0, 10, 0, 20})
	f.Add([]byte{0x7f, 0xff, 0xff, 0, 0, 0x10, 0})
	f.Add([]byte{0x83, 0, 201, 0, 1, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 {
			return
		}
		d := &scriptWG{n: int(int8(script[0]))}
		if d.n&1 != 0 {
			d.err = errors.New("too many segments")
		}
		for rest := script[1:]; len(rest) >= 2; rest = rest[2:] {
			d.sizes = append(d.sizes, int(int16(binary.BigEndian.Uint16(rest))))
		}
		l, err := tun.WireGuard(d)
		require.NoError(t, err)
		bufs, sizes := [][]byte{make([]byte, 150), make([]byte, 200), make([]byte, 10)}, make([]int, 3)
		for range 3 {
			n, err := l.ReadPackets(bufs, sizes)
			require.True(t, n >= 0 && n <= len(bufs))
			for i := range n {
				p := bufs[i][:sizes[i]]
				require.NotEmpty(t, p)
				require.LessOrEqual(t, len(p), 200)
				// Slot k of the device starts with byte k: a whole packet from its start.
				for j := 1; j < len(p); j++ {
					require.Equal(t, p[0]+byte(j), p[j])
				}
			}
			if err != nil {
				break
			}
		}
	})
}
