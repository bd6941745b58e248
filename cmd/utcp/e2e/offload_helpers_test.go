package e2e

import (
	"os"
	"testing"

	"github.com/utcp/utcp/tun"
)

// offloadAll, set by UTCP_E2E_OFFLOAD=1 (make test runs the package a
// second time with it), opens every TUN device of the suite with
// tun.Config.Offload and runs the utcp command with --offload.
var offloadAll = os.Getenv("UTCP_E2E_OFFLOAD") == "1"

// openTUN is tun.Open, with Offload set under UTCP_E2E_OFFLOAD=1.
func openTUN(c tun.Config) (*tun.Device, error) {
	if offloadAll {
		c.Offload = true
	}
	return tun.Open(c)
}

// skipUnderOffload skips a test that cannot hold when every device offloads.
func skipUnderOffload(t testing.TB, why string) {
	t.Helper()
	if offloadAll {
		t.Skipf("UTCP_E2E_OFFLOAD=1: %s", why)
	}
}
