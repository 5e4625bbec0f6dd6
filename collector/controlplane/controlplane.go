// Package controlplane is the controlplane collector (cluster role): the
// kube-scheduler's and kube-controller-manager's leader Leases, their
// age, holder and transitions; absent on managed control planes that hide
// those components.
package controlplane

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

var metrics collector.Families

var (
	leaderLeasePresent = metrics.Gauge("controlplane_leader_lease_present", "Troubleshoot Clusters: scheduler / controller-manager down",
		"1 if the component's leader Lease exists in kube-system, 0 if not: managed control planes often hide the scheduler and controller-manager, so an absent Lease is not a down component.", "component")
	leaderLeaseAge = metrics.Gauge("controlplane_leader_lease_age_seconds", "Troubleshoot Clusters: scheduler / controller-manager down",
		"Seconds since the leader last renewed the component's Lease (as of the exporter's cache). Beyond the Lease duration, no instance is leading.", "component")
	leaderLeaseDuration = metrics.Gauge("controlplane_leader_lease_duration_seconds", "Troubleshoot Clusters",
		"The Lease duration the component's leader set: another instance takes over once the Lease is this old.", "component")
	leaderTransitions = metrics.Gauge("controlplane_leader_transitions", "Troubleshoot Clusters",
		"How many times the component's leadership has changed hands, as the Lease records it.", "component")
	leaderInfo = metrics.Gauge("controlplane_leader_info", "Troubleshoot Clusters",
		"1 for the component's current leader: holder is the Lease's holder identity without the per-process UUID (the host name).", "component", "holder")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "controlplane",
	Help:      "Watch the kube-scheduler and kube-controller-manager leader Leases: age, holder, absent on managed control planes",
	DefaultOn: []collector.Role{collector.RoleCluster},
	Metrics:   &metrics,
	Config:    collector.NoConfig(newCollector),
}

type controlplaneCollector struct {
	leases kube.Cache
	now    func() time.Time
}

func newCollector(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newControlplaneCollector(d))
}

func newControlplaneCollector(d collector.Deps) (*controlplaneCollector, error) {
	inf, err := d.Informers()
	if err != nil {
		return nil, err
	}
	return &controlplaneCollector{leases: inf.LeasesIn("kube-system").Cache(), now: time.Now}, nil
}

// Collector is what the framework runs of it.
func (c *controlplaneCollector) Collector() *collector.Collector {
	return &collector.Collector{Update: c.update, Source: c}
}

func (c *controlplaneCollector) update(_ context.Context, ch chan<- prometheus.Metric) error {
	now := c.now()
	for _, comp := range guide.LeaderComponents {
		l, ok := c.LeaderLease(comp)
		ch <- leaderLeasePresent.Value(collector.BoolFloat(ok), comp)
		if !ok {
			continue
		}
		if l.Renewed > 0 {
			ch <- leaderLeaseAge.Value(guide.LeaseAge(now, l), comp)
		}
		ch <- leaderLeaseDuration.Value(float64(l.DurationSeconds), comp)
		ch <- leaderTransitions.Value(float64(l.Transitions), comp)
		if l.Holder != "" {
			ch <- leaderInfo.Value(1, comp, holderHost(l.Holder))
		}
	}
	return nil
}

// LeaderLease is a component's leader Lease, if it has one (what the
// triage walks read).
func (c *controlplaneCollector) LeaderLease(component string) (*record.Lease, bool) {
	return kube.Get[record.Lease](c.leases, "kube-system/"+component)
}

// holderHost is the holder identity without its UUID (a new value at
// every restart, so not a label), at most 128 bytes.
func holderHost(id string) string { return collector.LabelValue(guide.HolderHost(id)) }
