package e2e

import (
	"crypto/sha256"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// offloadTransfer is the size of each bulk transfer over an offload device.
const offloadTransfer = 8 << 20

// stackOnOffloadTUN starts a stack on a TUN device opened with offload.
func stackOnOffloadTUN(t *testing.T, name string) (*tcp.Stack, *tun.Device) {
	t.Helper()
	st, dev := stackOnDevice(t, tun.Config{Name: name, KernelAddr: kernelIP, PeerAddr: utcpIP, MTU: 1500, Offload: true}, tcp.Config{})
	t.Logf("TUNSETOFFLOAD accepted %#x, OffloadSize %d", dev.OffloadFlags(), dev.OffloadSize())
	require.NotZero(t, dev.OffloadFlags()&tun.TUNFTSO4, "the kernel takes TSO4 from a TUN device")
	return st, dev
}

// hashAccepted accepts one connection on ln and sends the SHA-256 of what
// it reads to EOF; the channel closes without a value if Accept fails.
func hashAccepted(ln net.Listener) <-chan [32]byte {
	got := make(chan [32]byte, 1)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitTimeout))
		h := sha256.New()
		io.Copy(h, c)
		got <- [32]byte(h.Sum(nil))
	}()
	return got
}

// The kernel sends 8 MiB to a utcp listener over an offload device: it
// passes segments larger than the MTU (GSO), the stack takes each whole,
// and the data arrives intact.
func TestOffload_KernelSends8MiB_GSOSegmentsArrive(t *testing.T) {
	st, dev := stackOnOffloadTUN(t, "utcpo1")
	ln, err := st.Listen(4101)
	require.NoError(t, err)
	defer ln.Close()

	data := make([]byte, offloadTransfer)
	_, err = io.ReadFull(newPattern(101), data)
	require.NoError(t, err)

	got := hashAccepted(ln)

	kc := dialKernel(t, utcpAt(4101), 0)
	require.NoError(t, kc.SetDeadline(time.Now().Add(waitTimeout)))
	_, err = kc.Write(data)
	require.NoError(t, err)
	require.NoError(t, kc.CloseWrite())
	sum, ok := <-got
	require.True(t, ok, "utcp accepted the connection")
	kc.Close()
	assert.Equal(t, sha256.Sum256(data), sum, "8 MiB arrive intact")

	ds, ss := dev.Stats(), st.Stats()
	t.Logf("device: %+v; stack: SegsIn %d, BadChecksum %d", ds, ss.SegsIn, ss.BadChecksum)
	require.NotZero(t, ds.GSOIn, "the kernel passed GSO packets")
	t.Logf("GSO packets in: %d, %.0f octets each on average", ds.GSOIn, float64(ds.GSOInBytes)/float64(ds.GSOIn))
	assert.Greater(t, ds.GSOInBytes/ds.GSOIn, uint64(2*1500), "a GSO packet carries several MSS")
	assert.Zero(t, ss.BadChecksum)
	assert.Zero(t, ss.OffloadDropped)
	assert.Zero(t, ds.VnetHeaderErrors)
}

// utcp sends 8 MiB to a kernel listener over an offload device: it writes
// segments larger than the MTU (TSO), the kernel takes them, and the data
// arrives intact.
func TestOffload_UtcpSends8MiB_GSOSegmentsLeave(t *testing.T) {
	st, dev := stackOnOffloadTUN(t, "utcpo2")
	kl, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(kernelAt(4102)))
	require.NoError(t, err)
	defer kl.Close()

	data := make([]byte, offloadTransfer)
	_, err = io.ReadFull(newPattern(102), data)
	require.NoError(t, err)

	require.NoError(t, kl.SetDeadline(time.Now().Add(waitTimeout)))
	got := hashAccepted(kl)

	c, err := st.Dial(kernelAt(4102))
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	_, err = c.Write(data)
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	sum, ok := <-got
	require.True(t, ok, "the kernel accepted the connection")
	c.Close()
	assert.Equal(t, sha256.Sum256(data), sum, "8 MiB arrive intact")

	ds, ss := dev.Stats(), st.Stats()
	t.Logf("device: %+v; stack: SegsOut %d, LinkWriteErrors %d", ds, ss.SegsOut, ss.LinkWriteErrors)
	require.NotZero(t, ds.GSOOut, "utcp wrote GSO packets (TSO)")
	t.Logf("GSO packets out: %d, %.0f octets each on average", ds.GSOOut, float64(ds.GSOOutBytes)/float64(ds.GSOOut))
	assert.Greater(t, ds.GSOOutBytes/ds.GSOOut, uint64(2*1500), "a GSO packet carries several MSS")
	assert.Zero(t, ss.LinkWriteErrors)
}

// The kernel's own small segments on a TUN_F_CSUM device carry a partial
// checksum (NEEDS_CSUM): the stack accepts them without verifying it.
func TestOffload_PartialChecksumSegmentsAccepted(t *testing.T) {
	st, dev := stackOnOffloadTUN(t, "utcpo3")
	ln, err := st.Listen(4103)
	require.NoError(t, err)
	defer ln.Close()

	kc := dialKernel(t, utcpAt(4103), 0)
	defer kc.Close()
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, kc.SetDeadline(time.Now().Add(waitTimeout)))
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))

	_, err = kc.Write([]byte("hello\n"))
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(buf))
	_, err = c.Write([]byte("back\n"))
	require.NoError(t, err)
	_, err = io.ReadFull(kc, buf[:5])
	require.NoError(t, err)
	assert.Equal(t, "back\n", string(buf[:5]))

	ds, ss := dev.Stats(), st.Stats()
	t.Logf("device: %+v", ds)
	assert.NotZero(t, ds.PartialIn, "the kernel marked its segments NEEDS_CSUM")
	assert.Zero(t, ss.BadChecksum, "a partial checksum is not verified")
}

// utcp listen --offload -v --pcap: the kernel's large segments reach the
// command's stdout intact, -v counts them, and the capture holds them
// whole, larger than the MTU.
func TestOffload_ListenCommand_CountsAndCapturesLargeSegments(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "offload.pcap")
	u := startUtcp(t, "utcpo4", "listen", "4104", "--offload", "-v", "--pcap", pcap, "--msl", "100ms")
	u.waitStderr(t, "listening on 10.9.0.2:4104\n")
	data := make([]byte, 2<<20)
	_, err := io.ReadFull(newPattern(104), data)
	require.NoError(t, err)

	kc := dialKernel(t, utcpAt(4104), 0)
	defer kc.Close()
	require.NoError(t, kc.SetDeadline(time.Now().Add(waitTimeout)))
	_, err = kc.Write(data)
	require.NoError(t, err)
	require.NoError(t, kc.CloseWrite())
	u.waitStdoutBytes(t, int64(len(data)))
	u.closeStdin(t)
	_, err = io.Copy(io.Discard, kc) // until utcp's FIN
	require.NoError(t, err)
	require.Equal(t, 0, u.wait(t))
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256([]byte(u.stdout.String())))

	m := regexp.MustCompile(`(?m)^offload: .*\bgso_in=(\d+)`).FindStringSubmatch(u.stderr.String())
	require.NotNil(t, m, "-v prints the device's offload counters; stderr:\n%s", u.stderr.String())
	assert.NotEqual(t, "0", m[1], "GSO packets arrived")

	f, err := os.Open(pcap)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	large := 0
	for {
		_, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if ci.Length > 1500 {
			large++
		}
	}
	t.Logf("%d records larger than the MTU", large)
	assert.NotZero(t, large, "the capture holds the large segments whole")
}
