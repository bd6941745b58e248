package tcp

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/utcp/utcp/tun/netsim"
)

// simGoodputWindow is how long, in simulated time, each measurement sends.
const simGoodputWindow = 10 * time.Second

// BenchmarkSimGoodput is utcp ↔ utcp goodput, one connection A → B, over a
// netsim path with random loss each way and the round trip split between
// the directions, the cells of the e2e BenchmarkImpairedGoodput. Time is
// simulated (synctest), so MiB/s is per simulated second: what the
// protocol achieves, independent of the machine's speed.
func BenchmarkSimGoodput(b *testing.B) {
	for _, loss := range []float64{0, 0.01, 0.05} {
		for _, rtt := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("loss=%g%%_rtt=%v", loss*100, rtt), func(b *testing.B) {
				var total int64
				for i := range b.N {
					total += simGoodput(b, loss, rtt, uint64(i+1))
				}
				b.ReportMetric(float64(total)/(1<<20)/(simGoodputWindow.Seconds()*float64(b.N)), "MiB/s")
			})
		}
	}
}

// simGoodput runs one measurement in a synctest bubble. synctest.Test
// takes a *testing.T, which a benchmark has not, so it runs as a test of
// its own through testing.RunTests, whose filter admits it whatever -run is.
func simGoodput(b *testing.B, loss float64, rtt time.Duration, seed uint64) int64 {
	b.Helper()
	var got int64
	ok := testing.RunTests(func(string, string) (bool, error) { return true, nil }, []testing.InternalTest{{
		Name: b.Name(),
		F: func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { got = simGoodputRun(t, loss, rtt, seed) })
		},
	}})
	if !ok {
		b.Fatalf("the measurement failed (loss %g, rtt %v, seed %d)", loss, rtt, seed)
	}
	return got
}

func simGoodputRun(t *testing.T, loss float64, rtt time.Duration, seed uint64) int64 {
	// The default timers and buffers, as a user of the stack has them.
	cfg := func(a netip.Addr) Config { return Config{Addr: a, MSL: time.Second} }
	_, _, _, _, ca, cb := simConnect(t, netsim.Impairment{Delay: rtt / 2, Loss: loss, Limit: 20000}, seed, cfg)
	var got atomic.Int64
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := cb.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := ca.Write(buf); err != nil {
				return
			}
		}
	}()
	time.Sleep(simGoodputWindow) // simulated: the transfer runs meanwhile
	n := got.Load()
	ca.Abort()
	cb.Abort()
	return n
}
