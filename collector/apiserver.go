package collector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

// APIServerConfig configures the apiserver collector.
type APIServerConfig struct {
	Interval time.Duration // how often to probe
	Timeout  time.Duration // per probe request
	// FailingChecksOnly exports check_success only for failing checks: a
	// node agent needs "can I reach the apiserver", not 70 series per node.
	FailingChecksOnly bool
}

var (
	apiserverReachable = newMetric("apiserver_reachable", prometheus.GaugeValue,
		"1 if the last probe round got an HTTP response from the apiserver (whatever its status), 0 if it could not connect or timed out.")
	apiserverProbeSuccess = newMetric("apiserver_probe_success", prometheus.GaugeValue,
		"1 if the last probe of the health endpoint answered 200 OK.", "endpoint")
	apiserverProbeDuration = newMetric("apiserver_probe_duration_seconds", prometheus.GaugeValue,
		"How long the last probe of the health endpoint took.", "endpoint")
	apiserverProbeStatus = newMetric("apiserver_probe_http_status_code", prometheus.GaugeValue,
		"HTTP status of the last probe of the health endpoint; 0 when no response came.", "endpoint")
	apiserverCheckSuccess = newMetric("apiserver_check_success", prometheus.GaugeValue,
		"1 if the named check passed ([+]) in the last verbose answer of the health endpoint, 0 if it failed ([-]). The etcd check is the apiserver's storage.", "endpoint", "check")
	apiserverProbes = newMetric("apiserver_probes_total", prometheus.CounterValue,
		"Probes of the health endpoint since the exporter started.", "endpoint")
	apiserverProbeFailures = newMetric("apiserver_probe_failures_total", prometheus.CounterValue,
		"Failed probes of the health endpoint by reason: timeout, connection, tls, auth (401/403), check_failed (a named check failed), http_status (any other non-200).", "endpoint", "reason")
)

var apiserverSpec = Spec{
	Name:      "apiserver",
	Help:      "Probe the apiserver's /livez and /readyz (verbose) and report every named check, etcd included",
	DefaultOn: []Role{RoleCluster, RoleNode},
	Metrics: []*Metric{apiserverReachable, apiserverProbeSuccess, apiserverProbeDuration, apiserverProbeStatus,
		apiserverCheckSuccess, apiserverProbes, apiserverProbeFailures},
	New: newAPIServerCollector,
}

// The health endpoints probed, in order.
var apiserverEndpoints = []string{"livez", "readyz"}

// Failure reasons; all are exported from the start so that rate() sees the
// first failure.
var apiserverFailureReasons = []string{"timeout", "connection", "tls", "auth", "check_failed", "http_status"}

type apiserverCollector struct {
	logger *slog.Logger
	cfg    APIServerConfig
	client *http.Client
	base   *url.URL

	rounds schedule.Rounds

	mu   sync.Mutex
	last *apiserverRound // nil until the first round
	// Cumulative counts, by endpoint and by endpoint and reason.
	probes   map[string]float64
	failures map[[2]string]float64
}

type apiserverRound struct {
	reachable bool
	endpoints map[string]endpointResult
}

type endpointResult struct {
	status   int
	duration time.Duration
	checks   []healthCheck
	reason   string // "" on success
	err      string // what went wrong, for the log
}

type healthCheck struct {
	name string
	ok   bool
}

func newAPIServerCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	if d.Config.APIServer.Interval <= 0 || d.Config.APIServer.Timeout <= 0 {
		return nil, fmt.Errorf("interval (%s) and timeout (%s) must be positive", d.Config.APIServer.Interval, d.Config.APIServer.Timeout)
	}
	client, err := rest.HTTPClientFor(d.Kube.Config)
	if err != nil {
		return nil, fmt.Errorf("building HTTP client: %w", err)
	}
	base, _, err := rest.DefaultServerUrlFor(d.Kube.Config)
	if err != nil {
		return nil, fmt.Errorf("apiserver URL: %w", err)
	}
	return &apiserverCollector{
		logger:   d.Logger,
		cfg:      d.Config.APIServer,
		client:   client,
		base:     base,
		probes:   map[string]float64{},
		failures: map[[2]string]float64{},
	}, nil
}

func (c *apiserverCollector) Run(ctx context.Context) {
	// The round runs its requests side by side, each under its own timeout;
	// the round's own bound only guards against a stuck one.
	schedule.Every(ctx, c.cfg.Interval, c.cfg.Timeout+time.Second, &c.rounds, func(round context.Context) {
		results := c.probeAll(round)
		if ctx.Err() == nil { // not shutting down: a round cut short is still a result
			c.record(results)
		}
	})
}

// Rounds is the progress of the probe schedule, which the framework exports.
func (c *apiserverCollector) Rounds() *schedule.Rounds { return &c.rounds }

// probeRound probes and records one round (for tests).
func (c *apiserverCollector) probeRound(ctx context.Context) { c.record(c.probeAll(ctx)) }

// probeAll probes the endpoints side by side, each with its own timeout:
// with etcd down, /readyz takes as long as its two etcd checks time out
// (2s each by default) and /livez as long as one.
func (c *apiserverCollector) probeAll(ctx context.Context) []endpointResult {
	results := make([]endpointResult, len(apiserverEndpoints))
	var wg sync.WaitGroup
	for i, ep := range apiserverEndpoints {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			results[i] = c.probe(pctx, ep)
		})
	}
	wg.Wait()
	return results
}

// record makes a round's results the ones scrapes read.
func (c *apiserverCollector) record(results []endpointResult) {
	round := &apiserverRound{endpoints: map[string]endpointResult{}}
	for i, ep := range apiserverEndpoints {
		r := results[i]
		round.endpoints[ep] = r
		round.reachable = round.reachable || r.status != 0
		if r.reason != "" {
			c.logger.Warn("apiserver probe failed", "endpoint", ep, "reason", r.reason,
				"status", r.status, "failed_checks", strings.Join(failedChecks(r.checks), ","),
				"duration_seconds", r.duration.Seconds(), "err", r.err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for ep, r := range round.endpoints {
		c.probes[ep]++
		if r.reason != "" {
			c.failures[[2]string{ep, r.reason}]++
		}
	}
	c.last = round
}

// probe GETs /<endpoint>?verbose and classifies the answer.
func (c *apiserverCollector) probe(ctx context.Context, endpoint string) endpointResult {
	u := *c.base
	u.Path = "/" + endpoint
	u.RawQuery = "verbose"
	a := getHealth(ctx, c.client, u.String())
	r := endpointResult{status: a.status, duration: a.duration, checks: parseHealthChecks(a.body), reason: a.reason, err: a.err}
	switch {
	case r.reason != "":
	case a.status == http.StatusOK:
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		r.reason = "auth"
	case len(failedChecks(r.checks)) > 0:
		r.reason = "check_failed"
	default:
		r.reason = "http_status"
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

func (c *apiserverCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ep := range apiserverEndpoints {
		ch <- apiserverProbes.value(c.probes[ep], ep)
		for _, reason := range apiserverFailureReasons {
			ch <- apiserverProbeFailures.value(c.failures[[2]string{ep, reason}], ep, reason)
		}
	}
	if c.last == nil {
		return nil // no probe round finished yet: no gauges rather than false zeros
	}
	ch <- apiserverReachable.value(boolFloat(c.last.reachable))
	for _, ep := range apiserverEndpoints {
		r := c.last.endpoints[ep]
		ch <- apiserverProbeSuccess.value(boolFloat(r.reason == ""), ep)
		ch <- apiserverProbeDuration.value(r.duration.Seconds(), ep)
		ch <- apiserverProbeStatus.value(float64(r.status), ep)
		for _, chk := range r.checks {
			if chk.ok && c.cfg.FailingChecksOnly {
				continue
			}
			ch <- apiserverCheckSuccess.value(boolFloat(chk.ok), ep, chk.name)
		}
	}
	return nil
}
