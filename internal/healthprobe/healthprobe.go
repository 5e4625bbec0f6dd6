// Package healthprobe asks an HTTP health endpoint (the apiserver's, the
// kubelet's, kube-proxy's) whether it is healthy, tells why not in a
// bounded set of reasons, and declares and sends the gauges every such
// probe exports.
package healthprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// Answer is the outcome of one GET of a health endpoint.
type Answer struct {
	Status   int // 0 when no response came
	Body     []byte
	Duration time.Duration
	Reason   string // why no complete answer came: timeout, connection, tls; "" if one did
	Err      string // what went wrong, for the log
}

// Get GETs url under ctx's deadline and reads up to 1 MiB of the answer:
// a health answer is a few KiB, and a misbehaving server must not make us
// read without end.
func Get(ctx context.Context, client *http.Client, url string) Answer {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Answer{Reason: "connection", Err: err.Error(), Duration: time.Since(start)}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Answer{Reason: TransportReason(err), Err: err.Error(), Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := Answer{Status: resp.StatusCode, Body: body, Duration: time.Since(start)}
	if err != nil {
		a.Reason, a.Err = TransportReason(err), err.Error()
	}
	return a
}

// Check GETs url under timeout and wants 200: any other status is the
// failure reason "http_status".
func Check(ctx context.Context, client *http.Client, url string, timeout time.Duration) Answer {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a := Get(ctx, client, url)
	if a.Reason == "" && a.Status != http.StatusOK {
		a.Reason = "http_status"
	}
	return a
}

// Reasons are the reasons a health probe fails: no answer in time, no
// connection, a TLS failure, a status other than 200.
var Reasons = []string{"timeout", "connection", "tls", "http_status"}

// TransportReason classifies an error that left no HTTP response.
func TransportReason(err error) string {
	var (
		netErr       net.Error
		certErr      *tls.CertificateVerificationError
		unknownAuth  x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		recordHdrErr tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostnameErr), errors.As(err, &recordHdrErr),
		// net/http turns a TLS record header error into this text.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "tls"
	default:
		return "connection"
	}
}

// Metrics are the gauges every HTTP health probe exports: whether the
// server answered at all, and per endpoint probed whether it answered
// 200, its status and how long it took.
type Metrics struct {
	Reachable, Success, Status, Duration *collector.Metric
}

// Steps are the guide steps of the four gauges.
type Steps struct{ Reachable, Success, Status, Duration string }

// NewMetrics declares in f the gauges <prefix>_reachable,
// <prefix>_probe_success, <prefix>_probe_http_status_code and
// <prefix>_probe_duration_seconds, about what is probed; successNote ends
// the success gauge's help, labels are the per-endpoint gauges' labels.
func NewMetrics(f *collector.Families, prefix, what, successNote string, steps Steps, labels ...string) Metrics {
	return Metrics{
		Reachable: f.Gauge(prefix+"_reachable", steps.Reachable,
			"1 if the last probe of "+what+" got an HTTP response (whatever its status), 0 if it could not connect or timed out."),
		Success: f.Gauge(prefix+"_probe_success", steps.Success,
			strings.TrimSpace("1 if the last probe of "+what+" answered 200 OK. "+successNote), labels...),
		Status: f.Gauge(prefix+"_probe_http_status_code", steps.Status,
			"HTTP status of the last probe of "+what+"; 0 when no response came.", labels...),
		Duration: f.Gauge(prefix+"_probe_duration_seconds", steps.Duration,
			"How long the last probe of "+what+" took.", labels...),
	}
}

// Send sends an answer's per-endpoint gauges.
func (m Metrics) Send(ch chan<- prometheus.Metric, a Answer, labels ...string) {
	ch <- m.Success.Value(collector.BoolFloat(a.Reason == ""), labels...)
	ch <- m.Status.Value(float64(a.Status), labels...)
	ch <- m.Duration.Value(a.Duration.Seconds(), labels...)
}

// MaxKeptBody bounds the part of a health answer kept after it is read,
// for the probe history (which keeps less still).
const MaxKeptBody = 16 << 10

// Outcome is the answer as the probe history shows it: the request, the
// status and the body's lines (a verbose health answer names each check,
// [-] for a failed one), or the error.
func (a Answer) Outcome(target, url string) prober.Outcome {
	log := []string{"GET " + url}
	if a.Status != 0 {
		log = append(log, fmt.Sprintf("HTTP %d %s after %s", a.Status, http.StatusText(a.Status), a.Duration.Round(time.Millisecond)))
		for line := range strings.Lines(string(a.Body)) {
			if line = strings.TrimSpace(line); line != "" {
				log = append(log, line)
			}
		}
	}
	if a.Err != "" {
		log = append(log, "error: "+a.Err)
	}
	o := prober.Outcome{Target: target, Reason: a.Reason, Duration: a.Duration, Log: log}
	if a.Reason != "" {
		o.Attrs = []any{"url", url, "status", a.Status, "err", a.Err}
	}
	return o
}
