package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

// KubeletConfig configures the kubelet collector (node role).
type KubeletConfig struct {
	Interval, Timeout time.Duration
	// URL is the kubelet's health endpoint as seen from the node agent.
	URL string
	// InsecureTLS skips verifying the kubelet's serving certificate, which
	// is self-signed unless the cluster bootstraps kubelet serving
	// certificates.
	InsecureTLS bool
}

var (
	kubeletReachable = newMetric("kubelet_reachable", prometheus.GaugeValue,
		"1 if the last probe of the kubelet's health endpoint on this agent's node got an HTTP response, 0 if it could not connect or timed out.")
	kubeletProbeSuccess = newMetric("kubelet_probe_success", prometheus.GaugeValue,
		"1 if the last probe of the kubelet's health endpoint on this agent's node answered 200 OK.")
	kubeletProbeStatus = newMetric("kubelet_probe_http_status_code", prometheus.GaugeValue,
		"HTTP status of the last kubelet health probe; 0 when no response came.")
	kubeletProbeDuration = newMetric("kubelet_probe_duration_seconds", prometheus.GaugeValue,
		"How long the last kubelet health probe took.")
)

var kubeletSpec = Spec{
	Name:      "kubelet",
	Help:      "Probe the health endpoint of this node's kubelet",
	DefaultOn: []Role{RoleNode},
	Metrics:   []*Metric{kubeletReachable, kubeletProbeSuccess, kubeletProbeStatus, kubeletProbeDuration},
	New:       newKubeletCollector,
}

// kubeletProber probes its own node's kubelet (node role).
type kubeletProber struct {
	logger *slog.Logger
	cfg    KubeletConfig
	client *http.Client
	rounds schedule.Rounds

	mu   sync.Mutex
	last *healthAnswer // nil until the first probe
}

func newKubeletCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	cfg := d.Config.Kubelet
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		return nil, fmt.Errorf("interval (%s) and timeout (%s) must be positive", cfg.Interval, cfg.Timeout)
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kubelet URL %q: want http(s)://host:port/path", cfg.URL)
	}
	// Over https the kubelet authorizes /healthz (nodes/healthz, or
	// nodes/proxy before fine-grained kubelet authorization) with the
	// exporter's own credentials. Plain http (the kubelet's loopback
	// healthz port) needs none, and gets none.
	client := &http.Client{}
	if strings.HasPrefix(cfg.URL, "https://") {
		rc := rest.CopyConfig(d.Kube.Config)
		if cfg.InsecureTLS {
			rc.Insecure, rc.CAData, rc.CAFile = true, nil, ""
		}
		var err error
		if client, err = rest.HTTPClientFor(rc); err != nil {
			return nil, fmt.Errorf("kubelet client: %w", err)
		}
	}
	return &kubeletProber{logger: d.Logger, cfg: cfg, client: client}, nil
}

func (c *kubeletProber) Run(ctx context.Context) {
	schedule.Every(ctx, c.cfg.Interval, c.cfg.Timeout+time.Second, &c.rounds, func(round context.Context) {
		a := c.probe(round)
		if ctx.Err() == nil {
			c.mu.Lock()
			c.last = &a
			c.mu.Unlock()
		}
	})
}

// Rounds is the progress of the probe schedule, which the framework exports.
func (c *kubeletProber) Rounds() *schedule.Rounds { return &c.rounds }

// probe GETs the kubelet's health endpoint under the timeout.
func (c *kubeletProber) probe(ctx context.Context) healthAnswer {
	a := checkHealth(ctx, c.client, c.cfg.URL, c.cfg.Timeout)
	if a.reason != "" {
		c.logger.Warn("kubelet health probe failed", "url", c.cfg.URL, "reason", a.reason, "status", a.status,
			"body", strings.TrimSpace(string(a.body[:min(len(a.body), 512)])), "err", a.err)
	}
	return a
}

func (c *kubeletProber) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil { // no gauges before the first probe rather than false zeros
		ch <- kubeletReachable.value(boolFloat(c.last.status != 0))
		ch <- kubeletProbeSuccess.value(boolFloat(c.last.reason == ""))
		ch <- kubeletProbeStatus.value(float64(c.last.status))
		ch <- kubeletProbeDuration.value(c.last.duration.Seconds())
	}
	return nil
}
