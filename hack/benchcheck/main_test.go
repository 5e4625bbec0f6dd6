package main

import (
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
	bad := run("heap_bytes_per_pod 606 bytes\nlookups_per_second 790 lookups/s\n")
	if len(bad) != 3 || !strings.Contains(bad[0], "heap_bytes_per_pod: 606") || !strings.Contains(bad[1], "lookups_per_second: 790") || !strings.Contains(bad[2], "scrape_seconds: missing") {
		t.Errorf("21%% worse and a missing figure: %v", bad)
	}
}
