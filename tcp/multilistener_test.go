package tcp

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoShards is two pairs of stacks: the two B stacks, with the same
// address, stand for the stacks of a two-queue device.
func twoShards(t *testing.T) (p1, p2 *pair) {
	return newPair(t, fastConfig(addrA), fastConfig(addrB)), newPair(t, fastConfig(addrA), fastConfig(addrB))
}

// Each B stack on its own link as the queues of a multi-queue device; a
// client on each link dials the same port.
func TestMultiListener_AcceptsFromEveryStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p1, p2 := twoShards(t)
		m, err := ListenAll([]*Stack{p1.b, p2.b}, 0)
		require.NoError(t, err)
		port := m.Port()
		require.NotZero(t, port, "port 0 picks a port")
		require.Len(t, m.Listeners(), 2)
		for _, ln := range m.Listeners() {
			assert.Equal(t, port, ln.Port(), "every stack listens on the port the first picked")
		}
		assert.Equal(t, netip.AddrPortFrom(addrB, port).String(), m.Addr().String())

		to := netip.AddrPortFrom(addrB, port)
		for _, client := range []*Stack{p1.a, p2.a} {
			c, err := client.Dial(to)
			require.NoError(t, err)
			_, err = c.Write([]byte("x"))
			require.NoError(t, err)
			require.NoError(t, c.CloseWrite())
		}
		seen := map[*Stack]bool{}
		for range 2 {
			c, err := m.AcceptTCP()
			require.NoError(t, err)
			b, err := io.ReadAll(c)
			require.NoError(t, err)
			assert.Equal(t, "x", string(b))
			seen[c.s] = true
			c.Close()
		}
		assert.True(t, seen[p1.b] && seen[p2.b], "each stack's connection is accepted")

		require.NoError(t, m.Close())
		_, err = m.Accept()
		assert.ErrorIs(t, err, net.ErrClosed, "Accept after Close")
		assert.ErrorIs(t, m.Close(), net.ErrClosed, "a second Close reports the listener closed")
		_, err = p1.a.Dial(to)
		assert.Error(t, err, "Close closes every stack's listener")
	})
}

func TestMultiListener_CloseUnblocksAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p1, p2 := twoShards(t)
		m, err := ListenAll([]*Stack{p1.b, p2.b}, 80)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := m.Accept()
			done <- err
		}()
		synctest.Wait()
		require.NoError(t, m.Close())
		assert.ErrorIs(t, <-done, net.ErrClosed)
	})
}

func TestMultiListener_StackClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p1, p2 := twoShards(t)
		m, err := ListenAll([]*Stack{p1.b, p2.b}, 80)
		require.NoError(t, err)
		defer m.Close()
		require.NoError(t, p2.b.Close())
		for range 2 {
			_, err = m.Accept()
			assert.ErrorIs(t, err, net.ErrClosed, "a closed stack fails every Accept")
		}
	})
}

func TestListenAll_Errors(t *testing.T) {
	_, err := ListenAll(nil, 80)
	assert.Error(t, err, "no stacks")

	synctest.Test(t, func(t *testing.T) {
		p1, p2 := twoShards(t)
		taken, err := p2.b.Listen(80)
		require.NoError(t, err)
		defer taken.Close()
		_, err = ListenAll([]*Stack{p1.b, p2.b}, 80)
		require.Error(t, err, "the port is taken on the second stack")
		ln, err := p1.b.Listen(80)
		require.NoError(t, err, "a failed ListenAll closes the listeners it opened")
		ln.Close()
	})
}
