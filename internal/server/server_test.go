package server

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/collector"
)

func TestScrapeTimeout(t *testing.T) {
	opts := Options{DefaultTimeout: 10 * time.Second, TimeoutOffset: 500 * time.Millisecond}
	cases := map[string]time.Duration{
		"":     10 * time.Second,
		"15":   14500 * time.Millisecond,
		"2.5":  2 * time.Second,
		"0.2":  200 * time.Millisecond, // shorter than the offset: use it whole
		"junk": 10 * time.Second,
		"-1":   10 * time.Second,
	}
	for header, want := range cases {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
		}
		if got := scrapeTimeout(r, opts); got != want {
			t.Errorf("header %q: timeout %s, want %s", header, got, want)
		}
	}
}

// deadlineCollector reports how much time its scrape context had left.
type deadlineCollector struct{ left chan time.Duration }

func (d deadlineCollector) Update(ctx context.Context, _ chan<- prometheus.Metric) error {
	dl, _ := ctx.Deadline()
	d.left <- time.Until(dl)
	return nil
}

func newHandler(t *testing.T, ready func() error, collectors ...collector.Named) http.Handler {
	t.Helper()
	exp, err := collector.NewExporterOf(collector.Deps{Logger: promslog.NewNopLogger()}, collectors...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(exp, Options{
		TelemetryPath: "/metrics", DefaultTimeout: 10 * time.Second, TimeoutOffset: 500 * time.Millisecond,
		Ready: ready, Version: "test", Role: collector.RoleCluster,
	}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, r *http.Request) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestMetricsPassesScrapeDeadlineToCollectors(t *testing.T) {
	left := make(chan time.Duration, 1)
	h := newHandler(t, func() error { return nil }, collector.Named{Name: "probe", Collector: &collector.Collector{Update: deadlineCollector{left}.Update}})
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "3")
	code, body := serve(h, r)
	if code != 200 || !strings.Contains(body, `kube_triage_scrape_collector_success{collector="probe"} 1`) {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	if l := <-left; l > 2500*time.Millisecond || l < 2*time.Second {
		t.Errorf("collector had %s left; want about 2.5s (3s less the 0.5s offset)", l)
	}
}

func TestReadyz(t *testing.T) {
	notReady := errors.New("waiting for the initial list of pods")
	h := newHandler(t, func() error { return notReady })
	if code, body := serve(h, httptest.NewRequest(http.MethodGet, "/readyz", nil)); code != 503 || !strings.Contains(body, "pods") {
		t.Errorf("not ready: %d %q, want 503 naming what is pending", code, body)
	}
	notReady = nil
	if code, _ := serve(h, httptest.NewRequest(http.MethodGet, "/readyz", nil)); code != 200 {
		t.Errorf("ready: %d, want 200", code)
	}
	if code, _ := serve(h, httptest.NewRequest(http.MethodGet, "/healthz", nil)); code != 200 {
		t.Errorf("healthz: %d, want 200", code)
	}
	code, body := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	for _, link := range []string{`href="/metrics"`, `href="/healthz"`, `href="/readyz"`, `href="/docs/metrics"`} {
		if code != 200 || !strings.Contains(body, link) {
			t.Errorf("landing page lacks %s", link)
		}
	}
	if code, body := serve(h, httptest.NewRequest(http.MethodGet, DocsPath, nil)); code != 200 || !strings.Contains(body, "kube_triage_apiserver_reachable") {
		t.Errorf("docs page: %d", code)
	}
}

// --web.max-requests bounds concurrent scrapes across requests.
func TestMaxRequestsBoundsConcurrentScrapes(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 5)
	exp, err := collector.NewExporterOf(collector.Deps{Logger: promslog.NewNopLogger()},
		collector.Named{Name: "slow", Collector: &collector.Collector{Update: blockingCollector{started, release}.Update}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(exp, Options{TelemetryPath: "/metrics", MaxRequests: 1, DefaultTimeout: 10 * time.Second,
		Ready: func() error { return nil }}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan int)
	go func() { code, _ := serve(h, httptest.NewRequest(http.MethodGet, "/metrics", nil)); first <- code }()
	<-started
	if code, _ := serve(h, httptest.NewRequest(http.MethodGet, "/metrics", nil)); code != http.StatusServiceUnavailable {
		t.Errorf("second concurrent scrape: %d, want 503", code)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("first scrape: %d", code)
	}
	if code, _ := serve(h, httptest.NewRequest(http.MethodGet, "/metrics", nil)); code != 200 {
		t.Errorf("scrape after the first finished: %d, want 200", code)
	}
}

type blockingCollector struct{ started, release chan struct{} }

func (b blockingCollector) Update(ctx context.Context, _ chan<- prometheus.Metric) error {
	b.started <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

// Content negotiation as Prometheus does it: OpenMetrics when asked (its
// default), the text format otherwise; protobuf is never answered, a
// scraper that asks for it first gets its next choice; gzip when accepted.
func TestMetricsNegotiation(t *testing.T) {
	h := newHandler(t, func() error { return nil }, collector.Named{Name: "probe", Collector: &collector.Collector{Update: deadlineCollector{make(chan time.Duration, 10)}.Update}})
	const (
		prometheusDefault = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
		protobufFirst     = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," + prometheusDefault
	)
	for _, tc := range []struct {
		accept, encoding string
		wantType         string
		wantEOF, gzipped bool
	}{
		{"", "", "text/plain", false, false},
		{prometheusDefault, "gzip", "application/openmetrics-text", true, true},
		{protobufFirst, "", "application/openmetrics-text", true, false},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "", "text/plain", false, false},
		{"text/plain;version=0.0.4", "gzip;q=0", "text/plain", false, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Accept", tc.accept)
		r.Header.Set("Accept-Encoding", tc.encoding)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		body := io.Reader(res.Body)
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tc.encoding, got, tc.gzipped)
		}
		if tc.gzipped {
			gz, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = gz
		}
		b, _ := io.ReadAll(body)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
			t.Errorf("Accept %q: Content-Type %q, want %s", tc.accept, ct, tc.wantType)
		}
		if got := strings.HasSuffix(string(b), "# EOF\n"); got != tc.wantEOF || !strings.Contains(string(b), `kube_triage_scrape_collector_success{collector="probe"} 1`) {
			t.Errorf("Accept %q: body (EOF %v, want %v):\n%s", tc.accept, got, tc.wantEOF, b)
		}
	}
}

// A scrape up to maxBuffered, as sent (gzipped or not), is sent in one
// piece with its length, a larger one in chunks as it is written; either
// whole, with the process's own families in it.
func TestMetricsSentWithLengthOrInChunks(t *testing.T) {
	family := (&collector.Families{}).Gauge("test_objects", "-", "Objects.", "name")
	for _, c := range []struct {
		name    string
		objects int
		chunked bool // when not gzipped; gzipped, both fit
	}{{"small", 100, false}, {"beyond maxBuffered", maxBuffered / 40, true}} {
		t.Run(c.name, func(t *testing.T) {
			r := collector.NewRendered(family)
			for i := range c.objects {
				b := r.Builder()
				b.Add(family, float64(i), strings.Repeat("x", 10)+strconv.Itoa(i))
				r.Set(strconv.Itoa(i), b)
			}
			srv := httptest.NewServer(newHandler(t, func() error { return nil },
				collector.Named{Name: "rendered", Collector: &collector.Collector{Rendered: func() *collector.Rendered { return r }}}))
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			for _, gz := range []bool{false, true} {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body io.Reader = resp.Body
				if gz {
					if body, err = gzip.NewReader(resp.Body); err != nil {
						t.Fatal(err)
					}
				}
				text, err := io.ReadAll(body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if chunked := resp.ContentLength < 0; chunked != (c.chunked && !gz) {
					t.Errorf("gzip %v: Content-Length %d, transfer encoding %v", gz, resp.ContentLength, resp.TransferEncoding)
				}
				if n := strings.Count(string(text), "kube_triage_test_objects{"); n != c.objects {
					t.Errorf("gzip %v: %d samples, want %d", gz, n, c.objects)
				}
				for _, want := range []string{"\ngo_goroutines ", "\nprocess_cpu_seconds_total ", "\nkube_triage_build_info{", `kube_triage_scrape_collector_success{collector="rendered"} 1`} {
					if !strings.Contains(string(text), want) {
						t.Errorf("gzip %v: no %q", gz, want)
					}
				}
			}
		})
	}
}
