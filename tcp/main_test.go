package tcp

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// Stack, Conn and Listener a test makes must be closed, and its link too.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
