package collector_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/selfmetrics"
)

var (
	testObjects = testMetrics.Gauge("test_objects", "-", `Objects, with a "quoted" word and a back\slash.`, "namespace", "name")
	testEvents  = testMetrics.Counter("test_events_total", "-", "Events.", "namespace", "name")
)

func newRenderingExporter(t testing.TB, r *collector.Rendered, updaters ...*fake) *collector.Exporter {
	t.Helper()
	var b []collector.Named
	for _, f := range updaters {
		b = append(b, f.built())
	}
	b = append(b, collector.Named{Name: "rendered", Collector: &collector.Collector{Rendered: func() *collector.Rendered { return r }}})
	e, err := collector.NewExporterOf(collector.Deps{Logger: promslog.NewNopLogger()}, b...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func writeScrape(t *testing.T, e *collector.Exporter, ctx context.Context, format expfmt.Format) string {
	t.Helper()
	var buf bytes.Buffer
	if err := e.WriteMetrics(ctx, &buf, format, nil); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Rendered families are written beside the others in both formats:
// HELP and TYPE once per family; in OpenMetrics a counter's family is
// named without _total, quotes in help are escaped, and # EOF ends it.
func TestWriteMetricsFormats(t *testing.T) {
	r := collector.NewRendered(testObjects, testEvents)
	b := r.Builder()
	for _, name := range []string{"a", `we"ird\name` + "\n"} {
		b.Add(testObjects, 1, "ns", name)
		b.Add(testEvents, 3, "ns", name)
		r.Set("ns/"+name, b)
	}
	e := newRenderingExporter(t, r, &fake{name: "good"})

	text := writeScrape(t, e, context.Background(), expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, want := range []string{
		"# HELP kube_triage_test_objects Objects, with a \"quoted\" word and a back\\\\slash.\n# TYPE kube_triage_test_objects gauge\n",
		"# TYPE kube_triage_test_events_total counter\n",
		`kube_triage_test_events_total{name="we\"ird\\name\n",namespace="ns"} 3` + "\n",
		`kube_triage_scrape_collector_success{collector="rendered"} 1`,
		`kube_triage_test_value{source="good"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "# TYPE kube_triage_test_objects "); n != 1 {
		t.Errorf("%d TYPE lines for one family", n)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Errorf("the text does not parse: %v", err)
	}

	om := writeScrape(t, e, context.Background(), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for _, want := range []string{
		"# HELP kube_triage_test_objects Objects, with a \\\"quoted\\\" word and a back\\\\slash.\n",
		"# TYPE kube_triage_test_events counter\n",
		`kube_triage_test_events_total{name="a",namespace="ns"} 3` + "\n",
		`kube_triage_test_value{source="good"} 1`,
	} {
		if !strings.Contains(om, want) {
			t.Errorf("OpenMetrics lacks %q:\n%s", want, om)
		}
	}
	if !strings.HasSuffix(om, "\n# EOF\n") || strings.Count(om, "# EOF") != 1 {
		t.Errorf("OpenMetrics does not end with one # EOF:\n%s", om)
	}
}

// A scrape whose deadline has passed writes nothing of a Renderer and
// says it failed; the scrape itself goes on.
func TestWriteMetricsRendererPastDeadline(t *testing.T) {
	r := collector.NewRendered(testObjects)
	b := r.Builder()
	b.Add(testObjects, 1, "ns", "a")
	r.Set("ns/a", b)
	e := newRenderingExporter(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	out := writeScrape(t, e, ctx, expfmt.NewFormat(expfmt.TypeTextPlain))
	if strings.Contains(out, "kube_triage_test_objects") || !strings.Contains(out, `kube_triage_scrape_collector_success{collector="rendered"} 0`) {
		t.Errorf("past its deadline the renderer wrote, or did not fail:\n%s", out)
	}
}

// A Builder refuses a family it was not made for, rather than writing a
// family without its HELP and TYPE.
func TestBuilderRefusesForeignFamily(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	collector.NewRendered(testObjects).Builder().Add(testEvents, 1, "ns", "a")
}

// benchSeries fills a Rendered with n series (10 per object, over two
// families), as a large cluster's Services would.
func benchSeries(n int) *collector.Rendered {
	r := collector.NewRendered(testObjects, testEvents)
	b := r.Builder()
	for o := range n / 10 {
		name := "service-" + strconv.Itoa(o)
		ns := "namespace-" + strconv.Itoa(o%100)
		for i := range 5 {
			b.Add(testObjects, float64(i), ns, name+"-"+strconv.Itoa(i))
			b.Add(testEvents, float64(o), ns, name+"-"+strconv.Itoa(i))
		}
		r.Set(ns+"/"+name, b)
	}
	return r
}

// constCollector is today's path for the same series: a const metric per
// series per scrape, gathered and encoded by client_golang.
type constCollector struct {
	series []constSeries
}

type constSeries struct {
	m      *collector.Metric
	v      float64
	labels []string
}

func (c constCollector) Describe(chan<- *prometheus.Desc) {}
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.series {
		ch <- s.m.Value(s.v, s.labels...)
	}
}

// BenchmarkScrape compares one scrape of pre-rendered series with the
// same series built as const metrics through client_golang, at 10,000 and
// 100,000 series, uncompressed (gzip is the same for both).
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		r := benchSeries(n)
		e := newRenderingExporter(b, r)
		b.Run("rendered/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := e.WriteMetrics(context.Background(), io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/series")
		})
		var cc constCollector
		for o := range n / 10 {
			name := "service-" + strconv.Itoa(o)
			ns := "namespace-" + strconv.Itoa(o%100)
			for i := range 5 {
				cc.series = append(cc.series, constSeries{testObjects, float64(i), []string{ns, name + "-" + strconv.Itoa(i)}},
					constSeries{testEvents, float64(o), []string{ns, name + "-" + strconv.Itoa(i)}})
			}
		}
		b.Run("client_golang/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			reg := prometheus.NewRegistry()
			reg.MustRegister(cc)
			for range b.N {
				mfs, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
				for _, mf := range mfs {
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/series")
		})
	}
}

// BenchmarkScrapeWithRuntime is one scrape of 3,600 pre-rendered series
// (a 50,000-pod cluster's) with the process's own families the exporter
// serves beside them (Go runtime, process, build, handler: selfmetrics),
// and without: the difference is their cost.
func BenchmarkScrapeWithRuntime(b *testing.B) {
	e := newRenderingExporter(b, benchSeries(3600))
	self, err := selfmetrics.New("kube_triage")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		self collector.TextAppender
	}{{"alone", nil}, {"with-self-metrics", self}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := e.WriteMetrics(context.Background(), io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain), c.self); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/scrape")
		})
	}
}

// A Live family that panics fails its collector, not the scrape.
func TestWriteMetricsRendererPanics(t *testing.T) {
	r := collector.NewRendered(testObjects)
	r.Live(testObjects, func(add func(float64, ...string)) { add(1, "only one label value") })
	out := writeScrape(t, newRenderingExporter(t, r, &fake{name: "good"}), context.Background(), expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, want := range []string{`kube_triage_scrape_collector_success{collector="rendered"} 0`, `kube_triage_test_value{source="good"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

// The tests' scrape fails on a series exported twice, as Prometheus does.
func TestGatherScrapeRefusesDuplicateSeries(t *testing.T) {
	r := collector.NewRendered(testObjects)
	b := r.Builder()
	for _, key := range []string{"one", "two"} {
		b.Add(testObjects, 1, "ns", "same")
		r.Set(key, b)
	}
	if _, err := collectortest.Scrape(t, newRenderingExporter(t, r), time.Second).Gather(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a duplicate series went through: %v", err)
	}
}
