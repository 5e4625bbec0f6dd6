// Package kubelet is the kubelet collector (node role): it probes the
// health endpoint of its own node's kubelet.
package kubelet

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/healthprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var metrics collector.Families

var health = healthprobe.NewMetrics(&metrics, "kubelet", "the kubelet's health endpoint on this agent's node", "",
	healthprobe.Steps{Reachable: "Troubleshoot Clusters: kubelet fault", Success: "Troubleshoot Clusters: kubelet fault",
		Status: "Troubleshoot Clusters: kubelet fault", Duration: "Troubleshoot Clusters"})

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "kubelet",
	Help:      "Probe the health endpoint of this node's kubelet",
	DefaultOn: []collector.Role{collector.RoleNode},
	Metrics:   &metrics,
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 5 * time.Second},
		What: "probes its node's kubelet (node role)", TimeoutHelp: "Timeout of each kubelet health probe."},
	Config: func() collector.Config { return &Config{} },
}

// Config configures the collector.
type Config struct {
	// URL is the kubelet's health endpoint as seen from the node agent.
	URL string
	// InsecureTLS skips verifying the kubelet's serving certificate, which
	// is self-signed unless the cluster bootstraps kubelet serving
	// certificates.
	InsecureTLS bool
}

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.String("collector.kubelet.url", "The kubelet's health endpoint as this node agent reaches it; the DaemonSet passes http://127.0.0.1:10248/healthz (the kubelet's plain health port on the node's loopback). Over https it is asked with the exporter's credentials (RBAC: nodes/healthz); over plain http (the kubelet's loopback port 10248) with none.",
			"https://127.0.0.1:10250/healthz", &c.URL),
		collector.Bool("collector.kubelet.insecure-tls", "Do not verify the kubelet's serving certificate (self-signed unless the cluster bootstraps kubelet serving certificates), as metrics-server's --kubelet-insecure-tls.",
			false, &c.InsecureTLS),
	}
}

// Check wants an http(s) URL.
func (c *Config) Check(collector.Role) error {
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--collector.kubelet.url: kubelet URL %q: want http(s)://host:port/path", c.URL)
	}
	return nil
}

// kubeletProber probes its own node's kubelet.
type kubeletProber struct {
	*prober.Runner[healthprobe.Answer]
	url     string
	timeout time.Duration
	client  *http.Client
}

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(c.newProber(d))
}

// Collector is what the framework runs of it.
func (p *kubeletProber) Collector() *collector.Collector {
	return &collector.Collector{Update: p.update, Probers: []collector.Prober{p.Runner}}
}

func (c *Config) newProber(d collector.Deps) (*kubeletProber, error) {
	// Over https the kubelet authorizes /healthz (nodes/healthz, or
	// nodes/proxy before fine-grained kubelet authorization) with the
	// exporter's own credentials. Plain http (the kubelet's loopback
	// healthz port) needs none, and gets none.
	client := &http.Client{}
	if strings.HasPrefix(c.URL, "https://") {
		if d.Kube == nil {
			return nil, fmt.Errorf("an https kubelet URL needs a Kubernetes client configuration")
		}
		rc := rest.CopyConfig(d.Kube.Config)
		if c.InsecureTLS {
			rc.Insecure, rc.CAData, rc.CAFile = true, nil, ""
		}
		var err error
		if client, err = rest.HTTPClientFor(rc); err != nil {
			return nil, fmt.Errorf("kubelet client: %w", err)
		}
	}
	p := &kubeletProber{url: c.URL, timeout: d.Schedule.Timeout, client: client}
	var err error
	p.Runner, err = prober.New(prober.Config[healthprobe.Answer]{
		Collector: "kubelet", Schedule: d.Schedule, Logger: d.Logger,
		Probe: p.probe, Reasons: healthprobe.Reasons,
		Outcomes: func(a healthprobe.Answer) []prober.Outcome {
			return []prober.Outcome{a.Outcome("healthz", p.url)}
		},
	})
	return p, err
}

// probe GETs the kubelet's health endpoint under the timeout.
func (p *kubeletProber) probe(ctx context.Context) healthprobe.Answer {
	return healthprobe.Check(ctx, p.client, p.url, p.timeout)
}

func (p *kubeletProber) update(_ context.Context, ch chan<- prometheus.Metric) error {
	a, ok, err := p.Last()
	if !ok { // no gauges before the first probe rather than false zeros, nor once stale
		return err
	}
	ch <- health.Reachable.Value(collector.BoolFloat(a.Status != 0))
	health.Send(ch, a)
	return nil
}
