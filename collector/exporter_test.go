package collector_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

var testMetrics collector.Families

var testGauge = testMetrics.Gauge("test_value", "-", "A test value.", "source")

// fake sends one sample, then behaves as told.
type fake struct {
	name  string
	err   error
	block bool // ignore ctx and hang past any deadline
	panic bool
	sent  chan struct{}
}

func (f *fake) update(ctx context.Context, ch chan<- prometheus.Metric) error {
	ch <- testGauge.Value(1, f.name)
	if f.sent != nil {
		close(f.sent)
	}
	switch {
	case f.panic:
		panic("boom")
	case f.block:
		time.Sleep(2 * time.Second)
		ch <- testGauge.Value(2, f.name+"-late")
	}
	return f.err
}

func (f *fake) built() collector.Named {
	return collector.Named{Name: f.name, Collector: &collector.Collector{Update: f.update}}
}

func newTestExporter(t *testing.T, collectors ...collector.Named) *collector.Exporter {
	t.Helper()
	e, err := collector.NewExporterOf(collector.Deps{Logger: promslog.NewNopLogger()}, collectors...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fakes(t *testing.T, fs ...*fake) *collector.Exporter {
	t.Helper()
	var b []collector.Named
	for _, f := range fs {
		b = append(b, f.built())
	}
	return newTestExporter(t, b...)
}

// framework finds one of the framework's own families.
func framework(t *testing.T, name string) *collector.Metric {
	t.Helper()
	for _, m := range collector.FrameworkMetrics() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no framework family %s", name)
	return nil
}

func TestScrapeIsolatesFailingCollectors(t *testing.T) {
	e := fakes(t,
		&fake{name: "good"},
		&fake{name: "failing", err: errors.New("source unavailable")},
		&fake{name: "panicking", panic: true},
	)
	collectortest.Golden(t, collectortest.Scrape(t, e, 5*time.Second), "scrape_failing.prom",
		"kube_triage_test_value", "kube_triage_scrape_collector_success")
}

func TestScrapeCutsOffSlowCollectorAtDeadline(t *testing.T) {
	slow := &fake{name: "slow", block: true, sent: make(chan struct{})}
	e := fakes(t, &fake{name: "good"}, slow)
	reg := collectortest.Scrape(t, e, 200*time.Millisecond)

	start := time.Now()
	collectortest.Golden(t, reg, "scrape_slow.prom", "kube_triage_test_value", "kube_triage_scrape_collector_success")
	if took := time.Since(start); took > time.Second {
		t.Errorf("scrape took %s; a slow collector must not stall it past its deadline", took)
	}
	<-slow.sent
}

func TestScrapeReportsDurationPerCollector(t *testing.T) {
	e := fakes(t, &fake{name: "a"}, &fake{name: "b"})
	n, err := testutil.GatherAndCount(collectortest.Scrape(t, e, time.Second), "kube_triage_scrape_collector_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("got %d duration series, want one per collector (2)", n)
	}
}

type brokenConfig struct{}

func (brokenConfig) Flags() []collector.Flag    { return nil }
func (brokenConfig) Check(collector.Role) error { return nil }
func (brokenConfig) New(collector.Deps) (*collector.Collector, error) {
	return nil, errors.New("bad config")
}

func TestNewExporterNamesTheFailingCollector(t *testing.T) {
	setup := collector.NewSetup([]collector.Spec{{Name: "broken", DefaultOn: []collector.Role{collector.RoleCluster},
		Config: func() collector.Config { return brokenConfig{} }}})
	_, err := collector.NewExporter(setup, collector.Deps{Logger: promslog.NewNopLogger(), Role: collector.RoleCluster})
	if err == nil || err.Error() != "collector broken: bad config" {
		t.Errorf("got error %v, want it to name the collector", err)
	}
}

// A collector has its samples from exactly one of Update and Rendered.
func TestExporterRefusesACollectorWithoutOneSource(t *testing.T) {
	for _, c := range []*collector.Collector{{}, {Update: (&fake{}).update, Rendered: func() *collector.Rendered { return nil }}} {
		if _, err := collector.NewExporterOf(collector.Deps{Logger: promslog.NewNopLogger()}, collector.Named{Name: "odd", Collector: c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestExporterInfoNamesRoleAndNode(t *testing.T) {
	for _, tc := range []struct {
		role collector.Role
		want string
	}{
		{collector.RoleNode, `kube_triage_exporter_info{node="node-a",role="node"} 1`},
		// The cluster role has no node, whatever --node-name says.
		{collector.RoleCluster, `kube_triage_exporter_info{node="",role="cluster"} 1`},
	} {
		e, err := collector.NewExporter(collector.NewSetup(nil), collector.Deps{Logger: promslog.NewNopLogger(), Role: tc.role, NodeName: "node-a"})
		if err != nil {
			t.Fatal(err)
		}
		got := collectortest.Render(t, collectortest.Scrape(t, e, time.Second), "kube_triage_exporter_info")
		if !strings.Contains(got, "\n"+tc.want+"\n") || strings.Count(got, "kube_triage_exporter_info{") != 1 {
			t.Errorf("role %s: want exactly %s, got:\n%s", tc.role, tc.want, got)
		}
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

func (f *fakeProber) Name() string                             { return "fake" }
func (f *fakeProber) ProbeOnce(context.Context, time.Duration) {}
func (f *fakeProber) Rounds() *schedule.Rounds                 { return &f.rounds }
func (f *fakeProber) Period() time.Duration                    { return 10 * time.Millisecond }
func (f *fakeProber) History() *prober.History                 { return prober.NewHistory("fake", 10) }
func (f *fakeProber) Failures() map[string]uint64              { return nil }

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
	e := newTestExporter(t, collector.Named{Name: "fake", Collector: &collector.Collector{Update: (&fake{name: "fake"}).update, Probers: []collector.Prober{p}}},
		(&fake{name: "plain"}).built())

	scrape := func(step string, lastRun float64) {
		t.Helper()
		got := collectortest.Render(t, collectortest.Scrape(t, e, time.Second), "kube_triage_probe_last_run_timestamp_seconds", "kube_triage_probe_interval_seconds")
		want := ""
		if lastRun != 0 {
			want = "# HELP kube_triage_probe_interval_seconds " + framework(t, "kube_triage_probe_interval_seconds").Help + "\n" +
				"# TYPE kube_triage_probe_interval_seconds gauge\n" +
				"kube_triage_probe_interval_seconds{collector=\"fake\"} 0.01\n" +
				"# HELP kube_triage_probe_last_run_timestamp_seconds " + framework(t, "kube_triage_probe_last_run_timestamp_seconds").Help + "\n" +
				"# TYPE kube_triage_probe_last_run_timestamp_seconds gauge\n" +
				"kube_triage_probe_last_run_timestamp_seconds{collector=\"fake\"} " + strconv.FormatFloat(lastRun, 'g', -1, 64) + "\n"
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

func TestConfigProblemSeriesFollowTheProblems(t *testing.T) {
	problems := []string{"b_problem", "a_problem", "b_problem"}
	e := newTestExporter(t,
		collector.Named{Name: "checked", Collector: &collector.Collector{Update: (&fake{name: "checked"}).update, ConfigProblems: func() []string { return problems }}},
		(&fake{name: "plain"}).built())
	got := collectortest.Render(t, collectortest.Scrape(t, e, time.Second), "kube_triage_config_problem")
	for _, want := range []string{`kube_triage_config_problem{collector="checked",problem="a_problem"} 1`, `kube_triage_config_problem{collector="checked",problem="b_problem"} 1`} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "kube_triage_config_problem{"); n != 2 {
		t.Errorf("%d series, want 2 (one per distinct problem):\n%s", n, got)
	}
	problems = nil
	if got := collectortest.Render(t, collectortest.Scrape(t, e, time.Second), "kube_triage_config_problem"); got != "" {
		t.Errorf("problems gone, series left:\n%s", got)
	}
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
	update := func(_ context.Context, ch chan<- prometheus.Metric) error {
		v, ok, err := r.Last()
		if !ok {
			return err
		}
		ch <- testGauge.Value(v, "stuck")
		return nil
	}
	e := newTestExporter(t, collector.Named{Name: "stuck", Collector: &collector.Collector{Update: update, Probers: []collector.Prober{r}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	success := func() (float64, bool) {
		v, _ := collectortest.Sample(t, collectortest.Scrape(t, e, time.Second), "kube_triage_scrape_collector_success", map[string]string{"collector": "stuck"})
		_, fresh := collectortest.Sample(t, collectortest.Scrape(t, e, time.Second), "kube_triage_test_value", nil)
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
