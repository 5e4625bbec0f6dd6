// Package apiserver is the apiserver collector (both roles): it probes
// /livez and /readyz (verbose) and reports every named check, etcd's
// included. From the cluster role it says whether the control plane is
// up; from a node agent, whether that node reaches the apiserver.
package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/healthprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var metrics collector.Families

var (
	health = healthprobe.NewMetrics(&metrics, "apiserver", "the apiserver's health endpoint", "",
		healthprobe.Steps{Reachable: "Troubleshoot Clusters: apiserver VM down", Success: "Troubleshoot Clusters",
			Status: "Troubleshoot Clusters", Duration: "Troubleshoot Clusters"}, "endpoint")
	checkSuccess = metrics.Gauge("apiserver_check_success", "Troubleshoot Clusters: apiserver backing storage lost",
		"1 if the named check passed ([+]) in the last verbose answer of the health endpoint, 0 if it failed ([-]). The etcd check is the apiserver's storage.", "endpoint", "check")
	probes = metrics.Counter("apiserver_probes_total", "-",
		"Probes of the health endpoint since the exporter started.", "endpoint")
	probeFailures = metrics.Counter("apiserver_probe_failures_total", "Troubleshoot Clusters",
		"Failed probes of the health endpoint by reason: timeout, connection, tls, auth (401/403), check_failed (a named check failed), http_status (any other non-200).", "endpoint", "reason")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "apiserver",
	Help:      "Probe the apiserver's /livez and /readyz (verbose) and report every named check, etcd included",
	DefaultOn: []collector.Role{collector.RoleCluster, collector.RoleNode},
	Metrics:   &metrics,
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 8 * time.Second},
		What:        "probes /livez and /readyz",
		TimeoutHelp: "Timeout of each apiserver probe request. With etcd down, /readyz answers only after its etcd checks time out (4s with the apiserver's defaults); a shorter timeout would report that as the apiserver being down."},
	Config: func() collector.Config { return &Config{} },
}

// Config configures the collector.
type Config struct {
	// FailingChecksOnly exports check_success only for failing checks: a
	// node agent needs "can I reach the apiserver", not 70 series per node.
	FailingChecksOnly bool
}

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.Bool("collector.apiserver.failing-checks-only", "Export kube_triage_apiserver_check_success only for failing checks (about 70 series fewer per instance; the node DaemonSet sets it).",
			false, &c.FailingChecksOnly),
	}
}

// Check has nothing to check.
func (c *Config) Check(collector.Role) error { return nil }

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newCollector(*c, d))
}

// The health endpoints probed, in order.
var endpoints = []string{"livez", "readyz"}

// Failure reasons; all are exported from the start so that rate() sees the
// first failure.
var failureReasons = []string{"timeout", "connection", "tls", "auth", "check_failed", "http_status"}

type apiserverCollector struct {
	*prober.Runner[*apiserverRound]
	cfg     Config
	timeout time.Duration
	client  *http.Client
	base    *url.URL

	mu sync.Mutex
	// Cumulative counts, by endpoint and by endpoint and reason.
	probes   map[string]float64
	failures map[[2]string]float64
}

type apiserverRound struct {
	reachable bool
	endpoints map[string]endpointResult
}

type endpointResult struct {
	healthprobe.Answer
	checks []healthCheck
}

type healthCheck struct {
	name string
	ok   bool
}

func newCollector(cfg Config, d collector.Deps) (*apiserverCollector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	client, err := rest.HTTPClientFor(d.Kube.Config)
	if err != nil {
		return nil, fmt.Errorf("building HTTP client: %w", err)
	}
	base, _, err := rest.DefaultServerUrlFor(d.Kube.Config)
	if err != nil {
		return nil, fmt.Errorf("apiserver URL: %w", err)
	}
	c := &apiserverCollector{
		cfg:      cfg,
		timeout:  d.Schedule.Timeout,
		client:   client,
		base:     base,
		probes:   map[string]float64{},
		failures: map[[2]string]float64{},
	}
	c.Runner, err = prober.New(prober.Config[*apiserverRound]{
		Collector: "apiserver", Schedule: d.Schedule, Logger: d.Logger,
		Probe:    c.probeAll,
		Outcomes: c.outcomes,
		Reasons:  failureReasons,
	})
	return c, err
}

// Collector is what the framework runs of it.
func (c *apiserverCollector) Collector() *collector.Collector {
	return &collector.Collector{Update: c.update, Probers: []collector.Prober{c.Runner}, Source: source{c}}
}

// probeAll probes the endpoints side by side, each with its own timeout
// (with etcd down, /readyz takes as long as its two etcd checks time out,
// 2s each by default, and /livez as long as one), and counts the results.
func (c *apiserverCollector) probeAll(ctx context.Context) *apiserverRound {
	results := make([]endpointResult, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			results[i] = c.probe(pctx, ep)
		})
	}
	wg.Wait()
	round := &apiserverRound{endpoints: map[string]endpointResult{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ep := range endpoints {
		r := results[i]
		round.endpoints[ep] = r
		round.reachable = round.reachable || r.Status != 0
		c.probes[ep]++
		if r.Reason != "" {
			c.failures[[2]string{ep, r.Reason}]++
		}
	}
	return round
}

func (c *apiserverCollector) outcomes(round *apiserverRound) []prober.Outcome {
	var out []prober.Outcome
	for _, ep := range endpoints {
		r := round.endpoints[ep]
		o := r.Outcome(ep, c.url(ep))
		if failed := failedChecks(r.checks); len(failed) > 0 {
			o.Attrs = append(o.Attrs, "failed_checks", strings.Join(failed, ","))
		}
		out = append(out, o)
	}
	return out
}

func (c *apiserverCollector) url(endpoint string) string {
	u := *c.base
	u.Path = "/" + endpoint
	u.RawQuery = "verbose"
	return u.String()
}

// probe GETs /<endpoint>?verbose and classifies the answer.
func (c *apiserverCollector) probe(ctx context.Context, endpoint string) endpointResult {
	a := healthprobe.Get(ctx, c.client, c.url(endpoint))
	r := endpointResult{Answer: a, checks: parseHealthChecks(a.Body)}
	r.Body = bytes.Clone(r.Body[:min(len(r.Body), healthprobe.MaxKeptBody)]) // kept for the history's log only
	switch {
	case r.Reason != "":
	case a.Status == http.StatusOK:
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
		r.Reason = "auth"
	case len(failedChecks(r.checks)) > 0:
		r.Reason = "check_failed"
	default:
		r.Reason = "http_status"
	}
	return r
}

// checkLine matches one line of a verbose health answer: "[+]etcd ok" or
// "[-]etcd failed: reason withheld". Check names become label values, so
// only the characters and length real check names use are accepted.
var checkLine = regexp.MustCompile(`^\[([+-])\]([A-Za-z0-9_./:-]{1,128}) (ok|failed|excluded)`)

// parseHealthChecks reads the named checks of a verbose answer, the first
// occurrence of each name only.
func parseHealthChecks(body []byte) []healthCheck {
	var checks []healthCheck
	seen := map[string]bool{}
	s := bufio.NewScanner(bytes.NewReader(body))
	for s.Scan() {
		m := checkLine.FindSubmatch(s.Bytes())
		if m == nil || string(m[3]) == "excluded" || seen[string(m[2])] {
			continue
		}
		seen[string(m[2])] = true
		checks = append(checks, healthCheck{name: string(m[2]), ok: string(m[1]) == "+"})
	}
	return checks
}

func failedChecks(checks []healthCheck) []string {
	var failed []string
	for _, ch := range checks {
		if !ch.ok {
			failed = append(failed, ch.name)
		}
	}
	return failed
}

func (c *apiserverCollector) update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	for _, ep := range endpoints {
		ch <- probes.Value(c.probes[ep], ep)
		for _, reason := range failureReasons {
			ch <- probeFailures.Value(c.failures[[2]string{ep, reason}], ep, reason)
		}
	}
	c.mu.Unlock()
	last, ok, err := c.Last()
	if !ok { // no gauges before the first round rather than false zeros, nor once stale
		return err
	}
	ch <- health.Reachable.Value(collector.BoolFloat(last.reachable))
	for _, ep := range endpoints {
		r := last.endpoints[ep]
		health.Send(ch, r.Answer, ep)
		for _, chk := range r.checks {
			if chk.ok && c.cfg.FailingChecksOnly {
				continue
			}
			ch <- checkSuccess.Value(collector.BoolFloat(chk.ok), ep, chk.name)
		}
	}
	return nil
}

// source is what the triage walks read: the last round.
type source struct{ c *apiserverCollector }

// APIServerHealth is the last round, while it is current.
func (s source) APIServerHealth() (guide.APIServerHealth, bool, error) {
	last, ok, err := s.c.Last()
	if !ok {
		return guide.APIServerHealth{}, false, err
	}
	h := guide.APIServerHealth{Reachable: last.reachable}
	for _, ep := range endpoints {
		r := last.endpoints[ep]
		h.Endpoints = append(h.Endpoints, guide.EndpointHealth{Name: ep, Status: r.Status, Reason: r.Reason, FailedChecks: failedChecks(r.checks)})
	}
	return h, true, nil
}
