package tcp

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 5961: an attacker who does not see the connection's segments sends
// RSTs, SYNs and data with guessed numbers at an established connection,
// mixed into a live transfer. The connection survives, the challenge ACKs
// stay within their per-connection throttle (§7), data whose ACK falls
// outside the acceptable range (§5.2) is never delivered, even when its
// SEQ is right, and what the host sends in answer is bounded by what it
// receives.
func TestHost_BlindFlood_RFC5961(t *testing.T) {
	const perKind = 3000 // RSTs, SYNs and data segments each
	r := newHostRig(t, nil)
	r.listen(80)
	c := r.open(40000)
	peer := netip.AddrPortFrom(peerAddr, 40000)
	rng := rand.New(rand.NewPCG(9, 61))

	kinds := make([]byte, 0, 3*perKind)
	for _, k := range []byte{'R', 'S', 'D'} {
		kinds = append(kinds, bytes.Repeat([]byte{k}, perKind)...)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	start := r.now
	var legit, got bytes.Buffer
	legitSeq := Seq(5001)
	evil := bytes.Repeat([]byte("EVIL"), 25)
	answers, acksForLegit := 0, 0
	buf := make([]byte, 64<<10)
	for i, k := range kinds {
		r.now = r.now.Add(time.Millisecond)
		seg := Segment{SrcPort: 40000, DstPort: 80, Window: 65535, Seq: Seq(rng.Uint32()), Ack: Seq(rng.Uint32())}
		switch k {
		case 'R':
			seg.Flags = FlagRST
			if rng.IntN(2) == 0 {
				seg.Flags |= FlagACK
			}
		case 'S':
			seg.Flags = FlagSYN
		case 'D':
			seg.Flags = FlagACK | FlagPSH
			seg.Payload = evil
			if rng.IntN(2) == 0 {
				// The worst case: the SEQ guessed right, the ACK not.
				seg.Seq = c.rcv.nxt
				for acceptableAck(c, seg.Ack) {
					seg.Ack = Seq(rng.Uint32())
				}
			}
		}
		require.False(t, k == 'R' && seg.Seq == c.rcv.nxt, "a guessed RST at RCV.NXT would be right: pick another seed")
		r.h.input(r.now, peer.Addr(), hostAddr, &seg)
		answers += len(r.flush())

		if i%50 == 0 { // the transfer goes on
			p := make([]byte, 100)
			for j := range p {
				p[j] = byte('a' + (i+j)%26)
			}
			legit.Write(p)
			seg := Segment{SrcPort: 40000, DstPort: 80, Window: 65535, Seq: legitSeq, Ack: c.snd.nxt, Flags: FlagACK | FlagPSH, Payload: p}
			legitSeq = legitSeq.Add(100)
			r.h.input(r.now, peer.Addr(), hostAddr, &seg)
			acksForLegit += len(r.flush())
			n, err := c.receive(buf)
			require.NoError(t, err)
			got.Write(buf[:n])
			r.h.touch(r.now, c)
			r.flush()
		}
		require.Equal(t, StateEstablished, c.state, "segment %d (%c) ended the connection", i, k)
	}
	n, _ := c.receive(buf)
	got.Write(buf[:n])
	assert.Equal(t, legit.Bytes(), got.Bytes(), "exactly the transfer's data was delivered")
	assert.Zero(t, c.stats.RecvQueued)
	require.Same(t, c, r.h.conns[c.id], "the connection is still in the table")

	st := c.Stats()
	periods := int(r.now.Sub(start)/challengeACKPeriod) + 1
	t.Logf("%d segments guessed over %v: %d answers; challenge ACKs %d sent, %d throttled; %d dropped as unacceptable",
		len(kinds), r.now.Sub(start), answers, st.ChallengeACKs, st.ChallengeACKsThrottled, st.DroppedSegs)
	assert.LessOrEqual(t, int(st.ChallengeACKs), periods*challengeACKLimit, "§7: at most %d per %v", challengeACKLimit, challengeACKPeriod)
	assert.Positive(t, st.ChallengeACKsThrottled)
	// Every SYN, and every in-window RST and bad-ACK data segment, asks for
	// a challenge ACK; all but the budget's are throttled.
	assert.GreaterOrEqual(t, int(st.ChallengeACKs+st.ChallengeACKsThrottled), perKind)
	assert.LessOrEqual(t, answers, len(kinds), "at most one answer per guessed segment")
	assert.Zero(t, st.OutOfOrder, "no guessed data was held out of order")
}

// acceptableAck reports whether ack passes the fifth check's range for c:
// SND.UNA - MAX.SND.WND <= ack <= SND.NXT (RFC 5961 §5.2).
func acceptableAck(c *tcb, ack Seq) bool {
	return ack.GreaterThanEq(c.snd.una.Add(-c.snd.maxWnd)) && ack.LessThanEq(c.snd.nxt)
}
