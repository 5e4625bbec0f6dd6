package collector

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
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

// gatherScrape gathers, each time it is asked, one scrape of e as a
// scraper gets it: the text WriteMetrics writes, parsed.
func gatherScrape(t *testing.T, e *Exporter, timeout time.Duration) prometheus.Gatherer {
	t.Helper()
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var buf bytes.Buffer
		if err := e.WriteMetrics(ctx, &buf, expfmt.NewFormat(expfmt.TypeTextPlain), prometheus.NewRegistry()); err != nil {
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
type testExporterRegistry struct{ prometheus.Gatherer }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func itoa(i int) string { return strconv.Itoa(i) }

// startInformers starts kc's informers for the test and waits until every
// one has synced; they stop at the end of the test, or earlier by the
// returned func.
func startInformers(t testing.TB, kc *kube.Client) context.CancelFunc {
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

func TestExporterInfoNamesRoleAndNode(t *testing.T) {
	for _, tc := range []struct {
		role Role
		want string
	}{
		{RoleNode, `kube_triage_exporter_info{node="node-a",role="node"} 1`},
		// The cluster role has no node, whatever --node-name says.
		{RoleCluster, `kube_triage_exporter_info{node="",role="cluster"} 1`},
	} {
		e, err := NewExporter(nil, Deps{Logger: promslog.NewNopLogger(), Role: tc.role, NodeName: "node-a"})
		if err != nil {
			t.Fatal(err)
		}
		got := render(t, gatherScrape(t, e, time.Second), "kube_triage_exporter_info")
		if !strings.Contains(got, "\n"+tc.want+"\n") || strings.Count(got, "kube_triage_exporter_info{") != 1 {
			t.Errorf("role %s: want exactly %s, got:\n%s", tc.role, tc.want, got)
		}
	}
}

// Every collector that probes on a schedule is a Prober; the cluster-role
// nodes collector, which only reads caches, is not.
var (
	_ Prober        = (*apiserverCollector)(nil)
	_ Prober        = (*dnsCollector)(nil)
	_ Prober        = (*kubeletProber)(nil)
	_ Prober        = (*kubeproxyCollector)(nil)
	_ ConfigChecker = (*dnsCollector)(nil)
)

func TestNodesCollectorInClusterRoleIsNoProber(t *testing.T) {
	if _, ok := Collector(&nodesCollector{}).(Prober); ok {
		t.Error("the cluster-role nodes collector probes nothing, yet would export a last run")
	}
}

// fakeProber probes on a schedule whose clock the test sets. Each round
// announces itself on entered, then hangs, ignoring its context, until the
// test sends on release.
type fakeProber struct {
	rounds           schedule.Rounds
	entered, release chan struct{}
	stop             chan struct{} // closed at the end of the test
}

func (f *fakeProber) Update(context.Context, chan<- prometheus.Metric) error { return nil }
func (f *fakeProber) Rounds() *schedule.Rounds                               { return &f.rounds }
func (f *fakeProber) Period() time.Duration                                  { return 10 * time.Millisecond }
func (f *fakeProber) History() *prober.History                               { return prober.NewHistory("fake", 10) }
func (f *fakeProber) Failures() map[string]uint64                            { return nil }

func (f *fakeProber) Run(ctx context.Context) {
	schedule.Every(ctx, 10*time.Millisecond, time.Hour, &f.rounds, func(context.Context) {
		select {
		case f.entered <- struct{}{}:
		case <-f.stop:
			return
		}
		select {
		case <-f.release:
		case <-f.stop:
		}
	})
}

// A prober's last run is the time it started until its first round
// finishes, then the end of its last round, and stays there while a round
// hangs; its interval is exported beside it; neither before it runs.
func TestProbeLastRunAndInterval(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1000)
	p := &fakeProber{entered: make(chan struct{}), release: make(chan struct{}), stop: make(chan struct{})}
	p.rounds.Now = func() time.Time { return time.Unix(clock.Load(), 0) }
	e := &Exporter{logger: promslog.NewNopLogger(), collectors: []namedCollector{{"fake", p}, {"plain", &fakeCollector{name: "plain"}}}}

	scrape := func(step string, lastRun float64) {
		t.Helper()
		got := render(t, gatherScrape(t, e, time.Second), "kube_triage_probe_last_run_timestamp_seconds", "kube_triage_probe_interval_seconds")
		want := ""
		if lastRun != 0 {
			want = "# HELP kube_triage_probe_interval_seconds " + probeInterval.Help + "\n" +
				"# TYPE kube_triage_probe_interval_seconds gauge\n" +
				"kube_triage_probe_interval_seconds{collector=\"fake\"} 0.01\n" +
				"# HELP kube_triage_probe_last_run_timestamp_seconds " + probeLastRun.Help + "\n" +
				"# TYPE kube_triage_probe_last_run_timestamp_seconds gauge\n" +
				"kube_triage_probe_last_run_timestamp_seconds{collector=\"fake\"} " + ftoa(lastRun) + "\n"
		}
		if got != want {
			t.Errorf("%s: got\n%s\nwant\n%s", step, got, want)
		}
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-p.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("no probe round %s", what)
		}
	}

	scrape("before Run", 0)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { close(p.stop); cancel(); <-done }()

	wait("at all")
	clock.Store(2000)
	scrape("first round running", 1000) // when probing started: a stuck first round ages

	clock.Store(3000)
	p.release <- struct{}{} // the first round finishes at 3000
	wait("after the first")
	scrape("second round running", 3000)

	clock.Store(4000) // the second round never returns
	scrape("second round hanging", 3000)
}

// fakeChecker reports the configuration problems it is given.
type fakeChecker struct {
	fakeCollector
	problems []string
}

func (f *fakeChecker) ConfigProblems() []string { return f.problems }

func TestConfigProblemSeriesFollowTheProblems(t *testing.T) {
	c := &fakeChecker{fakeCollector: fakeCollector{name: "checked"}, problems: []string{"b_problem", "a_problem", "b_problem"}}
	e := &Exporter{logger: promslog.NewNopLogger(), collectors: []namedCollector{{"checked", c}, {"plain", &fakeCollector{name: "plain"}}}}
	got := render(t, gatherScrape(t, e, time.Second), "kube_triage_config_problem")
	for _, want := range []string{`kube_triage_config_problem{collector="checked",problem="a_problem"} 1`, `kube_triage_config_problem{collector="checked",problem="b_problem"} 1`} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "kube_triage_config_problem{"); n != 2 {
		t.Errorf("%d series, want 2 (one per distinct problem):\n%s", n, got)
	}
	c.problems = nil
	if got := render(t, gatherScrape(t, e, time.Second), "kube_triage_config_problem"); got != "" {
		t.Errorf("problems gone, series left:\n%s", got)
	}
}

// stuckCollector reports its Runner's last result as the probing
// collectors do.
type stuckCollector struct{ *prober.Runner[float64] }

func (s stuckCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	v, ok, err := s.Last()
	if !ok {
		return err
	}
	ch <- kubeletHealth.success.value(v)
	return nil
}

// A collector whose prober hangs mid-round stops exporting its last result
// within 3 periods and reports itself failing, while its last run stays
// where the hang began for KubeTriageProbesStale.
func TestStuckProberFailsItsCollector(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	var rounds atomic.Int32
	r, err := prober.New(prober.Config[float64]{Collector: "stuck", Schedule: prober.Schedule{Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond},
		Probe: func(context.Context) float64 {
			if rounds.Add(1) > 1 {
				<-hang
			}
			return 1
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := &Exporter{logger: promslog.NewNopLogger(), collectors: []namedCollector{{"stuck", stuckCollector{r}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	success := func() (float64, bool) {
		v, _ := sample(t, gatherScrape(t, e, time.Second), "kube_triage_scrape_collector_success", map[string]string{"collector": "stuck"})
		_, fresh := sample(t, gatherScrape(t, e, time.Second), "kube_triage_kubelet_probe_success", nil)
		return v, fresh
	}
	testenv.WaitFor(t, "the first result", 10*time.Second, func() (bool, error) {
		v, fresh := success()
		return v == 1 && fresh, nil
	})
	testenv.WaitFor(t, "the stuck prober to fail its collector", 3*r.Period()+5*time.Second, func() (bool, error) {
		v, fresh := success()
		return v == 0 && !fresh, nil
	})
}
