package collector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// waitSample polls c's scrape until the series name{labels} satisfies ok,
// or fails the test after timeout naming the last value.
func waitSample(t *testing.T, c Collector, name string, labels map[string]string, timeout time.Duration, what string, ok func(float64) bool) {
	t.Helper()
	testenv.WaitFor(t, what, timeout, func() (bool, error) {
		if v, present := sample(t, scrapeOnce(t, c), name, labels); !present || !ok(v) {
			return false, fmt.Errorf("%s%v = %v (present %v)", name, labels, v, present)
		}
		return true, nil
	})
}

func newClusterKube(t *testing.T, cluster *localcluster.Cluster) *kube.Client {
	t.Helper()
	kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// The scheduler and the controller-manager stop: their leader Leases age
// past twice their duration (8s here), as the KubeControlPlaneLeaderLost
// alert reads them; started again, they lead again.
func TestControlplaneOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	kc := newClusterKube(t, cluster)
	col, err := newControlplaneCollector(Deps{Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	startInformers(t, kc)
	components := []string{localcluster.Scheduler, localcluster.ControllerManager}
	for _, comp := range components {
		labels := map[string]string{"component": comp}
		waitSample(t, col, "kube_triage_controlplane_leader_lease_age_seconds", labels, 30*time.Second, comp+" leading", func(v float64) bool { return v < 8 })
		waitSample(t, col, "kube_triage_controlplane_leader_lease_duration_seconds", labels, time.Second, comp+" lease duration", func(v float64) bool { return v == 8 })
		if _, ok := sample(t, scrapeOnce(t, col), "kube_triage_controlplane_leader_info", labels); !ok {
			t.Errorf("%s: no leader_info", comp)
		}
	}

	ctx := context.Background()
	for _, comp := range components {
		if err := cluster.StopComponent(comp); err != nil {
			t.Fatal(err)
		}
		defer func() { // later tests need them
			if err := cluster.StartComponent(ctx, comp); err != nil {
				t.Error(err)
			}
		}()
	}
	for _, comp := range components {
		waitSample(t, col, "kube_triage_controlplane_leader_lease_age_seconds", map[string]string{"component": comp}, 40*time.Second,
			comp+" stopped", func(v float64) bool { return v > 16 })
		waitSample(t, col, "kube_triage_controlplane_leader_lease_present", map[string]string{"component": comp}, time.Second,
			comp+" stopped", func(v float64) bool { return v == 1 })
	}
	for _, comp := range components {
		if err := cluster.StartComponent(ctx, comp); err != nil {
			t.Fatal(err)
		}
	}
	for _, comp := range components {
		waitSample(t, col, "kube_triage_controlplane_leader_lease_age_seconds", map[string]string{"component": comp}, 40*time.Second,
			comp+" started again", func(v float64) bool { return v < 8 })
	}
}

// A node's kubelet (kwok, here) stops renewing its Lease: its Lease ages
// while the other node's stays fresh; the real controller-manager then
// marks it Unknown and taints it unreachable; renewals resume and it is
// Ready again.
func TestNodesOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	kc := newClusterKube(t, cluster)
	col, err := newNodesCollector(Deps{Role: RoleCluster, Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	startInformers(t, kc)
	healthy, failing := cluster.Nodes[0], cluster.Nodes[1]
	for _, n := range cluster.Nodes {
		waitSample(t, col, "kube_triage_node_condition", map[string]string{"node": n, "condition": "Ready", "status": "true"}, 30*time.Second,
			n+" Ready", func(v float64) bool { return v == 1 })
		waitSample(t, col, "kube_triage_node_lease_age_seconds", map[string]string{"node": n}, 30*time.Second,
			n+" renewing", func(v float64) bool { return v < 20 })
	}

	if err := cluster.StopLeaseRenewal(failing); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer func() { _ = cluster.ResumeLeaseRenewal(ctx, failing) }()
	waitSample(t, col, "kube_triage_node_lease_age_seconds", map[string]string{"node": failing}, 60*time.Second,
		failing+" stopped renewing", func(v float64) bool { return v > 30 })
	if v, _ := sample(t, scrapeOnce(t, col), "kube_triage_node_lease_age_seconds", map[string]string{"node": healthy}); v >= 20 {
		t.Errorf("%s's Lease aged too (%vs): the stale Lease must be the stopped node's alone", healthy, v)
	}
	waitSample(t, col, "kube_triage_node_unreachable_taint", map[string]string{"node": failing}, 90*time.Second,
		failing+" tainted by the node controller", func(v float64) bool { return v == 1 })
	waitSample(t, col, "kube_triage_node_condition", map[string]string{"node": failing, "condition": "Ready", "status": "unknown"}, 10*time.Second,
		failing+" Unknown", func(v float64) bool { return v == 1 })

	if err := cluster.ResumeLeaseRenewal(ctx, failing); err != nil {
		t.Fatal(err)
	}
	waitSample(t, col, "kube_triage_node_lease_age_seconds", map[string]string{"node": failing}, 60*time.Second,
		failing+" renewing again", func(v float64) bool { return v < 20 })
	waitSample(t, col, "kube_triage_node_unreachable_taint", map[string]string{"node": failing}, 60*time.Second,
		failing+" untainted", func(v float64) bool { return v == 0 })
}
