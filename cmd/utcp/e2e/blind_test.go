package e2e

import (
	"crypto/sha256"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/ip"
	"github.com/utcp/utcp/tcp"
)

// RFC 5961 end to end: while the kernel sends utcp several MiB, a blind
// attacker in the namespace injects 10k RSTs, SYNs and data segments with
// random SEQ and ACK toward utcp, with the kernel side's four-tuple (its
// address 10.9.0.1 as the source), through a raw socket; half carry a
// guessed timestamp, so that PAWS lets some through to the RFC 5961
// checks. The transfer completes intact and the challenge ACKs stay
// within their throttle.
func TestBlindInjectionDuringTransfer_RFC5961(t *testing.T) {
	const (
		size     = 8 << 20
		chunk    = 64 << 10
		inject   = 10_000
		port     = 4090
		fromPort = 45090
	)
	st := stackOnTUN(t, "utcpt9", tcp.Config{})
	ln, err := st.Listen(port)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })

	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW) // IP_HDRINCL implied
	require.NoError(t, err, "a raw socket in the private namespace")
	t.Cleanup(func() { unix.Close(raw) })
	to := &unix.SockaddrInet4{Addr: utcpIP.As4()}

	body := make([]byte, size)
	_, err = io.ReadFull(newPattern(9), body)
	require.NoError(t, err)

	k := dialKernel(t, utcpAt(port), fromPort)
	t.Cleanup(func() { k.Close() })
	c, err := ln.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	type result struct {
		sum [32]byte
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = int(n), err
		got <- r
	}()

	// The guessed segments, spread over the transfer: a share after each chunk.
	rng := mrand.New(mrand.NewPCG(9, 5961))
	src, dst := netip.AddrPortFrom(kernelIP, fromPort), utcpAt(port)
	var segBuf, pkt []byte
	sent := map[string]int{}
	injectSome := func(n int) {
		for range n {
			seg := tcp.Segment{SrcPort: src.Port(), DstPort: dst.Port(), Seq: tcp.Seq(rng.Uint32()), Ack: tcp.Seq(rng.Uint32()), Window: 65535}
			kind := [...]string{"RST", "SYN", "data"}[rng.IntN(3)]
			switch kind {
			case "RST":
				seg.Flags = tcp.FlagRST
			case "SYN":
				seg.Flags = tcp.FlagSYN
			case "data":
				seg.Flags = tcp.FlagACK | tcp.FlagPSH
				seg.Payload = []byte("guessed data, never to be delivered")
			}
			if rng.IntN(2) == 0 {
				// A guessed timestamp: half of them pass PAWS (RFC 7323 §5)
				// and reach the checks of RFC 5961; without one, a segment
				// other than a RST is dropped at once (RFC 7323 §3.2).
				seg.Options = tcp.Options{HasTimestamp: true, TSVal: rng.Uint32(), TSEcr: rng.Uint32()}
			}
			segBuf = tcp.AppendSegment(segBuf[:0], &seg, src.Addr(), dst.Addr())
			pkt = ip.AppendPacket(pkt[:0], &ip.Header{TTL: 64, Protocol: ip.ProtoTCP, Src: src.Addr(), Dst: dst.Addr()}, segBuf)
			require.NoError(t, unix.Sendto(raw, pkt, 0, to), "inject a segment")
			sent[kind]++
			if (sent["RST"]+sent["SYN"]+sent["data"])%16 == 0 {
				time.Sleep(200 * time.Microsecond) // room in the TUN device's queue
			}
		}
	}
	start := time.Now()
	chunks := size / chunk
	for i := range chunks {
		_, err := k.Write(body[i*chunk : (i+1)*chunk])
		require.NoError(t, err, "the kernel's send, chunk %d", i)
		injectSome(inject/chunks + boolInt(i < inject%chunks))
	}
	require.NoError(t, k.CloseWrite())

	select {
	case r := <-got:
		require.NoError(t, r.err)
		assert.Equal(t, size, r.n, "every octet arrives, and only those")
		assert.Equal(t, sha256.Sum256(body), r.sum, "SHA-256 of what arrived")
	case <-time.After(2 * waitTimeout):
		t.Fatal("the transfer did not complete")
	}
	cs := c.Stats()
	ss := st.Stats()
	t.Logf("injected %d RSTs, %d SYNs, %d data segments during %d MiB; challenge ACKs %d sent, %d throttled; %d segments dropped as unacceptable; out of order: %d held, %d dropped",
		sent["RST"], sent["SYN"], sent["data"], size>>20, cs.ChallengeACKs, cs.ChallengeACKsThrottled, cs.DroppedSegs, cs.OutOfOrder, cs.OutOfOrderDropped)
	t.Logf("dropped for the timestamps: %d without one, %d by PAWS; stack: %d segments in (%d of the connection's own), %d out, %d RSTs for no connection",
		cs.TSMissing, cs.PAWSRejected, ss.SegsIn, cs.SegsIn, ss.SegsOut, ss.NoPort)
	assert.Equal(t, inject, sent["RST"]+sent["SYN"]+sent["data"])
	// RFC 5961 §7: at most 10 per 5 s per connection.
	periods := int(time.Since(start)/(5*time.Second)) + 1
	assert.Positive(t, cs.ChallengeACKsThrottled, "the SYNs alone go past the throttle")
	assert.LessOrEqual(t, int(cs.ChallengeACKs), 10*periods, "challenge ACKs over %d periods of 5 s", periods)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
