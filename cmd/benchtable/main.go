// Command benchtable reads the output of `go test -bench` (usually with
// -count > 1) on stdin and prints one table: for each benchmark and metric
// the median over the runs, the spread, and the ratio to its reference
// benchmark measured in the same run. It exits 1 if the input shows a
// failure or holds no benchmark, so `make bench` fails with it.
//
// A reference is named by one of two conventions:
//
//   - a sibling sub-benchmark whose last name element starts with "ref_":
//     BenchmarkRTT/ref_kernel_loopback is a reference of BenchmarkRTT/x;
//   - a top-level benchmark named after another plus "Reference":
//     BenchmarkChecksumReference/1500 is the reference of BenchmarkChecksum/1500.
//
// The ratio is median/reference median, for the same metric.
//
//	go test -run '^$' -bench . -count 5 ./... | go run ./cmd/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

func main() {
	code, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
	}
	os.Exit(code)
}

// bench is one benchmark of one package: its runs' values per metric unit.
type bench struct {
	pkg, name string
	units     []string // in the order first seen
	values    map[string][]float64
}

// input is what run reads.
type input struct {
	benches []*bench
	byKey   map[string]*bench // pkg + " " + name
	cpu     string
	procs   string // the -N suffix of the names: GOMAXPROCS
	failed  []string
}

// benchLine matches "BenchmarkName-8   1000   123 ns/op   4.5 MB/s ...".
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-(\d+))?\s+(\d+)\s+(.+)$`)

// parse reads go test output.
func parse(r io.Reader) (*input, error) {
	in := &input{byKey: make(map[string]*bench)}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			continue
		case strings.HasPrefix(line, "cpu: "):
			in.cpu = strings.TrimPrefix(line, "cpu: ")
			continue
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "--- FAIL"), strings.HasPrefix(line, "panic: "):
			in.failed = append(in.failed, line)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, procs, fields := m[1], m[2], strings.Fields(m[4])
		if len(fields)%2 != 0 {
			continue // not a result line (a benchmark's own log output)
		}
		if procs != "" {
			in.procs = procs
		}
		key := pkg + " " + name
		b := in.byKey[key]
		if b == nil {
			b = &bench{pkg: pkg, name: name, values: make(map[string][]float64)}
			in.byKey[key] = b
			in.benches = append(in.benches, b)
		}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			unit := fields[i+1]
			if _, ok := b.values[unit]; !ok {
				b.units = append(b.units, unit)
			}
			b.values[unit] = append(b.values[unit], v)
		}
	}
	return in, sc.Err()
}

// refsOf returns the references of b among the benchmarks of its package,
// in input order.
func (in *input) refsOf(b *bench) []*bench {
	if isRef(b.name) {
		return nil
	}
	var refs []*bench
	parent, _, hasParent := cutLast(b.name)
	for _, r := range in.benches {
		if r.pkg != b.pkg || r == b {
			continue
		}
		p, last, ok := cutLast(r.name)
		if ok && hasParent && p == parent && strings.HasPrefix(last, "ref_") {
			refs = append(refs, r)
		}
	}
	top, rest, _ := strings.Cut(b.name, "/")
	if r := in.byKey[b.pkg+" "+joinName(top+"Reference", rest)]; r != nil {
		refs = append(refs, r)
	}
	return refs
}

// isRef reports whether name is a reference benchmark.
func isRef(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	_, last, _ := cutLast(name)
	return strings.HasSuffix(top, "Reference") || strings.HasPrefix(last, "ref_")
}

// cutLast splits "a/b/c" into "a/b" and "c".
func cutLast(name string) (parent, last string, ok bool) {
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return "", name, false
	}
	return name[:i], name[i+1:], true
}

func joinName(top, rest string) string {
	if rest == "" {
		return top
	}
	return top + "/" + rest
}

// hasRate reports whether b reports a rate (MB/s, handshakes/s, ...).
func hasRate(b *bench) bool {
	return slices.ContainsFunc(b.units, func(u string) bool { return strings.HasSuffix(u, "/s") })
}

// median of v, which it sorts.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// spread is (max-min)/median, as a percentage.
func spread(v []float64, med float64) string {
	if len(v) < 2 || med == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*(slices.Max(v)-slices.Min(v))/med)
}

// num formats v with about four significant digits.
func num(v float64) string {
	if v == 0 {
		return "0"
	}
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// rightAligned are the columns of numbers.
var rightAligned = map[int]bool{1: true, 3: true, 4: true}

// printTable prints rows in aligned columns, two spaces apart.
func printTable(w io.Writer, rows [][]string) {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if rightAligned[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// run prints the table and returns the exit code.
func run(r io.Reader, w io.Writer) (int, error) {
	in, err := parse(r)
	if err != nil {
		return 1, err
	}
	code := 0
	if len(in.failed) > 0 {
		code = 1
	}
	if len(in.benches) == 0 {
		return 1, fmt.Errorf("no benchmark results in the input")
	}
	runs := 0
	for _, b := range in.benches {
		for _, v := range b.values {
			runs = max(runs, len(v))
		}
	}
	fmt.Fprintf(w, "\nMedians of %d runs; spread = (max-min)/median; ratio = median / median of the reference, same run.\n", runs)
	if in.cpu != "" || in.procs != "" {
		fmt.Fprintf(w, "cpu: %s, GOMAXPROCS %s\n", in.cpu, in.procs)
	}
	var rows [][]string
	pkg := "\x00"
	flush := func() {
		printTable(w, rows)
		rows = nil
	}
	for _, b := range in.benches {
		if b.pkg != pkg {
			flush()
			pkg = b.pkg
			fmt.Fprintf(w, "\n%s\n", pkg)
			rows = append(rows, []string{"benchmark", "median", "unit", "spread", "runs", "ratio to reference"})
		}
		refs := in.refsOf(b)
		for _, unit := range b.units {
			if unit == "ns/op" && hasRate(b) {
				continue // the inverse of the rate shown
			}
			v := b.values[unit]
			med := median(v)
			var ratios []string
			for _, ref := range refs {
				if rv := ref.values[unit]; len(rv) > 0 {
					if rm := median(rv); rm != 0 {
						_, refName, _ := cutLast(ref.name)
						if !strings.HasPrefix(refName, "ref_") {
							refName = ref.name
						}
						ratios = append(ratios, fmt.Sprintf("%.3g× %s", med/rm, refName))
					}
				}
			}
			ratio := strings.Join(ratios, ", ")
			if isRef(b.name) {
				ratio = "(reference)"
			}
			rows = append(rows, []string{b.name, num(med), unit, spread(v, med), strconv.Itoa(len(v)), ratio})
		}
	}
	flush()
	for _, f := range in.failed {
		fmt.Fprintf(w, "failure in the input: %s\n", f)
	}
	return code, nil
}
