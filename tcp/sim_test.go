package tcp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun/netsim"
	"github.com/utcp/utcp/tun/tuntest"
)

// The simulator tests run two stacks over a netsim path inside synctest
// bubbles: the clock is fake, so a 100 ms round trip or a retransmission
// timeout costs no wall time, and every impairment comes from a seed. Each
// scenario runs many seeds; each seed moves simSize octets each way, checks
// them by SHA-256, closes both ends and waits for both stacks to have no
// connection left. UTCP_SIM_SEED=N runs only seed N of every scenario.

// simScenario is a path impairment; impair picks one for a seed (both
// directions get it, with different random streams).
type simScenario struct {
	name   string
	impair func(rng *rand.Rand) netsim.Impairment
}

var simScenarios = []simScenario{
	{"loss", func(rng *rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 5 * time.Millisecond, Loss: 0.01 + 0.09*rng.Float64()} // 1-10%
	}},
	{"gemodel", func(*rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 5 * time.Millisecond, GE: netsim.GilbertElliott{P: 0.01, R: 0.1, LossBad: 0.7, LossGood: 0.001}}
	}},
	{"reorder", func(*rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 10 * time.Millisecond, Reorder: 0.25}
	}},
	{"duplicate", func(*rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 5 * time.Millisecond, Duplicate: 0.05}
	}},
	{"corrupt", func(*rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 5 * time.Millisecond, Corrupt: 0.02}
	}},
	{"bottleneck", func(*rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 5 * time.Millisecond, Rate: 10e6, Limit: 20} // 10 Mbit/s, 20-packet queue
	}},
	{"longdelay", func(*rand.Rand) netsim.Impairment {
		return netsim.Impairment{Delay: 50 * time.Millisecond, Jitter: time.Millisecond} // 100 ms RTT
	}},
}

// simSeeds and simSize: fewer and smaller under -short and -race.
func simSeeds() []uint64 {
	if s := os.Getenv("UTCP_SIM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			panic("UTCP_SIM_SEED: " + err.Error())
		}
		return []uint64{n}
	}
	n := 20
	if testing.Short() {
		n = 5
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

func simSize() int {
	if testing.Short() || tuntest.RaceEnabled() {
		return 1 << 20
	}
	return 4 << 20
}

func TestSim(t *testing.T) {
	for _, sc := range simScenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, seed := range simSeeds() {
				name := fmt.Sprintf("seed=%d", seed)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					im := sc.impair(rand.New(rand.NewPCG(seed, 1)))
					t.Cleanup(func() {
						if t.Failed() {
							t.Logf("scenario %s, seed %d, impairment %q each way; reproduce with:\n"+
								"  go test ./tcp -run 'TestSim/%s/%s$' -v   (or UTCP_SIM_SEED=%d go test ./tcp -run TestSim/%s)",
								sc.name, seed, im, sc.name, name, seed, sc.name)
						}
					})
					synctest.Test(t, func(t *testing.T) { simTransfer(t, im, seed, simSize()) })
				})
			}
		})
	}
}

// simConnect starts stacks A and B (configs from cfg) on a netsim path
// impaired by im each way, with seeds from seed, and connects A to B's
// port 80. The test's cleanup closes everything.
func simConnect(t *testing.T, im netsim.Impairment, seed uint64, cfg func(netip.Addr) Config) (ea, eb *netsim.End, a, b *Stack, ca, cb *Conn) {
	t.Helper()
	ab, ba := im, im
	ab.Seed, ba.Seed = 2*seed, 2*seed+1
	ea, eb, err := netsim.NewPath(1500, ab, ba)
	require.NoError(t, err)
	a, err = NewStack(ea, cfg(addrA))
	require.NoError(t, err)
	b, err = NewStack(eb, cfg(addrB))
	require.NoError(t, err)
	t.Cleanup(func() {
		a.Close()
		b.Close()
		ea.Close()
	})
	ln, err := b.Listen(80)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	ca, err = a.Dial(netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err, "A connects to B")
	cb, err = ln.AcceptTCP()
	require.NoError(t, err, "B accepts")
	return ea, eb, a, b, ca, cb
}

// simTransfer connects two stacks over a path impaired by im each way
// (seeded from seed), moves n octets each way and closes.
func simTransfer(t *testing.T, im netsim.Impairment, seed uint64, n int) {
	ea, eb, a, b, ca, cb := simConnect(t, im, seed, fastConfig)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); transfer(t, ca, cb, n, seed) }()
	go func() { defer wg.Done(); transfer(t, cb, ca, n, seed+1<<32) }()
	wg.Wait()
	took := time.Since(start)
	require.NoError(t, ca.Close())
	require.NoError(t, cb.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // of fake time
	defer cancel()
	require.NoError(t, a.Wait(ctx), "A's connection reaches CLOSED")
	require.NoError(t, b.Wait(ctx), "B's connection reaches CLOSED")
	t.Logf("%d octets each way in %v of simulated time; A→B %+v; B→A %+v", n, took, ea.Stats(), eb.Stats())
}
