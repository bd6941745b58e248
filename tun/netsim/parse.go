package netsim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseNetem reads an Impairment from netem's command-line syntax (the part
// of `tc qdisc add dev DEV root netem ...` after "netem"):
//
//	delay TIME [JITTER]          loss [random] PERCENT
//	loss gemodel p [r [1-h [1-k]]]
//	duplicate PERCENT            corrupt PERCENT
//	reorder PERCENT [gap N]      rate RATE        limit PACKETS    seed N
//	mtu OCTETS (not netem's: drop packets longer than OCTETS, Impairment.MTU)
//
// Times take a unit (25ms, 1.5s, 100us, also tc's msec, usec, sec);
// percentages take "%". RATE is a number with tc's units: bit, kbit, mbit,
// gbit, tbit (bits per second; a bare number is bits too), kibit, mibit,
// gibit, and bps, kbps, mbps, gbps (bytes per second). gemodel's omitted
// parameters default as in tc: r = 100%, 1-h = 100%, 1-k = 0%. Reorder
// needs a delay, as in tc. Correlations and distributions are not
// simulated, so they are an error rather than silently ignored.
func ParseNetem(s string) (Impairment, error) {
	var im Impairment
	p := &parser{toks: strings.Fields(s)}
	seen := map[string]bool{}
	for p.more() {
		kw := p.next()
		if seen[kw] {
			return Impairment{}, p.errf("%q given twice", kw)
		}
		seen[kw] = true
		var err error
		switch kw {
		case "delay":
			if im.Delay, err = p.duration("delay"); err != nil {
				break
			}
			if p.peekNumber() {
				if im.Jitter, err = p.duration("jitter"); err != nil {
					break
				}
			}
			err = p.noCorrelation("delay")
		case "loss":
			err = p.loss(&im)
		case "duplicate":
			if im.Duplicate, err = p.percent("duplicate"); err == nil {
				err = p.noCorrelation("duplicate")
			}
		case "corrupt":
			if im.Corrupt, err = p.percent("corrupt"); err == nil {
				err = p.noCorrelation("corrupt")
			}
		case "reorder":
			if im.Reorder, err = p.percent("reorder"); err == nil {
				err = p.noCorrelation("reorder")
			}
		case "gap":
			im.Gap, err = p.count("gap", 1)
		case "rate":
			im.Rate, err = p.rate()
		case "limit":
			im.Limit, err = p.count("limit", 1)
		case "mtu":
			im.MTU, err = p.count("mtu", 1)
		case "seed":
			var v uint64
			if !p.more() {
				return Impairment{}, p.errf("seed needs a number")
			}
			tok := p.next()
			if v, err = strconv.ParseUint(tok, 10, 64); err != nil {
				err = p.errf("seed %q: want an unsigned integer", tok)
			}
			im.Seed = v
		case "distribution", "slot", "ecn", "jitter":
			err = p.errf("netem option %q is not simulated", kw)
		default:
			err = p.errf("unknown netem option %q: want delay, loss, duplicate, corrupt, reorder, gap, rate, limit, mtu or seed", kw)
		}
		if err != nil {
			return Impairment{}, err
		}
	}
	if im.Reorder > 0 && im.Delay == 0 {
		return Impairment{}, fmt.Errorf("%w: reorder needs a delay: a reordered packet is one sent without it", ErrInvalid)
	}
	if im.Gap > 0 && im.Reorder == 0 {
		return Impairment{}, fmt.Errorf("%w: gap without reorder", ErrInvalid)
	}
	if err := im.Validate(); err != nil {
		return Impairment{}, err
	}
	return im, nil
}

// parser walks the tokens of a netem text.
type parser struct {
	toks []string
	i    int
}

func (p *parser) more() bool   { return p.i < len(p.toks) }
func (p *parser) next() string { p.i++; return p.toks[p.i-1] }

// peekNumber reports whether the next token starts like a number, which is
// how tc tells an optional argument from the next keyword.
func (p *parser) peekNumber() bool {
	if !p.more() {
		return false
	}
	c := p.toks[p.i][0]
	return c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+'
}

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// noCorrelation rejects the correlation percentage netem allows after a value.
func (p *parser) noCorrelation(what string) error {
	if p.peekNumber() {
		return p.errf("%s correlation %q is not simulated", what, p.toks[p.i])
	}
	return nil
}

// duration reads a non-negative time with a unit.
func (p *parser) duration(what string) (time.Duration, error) {
	if !p.more() {
		return 0, p.errf("%s needs a time such as 25ms", what)
	}
	tok := p.next()
	s := tok
	for _, u := range [][2]string{{"usecs", "us"}, {"usec", "us"}, {"msecs", "ms"}, {"msec", "ms"}, {"nsecs", "ns"}, {"nsec", "ns"}, {"secs", "s"}, {"sec", "s"}} {
		if strings.HasSuffix(s, u[0]) {
			s = strings.TrimSuffix(s, u[0]) + u[1]
			break
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, p.errf("%s %q: want a non-negative time with a unit, such as 25ms", what, tok)
	}
	return d, nil
}

// percent reads a probability written as a percentage.
func (p *parser) percent(what string) (float64, error) {
	if !p.more() {
		return 0, p.errf("%s needs a percentage such as 1%%", what)
	}
	tok := p.next()
	num, ok := strings.CutSuffix(tok, "%")
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || !(v >= 0 && v <= 100) {
		return 0, p.errf("%s %q: want a percentage in [0%%, 100%%], such as 1%%", what, tok)
	}
	return v / 100, nil
}

// count reads an integer of at least lo.
func (p *parser) count(what string, lo int) (int, error) {
	if !p.more() {
		return 0, p.errf("%s needs a number", what)
	}
	tok := p.next()
	v, err := strconv.Atoi(tok)
	if err != nil || v < lo {
		return 0, p.errf("%s %q: want an integer of at least %d", what, tok, lo)
	}
	return v, nil
}

// loss reads "loss [random] P" or "loss gemodel p [r [1-h [1-k]]]".
func (p *parser) loss(im *Impairment) error {
	if !p.more() {
		return p.errf("loss needs a percentage or gemodel")
	}
	switch p.toks[p.i] {
	case "random":
		p.next()
	case "state":
		return p.errf("loss state (the 4-state Markov model) is not simulated; use gemodel")
	case "gemodel":
		p.next()
		g := GilbertElliott{R: 1, LossBad: 1}
		fields := []*float64{&g.P, &g.R, &g.LossBad, &g.LossGood}
		names := []string{"gemodel p", "gemodel r", "gemodel 1-h", "gemodel 1-k"}
		for i, f := range fields {
			if i > 0 && !p.peekNumber() {
				break
			}
			v, err := p.percent(names[i])
			if err != nil {
				return err
			}
			*f = v
		}
		if p.peekNumber() {
			return p.errf("gemodel takes at most 4 percentages, got %q after them", p.toks[p.i])
		}
		im.GE = g
		return nil
	}
	v, err := p.percent("loss")
	if err != nil {
		return err
	}
	im.Loss = v
	return p.noCorrelation("loss")
}

// rate reads a bandwidth in tc's units as bits per second.
func (p *parser) rate() (uint64, error) {
	if !p.more() {
		return 0, p.errf("rate needs a bandwidth such as 100mbit")
	}
	tok := p.next()
	lower := strings.ToLower(tok)
	i := strings.IndexFunc(lower, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == '+') })
	num, unit := lower, ""
	if i >= 0 {
		num, unit = lower[:i], lower[i:]
	}
	mult, ok := rateUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || !(v > 0) {
		return 0, p.errf("rate %q: want a positive number with a unit such as 100mbit, 10kbps", tok)
	}
	bits := v * mult
	if bits < 1 || bits > math.MaxInt64 {
		return 0, p.errf("rate %q is out of range", tok)
	}
	return uint64(bits), nil
}

// rateUnits are tc's rate units in bits per second (tc(8) "RATES").
var rateUnits = map[string]float64{
	"": 1, "bit": 1,
	"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
	"kibps": 8 << 10, "mibps": 8 << 20, "gibps": 8 << 30, "tibps": 8 << 40,
}
