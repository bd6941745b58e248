package netsim

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: every Wrap
// and Relay a test makes must be closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
