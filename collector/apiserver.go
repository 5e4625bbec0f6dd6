package collector

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

	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// APIServerConfig configures the apiserver collector; its schedule comes
// from --collector.apiserver.{interval,timeout}.
type APIServerConfig struct {
	// FailingChecksOnly exports check_success only for failing checks: a
	// node agent needs "can I reach the apiserver", not 70 series per node.
	FailingChecksOnly bool
}

var (
	apiserverHealth       = newHealthMetrics("apiserver", "the apiserver's health endpoint", "", "endpoint")
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
	Metrics:   append(apiserverHealth.all(), apiserverCheckSuccess, apiserverProbes, apiserverProbeFailures),
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 8 * time.Second},
		What:        "probes /livez and /readyz",
		TimeoutHelp: "Timeout of each apiserver probe request. With etcd down, /readyz answers only after its etcd checks time out (4s with the apiserver's defaults); a shorter timeout would report that as the apiserver being down."},
	New: newAPIServerCollector,
}

// The health endpoints probed, in order.
var apiserverEndpoints = []string{"livez", "readyz"}

// Failure reasons; all are exported from the start so that rate() sees the
// first failure.
var apiserverFailureReasons = []string{"timeout", "connection", "tls", "auth", "check_failed", "http_status"}

type apiserverCollector struct {
	*prober.Runner[*apiserverRound]
	cfg     APIServerConfig
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
	healthAnswer
	checks []healthCheck
}

type healthCheck struct {
	name string
	ok   bool
}

func newAPIServerCollector(d Deps) (Collector, error) {
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
		cfg:      d.Config.APIServer,
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
		Reasons:  apiserverFailureReasons,
	})
	return c, err
}

// probeAll probes the endpoints side by side, each with its own timeout
// (with etcd down, /readyz takes as long as its two etcd checks time out,
// 2s each by default, and /livez as long as one), and counts the results.
func (c *apiserverCollector) probeAll(ctx context.Context) *apiserverRound {
	results := make([]endpointResult, len(apiserverEndpoints))
	var wg sync.WaitGroup
	for i, ep := range apiserverEndpoints {
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
	for i, ep := range apiserverEndpoints {
		r := results[i]
		round.endpoints[ep] = r
		round.reachable = round.reachable || r.status != 0
		c.probes[ep]++
		if r.reason != "" {
			c.failures[[2]string{ep, r.reason}]++
		}
	}
	return round
}

func (c *apiserverCollector) outcomes(round *apiserverRound) []prober.Outcome {
	var out []prober.Outcome
	for _, ep := range apiserverEndpoints {
		r := round.endpoints[ep]
		o := r.outcome(ep, c.url(ep))
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
	a := getHealth(ctx, c.client, c.url(endpoint))
	r := endpointResult{healthAnswer: a, checks: parseHealthChecks(a.body)}
	r.body = bytes.Clone(r.body[:min(len(r.body), maxKeptBody)]) // kept for the history's log only
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
	for _, ep := range apiserverEndpoints {
		ch <- apiserverProbes.value(c.probes[ep], ep)
		for _, reason := range apiserverFailureReasons {
			ch <- apiserverProbeFailures.value(c.failures[[2]string{ep, reason}], ep, reason)
		}
	}
	c.mu.Unlock()
	last, ok, err := c.Last()
	if !ok { // no gauges before the first round rather than false zeros, nor once stale
		return err
	}
	ch <- apiserverHealth.reachable.value(boolFloat(last.reachable))
	for _, ep := range apiserverEndpoints {
		r := last.endpoints[ep]
		apiserverHealth.send(ch, r.healthAnswer, ep)
		for _, chk := range r.checks {
			if chk.ok && c.cfg.FailingChecksOnly {
				continue
			}
			ch <- apiserverCheckSuccess.value(boolFloat(chk.ok), ep, chk.name)
		}
	}
	return nil
}
