package collector

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

var (
	nodeCondition = newMetric("node_condition", prometheus.GaugeValue,
		"1 for the node condition's current status (true, false, unknown), 0 for the others. Conditions include Ready, the pressures, NetworkUnavailable and any that node-problem-detector sets (KernelDeadlock, ReadonlyFilesystem...).", "node", "condition", "status")
	nodeLeaseAge = newMetric("node_lease_age_seconds", prometheus.GaugeValue,
		"Seconds since the node's kubelet last renewed its Lease in kube-node-lease (as of the exporter's cache); the kubelet renews every 10s by default.", "node")
	nodeUnreachable = newMetric("node_unreachable_taint", prometheus.GaugeValue,
		"1 if the node controller has tainted the node node.kubernetes.io/unreachable (its kubelet stopped reporting), else 0.", "node")
	nodeSchedulable = newMetric("node_schedulable", prometheus.GaugeValue,
		"1 if ordinary pods may be scheduled on the node: not cordoned, and no NoSchedule or NoExecute taint but the node controller's own (a control-plane node or a dedicated pool is 0).", "node")
)

var nodesSpec = Spec{
	Name:      "nodes",
	Help:      "Node conditions (node-problem-detector's too), node Lease age, unreachable taints and schedulability",
	DefaultOn: []Role{RoleCluster},
	Metrics:   []*Metric{nodeCondition, nodeLeaseAge, nodeUnreachable, nodeSchedulable},
	New:       newNodesCollector,
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
	shown   map[string]*record.Node // the record each node's samples were rendered from
}

func newNodesCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	nodes := d.Kube.Informers.Informer("nodes", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return d.Kube.Informers.TrimmedInformer(f, kube.Nodes)
	})
	return newNodes(nodes.GetStore(), d.Kube.Informers.LeasesIn("kube-node-lease").GetStore()), nil
}

// newNodes builds the collector over stores of records.
func newNodes(nodes, leases cache.Store) *nodesCollector {
	c := &nodesCollector{nodes: nodes, leases: leases, now: time.Now, shown: map[string]*record.Node{},
		rendered: NewRendered(nodeCondition, nodeLeaseAge, nodeUnreachable, nodeSchedulable)}
	c.builder = c.rendered.Builder()
	c.rendered.Live(nodeLeaseAge, c.leaseAges)
	return c
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
		node, ok := obj.(*record.Node)
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
			if l, ok := obj.(*record.Lease); ok && l.Renewed > 0 {
				add(guide.LeaseAge(now, l), name)
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
