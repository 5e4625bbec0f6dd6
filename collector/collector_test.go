package collector

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden gathers g once and compares the exposition of the named families
// with testdata/name; go test -update rewrites the file (read the diff before
// committing it).
func golden(t *testing.T, g prometheus.Gatherer, name string, metricNames ...string) {
	t.Helper()
	compareGolden(t, render(t, g, metricNames...), name)
}

// render gathers g once and returns the exposition of the named families
// (of all of them if none is named).
func render(t *testing.T, g prometheus.Gatherer, metricNames ...string) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for _, mf := range mfs {
		if len(metricNames) == 0 || slices.Contains(metricNames, mf.GetName()) {
			if err := expfmt.NewEncoder(&got, expfmt.NewFormat(expfmt.TypeTextPlain)).Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got.String()
}

func compareGolden(t *testing.T, got, name string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

var testGauge = newMetric("test_value", prometheus.GaugeValue, "A test value.", "source")

// fakeCollector sends one sample, then behaves as told.
type fakeCollector struct {
	name  string
	err   error
	block bool // ignore ctx and hang past any deadline
	panic bool
	sent  chan struct{}
}

func (f *fakeCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	ch <- testGauge.value(1, f.name)
	if f.sent != nil {
		close(f.sent)
	}
	switch {
	case f.panic:
		panic("boom")
	case f.block:
		time.Sleep(2 * time.Second)
		ch <- testGauge.value(2, f.name+"-late")
	}
	return f.err
}

func newTestExporter(cs ...*fakeCollector) *Exporter {
	e := &Exporter{logger: promslog.NewNopLogger()}
	for _, c := range cs {
		e.collectors = append(e.collectors, namedCollector{c.name, c})
	}
	return e
}

func gatherScrape(t *testing.T, e *Exporter, timeout time.Duration) *prometheus.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Scrape(ctx))
	return reg
}

func TestScrapeIsolatesFailingCollectors(t *testing.T) {
	e := newTestExporter(
		&fakeCollector{name: "good"},
		&fakeCollector{name: "failing", err: errors.New("source unavailable")},
		&fakeCollector{name: "panicking", panic: true},
	)
	golden(t, gatherScrape(t, e, 5*time.Second), "scrape_failing.prom",
		"kube_triage_test_value", "kube_triage_scrape_collector_success")
}

func TestScrapeCutsOffSlowCollectorAtDeadline(t *testing.T) {
	slow := &fakeCollector{name: "slow", block: true, sent: make(chan struct{})}
	e := newTestExporter(&fakeCollector{name: "good"}, slow)
	reg := gatherScrape(t, e, 200*time.Millisecond)

	start := time.Now()
	golden(t, reg, "scrape_slow.prom", "kube_triage_test_value", "kube_triage_scrape_collector_success")
	if took := time.Since(start); took > time.Second {
		t.Errorf("scrape took %s; a slow collector must not stall it past its deadline", took)
	}
	<-slow.sent
}

func TestScrapeReportsDurationPerCollector(t *testing.T) {
	e := newTestExporter(&fakeCollector{name: "a"}, &fakeCollector{name: "b"})
	n, err := testutil.GatherAndCount(gatherScrape(t, e, time.Second), "kube_triage_scrape_collector_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("got %d duration series, want one per collector (2)", n)
	}
}

func TestNewExporterNamesTheFailingCollector(t *testing.T) {
	specs := []Spec{{Name: "broken", New: func(Deps) (Collector, error) { return nil, errors.New("bad config") }}}
	_, err := NewExporter(specs, Deps{Logger: promslog.NewNopLogger()})
	if err == nil || err.Error() != "collector broken: bad config" {
		t.Errorf("got error %v, want it to name the collector", err)
	}
}

func TestSpecNamesAreUniqueAndMetricsPrefixed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range FrameworkMetrics() {
		seen[m.Name] = true
	}
	names := map[string]bool{}
	for _, s := range Specs() {
		if names[s.Name] {
			t.Errorf("collector %q registered twice", s.Name)
		}
		names[s.Name] = true
		if s.Help == "" || strings.HasSuffix(s.Help, ".") {
			t.Errorf("collector %q: help must be set and end without a period (the flag help adds one)", s.Name)
		}
		for _, m := range s.Metrics {
			if !strings.HasPrefix(m.Name, Namespace+"_") {
				t.Errorf("metric %s lacks the %s_ prefix", m.Name, Namespace)
			}
			if seen[m.Name] {
				t.Errorf("metric %s declared twice", m.Name)
			}
			seen[m.Name] = true
		}
	}
}

// testExporterRegistry is a gathered scrape, typed for readability.
type testExporterRegistry struct{ *prometheus.Registry }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func itoa(i int) string { return strconv.Itoa(i) }

// startInformers starts kc's informers for the test and waits until every
// one has synced; they stop at the end of the test, or earlier by the
// returned func.
func startInformers(t *testing.T, kc *kube.Client) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kc.Informers.Start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for len(kc.Informers.Pending()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("informers did not sync: %v", kc.Informers.Pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cancel
}
