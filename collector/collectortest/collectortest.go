// Package collectortest helps test a collector through the framework, as
// a scraper sees it: one scrape as Prometheus gets it, parsed; golden
// exposition files; a series' value; informers started and synced.
package collectortest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Exporter runs c alone as the collector name.
func Exporter(t testing.TB, name string, c *collector.Collector) *collector.Exporter {
	t.Helper()
	e, err := collector.NewExporterOf(collector.Deps{Logger: promslog.NewNopLogger()}, collector.Named{Name: name, Collector: c})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Scrape gathers, each time it is asked, one scrape of e as a scraper
// gets it: the text WriteMetrics writes, parsed.
func Scrape(t testing.TB, e *collector.Exporter, timeout time.Duration) prometheus.Gatherer {
	t.Helper()
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var buf bytes.Buffer
		if err := e.WriteMetrics(ctx, &buf, expfmt.NewFormat(expfmt.TypeTextPlain), nil); err != nil {
			return nil, err
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		byName, err := parser.TextToMetricFamilies(&buf)
		if err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, buf.String())
		}
		var mfs []*dto.MetricFamily
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			mf := normalize(byName[name])
			// The parser accepts a series twice; Prometheus fails the scrape.
			for i := 1; i < len(mf.Metric); i++ {
				if fmt.Sprint(mf.Metric[i-1].Label) == fmt.Sprint(mf.Metric[i].Label) {
					return nil, fmt.Errorf("%s%v is exported twice", name, mf.Metric[i].Label)
				}
			}
			mfs = append(mfs, mf)
		}
		return mfs, nil
	})
}

// ScrapeOnce is Scrape of c alone, as the collector name.
func ScrapeOnce(t testing.TB, name string, c *collector.Collector) prometheus.Gatherer {
	t.Helper()
	return Scrape(t, Exporter(t, name, c), 5*time.Second)
}

// normalize orders a parsed family as a registry gathers one: labels by
// name, then series by label values, so that goldens do not depend on the
// order a scrape writes them in.
func normalize(mf *dto.MetricFamily) *dto.MetricFamily {
	for _, m := range mf.Metric {
		slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	}
	slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int {
		for i := range min(len(a.Label), len(b.Label)) {
			if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
				return c
			}
		}
		return len(a.Label) - len(b.Label)
	})
	return mf
}

// Golden gathers g once and compares the exposition of the named families
// with testdata/name; go test -update rewrites the file (read the diff
// before committing it).
func Golden(t testing.TB, g prometheus.Gatherer, name string, metricNames ...string) {
	t.Helper()
	CompareGolden(t, Render(t, g, metricNames...), name)
}

// Render gathers g once and returns the exposition of the named families
// (of all of them if none is named).
func Render(t testing.TB, g prometheus.Gatherer, metricNames ...string) string {
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

// CompareGolden compares got with testdata/name.
func CompareGolden(t testing.TB, got, name string) {
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

// Sample finds the value of the series name{labels} in a scrape; ok is
// false when the series is absent.
func Sample(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

// WaitSample polls c's scrape until the series name{labels} satisfies ok,
// or fails the test after timeout naming the last value.
func WaitSample(t testing.TB, name string, c *collector.Collector, metric string, labels map[string]string, timeout time.Duration, what string, ok func(float64) bool) {
	t.Helper()
	testenv.WaitFor(t, what, timeout, func() (bool, error) {
		if v, present := Sample(t, ScrapeOnce(t, name, c), metric, labels); !present || !ok(v) {
			return false, fmt.Errorf("%s%v = %v (present %v)", metric, labels, v, present)
		}
		return true, nil
	})
}

// ClusterKube is a client of the local control plane.
func ClusterKube(t testing.TB, cluster *localcluster.Cluster) *kube.Client {
	t.Helper()
	kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// StartInformers starts kc's informers for the test and waits until every
// one has synced; they stop at the end of the test, or earlier by the
// returned func.
func StartInformers(t testing.TB, kc *kube.Client) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kc.Informers.Start(ctx)
	testenv.WaitFor(t, "the informers to sync", 10*time.Second, func() (bool, error) {
		if pending := kc.Informers.Pending(); len(pending) > 0 {
			return false, fmt.Errorf("not synced: %v", pending)
		}
		return true, nil
	})
	return cancel
}
