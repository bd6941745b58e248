package netsim

import (
	"encoding/binary"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Impairment.MTU drops packets longer than it without a word (a PMTU
// black hole) and passes the others unchanged.
func TestPath_MTUBlackHole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, err := NewPath(1500, Impairment{MTU: 1280}, Impairment{})
		require.NoError(t, err)
		defer a.Close()
		for i, size := range []int{1500, 1280, 1281, 40} {
			require.NoError(t, a.WritePacket(packet(uint32(i), size)))
		}
		buf := make([]byte, 1500)
		for _, want := range []struct {
			n    uint32
			size int
		}{{1, 1280}, {3, 40}} {
			n, err := b.ReadPacket(buf)
			require.NoError(t, err)
			assert.Equal(t, want.n, binary.BigEndian.Uint32(buf))
			assert.Equal(t, want.size, n)
		}
		assert.Equal(t, Stats{Sent: 4, Delivered: 2, TooBig: 2}, a.Stats())
	})
	_, _, err := NewPath(1500, Impairment{MTU: -1}, Impairment{})
	assert.ErrorIs(t, err, ErrInvalid, "a negative MTU")
}
