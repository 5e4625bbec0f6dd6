// Package collector holds the exporter's collectors and the framework that
// runs them: each collector keeps its own state up to date in the background,
// and a scrape only reads that state, under a deadline, with every collector's
// success and duration reported so that one failing collector never fails the
// scrape.
package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

// Role is what part of the cluster an exporter instance watches.
type Role string

const (
	// RoleCluster is the Deployment: it watches the API and probes the
	// control plane and cluster DNS.
	RoleCluster Role = "cluster"
	// RoleNode is the DaemonSet: it probes from one node's point of view.
	RoleNode Role = "node"
)

// Roles lists the valid roles, in the order the flag help shows them.
var Roles = []Role{RoleCluster, RoleNode}

// Collector exports the current metrics of one area: it is an Updater or
// a Renderer (NewExporter refuses anything else).
type Collector any

// Updater is a Collector that sends its samples at scrape time. Update
// must not do slow work: it reads what the collector keeps up to date in
// the background, and it must return when ctx, which carries the scrape's
// deadline, is done.
type Updater interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Renderer is a Collector that keeps its samples rendered as objects
// change (the collectors that follow informers, whose series are many): a
// scrape copies its bytes.
type Renderer interface {
	Rendered() *Rendered
}

// Pager is a Collector that serves pages of its own (path to handler), for
// what does not belong in labels, such as termination messages.
type Pager interface {
	Pages() map[string]http.Handler
}

// Runner is a Collector that probes in the background. Run blocks until ctx
// is done.
type Runner interface {
	Run(ctx context.Context)
}

// Prober is a Runner that probes in rounds (a prober.Runner). The
// framework exports when its last round finished and its period, so that a
// rule can tell a prober that stopped or hangs from one whose probes
// succeed, and serves its history on /probes.
type Prober interface {
	Rounds() *schedule.Rounds
	Period() time.Duration
	History() *prober.History
	Failures() map[string]uint64
}

// ConfigChecker is a Collector that can tell when its configuration leaves
// it nothing, or not what it was told, to probe (a Service that does not
// exist, say). ConfigProblems names each problem there is now, as a short
// snake_case value from a fixed set; none when all is well. It must be
// cheap: every scrape calls it.
type ConfigChecker interface {
	ConfigProblems() []string
}

// Config holds the settings of every collector; main fills it from flags.
type Config struct {
	// Schedules are the probing collectors' schedules, by collector name;
	// one left out gets its Spec's defaults.
	Schedules map[string]prober.Schedule

	APIServer    APIServerConfig
	Services     ServicesConfig
	DNS          DNSConfig
	Kubelet      KubeletConfig
	Terminations TerminationsConfig
	KubeProxy    KubeProxyConfig
}

// Deps is what a collector is built from.
type Deps struct {
	Logger   *slog.Logger
	Role     Role
	NodeName string
	Config   Config
	Kube     *kube.Client
	// Schedule is a probing collector's schedule (from Config.Schedules).
	Schedule prober.Schedule
}

// Spec registers a collector: its name (which becomes the
// --[no-]collector.<name> flag), the roles it is on by default in, the
// metric families it exports and its constructor.
type Spec struct {
	Name      string
	Help      string
	DefaultOn []Role
	Metrics   []*Metric
	// Probe is set for a collector that probes on a schedule: its
	// defaults, from which main makes --collector.<name>.interval and
	// --collector.<name>.timeout.
	Probe *prober.Defaults
	New   func(Deps) (Collector, error)
}

// EnabledByDefault reports whether the collector is on by default in role.
func (s Spec) EnabledByDefault(role Role) bool {
	for _, r := range s.DefaultOn {
		if r == role {
			return true
		}
	}
	return false
}

// Specs is the registry of collectors, in flag order.
func Specs() []Spec {
	return []Spec{
		apiserverSpec,
		servicesSpec,
		dnsSpec,
		terminationsSpec,
		controlplaneSpec,
		nodesSpec,
		kubeletSpec,
		kubeproxySpec,
	}
}

var (
	scrapeSuccess = newMetric("scrape_collector_success", prometheus.GaugeValue,
		"1 if the collector's last scrape succeeded within its deadline, else 0.", "collector")
	scrapeDuration = newMetric("scrape_collector_duration_seconds", prometheus.GaugeValue,
		"How long the collector took to report in the last scrape.", "collector")
	watchErrors = newMetric("kubernetes_watch_errors_total", prometheus.CounterValue,
		"List or watch failures of the informer for a Kubernetes resource; it retries with backoff.", "resource")
	informerSynced = newMetric("kubernetes_informer_synced", prometheus.GaugeValue,
		"1 once the informer for a Kubernetes resource has completed its initial list.", "resource")
	requestFailures = newMetric("kubernetes_request_failures_total", prometheus.CounterValue,
		"Requests to the Kubernetes API for a resource that got no answer or a 5xx.", "resource")
	exporterInfo = newMetric("exporter_info", prometheus.GaugeValue,
		"Always 1; role is the exporter's --role (cluster or node), node its --node-name in the node role and empty in the cluster role. Rules join an exporter's other series to it on the target labels Prometheus adds (job, instance), so they need no label from the scrape config.",
		"role", "node")
	probeLastRun = newMetric("probe_last_run_timestamp_seconds", prometheus.GaugeValue,
		"Unix time the collector's last probe round finished; before the first round has finished, the time probing started, so that a prober stuck in its first round ages too.", "collector")
	probeInterval = newMetric("probe_interval_seconds", prometheus.GaugeValue,
		"The collector's probe period: its --collector.<name>.interval, or its timeout and a second when a round may take that longer. A last run older than 3 periods means probing has stalled; the collector then reports failure rather than stale results.", "collector")
	probeFailures = newMetric("probe_failures_total", prometheus.CounterValue,
		"Probes of the collector that failed, by reason (each collector's own fixed set: see the metrics reference); every reason starts at 0.", "collector", "reason")
	configProblem = newMetric("config_problem", prometheus.GaugeValue,
		"1 while the collector runs but its configuration leaves it nothing, or not what it was told, to probe; no series when there is no problem.", "collector", "problem")
)

// FrameworkMetrics are the families the framework itself exports.
func FrameworkMetrics() []*Metric {
	return []*Metric{scrapeSuccess, scrapeDuration, watchErrors, informerSynced, requestFailures,
		exporterInfo, probeLastRun, probeInterval, probeFailures, configProblem}
}

type namedCollector struct {
	name string
	c    Collector
}

// Exporter runs a set of collectors.
type Exporter struct {
	logger     *slog.Logger
	role       Role
	nodeName   string // "" in the cluster role
	collectors []namedCollector
	kube       *kube.Client // nil in tests of the framework alone
}

// NewExporter builds the collectors of specs from deps.
func NewExporter(specs []Spec, deps Deps) (*Exporter, error) {
	e := &Exporter{logger: deps.Logger, role: deps.Role, kube: deps.Kube}
	if deps.Role == RoleNode {
		e.nodeName = deps.NodeName
	}
	for _, s := range specs {
		d := deps
		d.Logger = deps.Logger.With("collector", s.Name)
		if s.Probe != nil {
			d.Schedule = s.Probe.Schedule
			if sched, ok := deps.Config.Schedules[s.Name]; ok {
				d.Schedule = sched
			}
		}
		c, err := s.New(d)
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", s.Name, err)
		}
		_, updater := c.(Updater)
		_, renderer := c.(Renderer)
		if updater == renderer {
			return nil, fmt.Errorf("collector %s: is not one of an Updater and a Renderer", s.Name)
		}
		e.collectors = append(e.collectors, namedCollector{s.Name, c})
	}
	return e, nil
}

// Run starts every collector's background work and the informers the
// collectors asked for, and blocks until ctx is done and all have stopped.
func (e *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, nc := range e.collectors {
		if r, ok := nc.c.(Runner); ok {
			wg.Go(func() { r.Run(ctx) })
		}
	}
	if e.kube != nil {
		e.kube.Informers.Start(ctx)
	}
	wg.Wait()
}

// Histories are the probe histories of the probing collectors, in
// collector order.
func (e *Exporter) Histories() []*prober.History {
	var hs []*prober.History
	for _, nc := range e.collectors {
		if p, ok := nc.c.(Prober); ok && p.History() != nil {
			hs = append(hs, p.History())
		}
	}
	return hs
}

// Pages are the triage walks' pages and those of every collector that
// serves some.
func (e *Exporter) Pages() map[string]http.Handler {
	pages := e.triagePages()
	for _, nc := range e.collectors {
		if p, ok := nc.c.(Pager); ok {
			maps.Copy(pages, p.Pages())
		}
	}
	return pages
}

// WriteMetrics writes one scrape to w in format (OpenMetrics or the text
// format): the Renderers' bytes, then registry's families (the process's
// own metrics) and the Updaters' and the framework's. The Updaters run
// while the Renderers' bytes are written, so that a slow reader holds up
// neither. Every collector gets the deadline of ctx; one that misses it,
// fails or panics is reported by kube_triage_scrape_collector_success and
// never fails the scrape. An error is one of writing to w, after which the
// answer is cut.
func (e *Exporter) WriteMetrics(ctx context.Context, w io.Writer, format expfmt.Format, registry prometheus.Gatherer) error {
	type gathered struct {
		mfs []*dto.MetricFamily
		err error
	}
	gatherDone := make(chan gathered, 1)
	go func() {
		perScrape := prometheus.NewRegistry()
		perScrape.MustRegister(scrape{e: e, ctx: ctx})
		mfs, err := prometheus.Gatherers{registry, perScrape}.Gather()
		gatherDone <- gathered{mfs, err}
	}()

	bw := bufio.NewWriterSize(w, 64<<10)
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	var rendered []familySample // their success and duration
	for _, nc := range e.collectors {
		if r, ok := nc.c.(Renderer); ok {
			begin := time.Now()
			err := writeRendered(ctx, r, bw, openMetrics)
			duration := time.Since(begin).Seconds()
			e.logResult(nc.name, duration, err)
			rendered = append(rendered, familySample{scrapeDuration, scrapeDuration.value(duration, nc.name)},
				familySample{scrapeSuccess, scrapeSuccess.value(boolFloat(err == nil), nc.name)})
		}
	}

	g := <-gatherDone
	if g.err != nil {
		e.logger.Error("gathering metrics", "err", g.err) // what was gathered is still served
	}
	mfs, err := withSamples(g.mfs, rendered)
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil { // OpenMetrics' # EOF
			return err
		}
	}
	return bw.Flush()
}

// familySample is a sample and the family it belongs to.
type familySample struct {
	family *Metric
	m      prometheus.Metric
}

// withSamples adds samples to the gathered families they belong to.
func withSamples(mfs []*dto.MetricFamily, samples []familySample) ([]*dto.MetricFamily, error) {
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for _, s := range samples {
		var out dto.Metric
		if err := s.m.Write(&out); err != nil {
			return nil, err
		}
		mf := byName[s.family.Name]
		if mf == nil { // no Updater reported
			typ := dto.MetricType_GAUGE
			if s.family.Type == prometheus.CounterValue {
				typ = dto.MetricType_COUNTER
			}
			mf = &dto.MetricFamily{Name: &s.family.Name, Help: &s.family.Help, Type: &typ}
			byName[s.family.Name] = mf
			mfs = append(mfs, mf)
		}
		mf.Metric = append(mf.Metric, &out)
	}
	return mfs, nil
}

// writeRendered writes a Renderer's families; a panic (in a Live family)
// fails the collector, not the scrape.
func writeRendered(ctx context.Context, r Renderer, w *bufio.Writer, openMetrics bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if r.Rendered().writeTo(ctx, w, openMetrics) != nil {
		return errDeadline
	}
	return nil
}

// scrape is one scrape of the Updaters and the framework, as a
// prometheus.Collector: every collector gets the deadline of ctx.
type scrape struct {
	e   *Exporter
	ctx context.Context
}

// Describe sends nothing: the set of series changes with the cluster, so the
// scrape collector is unchecked.
func (scrape) Describe(chan<- *prometheus.Desc) {}

func (s scrape) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for _, nc := range s.e.collectors {
		if u, ok := nc.c.(Updater); ok {
			wg.Go(func() { s.e.collect(s.ctx, nc.name, u, ch) })
		}
	}
	wg.Wait()
	ch <- exporterInfo.value(1, string(s.e.role), s.e.nodeName)
	// Read apart from Update, so that a collector whose Update fails or
	// hangs still says whether it probes.
	for _, nc := range s.e.collectors {
		if p, ok := nc.c.(Prober); ok {
			if last, _, ok := p.Rounds().Last(); ok {
				ch <- probeLastRun.value(float64(last.UnixNano())/1e9, nc.name)
				ch <- probeInterval.value(p.Period().Seconds(), nc.name)
			}
			for reason, n := range p.Failures() {
				ch <- probeFailures.value(float64(n), nc.name, reason)
			}
		}
		if c, ok := nc.c.(ConfigChecker); ok {
			problems := slices.Clone(c.ConfigProblems())
			slices.Sort(problems)
			for _, p := range slices.Compact(problems) { // a duplicate series would fail the scrape
				if p != "" {
					ch <- configProblem.value(1, nc.name, p)
				}
			}
		}
	}
	if k := s.e.kube; k != nil {
		// Request failures start at 0 for every resource watched, so that
		// rate() sees the first one.
		failures := map[string]float64{}
		for _, st := range k.Informers.Stats() {
			ch <- watchErrors.value(float64(st.WatchErrors), st.Resource)
			ch <- informerSynced.value(boolFloat(st.Synced), st.Resource)
			base, _, _ := strings.Cut(st.Resource, "/") // endpointslices/ns/name
			failures[base] += 0
		}
		for _, rc := range k.RequestFailures() {
			failures[rc.Resource] = float64(rc.Count)
		}
		for resource, n := range failures {
			ch <- requestFailures.value(n, resource)
		}
	}
}

// errDeadline marks a collector that did not finish before the scrape's
// deadline.
var errDeadline = errors.New("deadline exceeded")

// collect runs one collector. Its samples are buffered so that a collector
// that overruns the deadline is cut off cleanly: the scrape goes on without
// it and its late samples are dropped. A collector that fails early keeps
// the samples it sent before failing, as in node_exporter.
func (e *Exporter) collect(ctx context.Context, name string, u Updater, ch chan<- prometheus.Metric) {
	begin := time.Now()
	buf := make(chan prometheus.Metric, 64)
	done := make(chan error, 1)
	go func() {
		defer close(buf)
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- u.Update(ctx, buf)
	}()

	var samples []prometheus.Metric
	var err error
receive:
	for {
		select {
		case m, ok := <-buf:
			if !ok {
				err = <-done
				break receive
			}
			samples = append(samples, m)
		case <-ctx.Done():
			err = errDeadline
			samples = nil
			go func() { // let the late collector finish without blocking
				for range buf {
				}
			}()
			break receive
		}
	}
	for _, m := range samples {
		ch <- m
	}
	duration := time.Since(begin).Seconds()
	e.logResult(name, duration, err)
	ch <- scrapeDuration.value(duration, name)
	ch <- scrapeSuccess.value(boolFloat(err == nil), name)
}

func (e *Exporter) logResult(name string, duration float64, err error) {
	if err != nil {
		e.logger.Error("collector failed", "collector", name, "duration_seconds", duration, "err", err)
	} else {
		e.logger.Debug("collector succeeded", "collector", name, "duration_seconds", duration)
	}
}
