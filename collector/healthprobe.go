package collector

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

	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// healthAnswer is the outcome of one GET of a health endpoint (the
// apiserver's, the kubelet's, kube-proxy's).
type healthAnswer struct {
	status   int // 0 when no response came
	body     []byte
	duration time.Duration
	reason   string // why no complete answer came: timeout, connection, tls; "" if one did
	err      string // what went wrong, for the log
}

// getHealth GETs url under ctx's deadline and reads up to 1 MiB of the
// answer: a health answer is a few KiB, and a misbehaving server must not
// make us read without end.
func getHealth(ctx context.Context, client *http.Client, url string) healthAnswer {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return healthAnswer{reason: "connection", err: err.Error(), duration: time.Since(start)}
	}
	resp, err := client.Do(req)
	if err != nil {
		return healthAnswer{reason: transportReason(err), err: err.Error(), duration: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := healthAnswer{status: resp.StatusCode, body: body, duration: time.Since(start)}
	if err != nil {
		a.reason, a.err = transportReason(err), err.Error()
	}
	return a
}

// checkHealth GETs url under timeout and wants 200: any other status is
// the failure reason "http_status".
func checkHealth(ctx context.Context, client *http.Client, url string, timeout time.Duration) healthAnswer {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a := getHealth(ctx, client, url)
	if a.reason == "" && a.status != http.StatusOK {
		a.reason = "http_status"
	}
	return a
}

// healthReasons are the reasons a health probe fails: no answer in time,
// no connection, a TLS failure, a status other than 200.
var healthReasons = []string{"timeout", "connection", "tls", "http_status"}

// transportReason classifies an error that left no HTTP response.
func transportReason(err error) string {
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

// healthMetrics are the gauges every HTTP health probe exports: whether
// the server answered at all, and per endpoint probed whether it answered
// 200, its status and how long it took.
type healthMetrics struct {
	reachable, success, status, duration *Metric
}

// newHealthMetrics names the gauges <prefix>_reachable,
// <prefix>_probe_success, <prefix>_probe_http_status_code and
// <prefix>_probe_duration_seconds, about what is probed; successNote ends
// the success gauge's help, labels are the per-endpoint gauges' labels.
func newHealthMetrics(prefix, what, successNote string, labels ...string) healthMetrics {
	return healthMetrics{
		reachable: newMetric(prefix+"_reachable", prometheus.GaugeValue,
			"1 if the last probe of "+what+" got an HTTP response (whatever its status), 0 if it could not connect or timed out."),
		success: newMetric(prefix+"_probe_success", prometheus.GaugeValue,
			strings.TrimSpace("1 if the last probe of "+what+" answered 200 OK. "+successNote), labels...),
		status: newMetric(prefix+"_probe_http_status_code", prometheus.GaugeValue,
			"HTTP status of the last probe of "+what+"; 0 when no response came.", labels...),
		duration: newMetric(prefix+"_probe_duration_seconds", prometheus.GaugeValue,
			"How long the last probe of "+what+" took.", labels...),
	}
}

func (h healthMetrics) all() []*Metric {
	return []*Metric{h.reachable, h.success, h.status, h.duration}
}

// send sends an answer's per-endpoint gauges.
func (h healthMetrics) send(ch chan<- prometheus.Metric, a healthAnswer, labels ...string) {
	ch <- h.success.value(boolFloat(a.reason == ""), labels...)
	ch <- h.status.value(float64(a.status), labels...)
	ch <- h.duration.value(a.duration.Seconds(), labels...)
}

// maxKeptBody bounds the part of a health answer kept after it is read,
// for the probe history (which keeps less still).
const maxKeptBody = 16 << 10

// outcome is the answer as the probe history shows it: the request, the
// status and the body's lines (a verbose health answer names each check,
// [-] for a failed one), or the error.
func (a healthAnswer) outcome(target, url string) prober.Outcome {
	log := []string{"GET " + url}
	if a.status != 0 {
		log = append(log, fmt.Sprintf("HTTP %d %s after %s", a.status, http.StatusText(a.status), a.duration.Round(time.Millisecond)))
		for line := range strings.Lines(string(a.body)) {
			if line = strings.TrimSpace(line); line != "" {
				log = append(log, line)
			}
		}
	}
	if a.err != "" {
		log = append(log, "error: "+a.err)
	}
	o := prober.Outcome{Target: target, Reason: a.reason, Duration: a.duration, Log: log}
	if a.reason != "" {
		o.Attrs = []any{"url", url, "status", a.status, "err", a.err}
	}
	return o
}
