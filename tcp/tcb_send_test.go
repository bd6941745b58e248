package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sendSpaceAfterSYN is a send space whose SYN (ISS 1000) is acknowledged.
func sendSpaceAfterSYN(t *testing.T) *sendSpace {
	t.Helper()
	var s sendSpace
	s.init(&Config{SendBuffer: 10000}, 1000)
	s.synSent, s.synSentAt, s.nxt = true, testEpoch, 1001
	res := s.acknowledge(testEpoch.Add(10*time.Millisecond), 1001, 0)
	require.True(t, res.synAcked)
	require.True(t, res.hasRTT, "the SYN's ACK times the RTT")
	assert.Equal(t, 10*time.Millisecond, res.rtt)
	return &s
}

// sent queues n octets and records them as one segment sent at at.
func (s *sendSpace) sent(n int, at time.Time) {
	s.buf.Write(make([]byte, n))
	s.recs.push(sendRecord{start: s.nxt, end: s.nxt.Add(uint32(n)), sentAt: at})
	s.nxt = s.nxt.Add(uint32(n))
}

func TestSendSpace_AcknowledgeFreesAndSamples(t *testing.T) {
	s := sendSpaceAfterSYN(t)
	s.sent(100, testEpoch)
	s.sent(100, testEpoch.Add(time.Millisecond))
	res := s.acknowledge(testEpoch.Add(21*time.Millisecond), 1201, 0)
	assert.Equal(t, uint32(200), res.acked)
	assert.True(t, res.dataFreed)
	assert.Equal(t, 0, s.buf.Len(), "the acknowledged octets leave the buffer")
	assert.Equal(t, 0, s.recs.len())
	require.True(t, res.hasRTT)
	assert.Equal(t, 20*time.Millisecond, res.rtt, "the sample is the newest record fully acknowledged")
}

func TestSendSpace_PartialAckTrimsRecord(t *testing.T) {
	s := sendSpaceAfterSYN(t)
	s.sent(100, testEpoch)
	res := s.acknowledge(testEpoch.Add(time.Millisecond), 1051, 0)
	assert.False(t, res.hasRTT, "no record was fully acknowledged")
	require.Equal(t, 1, s.recs.len())
	assert.Equal(t, Seq(1051), s.recs.at(0).start, "the record now starts at SND.UNA")
	assert.Equal(t, 50, s.buf.Len())
}

func TestSendSpace_KarnNoSampleAfterRetransmission_RFC6298(t *testing.T) {
	s := sendSpaceAfterSYN(t)
	s.sent(100, testEpoch)
	s.sent(100, testEpoch)
	s.recs.at(0).retransmitted = true
	res := s.acknowledge(testEpoch.Add(time.Second), 1201, 0)
	assert.True(t, res.rtxCovered)
	assert.False(t, res.hasRTT, "§3 (Karn): an ACK that covers a retransmitted segment gives no sample")
}

func TestSendRecords_LostBytesAndPipe_RFC6675(t *testing.T) {
	s := sendSpaceAfterSYN(t)
	for range 4 {
		s.sent(100, testEpoch)
	}
	assert.Equal(t, uint32(400), s.pipe(), "everything sent is in the network")
	s.recs.markAllLost(ReasonRetransmitRTO)
	assert.Equal(t, uint32(400), s.recs.lostBytes)
	assert.Equal(t, uint32(0), s.pipe(), "after an RTO nothing counts as in flight")
	s.recs.setLost(s.recs.at(0), false) // sent again
	assert.Equal(t, uint32(100), s.pipe())
	s.acknowledge(testEpoch, 1151, 0)
	assert.Equal(t, uint32(250), s.recs.lostBytes, "a partial ACK of a lost record takes its acknowledged part off")
	s.acknowledge(testEpoch, 1401, 0)
	assert.Equal(t, uint32(0), s.recs.lostBytes)
}

func TestSendRecords_BoundedByMerging(t *testing.T) {
	var q sendRecords
	for i := range maxSendRecords + 100 {
		q.push(sendRecord{start: Seq(i), end: Seq(i + 1)})
	}
	assert.Equal(t, maxSendRecords, q.len(), "past the bound new segments join the newest record")
	assert.Equal(t, Seq(maxSendRecords+100), q.at(q.len()-1).end)
	q.clear()
	assert.Equal(t, 0, q.len())
	allocs := testing.AllocsPerRun(100, func() {
		q.push(sendRecord{start: 1, end: 2})
		q.popFront()
	})
	assert.Zero(t, allocs, "a warm record ring does not allocate")
}

func TestSendRecords_Remove(t *testing.T) {
	var q sendRecords
	for i := range 10 {
		q.push(sendRecord{start: Seq(i * 10), end: Seq(i*10 + 10)})
	}
	q.popFront() // the ring's head moves off index 0
	q.remove(2, 3)
	var starts []Seq
	for i := range q.len() {
		starts = append(starts, q.at(i).start)
	}
	assert.Equal(t, []Seq{10, 20, 30, 70, 80, 90}, starts, "the three after the third are gone, the rest moved up")
}
