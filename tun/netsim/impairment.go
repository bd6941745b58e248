// Package netsim impairs IPv4 packets the way Linux's netem qdisc does:
// delay and jitter, random and Gilbert-Elliott burst loss, reordering,
// duplication, corruption, a rate-limited bottleneck with a drop-tail
// queue, and a path MTU that drops larger packets without a word. It offers an in-memory link pair (Path) whose time is ordinary
// time, so inside a testing/synctest bubble it runs on the fake clock, and
// relays that impair real links: Wrap (a stack and its TUN device) and
// Relay (two TUN devices, kernel to kernel).
//
// Every random decision comes from one math/rand/v2 PCG per direction,
// seeded with Impairment.Seed and drawn in a fixed order per packet, so the
// same packets in the same order meet the same fate.
package netsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultLimit is the queue limit, in packets, when Impairment.Limit is 0;
// netem's default too.
const DefaultLimit = 1000

// Impairment is what one direction of a link does to its packets, with the
// meanings of netem (tc-netem(8)). The zero value passes packets unchanged.
type Impairment struct {
	// Delay is the propagation delay of every packet.
	Delay time.Duration
	// Jitter varies each packet's delay uniformly in [Delay-Jitter,
	// Delay+Jitter) (netem without a distribution table); a negative result
	// is no delay. Packets may overtake each other, as in netem.
	Jitter time.Duration
	// Loss is the probability that a packet is dropped, independently of
	// the others ("loss random P").
	Loss float64
	// GE, if set, drops packets by a Gilbert-Elliott model instead of Loss
	// ("loss gemodel p r 1-h 1-k").
	GE GilbertElliott
	// Reorder is the probability that a packet skips the delay and goes out
	// at once, ahead of the packets still delayed; Gap N makes only a
	// packet after N-1 in-order ones eligible (netem "reorder P gap N").
	// Without Delay it changes nothing.
	Reorder float64
	Gap     int
	// Duplicate is the probability that a packet is sent twice; the copy
	// meets loss, corruption and delay on its own.
	Duplicate float64
	// Corrupt is the probability that one random bit of a packet flips.
	Corrupt float64
	// Rate, in bits per second, is the bottleneck's speed: each packet
	// takes len*8/Rate to serialize after the one before it. 0 is no limit.
	Rate uint64
	// Limit bounds the packets held (waiting for the rate or the delay);
	// a packet arriving at a full queue is dropped (drop-tail). 0 selects
	// DefaultLimit.
	Limit int
	// MTU, if set, silently drops every packet longer than MTU octets: a
	// path MTU no ICMP message reports, a PMTU black hole (RFC 2923 §2.1).
	// It is not netem's; ParseNetem reads it as "mtu N".
	MTU int
	// Seed seeds the direction's random source.
	Seed uint64
}

// GilbertElliott is netem's four-parameter burst-loss model: a good and a
// bad state, a transition drawn for every packet and a loss probability
// in each state. The first packet finds the model in the good state.
type GilbertElliott struct {
	P        float64 // P(good → bad) per packet
	R        float64 // P(bad → good) per packet
	LossBad  float64 // loss probability in the bad state (netem's 1-h)
	LossGood float64 // loss probability in the good state (netem's 1-k)
}

// On reports whether the model is in use.
func (g GilbertElliott) On() bool { return g != GilbertElliott{} }

// ErrInvalid is wrapped by the errors of Validate and ParseNetem.
var ErrInvalid = errors.New("netsim: invalid impairment")

// Validate checks that the fields are in range.
func (im Impairment) Validate() error {
	probs := []struct {
		name string
		v    float64
	}{
		{"loss", im.Loss}, {"reorder", im.Reorder}, {"duplicate", im.Duplicate}, {"corrupt", im.Corrupt},
		{"gemodel p", im.GE.P}, {"gemodel r", im.GE.R}, {"gemodel 1-h", im.GE.LossBad}, {"gemodel 1-k", im.GE.LossGood},
	}
	for _, p := range probs {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			return fmt.Errorf("%w: %s %v is not a probability in [0, 1]", ErrInvalid, p.name, p.v)
		}
	}
	switch {
	case im.Loss > 0 && im.GE.On():
		return fmt.Errorf("%w: random loss and gemodel together; netem takes one loss model", ErrInvalid)
	case im.Delay < 0 || im.Jitter < 0:
		return fmt.Errorf("%w: negative delay %v or jitter %v", ErrInvalid, im.Delay, im.Jitter)
	case im.Limit < 0:
		return fmt.Errorf("%w: negative limit %d", ErrInvalid, im.Limit)
	case im.Gap < 0:
		return fmt.Errorf("%w: negative gap %d", ErrInvalid, im.Gap)
	case im.MTU < 0:
		return fmt.Errorf("%w: negative mtu %d", ErrInvalid, im.MTU)
	}
	return nil
}

// IsZero reports whether im passes packets unchanged and at once.
func (im Impairment) IsZero() bool {
	im.Seed, im.Limit, im.Gap = 0, 0, 0
	return im == Impairment{}
}

// String is im as netem text that ParseNetem reads back.
func (im Impairment) String() string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	if im.Delay > 0 || im.Jitter > 0 {
		if im.Jitter > 0 {
			add("delay %v %v", im.Delay, im.Jitter)
		} else {
			add("delay %v", im.Delay)
		}
	}
	if im.Loss > 0 {
		add("loss %s", pct(im.Loss))
	}
	if g := im.GE; g.On() {
		add("loss gemodel %s %s %s %s", pct(g.P), pct(g.R), pct(g.LossBad), pct(g.LossGood))
	}
	if im.Duplicate > 0 {
		add("duplicate %s", pct(im.Duplicate))
	}
	if im.Corrupt > 0 {
		add("corrupt %s", pct(im.Corrupt))
	}
	if im.Reorder > 0 {
		add("reorder %s", pct(im.Reorder))
	}
	if im.Gap > 0 {
		add("gap %d", im.Gap)
	}
	if im.Rate > 0 {
		add("rate %dbit", im.Rate)
	}
	if im.Limit > 0 {
		add("limit %d", im.Limit)
	}
	if im.MTU > 0 {
		add("mtu %d", im.MTU)
	}
	if im.Seed != 0 {
		add("seed %d", im.Seed)
	}
	return strings.Join(parts, " ")
}

func pct(p float64) string { return strconv.FormatFloat(p*100, 'g', -1, 64) + "%" }

// limit is the queue bound in packets.
func (im *Impairment) limit() int {
	if im.Limit > 0 {
		return im.Limit
	}
	return DefaultLimit
}

// gap is netem's reorder gap: 1 (every packet eligible) when Reorder is set
// without one, as tc sets it.
func (im *Impairment) gap() int {
	if im.Gap > 0 {
		return im.Gap
	}
	return 1
}

// serialization is how long n bytes take at Rate.
func (im *Impairment) serialization(n int) time.Duration {
	if im.Rate == 0 {
		return 0
	}
	return time.Duration(uint64(n) * 8 * uint64(time.Second) / im.Rate)
}
