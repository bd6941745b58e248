package tcp

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// scriptParseStat parses "stat NAME N" (see TestScripts).
func scriptParseStat(l *scriptLine, arg string) error {
	name, n, _ := strings.Cut(arg, " ")
	v, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || v < 0 {
		return fmt.Errorf("stat: want NAME and a count, got %q", arg)
	}
	_, counter := scriptCounter(nil, strings.TrimPrefix(name, "stack."))
	if _, ok := scriptStackStat(&oooBudget{}, name); !ok && !(counter && strings.HasPrefix(name, "stack.")) {
		if f, ok := reflect.TypeOf(ConnStats{}).FieldByName(name); !ok || f.Type.Kind() != reflect.Uint64 {
			return fmt.Errorf("stat: no counter %q in ConnStats or the stack's out-of-order budget", name)
		}
	}
	l.stat, l.n = name, v
	return nil
}

// scriptStackStat reads one of the budget's StackStats counters named "stack.NAME".
func scriptStackStat(b *oooBudget, name string) (int, bool) {
	switch name {
	case "stack.OutOfOrderRanges":
		return b.ranges, true
	case "stack.OutOfOrderBytes":
		return b.bytes, true
	case "stack.OutOfOrderDropped":
		return int(b.dropped.Load()), true
	case "stack.OutOfOrderReneged":
		return int(b.reneged.Load()), true
	case "stack.OutOfOrderReclaimed":
		return int(b.reclaimed.Load()), true
	}
	return 0, false
}

// checkStat runs "stat NAME N".
func (r *scriptRunner) checkStat(l *scriptLine) {
	got, ok := scriptStackStat(&r.h.budget, l.stat)
	if n, isCounter := scriptCounter(r.h, strings.TrimPrefix(l.stat, "stack.")); !ok && isCounter && strings.HasPrefix(l.stat, "stack.") {
		got, ok = int(n), true
	}
	if !ok {
		st := r.conn(l).Stats()
		got = int(reflect.ValueOf(st).FieldByName(l.stat).Uint())
	}
	if got != l.n {
		r.failf("stat %s: got %d, want %d", l.stat, got, l.n)
	}
}
