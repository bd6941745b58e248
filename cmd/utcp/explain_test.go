package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
)

// update rewrites the golden ladders: go test ./cmd/utcp -run TestExplainGolden -update
var update = flag.Bool("update", false, "rewrite testdata/pcaps/*.golden from the captures")

// pcapDir holds the kernel-to-kernel captures (see its README.md).
const pcapDir = "../../testdata/pcaps"

func pcapFiles(t testing.TB) []string {
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(pcapDir, pat))
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files, "captures in %s", pcapDir)
	return files
}

// TestExplainGolden draws each capture of testdata/pcaps and compares the
// ladders with the golden files next to them.
func TestExplainGolden(t *testing.T) {
	for _, path := range pcapFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runSync(t, noLink(t), "explain", path)
			require.Equal(t, exitOK, code, "stderr: %s", stderr)
			golden := strings.TrimSuffix(path, filepath.Ext(path)) + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(stdout), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to write it")
			assert.Equal(t, string(want), stdout, "the ladder of %s", name)
			assert.Contains(t, stdout, "(~ inferred)", "both columns say their states are inferred")
		})
	}
}

// What the captures must show, beyond matching their golden files.
func TestExplainCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"request-response.pcap", []string{"client→ SYN-SENT~", "server→ SYN-RECEIVED~  client→ ESTABLISHED~", "server→ FIN-WAIT-1~",
			"end of capture: client CLOSED~", "server TIME-WAIT~", "TIME-WAIT ends after 2×MSL"}},
		{"refused.pcap", []string{"[RST, ACK]", "(reset)  client→ CLOSED~", "server CLOSED~"}},
		{"half-close.pcap", []string{"client→ FIN-WAIT-1~", "client→ FIN-WAIT-2~", "server→ LAST-ACK~  client→ TIME-WAIT~"}},
		{"zero-window.pcap", []string{"(~ zero window)", "(~ window probe: SEQ = SND.NXT−1, into a zero window)", "(~ window update)", "(~ the ACK a probe asks for"}},
		{"keepalive.pcapng", []string{"(~ keep-alive probe: SEQ = SND.NXT−1)", "(~ the ACK a probe asks for)"}},
		{"ipv6-request-response.pcap", []string{"client [::1]:", "server→ ESTABLISHED~"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			code, stdout, stderr := runSync(t, noLink(t), "explain", filepath.Join(pcapDir, tt.file))
			require.Equal(t, exitOK, code, "stderr: %s", stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			for _, never := range []string{"RTO", "fast retransmit", "delayed", "why:", "DROPPED"} {
				assert.NotContains(t, stdout, never, "no reason the capture cannot show")
			}
		})
	}
}

// testSegment is one TCP/IPv4 packet from 10.0.0.1:1000 to 10.0.0.2:80.
func testPacket(t testing.TB, flags tcp.Flags, seq, ack uint32, payload int) []byte {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	seg := tcp.Segment{SrcPort: 1000, DstPort: 80, Seq: tcp.Seq(seq), Ack: tcp.Seq(ack), Flags: flags, Window: 1000, Payload: make([]byte, payload)}
	b := tcp.AppendSegment(nil, &seg, src, dst)
	ipHdr := make([]byte, 20)
	ipHdr[0], ipHdr[8], ipHdr[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ipHdr[2:], uint16(20+len(b)))
	copy(ipHdr[12:], src.AsSlice())
	copy(ipHdr[16:], dst.AsSlice())
	return append(ipHdr, b...)
}

// writeTestPcap writes frames of link type lt as a pcap file.
func writeTestPcap(t testing.TB, lt layers.LinkType, frames ...[]byte) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	require.NoError(t, w.WriteFileHeader(65535, lt))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: at.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		require.NoError(t, w.WritePacket(ci, f))
	}
	return buf.Bytes()
}

// Each link type explain reads frames the same IPv4 packet.
func TestExplainLinkTypes(t *testing.T) {
	ip4 := testPacket(t, tcp.FlagSYN, 7, 0, 0)
	eth := append(make([]byte, 12), 0x08, 0x00)
	vlan := append(make([]byte, 12), 0x81, 0x00, 0x00, 0x05, 0x08, 0x00)
	sll := append(make([]byte, 14), 0x08, 0x00)
	sll2 := append([]byte{0x08, 0x00}, make([]byte, 18)...)
	null := []byte{2, 0, 0, 0}
	loop := []byte{0, 0, 0, 2}
	tests := []struct {
		name   string
		lt     layers.LinkType
		header []byte
	}{
		{"raw", layers.LinkTypeRaw, nil},
		{"ipv4", layers.LinkTypeIPv4, nil},
		{"ethernet", layers.LinkTypeEthernet, eth},
		{"ethernet 802.1Q", layers.LinkTypeEthernet, vlan},
		{"linux sll", layers.LinkTypeLinuxSLL, sll},
		{"linux sll2", layers.LinkTypeLinuxSLL2, sll2},
		{"null", layers.LinkTypeNull, null},
		{"loop", layers.LinkTypeLoop, loop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := readCapture(bytes.NewReader(writeTestPcap(t, tt.lt, append(append([]byte(nil), tt.header...), ip4...))))
			require.NoError(t, err)
			require.Len(t, c.convs, 1, "one conversation: %v", c.stats)
			conv := c.convs[0]
			assert.Equal(t, "10.0.0.1:1000", conv.id.Local.String(), "the SYN's sender on the left")
			assert.Equal(t, tcp.FlagSYN, conv.segs[0].seg.Flags)
		})
	}
}

// Packets that are not TCP, fragments and broken headers are skipped and
// counted; a payload cut by the snap length still counts.
func TestExplainSkipsAndCounts(t *testing.T) {
	syn := testPacket(t, tcp.FlagSYN, 7, 0, 0)
	udp := append([]byte(nil), syn...)
	udp[9] = 17
	frag := append([]byte(nil), syn...)
	frag[6] = 0x20 // more fragments
	short := syn[:30]
	data := testPacket(t, tcp.FlagACK|tcp.FlagPSH, 8, 1, 500)
	cut := data[:60] // the TCP header and 20 octets of text
	arp := []byte{0x00, 0x01, 0x08, 0x00}
	c, err := readCapture(bytes.NewReader(writeTestPcap(t, layers.LinkTypeRaw, syn, udp, frag, short, arp, cut)))
	require.NoError(t, err)
	assert.Equal(t, captureStats{packets: 6, segments: 2, notTCP: 2, fragments: 1, malformed: 1}, c.stats)
	require.Len(t, c.convs, 1)
	assert.Len(t, c.convs[0].segs[1].seg.Payload, 500, "the IP header's length, not the snap length")
	var out bytes.Buffer
	assert.Equal(t, exitOK, explainLadders(c, &explainOptions{}, &out, &out))
	assert.Contains(t, out.String(), "6 packets, 2 TCP segments; skipped: 2 not TCP, 1 IP fragments, 1 malformed")
}

// A file that is not a capture, or is cut, gives a clear error or what
// could be read; never a panic.
func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	good, err := os.ReadFile(filepath.Join(pcapDir, "request-response.pcap"))
	require.NoError(t, err)

	code, _, stderr := runSync(t, noLink(t), "explain", write("text", []byte("hello, this is no capture\n")))
	assert.Equal(t, exitRuntime, code)
	assert.Contains(t, stderr, "not a pcap or pcapng file")

	code, _, stderr = runSync(t, noLink(t), "explain", write("empty", nil))
	assert.Equal(t, exitRuntime, code)
	assert.Contains(t, stderr, "not a pcap or pcapng file: too short")

	code, _, stderr = runSync(t, noLink(t), "explain", filepath.Join(dir, "missing.pcap"))
	assert.Equal(t, exitRuntime, code)
	assert.Contains(t, stderr, "explain:")

	code, stdout, stderr := runSync(t, noLink(t), "explain", write("cut.pcap", good[:len(good)/2]))
	assert.Equal(t, exitOK, code, "a cut file shows what it holds: %s", stderr)
	assert.Contains(t, stdout, "handshake 1/3")
}

// --conn and --port pick conversations; the summary counts them all.
func TestExplainPicks(t *testing.T) {
	a := testPacket(t, tcp.FlagSYN, 7, 0, 0)
	b := testPacket(t, tcp.FlagSYN, 9, 0, 0)
	binary.BigEndian.PutUint16(b[20:], 2000) // another source port
	b[36], b[37] = 0, 0                      // the checksum is not checked
	path := filepath.Join(t.TempDir(), "two.pcap")
	require.NoError(t, os.WriteFile(path, writeTestPcap(t, layers.LinkTypeRaw, a, b), 0o644))

	code, stdout, _ := runSync(t, noLink(t), "explain", path)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "conversation 1: client 10.0.0.1:1000")
	assert.Contains(t, stdout, "conversation 2: client 10.0.0.1:2000")

	code, stdout, _ = runSync(t, noLink(t), "explain", "--conn", "2", path)
	assert.Equal(t, exitOK, code)
	assert.NotContains(t, stdout, "conversation 1:")
	assert.Contains(t, stdout, "conversation 2:")
	assert.Contains(t, stdout, "2 TCP conversations (1 shown)")

	code, stdout, _ = runSync(t, noLink(t), "explain", path, "--port", "1000")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "conversation 1:")
	assert.NotContains(t, stdout, "conversation 2:")

	code, _, stderr := runSync(t, noLink(t), "explain", "--port", "3", path)
	assert.Equal(t, exitRuntime, code)
	assert.Contains(t, stderr, "no conversation matches")

	for _, args := range [][]string{{"explain"}, {"explain", "a", "b"}, {"explain", "--conn", "-1", "a"}, {"explain", "--tun", "x", "a"}} {
		code, _, stderr := runSync(t, noLink(t), args...)
		assert.Equal(t, exitUsage, code, "%v", args)
		assert.NotEmpty(t, stderr)
	}
	code, stdout, _ = runSync(t, noLink(t), "explain", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "Usage: utcp explain [flags] FILE.pcap")
	assert.Contains(t, stdout, "--conn")
}

// FuzzExplain feeds arbitrary files through the pcap-to-conversation path
// and the ladders: an error or a ladder, never a panic.
func FuzzExplain(f *testing.F) {
	for _, p := range pcapFiles(f) {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add(writeTestPcap(f, layers.LinkTypeRaw, testPacket(f, tcp.FlagSYN, 1, 0, 0), testPacket(f, tcp.FlagACK|tcp.FlagFIN, 2, 5, 10)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := readCapture(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		explainLadders(c, &explainOptions{}, &out, &out)
		require.LessOrEqual(t, c.stats.segments, explainMaxSegments)
	})
}

// TestCaptureObserver: what a capture shows of each segment, from the
// segments before it; one row per remark.
func TestCaptureObserver(t *testing.T) {
	type step struct {
		out              bool // sent by the left side
		flags            tcp.Flags
		seq, ack, n, win int
		want             string
	}
	A, S, F := tcp.FlagACK, tcp.FlagSYN, tcp.FlagFIN
	open := []step{
		{true, S, 0, 0, 0, 100, ""},
		{false, S | A, 500, 1, 0, 100, ""},
		{true, A, 1, 501, 0, 100, ""},
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a SYN again", []step{{true, S, 0, 0, 0, 100, ""}, {true, S, 0, 0, 0, 100, "retransmission: this SYN was seen before"}}},
		{"a range seen before", append(open[:3:3],
			step{true, A, 1, 501, 100, 100, ""},
			step{true, A, 1, 501, 100, 100, "retransmission: this sequence range was seen before"})},
		{"part of a range seen before", append(open[:3:3],
			step{true, A, 1, 501, 100, 100, ""},
			step{true, A, 51, 501, 100, 100, "retransmission: part of this sequence range was seen before"})},
		{"a gap, then what fills it", append(open[:3:3],
			step{true, A, 1, 501, 100, 100, ""},
			step{true, A, 201, 501, 100, 100, "out of order: a gap before it (lost before the capture, or reordered)"},
			step{true, A, 101, 501, 100, 100, "out of order: fills a gap"})},
		{"duplicate ACKs while data is outstanding", append(open[:3:3],
			step{true, A, 1, 501, 100, 100, ""},
			step{true, A, 101, 501, 100, 100, ""},
			step{false, A, 501, 101, 0, 100, ""},
			step{false, A, 501, 101, 0, 100, "duplicate ACK #1"},
			step{false, A, 501, 101, 0, 100, "duplicate ACK #2"})},
		{"the same ACK with nothing outstanding is no duplicate", append(open[:3:3],
			step{false, A, 501, 1, 0, 100, ""},
			step{false, A, 501, 1, 0, 100, ""})},
		{"the same ACK, another window", append(open[:3:3],
			step{false, A, 501, 1, 0, 100, ""},
			step{false, A, 501, 1, 0, 200, "window update"})},
		{"a zero window", append(open[:3:3], step{false, A, 501, 1, 0, 0, "zero window"})},
		{"a keep-alive probe and its ACK", append(open[:3:3],
			step{true, A, 0, 501, 0, 100, "keep-alive probe: SEQ = SND.NXT−1"},
			step{false, A, 501, 1, 0, 100, "the ACK a probe asks for"})},
		{"a window probe into a zero window", append(open[:3:3],
			step{false, A, 501, 1, 0, 0, "zero window"},
			step{true, A, 0, 501, 0, 100, "window probe: SEQ = SND.NXT−1, into a zero window"},
			step{false, A, 501, 1, 0, 0, "the ACK a probe asks for; zero window"})},
		{"text into a zero window", append(open[:3:3],
			step{false, A, 501, 1, 0, 0, "zero window"},
			step{true, A, 1, 501, 1, 100, "window probe: text into a zero window"})},
		{"a FIN is no probe", append(open[:3:3], step{true, F | A, 1, 501, 0, 100, ""})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o captureObserver
			for i, s := range tt.steps {
				seg := tcp.Segment{Seq: tcp.Seq(s.seq), Ack: tcp.Seq(s.ack), Flags: s.flags, Window: uint16(s.win), Payload: make([]byte, s.n)}
				assert.Equal(t, s.want, o.observe(&seg, s.out), "step %d", i)
			}
		})
	}
}
