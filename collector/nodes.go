package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
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

// nodesCollector reads Nodes and their Leases (cluster role). A node's
// conditions, taint and schedulability are rendered once per change of its
// record; the Lease ages at each scrape.
type nodesCollector struct {
	nodes, leases cache.Store
	now           func() time.Time
	rendered      *Rendered

	mu      sync.Mutex // over builder and shown
	builder *Builder
	shown   map[string]*kube.Node // the record each node's samples were rendered from
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
		return d.Kube.Informers.TrimmedInformer(f, kube.Nodes)
	})
	return newNodes(nodes.GetStore(), d.Kube.Informers.LeasesIn("kube-node-lease").GetStore()), nil
}

// newNodes builds the collector over stores of records.
func newNodes(nodes, leases cache.Store) *nodesCollector {
	c := &nodesCollector{nodes: nodes, leases: leases, now: time.Now, shown: map[string]*kube.Node{},
		rendered: NewRendered(nodeCondition, nodeLeaseAge, nodeUnreachable, nodeSchedulable)}
	c.builder = c.rendered.Builder()
	c.rendered.Live(nodeLeaseAge, c.leaseAges)
	return c
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

// Rendered brings the nodes' samples up to date with the cache and
// returns them. Only a record that changed since the last scrape is looked
// at, and only one whose kept fields changed is rendered again (a kubelet's
// status heartbeats change none); at 5,000 nodes this is a walk of
// pointers.
func (c *nodesCollector) Rendered() *Rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	present := 0
	for _, obj := range c.nodes.List() {
		node, ok := obj.(*kube.Node)
		if !ok {
			continue
		}
		present++
		prev, seen := c.shown[node.Name]
		if prev == node || (seen && reflect.DeepEqual(prev, node)) {
			c.shown[node.Name] = node
			continue
		}
		c.shown[node.Name] = node
		for _, cond := range node.Conditions {
			status := strings.ToLower(cond.Status)
			for _, s := range []string{"true", "false", "unknown"} {
				c.builder.Add(nodeCondition, boolFloat(s == status), node.Name, labelValue(cond.Type), s)
			}
		}
		c.builder.Add(nodeUnreachable, boolFloat(node.Unreachable), node.Name)
		c.builder.Add(nodeSchedulable, boolFloat(!node.Unschedulable), node.Name)
		c.rendered.Set(node.Name, c.builder)
	}
	if present < len(c.shown) { // some Nodes were deleted
		for name := range c.shown {
			if _, ok, _ := c.nodes.GetByKey(name); !ok {
				delete(c.shown, name)
				c.rendered.Delete(name)
			}
		}
	}
	return c.rendered
}

// leaseAges renders, at scrape time, each node's Lease age.
func (c *nodesCollector) leaseAges(add func(v float64, labelValues ...string)) {
	now := c.now()
	for _, name := range c.nodes.ListKeys() {
		if obj, ok, _ := c.leases.GetByKey("kube-node-lease/" + name); ok {
			if l, ok := obj.(*kube.Lease); ok && l.Renewed > 0 {
				add(leaseAge(now, l), name)
			}
		}
	}
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
