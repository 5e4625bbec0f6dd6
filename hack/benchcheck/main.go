// Command benchcheck compares make bench's figures (its NAME VALUE UNIT
// lines) with a committed baseline and fails when one is more than the
// tolerance worse: `make bench-check`. The baseline says which way is
// better for each figure (lower, or higher for rates).
//
// Usage: benchcheck -baseline hack/bench-baseline.txt [-tolerance 0.2] < bench-output
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Figure is one NAME VALUE UNIT line; Higher, in the baseline, says that a
// larger value is better.
type Figure struct {
	Name   string
	Value  float64
	Unit   string
	Higher bool
}

// Parse reads the NAME VALUE UNIT [higher] lines of r; other lines (the
// benchmarks' own, comments) are skipped.
func Parse(r io.Reader) (map[string]Figure, error) {
	out := map[string]Figure{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f) > 4 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue // "NAME missing UNIT", or prose; a figure that is not a number is missing
		}
		out[f[0]] = Figure{Name: f[0], Value: v, Unit: f[2], Higher: len(f) == 4 && f[3] == "higher"}
	}
	return out, sc.Err()
}

// Compare lists the figures of the baseline that got worse than tolerance
// allows, or are missing from got.
func Compare(baseline, got map[string]Figure, tolerance float64) []string {
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(baseline)) {
		b := baseline[name]
		g, ok := got[name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: missing from this run (baseline %g %s)", name, b.Value, b.Unit))
		case g.Unit != b.Unit:
			bad = append(bad, fmt.Sprintf("%s: in %s, the baseline in %s", name, g.Unit, b.Unit))
		case b.Higher && g.Value < b.Value*(1-tolerance):
			bad = append(bad, fmt.Sprintf("%s: %g %s, baseline %g (%.0f%% lower)", name, g.Value, b.Unit, b.Value, 100*(1-g.Value/b.Value)))
		case !b.Higher && g.Value > b.Value*(1+tolerance):
			bad = append(bad, fmt.Sprintf("%s: %g %s, baseline %g (%.0f%% higher)", name, g.Value, b.Unit, b.Value, 100*(g.Value/b.Value-1)))
		}
	}
	return bad
}

func main() {
	baselinePath := flag.String("baseline", "hack/bench-baseline.txt", "the committed figures")
	tolerance := flag.Float64("tolerance", 0.2, "how much worse a figure may be")
	flag.Parse()
	bf, err := os.Open(*baselinePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcheck:", err)
		os.Exit(2)
	}
	defer bf.Close()
	baseline, err := Parse(bf)
	if err != nil || len(baseline) == 0 {
		fmt.Fprintf(os.Stderr, "benchcheck: %s: no figures (%v)\n", *baselinePath, err)
		os.Exit(2)
	}
	got, err := Parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcheck:", err)
		os.Exit(2)
	}
	if bad := Compare(baseline, got, *tolerance); len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "benchcheck: %d of %d figures more than %.0f%% worse than %s:\n  %s\n", len(bad), len(baseline), 100**tolerance, *baselinePath, strings.Join(bad, "\n  "))
		os.Exit(1)
	}
	fmt.Printf("benchcheck: %d figures within %.0f%% of %s\n", len(baseline), 100**tolerance, *baselinePath)
}
