// Package registry lists the exporter's collectors, in the order of their
// flags: adding a collector is its package under collector/ and a line
// here.
package registry

import (
	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/apiserver"
	"github.com/kube-triage/kube-triage-exporter/collector/backends"
	"github.com/kube-triage/kube-triage-exporter/collector/controlplane"
	"github.com/kube-triage/kube-triage-exporter/collector/dns"
	"github.com/kube-triage/kube-triage-exporter/collector/kubelet"
	"github.com/kube-triage/kube-triage-exporter/collector/kubeproxy"
	"github.com/kube-triage/kube-triage-exporter/collector/nodes"
	"github.com/kube-triage/kube-triage-exporter/collector/services"
	"github.com/kube-triage/kube-triage-exporter/collector/terminations"
)

// Specs are every collector.
func Specs() []collector.Spec {
	return []collector.Spec{
		apiserver.Spec,
		services.Spec,
		backends.Spec,
		dns.Spec,
		terminations.Spec,
		controlplane.Spec,
		nodes.Spec,
		kubelet.Spec,
		kubeproxy.Spec,
	}
}

// Metrics are every family the exporter declares: the framework's and
// each collector's.
func Metrics() []*collector.Metric {
	all := collector.FrameworkMetrics()
	for _, s := range Specs() {
		all = append(all, s.Metrics.All()...)
	}
	return all
}
