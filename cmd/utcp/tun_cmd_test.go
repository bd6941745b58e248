package main

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

func TestRunTun_UsageErrorsExit2(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tun"}, "missing subcommand: want utcp tun create or utcp tun delete (see utcp tun --help)"},
		{[]string{"tun", "make"}, `unknown subcommand "make": want utcp tun create or utcp tun delete`},
		{[]string{"tun", "create"}, "missing --user: the user who may then run utcp on the device without sudo"},
		{[]string{"tun", "create", "--user", "no-such-user-here"}, `bad --user "no-such-user-here": no such user`},
		{[]string{"tun", "create", "--user", "0", "--group", "no-such-group-here"}, `bad --group "no-such-group-here": no such group`},
		{[]string{"tun", "create", "--user", "0", "--addr", "x"}, `bad address "x" for --addr: want an IPv4 address such as 10.9.0.2`},
		{[]string{"tun", "create", "--user", "0", "extra"}, `unexpected argument "extra": usage: utcp tun create --user USER [flags]`},
		{[]string{"tun", "create", "--user", "0", "--bogus"}, "unknown flag: --bogus (see utcp tun --help)"},
		{[]string{"tun", "delete"}, "usage: utcp tun delete NAME"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			code, stdout, stderr := runSync(t, noLink(t), tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			assert.Equal(t, tt.want+"\n", stderr)
		})
	}
}

func TestRunTun_Help(t *testing.T) {
	for _, args := range [][]string{{"tun", "--help"}, {"help", "tun"}, {"tun", "create", "-h"}, {"tun", "delete", "--help"}} {
		code, stdout, stderr := runSync(t, noLink(t), args...)
		assert.Equal(t, exitOK, code)
		assert.Empty(t, stderr)
		for _, w := range []string{"sudo utcp tun create --user USER", "utcp tun delete NAME", "utcp --attach listen 4567", "--group NAME"} {
			assert.Contains(t, stdout, w, "%v", args)
		}
	}
	_, stdout, _ := runSync(t, noLink(t), "--help")
	assert.Contains(t, stdout, "utcp tun create|delete")
	assert.Contains(t, stdout, "--attach")
}

func TestRunTun_CreateNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("as root the device would be made; cmd/utcp/e2e tests this as nobody")
	}
	code, _, stderr := runSync(t, noLink(t), "tun", "create", "--user", fmt.Sprint(os.Getuid()), "--tun", "utcpt9")
	assert.Equal(t, exitRuntime, code)
	assert.Contains(t, stderr, "needs root (CAP_NET_ADMIN)")
}

func TestRun_AttachTakesTheDevicesMTU(t *testing.T) {
	n := newTestNet(t, netOpts{mtu: 1400})
	c := start(t, n.open, nil, "--attach", "echo", "7", "--tun", "t8")
	assert.Equal(t, linkConfig{Name: "t8", Addr: utcpAddr, Peer: kernelAddr, Attach: true}, <-n.opened,
		"--attach opens the device as it is, with its MTU (0: the link's)")
	c.stderr.waitFor(t, "listening on 10.9.0.2:7\n")
	c.interrupt(syscall.SIGINT)
	assert.Equal(t, 130, c.wait(t))

	n = newTestNet(t, netOpts{mtu: 1400})
	c = start(t, n.open, nil, "echo", "7", "--attach", "--mtu", "1300")
	assert.Equal(t, 1300, (<-n.opened).MTU, "an explicit --mtu stays")
	c.stderr.waitFor(t, "listening on 10.9.0.2:7\n")
	c.interrupt(syscall.SIGINT)
	assert.Equal(t, 130, c.wait(t))
}

func TestRun_AttachErrors(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("tun: attach utcp0: %w", tun.ErrNotExist),
			"no TUN device utcp0 to attach to: create it once with `sudo utcp tun create --user $USER --tun utcp0`"},
		{fmt.Errorf("tun: attach utcp0: %w", tun.ErrPermission),
			"TUN device utcp0 is not yours (or /dev/net/tun is closed to you): recreate it with `sudo utcp tun create --user $USER --tun utcp0`"},
	} {
		open := func(c linkConfig) (tcp.Link, error) {
			require.True(t, c.Attach)
			return nil, tt.err
		}
		code, _, stderr := runSync(t, open, "listen", "4567", "--attach")
		assert.Equal(t, exitRuntime, code)
		assert.Equal(t, tt.want+"\n", stderr)
	}
}
