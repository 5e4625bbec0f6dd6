package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A figure 20% worse than its baseline passes, 21% fails, whichever way
// is better; a figure missing from the run fails.
func TestCompare(t *testing.T) {
	baseline, err := Parse(strings.NewReader("# a comment\nheap_bytes_per_pod 500 bytes\nlookups_per_second 1000 lookups/s higher\nscrape_seconds 0.001 seconds\n"))
	if err != nil || len(baseline) != 3 {
		t.Fatalf("baseline %v, %v", baseline, err)
	}
	run := func(out string) []string {
		got, err := Parse(strings.NewReader("BenchmarkX-2 1 100 ns/op\n" + out))
		if err != nil {
			t.Fatal(err)
		}
		return Compare(baseline, got, 0.2)
	}
	if bad := run("heap_bytes_per_pod 600 bytes\nlookups_per_second 800 lookups/s\nscrape_seconds 0.0009 seconds\n"); len(bad) != 0 {
		t.Errorf("within 20%%: %v", bad)
	}
	if bad := run("heap_bytes_per_pod 500 MiB\nlookups_per_second NaN lookups/s\nscrape_seconds 0.001 seconds\n"); len(bad) != 2 {
		t.Errorf("another unit and a NaN: %v", bad)
	}
	bad := run("heap_bytes_per_pod 606 bytes\nlookups_per_second 790 lookups/s\n")
	if len(bad) != 3 || !strings.Contains(bad[0], "heap_bytes_per_pod: 606") || !strings.Contains(bad[1], "lookups_per_second: 790") || !strings.Contains(bad[2], "scrape_seconds: missing") {
		t.Errorf("21%% worse and a missing figure: %v", bad)
	}
}

// Every benchmark hack/bench.sh runs exists in the package it names: a
// benchmark moved to another package would otherwise drop its figures
// from make bench (it did once, when the collectors became packages).
func TestBenchScriptNamesRealBenchmarks(t *testing.T) {
	script, err := os.ReadFile("../bench.sh")
	if err != nil {
		t.Fatal(err)
	}
	runs := regexp.MustCompile(`(?m)^run -bench '([^']+)' .*(\./\S+)$`).FindAllStringSubmatch(string(script), -1)
	if len(runs) == 0 {
		t.Fatal("no `run -bench '...' ./pkg` lines in hack/bench.sh")
	}
	for _, r := range runs {
		files, _ := filepath.Glob(filepath.Join("..", "..", r[2], "*_test.go"))
		var src strings.Builder
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
		for _, name := range strings.Split(r[1], "|") {
			name = strings.TrimSuffix(name, "$")
			if !strings.Contains(src.String(), "func "+name+"(b *testing.B)") {
				t.Errorf("hack/bench.sh runs %s in %s, which has no such benchmark", name, r[2])
			}
		}
	}
}

// Every figure hack/bench.sh prints is described in the README's
// performance section, by its name or by a prefix ending in * (as
// `dns_seconds_per_*`).
func TestFiguresDocumentedInREADME(t *testing.T) {
	script, err := os.ReadFile("../bench.sh")
	if err != nil {
		t.Fatal(err)
	}
	all, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(all), "\n## Performance\n")
	if !ok {
		t.Fatal("README.md has no ## Performance section")
	}
	readme, _, _ := strings.Cut(section, "\n## ")
	var prefixes []string
	for _, m := range regexp.MustCompile("`([a-z0-9_]+)\\*`").FindAllStringSubmatch(readme, -1) {
		prefixes = append(prefixes, m[1])
	}
	figures := regexp.MustCompile(`(?m)^figure (\S+) `).FindAllStringSubmatch(string(script), -1)
	if len(figures) < 10 {
		t.Fatalf("found %d figure lines in hack/bench.sh", len(figures))
	}
	for _, f := range figures {
		name := f[1]
		if strings.Contains(readme, "`"+name+"`") || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		t.Errorf("make bench prints %s, which the README's performance section does not describe", name)
	}
}
