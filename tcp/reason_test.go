package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReason_TextRuleName checks that every Reason has a text, a rule and
// a unique name that ParseReason turns back into it.
func TestReason_TextRuleName(t *testing.T) {
	seen := map[string]Reason{}
	for r := ReasonNone + 1; r < reasonCount; r++ {
		assert.NotEmpty(t, r.String(), "reason %d has a text", r)
		assert.NotEmpty(t, r.Rule(), "reason %s has a rule", r.Name())
		require.NotEmpty(t, r.Name(), "reason %d has a name", r)
		prev, dup := seen[r.Name()]
		assert.False(t, dup, "name %q is used by %d and %d", r.Name(), prev, r)
		seen[r.Name()] = r
		got, ok := ParseReason(r.Name())
		assert.True(t, ok, "ParseReason(%q)", r.Name())
		assert.Equal(t, r, got, "ParseReason(%q)", r.Name())
		assert.Equal(t, r >= firstDrop, r.Drop(), "%s: the drop reasons come last", r.Name())
	}
	_, ok := ParseReason("no-such-reason")
	assert.False(t, ok, "an unknown name does not parse")
	assert.Equal(t, "unknown", reasonCount.Name(), "an out-of-range Reason has a name")
}
