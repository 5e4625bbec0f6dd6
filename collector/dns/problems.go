package dns

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// Configuration problems, for the problem label of
// kube_triage_config_problem.
const (
	// The Service named by --collector.dns.service does not exist: nothing
	// is probed.
	dnsServiceNotFound = "service_not_found"
	// It exists without a ClusterIP (headless) and no
	// --collector.dns.service-address says where to reach it: only its
	// endpoints are probed, not the Service pods resolve through.
	dnsServiceNoAddress = "service_no_address"
)

// configProblems says what in the configuration leaves the collector
// nothing, or not what it was told, to probe, as the informers see it now.
func (c *dnsCollector) configProblems() []string {
	if !c.servicesSynced() {
		return nil // a Service not listed yet is not a missing one
	}
	svc, ok := kube.Get[record.Service](c.dnsService, c.svcNS+"/"+c.svcName)
	if !ok {
		return []string{dnsServiceNotFound}
	}
	if c.cfg.ServiceAddress == "" && (svc.ClusterIP == "" || svc.ClusterIP == corev1.ClusterIPNone) {
		return []string{dnsServiceNoAddress}
	}
	return nil
}

// checkConfig logs each configuration problem once, when it appears, and
// its end.
func (c *dnsCollector) checkConfig() {
	problems := c.configProblems()
	c.mu.Lock()
	previous := c.problems
	c.problems = problems
	c.mu.Unlock()
	for _, p := range problems {
		if slices.Contains(previous, p) {
			continue
		}
		switch p {
		case dnsServiceNotFound:
			c.logger.Warn("the DNS Service does not exist: nothing to probe; check --collector.dns.service", "service", c.cfg.Service, "problem", p)
		case dnsServiceNoAddress:
			c.logger.Warn("the DNS Service has no ClusterIP: only its endpoints are probed; pass --collector.dns.service-address", "service", c.cfg.Service, "problem", p)
		}
	}
	for _, p := range previous {
		if !slices.Contains(problems, p) {
			c.logger.Info("DNS configuration problem resolved", "service", c.cfg.Service, "problem", p)
		}
	}
}
