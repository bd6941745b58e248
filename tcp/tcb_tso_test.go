package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tsoCore is an established connection to a peer with an MSS of 1000 on a
// link that cuts up segments of up to 64000 payload octets (TSO).
func tsoCore(t *testing.T, noDelay bool) *core {
	h := fixture(t, StateSynSent, false)
	h.c.tsoMax = 64000
	h.c.noDelay = noDelay
	h.must("S. 0:0(0) ack 1 win 65535 <mss 1000,sackOK>", ". 1:1(0) ack 1 win 65535")
	return h
}

// pieces lists each segment as its length and GSO size.
func pieces(segs []Segment) [][2]int {
	var out [][2]int
	for _, s := range segs {
		out = append(out, [2]int{len(s.Payload), int(s.GSOSize)})
	}
	return out
}

func TestTSO_OneSegmentForTheWindow(t *testing.T) {
	h := tsoCore(t, false)
	_, err := h.c.send(make([]byte, 30000))
	require.NoError(t, err)
	out := h.rawOut()
	// RFC 5681 §3.1 with RFC 6928: the initial window is 10 segments; the
	// link sends them, the TCB emits them as one.
	assert.Equal(t, [][2]int{{10000, 1000}}, pieces(out))
	assert.Equal(t, 10, h.c.snd.recs.len(), "recorded as the ten segments the link sends")
	assert.EqualValues(t, 10, h.c.stats.SegsOut-2, "counted as ten segments (after the SYN and the handshake's ACK)")
	for i := range h.c.snd.recs.len() {
		assert.EqualValues(t, 1000, h.c.snd.recs.at(i).length())
	}

	// The ACK of the first five opens room for five more (slow start: ten).
	segs := h.inRaw(testIRS+1, testISS+1+5000, FlagACK, "")
	assert.Equal(t, [][2]int{{10000, 1000}}, pieces(segs), "cwnd grew by 5 segments, 5 left the pipe")
}

func TestTSO_ShortTailWaitsForNagle_SHLD7(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noDelay bool
		want    [][2]int
	}{
		{"Nagle holds the short piece", false, [][2]int{{5000, 1000}}},
		{"without Nagle it goes with the rest", true, [][2]int{{5500, 1000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tsoCore(t, tc.noDelay)
			_, err := h.c.send(make([]byte, 5500))
			require.NoError(t, err)
			out := h.rawOut()
			assert.Equal(t, tc.want, pieces(out))
		})
	}
}

func TestTSO_FINOnTheLastPiece(t *testing.T) {
	h := tsoCore(t, false)
	_, err := h.c.send(make([]byte, 4000))
	require.NoError(t, err)
	h.c.close(h.now)
	out := h.rawOut()
	require.Len(t, out, 1)
	assert.True(t, out[0].Flags.Has(FlagFIN))
	assert.Equal(t, 4000, len(out[0].Payload))
	q := &h.c.snd.recs
	require.Equal(t, 4, q.len())
	last := q.at(3)
	assert.True(t, last.fin, "the FIN belongs to the last piece's record")
	assert.EqualValues(t, 1001, last.length())
}

// RFC 6675 and RFC 8985 see MSS-sized segments: a SACK for all but the
// first piece marks only that piece lost, and its retransmission is one
// ordinary segment.
func TestTSO_LossRepairsOnePiece_RFC6675(t *testing.T) {
	h := tsoCore(t, false)
	_, err := h.c.send(make([]byte, 10000))
	require.NoError(t, err)
	require.Len(t, h.rawOut(), 1)
	seg := Segment{SrcPort: 40000, DstPort: 80, Seq: testIRS + 1, Ack: testISS + 1, Flags: FlagACK, Window: 65535}
	seg.Options.SACKBlocks = []SACKBlock{{Left: testISS + 1001, Right: testISS + 10001}}
	h.c.segmentArrives(h.now, &seg)
	out := h.rawOut()
	require.NotEmpty(t, out)
	assert.Equal(t, testISS+1, out[0].Seq)
	assert.Equal(t, [2]int{1000, 0}, pieces(out)[0], "the lost piece alone, as an ordinary segment")
}

// After a timeout every piece is lost; slow start resends them as cwnd
// allows, adjacent ones as one TSO segment.
func TestTSO_RetransmissionsAfterTimeout_RFC5681(t *testing.T) {
	h := tsoCore(t, false)
	_, err := h.c.send(make([]byte, 10000))
	require.NoError(t, err)
	require.Len(t, h.rawOut(), 1)
	var out []Segment
	for h.c.stats.Timeouts == 0 { // past the tail-loss probe (RFC 8985 §7), to the RTO
		h.now = h.c.nextTimeout()
		h.c.handleTimeout(h.now)
		out = h.rawOut()
	}
	rtx := h.c.stats.Retransmits
	assert.Equal(t, [][2]int{{1000, 0}}, pieces(out), "RFC 5681 §3.1: cwnd is one segment after the RTO")
	out = h.inRaw(testIRS+1, testISS+1001, FlagACK, "")
	assert.Equal(t, [][2]int{{2000, 1000}}, pieces(out), "two segments' room: the next two lost pieces as one")
	require.NotEmpty(t, out)
	assert.Equal(t, testISS+1001, out[0].Seq)
	assert.EqualValues(t, 2, h.c.stats.Retransmits-rtx, "two segments went again")
}
