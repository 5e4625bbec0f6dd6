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
)

// frameworkMetrics are the families the framework itself exports.
var frameworkMetrics Families

var (
	scrapeSuccess = frameworkMetrics.Gauge("scrape_collector_success", "-",
		"1 if the collector's last scrape succeeded within its deadline, else 0.", "collector")
	scrapeDuration = frameworkMetrics.Gauge("scrape_collector_duration_seconds", "-",
		"How long the collector took to report in the last scrape.", "collector")
	watchErrors = frameworkMetrics.Counter("kubernetes_watch_errors_total", "Troubleshoot Clusters",
		"List or watch failures of the informer for a Kubernetes resource; it retries with backoff.", "resource")
	informerSynced = frameworkMetrics.Gauge("kubernetes_informer_synced", "-",
		"1 once the informer for a Kubernetes resource has completed its initial list.", "resource")
	requestFailures = frameworkMetrics.Counter("kubernetes_request_failures_total", "Troubleshoot Clusters",
		"Requests to the Kubernetes API for a resource that got no answer or a 5xx.", "resource")
	exporterInfo = frameworkMetrics.Gauge("exporter_info", "- (which exporter says so: the cluster view, or one node's)",
		"Always 1; role is the exporter's --role (cluster or node), node its --node-name in the node role and empty in the cluster role. Rules join an exporter's other series to it on the target labels Prometheus adds (job, instance), so they need no label from the scrape config.",
		"role", "node")
	probeLastRun = frameworkMetrics.Gauge("probe_last_run_timestamp_seconds", "- (trust in every probe result)",
		"Unix time the collector's last probe round finished; before the first round has finished, the time probing started, so that a prober stuck in its first round ages too.", "collector")
	probeInterval = frameworkMetrics.Gauge("probe_interval_seconds", "-",
		"The collector's probe period: its --collector.<name>.interval, or its timeout and a second when a round may take that longer. A last run older than 3 periods means probing has stalled; the collector then reports failure rather than stale results.", "collector")
	probeFailures = frameworkMetrics.Counter("probe_failures_total", "-",
		"Probes of the collector that failed, by reason (each collector's own fixed set: see the metrics reference); every reason starts at 0.", "collector", "reason")
	configProblem = frameworkMetrics.Gauge("config_problem", "Debug DNS Resolution: is the DNS service up? (a wrong flag, not a DNS failure)",
		"1 while the collector runs but its configuration leaves it nothing, or not what it was told, to probe; no series when there is no problem.", "collector", "problem")
)

// FrameworkMetrics are the families the framework itself exports.
func FrameworkMetrics() []*Metric { return frameworkMetrics.All() }

type namedCollector struct {
	name string
	*Collector
}

// Exporter runs a set of collectors.
type Exporter struct {
	logger     *slog.Logger
	role       Role
	nodeName   string // "" in the cluster role
	collectors []namedCollector
	kube       *kube.Client // nil in tests of the framework alone
}

// NewExporter builds the collectors of setup that are on in deps.Role.
func NewExporter(setup *Setup, deps Deps) (*Exporter, error) {
	var built []Named
	for _, en := range setup.enabled(deps.Role) {
		d := deps
		d.Logger = deps.Logger.With("collector", en.spec.Name)
		d.Schedule = en.schedule
		c, err := en.config.New(d)
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", en.spec.Name, err)
		}
		built = append(built, Named{en.spec.Name, c})
	}
	return NewExporterOf(deps, built...)
}

// add runs c as the collector name.
func (e *Exporter) add(name string, c *Collector) error {
	if (c.Update == nil) == (c.Rendered == nil) {
		return fmt.Errorf("collector %s: has not exactly one of Update and Rendered", name)
	}
	e.collectors = append(e.collectors, namedCollector{name, c})
	return nil
}

// Run starts every collector's background work and probers and the
// informers the collectors asked for, and blocks until ctx is done and
// all have stopped.
func (e *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, nc := range e.collectors {
		if nc.Run != nil {
			wg.Go(func() { nc.Run(ctx) })
		}
		for _, p := range nc.Probers {
			wg.Go(func() { p.Run(ctx) })
		}
	}
	if e.kube != nil {
		e.kube.Informers.Start(ctx)
	}
	wg.Wait()
}

// Once starts the informers, waits for their first lists at most
// listWait (then goes on with what it has: an apiserver without its
// storage lists nothing, and what reads the caches must say what was not
// listed) and runs one round of every prober: what the triage command
// walks.
func (e *Exporter) Once(ctx context.Context, listWait time.Duration) {
	if e.kube != nil {
		e.kube.Informers.Start(ctx)
	}
	var wg sync.WaitGroup
	for _, nc := range e.collectors {
		for _, p := range nc.Probers {
			wg.Go(func() { p.ProbeOnce(ctx, listWait) })
		}
	}
	if e.kube != nil {
		deadline := time.Now().Add(listWait)
		for len(e.kube.Informers.Pending()) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	wg.Wait()
}

// Histories are the probe histories of every prober, in collector order.
func (e *Exporter) Histories() []*prober.History {
	var hs []*prober.History
	for _, nc := range e.collectors {
		for _, p := range nc.Probers {
			if p.History() != nil {
				hs = append(hs, p.History())
			}
		}
	}
	return hs
}

// Pages are the pages the collectors serve.
func (e *Exporter) Pages() map[string]http.Handler {
	pages := map[string]http.Handler{}
	for _, nc := range e.collectors {
		maps.Copy(pages, nc.Pages)
	}
	return pages
}

// Sources are what the collectors give the triage walks to read, in
// collector order.
func (e *Exporter) Sources() []any {
	var out []any
	for _, nc := range e.collectors {
		if nc.Source != nil {
			out = append(out, nc.Source)
		}
	}
	return out
}

// Kube is the client the collectors read the API with; nil when none.
func (e *Exporter) Kube() *kube.Client { return e.kube }

// Logger is the exporter's logger.
func (e *Exporter) Logger() *slog.Logger { return e.logger }

// TextAppender appends families kept as exposition text of their own
// (the process's: internal/selfmetrics), in the text format or
// OpenMetrics, without OpenMetrics' # EOF.
type TextAppender interface {
	AppendText(b []byte, openMetrics bool) []byte
}

// WriteMetrics writes one scrape to w in format (OpenMetrics or the text
// format): the rendered collectors' bytes, then self's families (the
// process's own, if self is not nil), then the other collectors' and the
// framework's, gathered while the rendered bytes are written. Every collector gets the deadline of ctx;
// one that misses it, fails or panics is reported by
// kube_triage_scrape_collector_success and never fails the scrape. An
// error is one of writing to w, after which the answer is cut.
func (e *Exporter) WriteMetrics(ctx context.Context, w io.Writer, format expfmt.Format, self TextAppender) error {
	type gathered struct {
		mfs []*dto.MetricFamily
		err error
	}
	gatherDone := make(chan gathered, 1)
	go func() {
		perScrape := prometheus.NewRegistry()
		perScrape.MustRegister(scrape{e: e, ctx: ctx})
		mfs, err := perScrape.Gather()
		gatherDone <- gathered{mfs, err}
	}()

	bw := bufWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil) // holds no reference to w
		bufWriters.Put(bw)
	}()
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	var rendered []familySample // their success and duration
	for _, nc := range e.collectors {
		if nc.Rendered != nil {
			begin := time.Now()
			err := writeRendered(ctx, nc.Rendered, bw, openMetrics)
			duration := time.Since(begin).Seconds()
			e.logResult(nc.name, duration, err)
			rendered = append(rendered, familySample{scrapeDuration, scrapeDuration.Value(duration, nc.name)},
				familySample{scrapeSuccess, scrapeSuccess.Value(BoolFloat(err == nil), nc.name)})
		}
	}
	if self != nil {
		buf := selfBuffers.Get().(*[]byte)
		*buf = self.AppendText((*buf)[:0], openMetrics)
		_, _ = bw.Write(*buf)
		selfBuffers.Put(buf)
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

// bufWriters and selfBuffers are reused across scrapes: 64 KB a scrape
// was a third of what it allocated.
var (
	bufWriters  = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
	selfBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}
)

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
		if mf == nil { // no collector that updates reported
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

// writeRendered writes a rendered collector's families; a panic (in a Live family)
// fails the collector, not the scrape.
func writeRendered(ctx context.Context, rendered func() *Rendered, w *bufio.Writer, openMetrics bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if rendered().writeTo(ctx, w, openMetrics) != nil {
		return errDeadline
	}
	return nil
}

// scrape is one scrape of the collectors that update and the framework, as a
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
		if nc.Update != nil {
			wg.Go(func() { s.e.collect(s.ctx, nc.name, nc.Update, ch) })
		}
	}
	wg.Wait()
	ch <- exporterInfo.Value(1, string(s.e.role), s.e.nodeName)
	// Read apart from Update, so that a collector whose Update fails or
	// hangs still says whether it probes.
	for _, nc := range s.e.collectors {
		for _, p := range nc.Probers {
			if last, _, ok := p.Rounds().Last(); ok {
				ch <- probeLastRun.Value(float64(last.UnixNano())/1e9, p.Name())
				ch <- probeInterval.Value(p.Period().Seconds(), p.Name())
			}
			for reason, n := range p.Failures() {
				ch <- probeFailures.Value(float64(n), p.Name(), reason)
			}
		}
		if nc.ConfigProblems != nil {
			problems := slices.Clone(nc.ConfigProblems())
			slices.Sort(problems)
			for _, p := range slices.Compact(problems) { // a duplicate series would fail the scrape
				if p != "" {
					ch <- configProblem.Value(1, nc.name, p)
				}
			}
		}
	}
	if k := s.e.kube; k != nil {
		// Request failures start at 0 for every resource watched, so that
		// rate() sees the first one.
		failures := map[string]float64{}
		for _, st := range k.Informers.Stats() {
			ch <- watchErrors.Value(float64(st.WatchErrors), st.Resource)
			ch <- informerSynced.Value(BoolFloat(st.Synced), st.Resource)
			base, _, _ := strings.Cut(st.Resource, "/") // endpointslices/ns/name
			failures[base] += 0
		}
		for _, rc := range k.RequestFailures() {
			failures[rc.Resource] = float64(rc.Count)
		}
		for resource, n := range failures {
			ch <- requestFailures.Value(n, resource)
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
func (e *Exporter) collect(ctx context.Context, name string, update func(context.Context, chan<- prometheus.Metric) error, ch chan<- prometheus.Metric) {
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
		done <- update(ctx, buf)
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
	ch <- scrapeDuration.Value(duration, name)
	ch <- scrapeSuccess.Value(BoolFloat(err == nil), name)
}

func (e *Exporter) logResult(name string, duration float64, err error) {
	if err != nil {
		e.logger.Error("collector failed", "collector", name, "duration_seconds", duration, "err", err)
	} else {
		e.logger.Debug("collector succeeded", "collector", name, "duration_seconds", duration)
	}
}

// Named is a collector built by hand, with its name, for NewExporterOf.
type Named struct {
	Name string
	*Collector
}

// NewExporterOf runs collectors built by hand (tests, tools) rather than
// from a Setup.
func NewExporterOf(deps Deps, collectors ...Named) (*Exporter, error) {
	e := &Exporter{logger: deps.Logger, role: deps.Role, kube: deps.Kube}
	if deps.Role == RoleNode {
		e.nodeName = deps.NodeName
	}
	for _, b := range collectors {
		if err := e.add(b.Name, b.Collector); err != nil {
			return nil, err
		}
	}
	return e, nil
}
