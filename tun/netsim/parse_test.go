package netsim

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNetem_Valid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Impairment
	}{
		{"", Impairment{}},
		{"delay 25ms 5ms loss 1% duplicate 2% corrupt 1% reorder 25% rate 100mbit limit 200",
			Impairment{Delay: 25 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.01, Duplicate: 0.02,
				Corrupt: 0.01, Reorder: 0.25, Rate: 100e6, Limit: 200}},
		{"loss gemodel 1% 10% 70% 0.1%", Impairment{GE: GilbertElliott{P: 0.01, R: 0.1, LossBad: 0.7, LossGood: 0.001}}},
		{"loss gemodel 2%", Impairment{GE: GilbertElliott{P: 0.02, R: 1, LossBad: 1}}},
		{"loss gemodel 2% 30%", Impairment{GE: GilbertElliott{P: 0.02, R: 0.3, LossBad: 1}}},
		{"loss random 5%", Impairment{Loss: 0.05}},
		{"delay 100msec", Impairment{Delay: 100 * time.Millisecond}},
		{"delay 1.5s 250usec", Impairment{Delay: 1500 * time.Millisecond, Jitter: 250 * time.Microsecond}},
		{"delay 10ms reorder 50% gap 5", Impairment{Delay: 10 * time.Millisecond, Reorder: 0.5, Gap: 5}},
		{"rate 10kbps", Impairment{Rate: 80e3}},
		{"rate 1mibit", Impairment{Rate: 1 << 20}},
		{"rate 9600", Impairment{Rate: 9600}},
		{"rate 1Gbit", Impairment{Rate: 1e9}},
		{"seed 42 limit 5", Impairment{Seed: 42, Limit: 5}},
		{"delay 5ms mtu 1280", Impairment{Delay: 5 * time.Millisecond, MTU: 1280}},
		{"  loss   100%  ", Impairment{Loss: 1}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseNetem(tc.in)
			require.NoError(t, err)
			assertSameImpairment(t, tc.want, got)
			back, err := ParseNetem(got.String())
			require.NoError(t, err, "String %q must parse", got.String())
			assertSameImpairment(t, got, back)
		})
	}
}

func TestParseNetem_Errors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"delay", "delay needs a time"},
		{"delay 25", "want a non-negative time with a unit"},
		{"delay -5ms", "want a non-negative time"},
		{"delay 25ms 5ms 25%", "delay correlation"},
		{"loss", "loss needs"},
		{"loss 1", "want a percentage"},
		{"loss 101%", "want a percentage in [0%, 100%]"},
		{"loss 1% 25%", "loss correlation"},
		{"loss 1% loss 2%", `"loss" given twice`},
		{"loss state 1%", "not simulated"},
		{"loss gemodel", "gemodel p needs"},
		{"loss gemodel 1% 2% 3% 4% 5%", "at most 4"},
		{"reorder 25%", "reorder needs a delay"},
		{"delay 5ms gap 3", "gap without reorder"},
		{"delay 5ms reorder 10% gap 0", "want an integer of at least 1"},
		{"rate", "rate needs"},
		{"rate 100furlongs", "want a positive number with a unit"},
		{"rate 0mbit", "want a positive number"},
		{"rate 1e30tbit", "out of range"},
		{"limit 0", "at least 1"},
		{"limit x", "at least 1"},
		{"seed -1", "unsigned integer"},
		{"distribution normal", "not simulated"},
		{"bogus 1", "unknown netem option"},
		{"NaN%", "unknown netem option"},
		{"corrupt NaN%", "want a percentage"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseNetem(tc.in)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// FuzzParseNetem checks that ParseNetem never panics, that what it accepts
// is valid, and that String reads back as the same impairment.
func FuzzParseNetem(f *testing.F) {
	for _, s := range []string{
		"delay 25ms 5ms loss 1% duplicate 2% corrupt 1% reorder 25% rate 100mbit limit 200",
		"loss gemodel 1% 10% 70% 0.1%", "delay 1h2m3.5s", "rate 1.5gibps seed 7", "delay 5ms reorder 1% gap 3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		im, err := ParseNetem(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		require.NoError(t, im.Validate())
		back, err := ParseNetem(im.String())
		require.NoError(t, err, "String %q of %q must parse", im.String(), s)
		assertSameImpairment(t, im, back)
	})
}

// assertSameImpairment compares two impairments, the probabilities to a
// rounding error (they pass through percentages).
func assertSameImpairment(t *testing.T, want, got Impairment) {
	t.Helper()
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }
	probs := [][2]float64{{want.Loss, got.Loss}, {want.Reorder, got.Reorder}, {want.Duplicate, got.Duplicate},
		{want.Corrupt, got.Corrupt}, {want.GE.P, got.GE.P}, {want.GE.R, got.GE.R},
		{want.GE.LossBad, got.GE.LossBad}, {want.GE.LossGood, got.GE.LossGood}}
	for i, p := range probs {
		assert.Truef(t, near(p[0], p[1]), "probability %d: want %v, got %v", i, p[0], p[1])
	}
	want.Loss, want.Reorder, want.Duplicate, want.Corrupt, want.GE = 0, 0, 0, 0, GilbertElliott{}
	got.Loss, got.Reorder, got.Duplicate, got.Corrupt, got.GE = 0, 0, 0, 0, GilbertElliott{}
	assert.Equal(t, want, got)
}
