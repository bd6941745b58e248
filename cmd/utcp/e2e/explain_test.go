package e2e

import (
	"io"
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A session between the kernel and utcp, drawn twice: live by --trace and
// afterwards by `utcp explain` from the --pcap of the same packets. The
// kernel's states inferred live (peer→ X~) and from the capture (client→
// X~) are the same, and utcp's states inferred from the capture (server→
// X~) are its real ones (A → B) up to what the wire cannot show: the end of
// its TIME-WAIT.
func TestExplain_AgreesWithTrace(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "session.pcap")
	u := startUtcp(t, "utcpx1", "listen", "4701", "--trace", "--pcap", pcap, "--msl", "100ms")
	u.waitStderr(t, "listening on 10.9.0.2:4701\n")
	c, err := net.DialTimeout("tcp4", "10.9.0.2:4701", waitTimeout)
	require.NoError(t, err)
	_, err = c.Write([]byte("from the kernel\n"))
	require.NoError(t, err)
	u.waitStdout(t, "from the kernel\n")
	u.write(t, "from utcp\n")
	u.closeStdin(t) // utcp's FIN first: its TIME-WAIT
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "from utcp\n", string(got))
	require.NoError(t, c.Close())
	require.Equal(t, 0, u.wait(t), "utcp exits after TIME-WAIT")

	ex := startProc(t, utcpBinary(t), "explain", pcap)
	require.Equal(t, 0, ex.wait(t), "explain: %s", ex.stderr.String())
	trace, explained := u.stderr.String(), ex.stdout.String()
	t.Logf("--trace:\n%s\nexplain:\n%s", trace, explained)

	states := func(re, s string) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		return out
	}
	real := states(`  [A-Z12-]+ → ([A-Z12-]+)`, trace)
	require.Equal(t, []string{"SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSED"}, real, "utcp's real states")
	assert.Equal(t, real[:len(real)-1], states(`server→ ([A-Z12-]+)~`, explained),
		"utcp's states as the capture shows them, all but TIME-WAIT's end")
	peerLive := states(`peer→ ([A-Z12-]+)~`, trace)
	assert.Equal(t, []string{"SYN-SENT", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"}, peerLive, "the kernel's states inferred live")
	assert.Equal(t, peerLive, states(`client→ ([A-Z12-]+)~`, explained), "the same from the capture")
	assert.Contains(t, explained, "server TIME-WAIT~ since", "the capture cannot show TIME-WAIT's end")
}
