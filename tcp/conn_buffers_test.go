package tcp

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shutWindowPair connects A to B, whose 16 KiB receive buffer does not
// grow, so that B's window shuts while it does not read; A's send buffer
// is sndBuf octets, fixed, when non-zero. cb is closed by the cleanup.
func shutWindowPair(t *testing.T, sndBuf int) (p *pair, ca, cb *Conn) {
	cfgA, cfgB := fastConfig(addrA), fastConfig(addrB)
	cfgB.RecvBuffer, cfgB.RecvBufferMax = 16<<10, -1
	if sndBuf > 0 {
		cfgA.SendBuffer, cfgA.SendBufferMax = sndBuf, -1
	}
	p = newPair(t, cfgA, cfgB)
	ca, cb = p.connect(t, 80)
	t.Cleanup(func() { cb.Close() })
	return p, ca, cb
}

// readToError reads c until an error and returns the octets and the error.
func readToError(c *Conn) (int, error) {
	n, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	return int(n), err
}

func TestConn_SetLinger(t *testing.T) {
	tests := []struct {
		name      string
		sec       int
		peerReads bool          // B reads (else its 16 KiB window stays shut)
		blocks    time.Duration // how long Close blocks
		wantState State         // A's state once Close returns
		peerErr   error         // what B's reads end with
	}{
		{"default: at once, data and FIN in the background", -1, true, 0, StateFinWait1, io.EOF},
		{"0: discard and reset", 0, true, 0, StateClosed, syscall.ECONNRESET},
		{"5: waits for the ACK of the FIN", 5, true, 0, StateFinWait2, io.EOF},
		{"2: the window stays shut, reset after 2 s", 2, false, 2 * time.Second, StateClosed, syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, ca, cb := shutWindowPair(t, 0)
				data := bytes.Repeat([]byte("linger"), 20000) // 120 KB: more than B's window
				n, err := ca.Write(data)
				require.NoError(t, err)
				require.Equal(t, len(data), n)
				require.NoError(t, ca.SetLinger(tt.sec))

				peer := make(chan error, 1)
				got := make(chan int, 1)
				if tt.peerReads {
					go func() {
						n, err := readToError(cb)
						got <- n
						peer <- err
					}()
				}
				start := time.Now()
				require.NoError(t, ca.Close())
				if tt.sec == 5 {
					assert.Less(t, time.Since(start), 5*time.Second, "Close blocked until the ACK")
				} else {
					assert.Equal(t, tt.blocks, time.Since(start), "Close blocked")
				}
				assert.Equal(t, tt.wantState, ca.State())
				if !tt.peerReads {
					synctest.Wait()
					_, err := cb.Write([]byte("x"))
					assert.ErrorIs(t, err, tt.peerErr)
					return
				}
				err = <-peer
				if tt.peerErr == io.EOF {
					assert.Equal(t, io.EOF, err)
					assert.Equal(t, len(data), <-got, "every octet before the FIN")
				} else {
					assert.ErrorIs(t, err, tt.peerErr)
				}
			})
		})
	}
}

func TestConn_SetReadWriteBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, fastConfig(addrA), fastConfig(addrB))
		ca, cb := p.connect(t, 80)
		defer ca.Close()
		defer cb.Close()
		require.NoError(t, ca.SetWriteBuffer(8<<10))
		require.NoError(t, cb.SetReadBuffer(16<<10))
		assert.Equal(t, 8<<10, ca.Info().SendBuffer)
		assert.Equal(t, 65535, cb.Info().RecvBuffer, "the window the SYN-ACK offered is kept (SHLD-14)")
		transfer(t, ca, cb, 1<<20, 7)
		assert.Equal(t, 8<<10, ca.Info().SendBuffer, "no growth with cwnd")
		assert.Equal(t, 16<<10, cb.Info().RecvBuffer, "the smaller size, reached once the window offered was used; no autotuning")
		assert.LessOrEqual(t, cb.Info().RcvWnd, uint32(16<<10))

		assert.ErrorIs(t, ca.SetReadBuffer(0), syscall.EINVAL)
		assert.ErrorIs(t, ca.SetWriteBuffer(-1), syscall.EINVAL)
		require.NoError(t, cb.Close())
		assert.ErrorIs(t, cb.SetReadBuffer(1024), net.ErrClosed)
		assert.ErrorIs(t, cb.SetLinger(1), net.ErrClosed)
	})
}

// A Write blocked on a full buffer goes on when SetWriteBuffer grows it.
func TestConn_SetWriteBufferWakesWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ca, _ := shutWindowPair(t, 16<<10)
		defer ca.Close()
		wrote := make(chan int, 1)
		go func() {
			n, _ := ca.Write(make([]byte, 40<<10))
			wrote <- n
		}()
		synctest.Wait()
		select {
		case n := <-wrote:
			t.Fatalf("Write returned %d with the peer's window and the buffer full", n)
		default:
		}
		require.NoError(t, ca.SetWriteBuffer(64<<10))
		assert.Equal(t, 40<<10, <-wrote)
	})
}
