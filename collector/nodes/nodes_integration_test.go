package nodes

import (
	"context"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
)

// A node's kubelet (kwok, here) stops renewing its Lease: its Lease ages
// while the other node's stays fresh; the real controller-manager then
// marks it Unknown and taints it unreachable; renewals resume and it is
// Ready again.
func TestNodesOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	kc := collectortest.ClusterKube(t, cluster)
	col, err := newNodesCollector(collector.Deps{Role: collector.RoleCluster, Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	healthy, failing := cluster.Nodes[0], cluster.Nodes[1]
	for _, n := range cluster.Nodes {
		collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_condition", map[string]string{"node": n, "condition": "Ready", "status": "true"}, 30*time.Second,
			n+" Ready", func(v float64) bool { return v == 1 })
		collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_lease_age_seconds", map[string]string{"node": n}, 30*time.Second,
			n+" renewing", func(v float64) bool { return v < 20 })
	}

	if err := cluster.StopLeaseRenewal(failing); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer func() { _ = cluster.ResumeLeaseRenewal(ctx, failing) }()
	collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_lease_age_seconds", map[string]string{"node": failing}, 60*time.Second,
		failing+" stopped renewing", func(v float64) bool { return v > 30 })
	if v, _ := collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_node_lease_age_seconds", map[string]string{"node": healthy}); v >= 20 {
		t.Errorf("%s's Lease aged too (%vs): the stale Lease must be the stopped node's alone", healthy, v)
	}
	collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_unreachable_taint", map[string]string{"node": failing}, 90*time.Second,
		failing+" tainted by the node controller", func(v float64) bool { return v == 1 })
	collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_condition", map[string]string{"node": failing, "condition": "Ready", "status": "unknown"}, 10*time.Second,
		failing+" Unknown", func(v float64) bool { return v == 1 })

	if err := cluster.ResumeLeaseRenewal(ctx, failing); err != nil {
		t.Fatal(err)
	}
	collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_lease_age_seconds", map[string]string{"node": failing}, 60*time.Second,
		failing+" renewing again", func(v float64) bool { return v < 20 })
	collectortest.WaitSample(t, "nodes", col.Collector(), "kube_triage_node_unreachable_taint", map[string]string{"node": failing}, 60*time.Second,
		failing+" untainted", func(v float64) bool { return v == 0 })
}
