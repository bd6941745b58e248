package tun

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"open denied", &os.PathError{Op: "open", Path: "/dev/net/tun", Err: syscall.EACCES}, ErrPermission},
		{"ioctl not permitted", os.NewSyscallError("ioctl", syscall.EPERM), ErrPermission},
		{"no device node", &os.PathError{Op: "open", Path: "/dev/net/tun", Err: syscall.ENOENT}, ErrNoTUN},
		{"no driver", &os.PathError{Op: "open", Path: "/dev/net/tun", Err: syscall.ENODEV}, ErrNoTUN},
		{"name busy", os.NewSyscallError("ioctl", syscall.EBUSY), ErrExists},
		{"name exists", os.NewSyscallError("ioctl", syscall.EEXIST), ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			assert.ErrorIs(t, got, tt.want, "the sentinel says what the user must fix")
			assert.ErrorIs(t, got, tt.err, "the system error stays visible")
		})
	}
	other := errors.New("something else")
	assert.Equal(t, other, classify(other), "unknown errors pass unchanged")
}

func TestClassifyPermissionOnly(t *testing.T) {
	err := classifyPermission(os.NewSyscallError("netlink", syscall.EEXIST))
	assert.NotErrorIs(t, err, ErrExists, "after creation, EEXIST is about an address, not the name")
	assert.ErrorIs(t, classifyPermission(syscall.EPERM), ErrPermission)
}

func TestConfigDefaults(t *testing.T) {
	got, err := Config{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, Config{Name: "utcp0", KernelAddr: netip.MustParseAddr("10.9.0.1"),
		PeerAddr: netip.MustParseAddr("10.9.0.2"), MTU: 1500}, got)
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"name too long", Config{Name: "a-very-long-ifname"}},
		{"IPv6 kernel address", Config{KernelAddr: netip.MustParseAddr("fe80::1")}},
		{"IPv6 peer address", Config{PeerAddr: netip.MustParseAddr("::1")}},
		{"same addresses", Config{KernelAddr: netip.MustParseAddr("10.9.0.2")}},
		// RFC 791: 68 is the minimum MTU.
		{"MTU below 68", Config{MTU: 67}},
		{"MTU above 65535", Config{MTU: 65536}},
		{"negative MTU", Config{MTU: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			assert.ErrorIs(t, err, ErrInvalidConfig)
			_, err = Open(tt.cfg)
			assert.ErrorIs(t, err, ErrInvalidConfig, "Open validates before touching the system")
		})
	}
}
