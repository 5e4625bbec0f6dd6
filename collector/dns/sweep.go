package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var (
	sweepLookups = metrics.Counter("dns_sweep_lookups_total", "Does the Service work by DNS name?",
		"Lookups of Service FQDNs by the sweep, by result.", "result")
	sweepFailing = metrics.Gauge("dns_sweep_failing", "Does the Service work by DNS name?",
		"1 for each Service whose FQDN failed in the last sweep, with the result; no series for the Services that resolve.", "namespace", "service", "result")
	sweepServices = metrics.Gauge("dns_sweep_services", "-",
		"Services resolved in the last sweep.")
	sweepDuration = metrics.Gauge("dns_sweep_duration_seconds", "-",
		"How long the last sweep took; it is paced to last about the sweep interval.")
)

// sweepProber names the sweep's prober in the probe metrics and on
// /probes.
const sweepProber = "dns_sweep"

// sweepWorkers bounds the sweep's lookups in flight: enough that a slow
// answer does not cap the rate, few enough to be gentle on CoreDNS.
const sweepWorkers = 32

// dnsSweep is one sweep of every Service's FQDN.
type dnsSweep struct {
	services int
	duration time.Duration
	failing  []sweptService
	// complete is false for a sweep cut at its bound (twice the
	// interval): lookups so slow that not every Service was asked.
	complete bool
}

type sweptService struct {
	namespace, name string
	result          guide.DNSResult
}

// newSweep makes the sweep's prober: a round resolves every Service's
// FQDN once, paced evenly over the sweep interval; it may take up to twice
// that (lookups that time out hold the workers) before it is cut.
func (c *dnsCollector) newSweep(d collector.Deps, synced []cache.InformerSynced) (*prober.Runner[*dnsSweep], error) {
	return prober.New(prober.Config[*dnsSweep]{
		Collector: sweepProber, Logger: d.Logger,
		Schedule: prober.Schedule{Interval: c.cfg.SweepInterval, Timeout: 2 * c.cfg.SweepInterval},
		Probe:    c.sweepAll, Outcomes: sweepOutcomes, Synced: synced,
		Reasons: reasons(),
		// One line per sweep: with DNS down, a line per Service would flood.
		Summary: func(s *dnsSweep) (string, []any) {
			return "dns sweep finished", []any{"services", s.services, "failing", len(s.failing), "complete", s.complete, "duration_seconds", s.duration.Seconds()}
		},
	})
}

// sweepAll resolves every Service's FQDN through the DNS Service once.
// Headless and ExternalName Services are left out (their answers are not a
// ClusterIP).
func (c *dnsCollector) sweepAll(ctx context.Context) *dnsSweep {
	start := time.Now()
	found, targets := c.targets()
	var services []*record.Service
	for _, svc := range kube.All[record.Service](c.services) {
		if svc.Type != corev1.ServiceTypeExternalName && svc.ClusterIP != corev1.ClusterIPNone && svc.ClusterIP != "" {
			services = append(services, svc)
		}
	}
	s := &dnsSweep{complete: true}
	if !found || len(services) == 0 {
		s.duration = time.Since(start)
		return s // nothing to sweep yet: look again in an interval
	}
	server := targets[0] // the Service comes first
	var mu sync.Mutex
	s.complete = prober.Pace(ctx, len(services), c.cfg.SweepInterval, sweepWorkers, func(ctx context.Context, i int) {
		svc := services[i]
		p := c.probe(ctx, c.sweeper, server, svc.Name+"."+svc.Namespace+".svc."+c.cfg.ClusterDomain+".")
		if _, exists := kube.Get[record.Service](c.services, svc.Namespace+"/"+svc.Name); !exists || p.result == guide.DNSStaleAnswer {
			return // deleted since the sweep began: neither a success nor a failure
		}
		c.mu.Lock()
		c.sweepCounts[p.result]++
		c.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		s.services++
		if p.result != guide.DNSSuccess {
			s.failing = append(s.failing, sweptService{svc.Namespace, svc.Name, p.result})
		}
	})
	slices.SortFunc(s.failing, func(a, b sweptService) int {
		return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	s.duration = time.Since(start)
	return s
}

// sweepOutcomes are a sweep's failing Services, one each, and the sweep
// itself, for /probes.
func sweepOutcomes(s *dnsSweep) []prober.Outcome {
	out := []prober.Outcome{{Target: "sweep", Duration: s.duration, Log: []string{fmt.Sprintf(
		"resolved %d Services' FQDNs through the DNS Service in %s (complete %v); %d failing", s.services, s.duration.Round(time.Millisecond), s.complete, len(s.failing))}}}
	for _, f := range s.failing {
		out = append(out, prober.Outcome{Target: f.name + "." + f.namespace + " (sweep)", Reason: string(f.result),
			Log: []string{"the Service's FQDN through the DNS Service: " + string(f.result)}})
	}
	return out
}

// sweepUpdate sends the sweep's counters and, while its last sweep is
// current, what it found.
func (c *dnsCollector) sweepUpdate(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	for _, res := range guide.DNSResults {
		ch <- sweepLookups.Value(c.sweepCounts[res], string(res))
	}
	c.mu.Unlock()
	s, ok, _ := c.sweep.Last()
	if !ok {
		return // none yet, or stale: kube_triage_probe_last_run_timestamp_seconds{collector="dns_sweep"} says so
	}
	ch <- sweepServices.Value(float64(s.services))
	ch <- sweepDuration.Value(s.duration.Seconds())
	for _, f := range s.failing {
		ch <- sweepFailing.Value(1, f.namespace, f.name, string(f.result))
	}
}
