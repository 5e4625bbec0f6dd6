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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

// NodesConfig configures the nodes collector's kubelet probe (node role).
type NodesConfig struct {
	Interval, Timeout time.Duration
	// KubeletURL is the kubelet's health endpoint as seen from the node agent.
	KubeletURL string
	// KubeletInsecureTLS skips verifying the kubelet's serving certificate,
	// which is self-signed unless the cluster bootstraps kubelet serving
	// certificates.
	KubeletInsecureTLS bool
}

var (
	nodeCondition = newMetric("node_condition", prometheus.GaugeValue,
		"1 for the node condition's current status (true, false, unknown), 0 for the others. Conditions include Ready, the pressures, NetworkUnavailable and any that node-problem-detector sets (KernelDeadlock, ReadonlyFilesystem...).", "node", "condition", "status")
	nodeLeaseAge = newMetric("node_lease_age_seconds", prometheus.GaugeValue,
		"Seconds since the node's kubelet last renewed its Lease in kube-node-lease (as of the exporter's cache); the kubelet renews every 10s by default.", "node")
	nodeUnreachable = newMetric("node_unreachable_taint", prometheus.GaugeValue,
		"1 if the node controller has tainted the node node.kubernetes.io/unreachable (its kubelet stopped reporting), else 0.", "node")
	nodeSchedulable = newMetric("node_schedulable", prometheus.GaugeValue,
		"1 if ordinary pods may be scheduled on the node: not cordoned, and no NoSchedule or NoExecute taint but the node controller's own (a control-plane node or a dedicated pool is 0).", "node")
	kubeletReachable = newMetric("kubelet_reachable", prometheus.GaugeValue,
		"1 if the last probe of the kubelet's health endpoint on this agent's node got an HTTP response, 0 if it could not connect or timed out.")
	kubeletProbeSuccess = newMetric("kubelet_probe_success", prometheus.GaugeValue,
		"1 if the last probe of the kubelet's health endpoint on this agent's node answered 200 OK.")
	kubeletProbeStatus = newMetric("kubelet_probe_http_status_code", prometheus.GaugeValue,
		"HTTP status of the last kubelet health probe; 0 when no response came.")
	kubeletProbeDuration = newMetric("kubelet_probe_duration_seconds", prometheus.GaugeValue,
		"How long the last kubelet health probe took.")
)

var nodesSpec = Spec{
	Name:      "nodes",
	Help:      "Node conditions (node-problem-detector's too), node Lease age and unreachable taints; in the node role, the kubelet's health on this node",
	DefaultOn: []Role{RoleCluster, RoleNode},
	Metrics: []*Metric{nodeCondition, nodeLeaseAge, nodeUnreachable, nodeSchedulable,
		kubeletReachable, kubeletProbeSuccess, kubeletProbeStatus, kubeletProbeDuration},
	New: newNodesCollector,
}

// nodesCollector reads Nodes and their Leases (cluster role).
type nodesCollector struct {
	nodes, leases cache.Store
	now           func() time.Time
}

// kubeletProber probes its own node's kubelet (node role).
type kubeletProber struct {
	logger *slog.Logger
	cfg    NodesConfig
	client *http.Client
	rounds schedule.Rounds

	mu   sync.Mutex
	last *healthAnswer // nil until the first probe
}

func newNodesCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	if d.Role == RoleNode {
		p, err := newKubeletProber(d)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return p, nil
	}
	nodes := d.Kube.Informers.Informer("nodes", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Nodes().Informer()
	})
	return &nodesCollector{nodes: nodes.GetStore(), leases: d.Kube.Informers.LeasesIn("kube-node-lease").GetStore(), now: time.Now}, nil
}

func newKubeletProber(d Deps) (*kubeletProber, error) {
	cfg := d.Config.Nodes
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		return nil, fmt.Errorf("interval (%s) and timeout (%s) must be positive", cfg.Interval, cfg.Timeout)
	}
	if u, err := url.Parse(cfg.KubeletURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kubelet URL %q: want http(s)://host:port/path", cfg.KubeletURL)
	}
	// Over https the kubelet authorizes /healthz (nodes/healthz, or
	// nodes/proxy before fine-grained kubelet authorization) with the
	// exporter's own credentials. Plain http (the kubelet's loopback
	// healthz port) needs none, and gets none.
	client := &http.Client{}
	if strings.HasPrefix(cfg.KubeletURL, "https://") {
		rc := rest.CopyConfig(d.Kube.Config)
		if cfg.KubeletInsecureTLS {
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
	a := checkHealth(ctx, c.client, c.cfg.KubeletURL, c.cfg.Timeout)
	if a.reason != "" {
		c.logger.Warn("kubelet health probe failed", "url", c.cfg.KubeletURL, "reason", a.reason, "status", a.status,
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

func (c *nodesCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	now := c.now()
	for _, obj := range c.nodes.List() {
		n, ok := obj.(*kube.Node)
		if !ok {
			continue
		}
		for _, cond := range n.Conditions {
			status := strings.ToLower(cond.Status)
			for _, s := range []string{"true", "false", "unknown"} {
				ch <- nodeCondition.value(boolFloat(s == status), n.Name, labelValue(cond.Type), s)
			}
		}
		ch <- nodeUnreachable.value(boolFloat(n.Unreachable), n.Name)
		ch <- nodeSchedulable.value(boolFloat(!n.Unschedulable), n.Name)
		if obj, ok, _ := c.leases.GetByKey("kube-node-lease/" + n.Name); ok {
			if l, ok := obj.(*kube.Lease); ok && l.Renewed > 0 {
				ch <- nodeLeaseAge.value(leaseAge(now, l), n.Name)
			}
		}
	}
	return nil
}

// labelValue bounds a value that comes from the cluster (a condition type
// another tool chose) to 128 bytes of valid UTF-8: a cut through a
// character, or a value that was never UTF-8, would make the metric
// invalid and fail the whole collector.
func labelValue(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	return strings.ToValidUTF8(s, "")
}
