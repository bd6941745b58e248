package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: every run tears
// down its stack, link, stdin reader and connection handlers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
