// Package server is the exporter's HTTP surface: the landing page, /metrics
// with a per-scrape deadline, /healthz, /readyz and the metrics reference.
package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/docs"
	"github.com/kube-triage/kube-triage-exporter/internal/selfmetrics"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// Options configures the handler.
type Options struct {
	TelemetryPath string
	// MaxRequests bounds concurrent scrapes; 0 means no bound.
	MaxRequests int
	// DefaultTimeout is each collector's deadline when the scraper sends no
	// X-Prometheus-Scrape-Timeout-Seconds header.
	DefaultTimeout time.Duration
	// TimeoutOffset is subtracted from the scraper's timeout, leaving time
	// to send the answer.
	TimeoutOffset time.Duration
	// Ready reports why the exporter is not ready yet, or nil.
	Ready   func() error
	Version string
	Role    collector.Role
}

// DocsPath serves docs/metrics.md, the reference of every metric.
const DocsPath = "/docs/metrics"

// ReservedPaths are served by the exporter itself; the telemetry path must
// be none of them.
var ReservedPaths = []string{"/", "/healthz", "/readyz", DocsPath, ProbesPath, triage.Path}

// New builds the handler. /metrics serves the process's own families
// (build info, Go runtime, process, its own requests: selfmetrics) beside
// the collectors'.
func New(exp *collector.Exporter, opts Options, logger *slog.Logger) (http.Handler, error) {
	self, err := selfmetrics.New(collector.Namespace)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(opts.TelemetryPath, metricsHandler(exp, self, opts, logger))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := opts.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	pages := exp.Pages()
	maps.Copy(pages, triage.New(exp).Pages(logger))
	for path, h := range pages {
		mux.Handle(path, h)
	}
	histories := exp.Histories()
	mux.Handle(ProbesPath, probesHandler(histories))
	mux.HandleFunc(DocsPath, func(w http.ResponseWriter, _ *http.Request) {
		// text/plain: browsers show it; text/markdown they download.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(docs.Metrics)
	})
	if opts.TelemetryPath != "/" {
		links := []web.LandingLinks{
			{Address: opts.TelemetryPath, Text: "Metrics"},
			{Address: "/healthz", Text: "Health", Description: "200 while the process is healthy"},
			{Address: "/readyz", Text: "Readiness", Description: "200 once the Kubernetes caches have synced"},
			{Address: DocsPath, Text: "Metrics reference", Description: "every metric, its labels and the guide step it automates"},
			{Address: ProbesPath, Text: "Probes", Description: "the last result of every probe, failures kept longer, and what each probe did"},
		}
		for _, path := range slices.Sorted(maps.Keys(pages)) {
			if path == triage.Path {
				links = append(links, web.LandingLinks{Address: path + "cluster", Text: "Triage",
					Description: "the guides' walks from the caches: " + path + "cluster, " + path + "service/NAMESPACE/NAME, " + path + "pod/NAMESPACE/NAME, " + path + "workload/NAMESPACE/KIND/NAME"})
				continue
			}
			links = append(links, web.LandingLinks{Address: path, Text: strings.TrimPrefix(path, "/"), Description: "a collector's page"})
		}
		landing := web.LandingConfig{
			Name:        "kube-triage-exporter",
			Description: fmt.Sprintf("Probes a Kubernetes cluster the way its debugging guides do and exports what it finds (role %s).", opts.Role),
			Version:     opts.Version,
			Profiling:   "false", // no pprof handlers are served
			Links:       links,
		}
		if _, err := web.NewLandingPage(landing); err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		// Built per request: it shows the probes' last results.
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			page := landing
			page.ExtraHTML = string(landingSummary(histories))
			h, err := web.NewLandingPage(page)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	return mux, nil
}

func metricsHandler(exp *collector.Exporter, self *selfmetrics.Metrics, opts Options, logger *slog.Logger) http.Handler {
	var inFlight chan struct{}
	if opts.MaxRequests > 0 {
		inFlight = make(chan struct{}, opts.MaxRequests)
	}
	scrapes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight != nil {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("limit of concurrent scrapes reached (%d), try again later", opts.MaxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout(r, opts))
		defer cancel()
		format := negotiate(r.Header)
		w.Header().Set("Content-Type", string(format))
		w.Header().Set("Vary", "Accept, Accept-Encoding")
		body := bodies.Get().(*bufferedBody)
		body.reset(w)
		defer func() {
			body.reset(nil)
			bodies.Put(body)
		}()
		var out io.Writer = body
		if acceptsGzip(r.Header) {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzipWriters.Get().(*gzip.Writer)
			gz.Reset(body)
			out = gz
		}
		err := exp.WriteMetrics(ctx, out, format, self)
		if gz, ok := out.(*gzip.Writer); ok {
			err = errors.Join(err, gz.Close())
			gz.Reset(io.Discard) // the pool keeps no body alive
			gzipWriters.Put(gz)
		}
		if err == nil {
			err = body.finish()
		}
		if err == nil {
			return
		}
		logger.Error("serving metrics", "err", err)
		if body.streaming {
			// Part of it was sent: the connection is cut, so that the
			// scraper does not take what it got for all.
			panic(http.ErrAbortHandler)
		}
		w.Header().Del("Content-Encoding")
		http.Error(w, "serving metrics: "+err.Error(), http.StatusInternalServerError)
	})
	return self.Instrument(scrapes)
}

// negotiate picks, of OpenMetrics and the text format, the scraper's
// preference (Prometheus asks for OpenMetrics first). Protobuf is not
// offered: the collectors' samples are kept rendered as text and none is a
// native histogram, so a scraper that asks for protobuf first (Prometheus
// with native histograms on) gets its next choice.
func negotiate(h http.Header) expfmt.Format {
	return expfmt.NegotiateAccept(h, expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1, expfmt.FmtText)
}

// acceptsGzip reads Accept-Encoding: gzip, unless weighted q=0.
func acceptsGzip(h http.Header) bool {
	for _, part := range strings.Split(h.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		return !ok || strings.TrimLeft(strings.TrimSpace(q), "0.") != ""
	}
	return false
}

// gzipWriters are reused: a gzip writer holds about 800 KB of state. The
// fastest level: a large scrape is megabytes, and its time counts against
// the scrape's.
var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return gz
}}

// maxBuffered is the largest answer sent in one piece, with its length;
// a larger one is streamed in chunks as it is written. A scrape of a
// 50,000-pod cluster is 300 KB; sent with its length it reaches a reader
// sooner than in chunks, in one write.
const maxBuffered = 1 << 20

// bufferedBody holds an answer up to maxBuffered, then sends it with its
// Content-Length; past maxBuffered it streams what it has and the rest.
type bufferedBody struct {
	w         http.ResponseWriter
	buf       []byte
	streaming bool
}

var bodies = sync.Pool{New: func() any { return &bufferedBody{buf: make([]byte, 0, 64<<10)} }}

func (b *bufferedBody) reset(w http.ResponseWriter) {
	b.w, b.buf, b.streaming = w, b.buf[:0], false
}

func (b *bufferedBody) Write(p []byte) (int, error) {
	if b.streaming {
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) <= maxBuffered {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	b.streaming = true
	if _, err := b.w.Write(b.buf); err != nil {
		return 0, err
	}
	b.buf = b.buf[:0]
	return b.w.Write(p)
}

// finish sends what is held, with its length.
func (b *bufferedBody) finish() error {
	if b.streaming {
		return nil
	}
	b.w.Header().Set("Content-Length", strconv.Itoa(len(b.buf)))
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 2*maxBuffered { // a pool keeps no more than that
		b.buf = nil
	}
	return err
}

// scrapeTimeout is the scraper's timeout less the offset, as in
// blackbox_exporter, or the default when the scraper does not say.
func scrapeTimeout(r *http.Request, opts Options) time.Duration {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return opts.DefaultTimeout
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || secs <= 0 {
		return opts.DefaultTimeout
	}
	t := time.Duration(secs * float64(time.Second))
	if t > opts.TimeoutOffset {
		t -= opts.TimeoutOffset
	}
	return t
}
