// Package nodes is the nodes collector (cluster role): every node's
// conditions (node-problem-detector's too), its Lease age, the node
// controller's unreachable taint and whether ordinary pods may be
// scheduled there.
package nodes

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

var metrics collector.Families

var (
	nodeCondition = metrics.Gauge("node_condition", "Troubleshoot Clusters: a node shut down / kubelet fault",
		"1 for the node condition's current status (true, false, unknown), 0 for the others. Conditions include Ready, the pressures, NetworkUnavailable and any that node-problem-detector sets (KernelDeadlock, ReadonlyFilesystem...).", "node", "condition", "status")
	nodeLeaseAge = metrics.Gauge("node_lease_age_seconds", "Troubleshoot Clusters: a node shut down / network partition",
		"Seconds since the node's kubelet last renewed its Lease in kube-node-lease (as of the exporter's cache); the kubelet renews every 10s by default.", "node")
	nodeUnreachable = metrics.Gauge("node_unreachable_taint", "Troubleshoot Clusters",
		"1 if the node controller has tainted the node node.kubernetes.io/unreachable (its kubelet stopped reporting), else 0.", "node")
	nodeSchedulable = metrics.Gauge("node_schedulable", "Troubleshoot Clusters: `kubectl get nodes`",
		"1 if ordinary pods may be scheduled on the node: not cordoned, and no NoSchedule or NoExecute taint but the node controller's own (a control-plane node or a dedicated pool is 0).", "node")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "nodes",
	Help:      "Node conditions (node-problem-detector's too), node Lease age, unreachable taints and schedulability",
	DefaultOn: []collector.Role{collector.RoleCluster},
	Metrics:   &metrics,
	Config:    collector.NoConfig(newCollector),
}

// nodesCollector reads Nodes and their Leases (cluster role). A node's
// conditions, taint and schedulability are rendered once per change of its
// record; the Lease ages at each scrape.
type nodesCollector struct {
	nodes, leases kube.Cache
	now           func() time.Time
	rendered      *collector.Rendered

	mu      sync.Mutex // over builder and shown
	builder *collector.Builder
	shown   map[string]*record.Node // the record each node's samples were rendered from
}

func newCollector(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newNodesCollector(d))
}

func newNodesCollector(d collector.Deps) (*nodesCollector, error) {
	inf, err := d.Informers()
	if err != nil {
		return nil, err
	}
	return newNodes(inf.Records(kube.Nodes).Cache(), inf.LeasesIn("kube-node-lease").Cache()), nil
}

// Collector is what the framework runs of it.
func (c *nodesCollector) Collector() *collector.Collector {
	return &collector.Collector{Rendered: c.render, Source: c}
}

// newNodes builds the collector over stores of records.
func newNodes(nodes, leases kube.Cache) *nodesCollector {
	c := &nodesCollector{nodes: nodes, leases: leases, now: time.Now, shown: map[string]*record.Node{},
		rendered: collector.NewRendered(nodeCondition, nodeLeaseAge, nodeUnreachable, nodeSchedulable)}
	c.builder = c.rendered.Builder()
	c.rendered.Live(nodeLeaseAge, c.leaseAges)
	return c
}

// render brings the nodes' samples up to date with the cache and
// returns them. Only a record that changed since the last scrape is looked
// at, and only one whose kept fields changed is rendered again (a kubelet's
// status heartbeats change none); at 5,000 nodes this is a walk of
// pointers.
func (c *nodesCollector) render() *collector.Rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	present := 0
	for _, node := range kube.All[record.Node](c.nodes) {
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
				c.builder.Add(nodeCondition, collector.BoolFloat(s == status), node.Name, collector.LabelValue(cond.Type), s)
			}
		}
		c.builder.Add(nodeUnreachable, collector.BoolFloat(node.Unreachable), node.Name)
		c.builder.Add(nodeSchedulable, collector.BoolFloat(!node.Unschedulable), node.Name)
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
		if l, ok := c.NodeLease(name); ok && l.Renewed > 0 {
			add(guide.LeaseAge(now, l), name)
		}
	}
}

// Nodes are the nodes' records (what the triage walks read, with their
// Leases).
func (c *nodesCollector) Nodes() []*record.Node {
	return kube.All[record.Node](c.nodes)
}

// NodeLease is a node's Lease, if it has one.
func (c *nodesCollector) NodeLease(node string) (*record.Lease, bool) {
	return kube.Get[record.Lease](c.leases, "kube-node-lease/"+node)
}
