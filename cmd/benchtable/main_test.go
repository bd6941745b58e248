package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
goarch: amd64
pkg: example.com/a
cpu: Some CPU
BenchmarkChecksum/1500-2          	 100	  60 ns/op	 3000.00 MB/s
BenchmarkChecksum/1500-2          	 100	  70 ns/op	 1000.00 MB/s
BenchmarkChecksum/1500-2          	 100	  65 ns/op	 2000.00 MB/s
BenchmarkChecksumReference/1500-2 	 100	 600 ns/op	  200.00 MB/s
BenchmarkChecksumReference/1500-2 	 100	 600 ns/op	  200.00 MB/s
BenchmarkChecksumReference/1500-2 	 100	 600 ns/op	  200.00 MB/s
PASS
ok  	example.com/a	1.0s
pkg: example.com/b
BenchmarkRTT/utcp-2                	1000	 30000 ns/op	 20000 p50-ns
BenchmarkRTT/utcp-2                	1000	 30000 ns/op	 24000 p50-ns
BenchmarkRTT/ref_loopback-2        	1000	 10000 ns/op	 10000 p50-ns
BenchmarkRTT/ref_loopback-2        	1000	 10000 ns/op	 12000 p50-ns
BenchmarkRTT/ref_icmp-2            	1000	 20000 ns/op	 22000 p50-ns
BenchmarkRTT/ref_icmp-2            	1000	 20000 ns/op	 22000 p50-ns
BenchmarkSolo-2                    	1000	  1.5 ns/op	 0 B/op	 0 allocs/op
some log line from a benchmark
PASS
ok  	example.com/b	1.0s
`

// The table shows medians, drops ns/op where a rate says the same, and
// gives each benchmark its ratio to every reference of the same metric.
func TestRun_MediansAndRatios(t *testing.T) {
	var out strings.Builder
	code, err := run(strings.NewReader(sample), &out)
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	t.Log(out.String())
	// Compare lines with their runs of spaces made single: the alignment is
	// not the point here.
	var got []string
	for l := range strings.SplitSeq(out.String(), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{
		"Medians of 3 runs; spread = (max-min)/median; ratio = median / median of the reference, same run.",
		"cpu: Some CPU, GOMAXPROCS 2",
		"example.com/a",
		"benchmark median unit spread runs ratio to reference",
		"Checksum/1500 2000 MB/s 100.0% 3 10× ChecksumReference/1500",
		"ChecksumReference/1500 200.0 MB/s 0.0% 3 (reference)",
		"RTT/utcp 30000 ns/op 0.0% 2 3× ref_loopback, 1.5× ref_icmp",
		"RTT/utcp 22000 p50-ns 18.2% 2 2× ref_loopback, 1× ref_icmp",
		"RTT/ref_icmp 20000 ns/op 0.0% 2 (reference)",
		"Solo 1.500 ns/op - 1",
		"Solo 0 B/op - 1",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, out.String(), " 65 ", "ns/op is left out where MB/s says the same")
}

// A failure in the input makes the exit code 1; so does an input with no
// benchmark.
func TestRun_FailuresAndEmptyInput(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  bool
	}{
		{name: "failed package", in: sample + "--- FAIL: BenchmarkX\nFAIL\texample.com/c\t0.1s\n"},
		{name: "no benchmarks", in: "PASS\nok  \texample.com/a\t0.1s\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			code, err := run(strings.NewReader(tc.in), &out)
			assert.Equal(t, 1, code)
			assert.Equal(t, tc.wantErr, err != nil, "err %v", err)
		})
	}
}

func TestIsRef(t *testing.T) {
	for name, want := range map[string]bool{
		"RTT/ref_loopback":         true,
		"ChecksumReference/1500":   true,
		"ChecksumReference":        true,
		"RTT/utcp":                 false,
		"Throughput/x/ref_a":       true,
		"Throughput/x/not_ref_a":   false,
		"ref_top_level_is_not_sub": true,
	} {
		assert.Equal(t, want, isRef(name), name)
	}
}
