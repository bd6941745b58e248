package tuntest

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

func TestMain(m *testing.M) { Main(m) }

func TestRequireNetnsGivesPrivateNamespace(t *testing.T) {
	RequireNetns(t)
	assert.True(t, InNetns())
	ns, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	assert.NotEqual(t, os.Getenv(envParentNetns), ns, "the tests run outside the parent's namespace")

	links, err := netlink.LinkList()
	require.NoError(t, err)
	require.Len(t, links, 1, "a new namespace holds only lo")
	assert.Equal(t, "lo", links[0].Attrs().Name)
	assert.NotZero(t, links[0].Attrs().RawFlags&1, "Main brought lo up (IFF_UP)")
}

// recorder is a testing.TB that records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...) }

func TestRequireToolSkipsOrFailsUnderCI(t *testing.T) {
	tests := []struct {
		ci       string
		wantSkip bool
	}{
		{ci: "", wantSkip: true},
		{ci: "false", wantSkip: true},
		{ci: "true", wantSkip: false},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			RequireTool(r, "utcp-no-such-tool")
			if tt.wantSkip {
				assert.Contains(t, r.skipped, "needs utcp-no-such-tool installed", "a missing tool skips with a reason")
				assert.Empty(t, r.failed)
			} else {
				assert.Contains(t, r.failed, "needs utcp-no-such-tool installed", "under CI a missing tool is a failure")
				assert.Empty(t, r.skipped)
			}
		})
	}
	assert.NotEmpty(t, RequireTool(t, "sh"), "an installed tool returns its path")
}

func TestRequireNetnsUnavailable(t *testing.T) {
	saved := netnsErr
	t.Cleanup(func() { netnsErr = saved })
	netnsErr = fmt.Errorf("not running as root")

	t.Setenv("CI", "")
	r := &recorder{TB: t}
	RequireNetns(r)
	assert.Contains(t, r.skipped, "needs root/CAP_NET_ADMIN to create a TUN device in a private network namespace")

	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	RequireNetns(r)
	assert.Contains(t, r.failed, "needs root/CAP_NET_ADMIN", "under CI a missing privilege is a failure")
}
