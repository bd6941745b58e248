package e2e

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/utcp/utcp/tun/tuntest"
)

// The uids the tests run utcp as: nobody, and another unprivileged user.
const (
	uidNobody = 65534
	uidOther  = 65533
)

// unprivileged is what runs utcp as a user without privileges: the
// binary, copied where that user can run it, and a /dev/net/tun node open
// to every user (the machine's may be root's only; most systems have it
// 0666), bound over /dev/net/tun in a mount namespace of the process's own.
type unprivileged struct {
	bin, node string
}

func newUnprivileged(t *testing.T) *unprivileged {
	t.Helper()
	bin := utcpBinary(t)
	tuntest.RequireTool(t, "unshare")
	tuntest.RequireTool(t, "setpriv")
	dir, err := os.MkdirTemp("", "utcp-persist-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	u := &unprivileged{bin: filepath.Join(dir, "utcp"), node: filepath.Join(dir, "tun")}
	src, err := os.Open(bin)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(u.bin, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	require.NoError(t, unix.Mknod(u.node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))))
	require.NoError(t, os.Chmod(u.node, 0o666))
	return u
}

// start runs utcp with args as uid (its gid the same), with no
// capabilities and no supplementary groups.
func (u *unprivileged) start(t *testing.T, uid int, args ...string) *proc {
	t.Helper()
	id := strconv.Itoa(uid)
	all := append([]string{"-m", "--propagation", "private", "sh", "-c",
		`node=$1 id=$2 bin=$3; shift 3; mount --bind "$node" /dev/net/tun && exec setpriv --reuid "$id" --regid "$id" --clear-groups --inh-caps=-all "$bin" "$@"`,
		"sh", u.node, id, u.bin}, args...)
	return startProc(t, tuntest.RequireTool(t, "unshare"), all...)
}

// A persistent device made once as root serves utcp run as nobody, with
// --attach, any number of times; it stays after utcp exits until `utcp tun
// delete` removes it.
func TestPersistent_NobodyRunsUtcpOnACreatedDevice(t *testing.T) {
	u := newUnprivileged(t)
	const name = "utcpp0"
	bin := utcpBinary(t)
	c := startProc(t, bin, "tun", "create", "--user", "nobody", "--tun", name)
	require.Equal(t, 0, c.wait(t), "create as root")
	t.Cleanup(func() {
		if _, err := netlink.LinkByName(name); err == nil {
			netlink.LinkDel(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}})
		}
	})
	c.waitStdout(t, "created TUN device utcpp0 for nobody")

	for round := range 2 {
		p := u.start(t, uidNobody, "--attach", "listen", "4567", "--tun", name, "--msl", "50ms")
		p.waitStderr(t, "listening on 10.9.0.2:4567")
		conn := dialKernel(t, utcpAt(4567), 0)
		_, err := conn.Write([]byte("hello from the kernel\n"))
		require.NoError(t, err)
		p.waitStdout(t, "hello from the kernel\n")
		p.write(t, "hello from nobody\n")
		p.closeStdin(t)
		assert.Equal(t, "hello from nobody\n", readAllString(t, conn), "round %d", round)
		require.NoError(t, conn.Close())
		require.Equal(t, 0, p.wait(t), "utcp as nobody exits cleanly")
		link, err := netlink.LinkByName(name)
		require.NoError(t, err, "the device stays after utcp exits")
		assert.Equal(t, 1500, link.Attrs().MTU)
	}

	other := u.start(t, uidOther, "--attach", "listen", "4567", "--tun", name)
	assert.Equal(t, 1, other.wait(t), "another user may not attach")
	other.waitStderr(t, "TUN device utcpp0 is not yours")

	d := startProc(t, bin, "tun", "delete", name)
	require.Equal(t, 0, d.wait(t))
	requireNoLink(t, name)
}

func TestPersistent_Errors(t *testing.T) {
	u := newUnprivileged(t)
	bin := utcpBinary(t)

	p := startProc(t, bin, "--attach", "listen", "4567", "--tun", "utcpnone0")
	assert.Equal(t, 1, p.wait(t))
	p.waitStderr(t, "no TUN device utcpnone0 to attach to: create it once with `sudo utcp tun create --user $USER --tun utcpnone0`")

	p = u.start(t, uidNobody, "tun", "create", "--user", "nobody", "--tun", "utcpp1")
	assert.Equal(t, 1, p.wait(t), "create needs root")
	p.waitStderr(t, "utcp tun needs root (CAP_NET_ADMIN)")
	requireNoLink(t, "utcpp1")

	p = startProc(t, bin, "tun", "delete", "utcpnone0")
	assert.Equal(t, 1, p.wait(t))
	p.waitStderr(t, "no TUN device utcpnone0")
}
