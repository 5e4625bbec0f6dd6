package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// KubeletConfig configures the kubelet collector (node role); its
// schedule comes from --collector.kubelet.{interval,timeout}.
type KubeletConfig struct {
	// URL is the kubelet's health endpoint as seen from the node agent.
	URL string
	// InsecureTLS skips verifying the kubelet's serving certificate, which
	// is self-signed unless the cluster bootstraps kubelet serving
	// certificates.
	InsecureTLS bool
}

// kubeletHealth are the kubelet probe's gauges.
var kubeletHealth = newHealthMetrics("kubelet", "the kubelet's health endpoint on this agent's node", "")

var kubeletSpec = Spec{
	Name:      "kubelet",
	Help:      "Probe the health endpoint of this node's kubelet",
	DefaultOn: []Role{RoleNode},
	Metrics:   kubeletHealth.all(),
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 5 * time.Second},
		What: "probes its node's kubelet (node role)", TimeoutHelp: "Timeout of each kubelet health probe."},
	New: newKubeletCollector,
}

// kubeletProber probes its own node's kubelet (node role).
type kubeletProber struct {
	*prober.Runner[healthAnswer]
	url     string
	timeout time.Duration
	client  *http.Client
}

func newKubeletCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	cfg := d.Config.Kubelet
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
	c := &kubeletProber{url: cfg.URL, timeout: d.Schedule.Timeout, client: client}
	var err error
	c.Runner, err = prober.New(prober.Config[healthAnswer]{
		Collector: "kubelet", Schedule: d.Schedule, Logger: d.Logger,
		Probe: c.probe, Reasons: healthReasons,
		Outcomes: func(a healthAnswer) []prober.Outcome {
			return []prober.Outcome{a.outcome("healthz", c.url)}
		},
	})
	return c, err
}

// probe GETs the kubelet's health endpoint under the timeout.
func (c *kubeletProber) probe(ctx context.Context) healthAnswer {
	return checkHealth(ctx, c.client, c.url, c.timeout)
}

func (c *kubeletProber) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	a, ok, err := c.Last()
	if !ok { // no gauges before the first probe rather than false zeros, nor once stale
		return err
	}
	ch <- kubeletHealth.reachable.value(boolFloat(a.status != 0))
	kubeletHealth.send(ch, a)
	return nil
}
