package collector

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

var (
	leaderLeasePresent = newMetric("controlplane_leader_lease_present", prometheus.GaugeValue,
		"1 if the component's leader Lease exists in kube-system, 0 if not: managed control planes often hide the scheduler and controller-manager, so an absent Lease is not a down component.", "component")
	leaderLeaseAge = newMetric("controlplane_leader_lease_age_seconds", prometheus.GaugeValue,
		"Seconds since the leader last renewed the component's Lease (as of the exporter's cache). Beyond the Lease duration, no instance is leading.", "component")
	leaderLeaseDuration = newMetric("controlplane_leader_lease_duration_seconds", prometheus.GaugeValue,
		"The Lease duration the component's leader set: another instance takes over once the Lease is this old.", "component")
	leaderTransitions = newMetric("controlplane_leader_transitions", prometheus.GaugeValue,
		"How many times the component's leadership has changed hands, as the Lease records it.", "component")
	leaderInfo = newMetric("controlplane_leader_info", prometheus.GaugeValue,
		"1 for the component's current leader: holder is the Lease's holder identity without the per-process UUID (the host name).", "component", "holder")
)

var controlplaneSpec = Spec{
	Name:      "controlplane",
	Help:      "Watch the kube-scheduler and kube-controller-manager leader Leases: age, holder, absent on managed control planes",
	DefaultOn: []Role{RoleCluster},
	Metrics:   []*Metric{leaderLeasePresent, leaderLeaseAge, leaderLeaseDuration, leaderTransitions, leaderInfo},
	New:       newControlplaneCollector,
}

type controlplaneCollector struct {
	leases cache.Store
	now    func() time.Time
}

func newControlplaneCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	return &controlplaneCollector{leases: d.Kube.Informers.LeasesIn("kube-system").GetStore(), now: time.Now}, nil
}

func (c *controlplaneCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	now := c.now()
	for _, comp := range guide.LeaderComponents {
		obj, ok, _ := c.leases.GetByKey("kube-system/" + comp)
		l, isLease := obj.(*record.Lease)
		ch <- leaderLeasePresent.value(boolFloat(ok && isLease), comp)
		if !ok || !isLease {
			continue
		}
		if l.Renewed > 0 {
			ch <- leaderLeaseAge.value(guide.LeaseAge(now, l), comp)
		}
		ch <- leaderLeaseDuration.value(float64(l.DurationSeconds), comp)
		ch <- leaderTransitions.value(float64(l.Transitions), comp)
		if l.Holder != "" {
			ch <- leaderInfo.value(1, comp, holderHost(l.Holder))
		}
	}
	return nil
}

// holderHost is the holder identity without its UUID (a new value at
// every restart, so not a label), at most 128 bytes.
func holderHost(id string) string { return labelValue(guide.HolderHost(id)) }
