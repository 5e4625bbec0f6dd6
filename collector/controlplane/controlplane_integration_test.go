package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
)

// The scheduler and the controller-manager stop: their leader Leases age
// past twice their duration (8s here), as the KubeControlPlaneLeaderLost
// alert reads them; started again, they lead again.
func TestControlplaneOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	kc := collectortest.ClusterKube(t, cluster)
	col, err := newControlplaneCollector(collector.Deps{Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	components := []string{localcluster.Scheduler, localcluster.ControllerManager}
	for _, comp := range components {
		labels := map[string]string{"component": comp}
		collectortest.WaitSample(t, "controlplane", col.Collector(), "kube_triage_controlplane_leader_lease_age_seconds", labels, 30*time.Second, comp+" leading", func(v float64) bool { return v < 8 })
		collectortest.WaitSample(t, "controlplane", col.Collector(), "kube_triage_controlplane_leader_lease_duration_seconds", labels, time.Second, comp+" lease duration", func(v float64) bool { return v == 8 })
		if _, ok := collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_controlplane_leader_info", labels); !ok {
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
		collectortest.WaitSample(t, "controlplane", col.Collector(), "kube_triage_controlplane_leader_lease_age_seconds", map[string]string{"component": comp}, 40*time.Second,
			comp+" stopped", func(v float64) bool { return v > 16 })
		collectortest.WaitSample(t, "controlplane", col.Collector(), "kube_triage_controlplane_leader_lease_present", map[string]string{"component": comp}, time.Second,
			comp+" stopped", func(v float64) bool { return v == 1 })
	}
	for _, comp := range components {
		if err := cluster.StartComponent(ctx, comp); err != nil {
			t.Fatal(err)
		}
	}
	for _, comp := range components {
		collectortest.WaitSample(t, "controlplane", col.Collector(), "kube_triage_controlplane_leader_lease_age_seconds", map[string]string{"component": comp}, 40*time.Second,
			comp+" started again", func(v float64) bool { return v < 8 })
	}
}
