package triage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

// Cluster walks the Troubleshoot Clusters guide: the apiserver and
// its storage, the leaders, the nodes, cluster DNS; the verdict is the
// scenario of the alert pack the evidence points to.
func (w *Walker) Cluster(ctx context.Context, d Details, nodeLeaseStale time.Duration) report.Report {
	r := newReport("cluster", "", d)
	now := time.Now()
	scenario := guide.ScenarioOK
	point := func(s guide.Scenario) {
		if scenario == guide.ScenarioOK {
			scenario = s
		}
	}

	// The apiserver: reachable, and each check of /livez and /readyz.
	if ac, ok := source[apiserverSource](w); !ok {
		r.Add("apiserver", report.Skip, "the apiserver collector is not running in this exporter")
	} else if h, ok, err := ac.APIServerHealth(); !ok {
		r.Add("apiserver", report.Skip, fmt.Sprintf("no probe result yet (%v)", err))
	} else {
		s := r.Add("apiserver", report.Pass, "reachable; every /livez and /readyz check passes")
		for _, ep := range h.Endpoints {
			line := fmt.Sprintf("/%s: %s", ep.Name, statusText(ep))
			if len(ep.FailedChecks) > 0 {
				line += ", failing: " + strings.Join(ep.FailedChecks, ", ")
			}
			s.Evidence = append(s.Evidence, line)
		}
		switch sc := h.Scenario(); sc {
		case guide.ScenarioAPIServerDown:
			s.Status, s.Summary = report.Fail, "unreachable: no answer from /livez or /readyz"
			point(sc)
		case guide.ScenarioEtcdStorageLost:
			s.Status, s.Summary = report.Fail, "answers, but its storage (etcd) fails: reads and writes fail"
			point(sc)
		case guide.ScenarioAPIServerUnhealthy:
			s.Status, s.Summary = report.Fail, "answers, but not healthy"
			point(sc)
		}
	}

	// The scheduler's and controller-manager's leaders.
	if cc, ok := source[leaderSource](w); !ok {
		r.Add("leaders", report.Skip, "the controlplane collector is not running in this exporter")
	} else if missing := w.notListed("leases/kube-system"); missing != "" {
		skipUnlisted(&r, "leaders", missing)
	} else {
		s := r.Add("leaders", report.Pass, "every leader renews its Lease")
		for _, comp := range guide.LeaderComponents {
			l, ok := cc.LeaderLease(comp)
			if !ok {
				s.Evidence = append(s.Evidence, comp+": no Lease (a managed control plane hides it)")
				continue
			}
			age := leaseAgeRounded(now, l)
			line := fmt.Sprintf("%s: held by %s, renewed %s ago (duration %ds, %d transitions)", comp, collector.LabelValue(guide.HolderHost(l.Holder)), age, l.DurationSeconds, l.Transitions)
			if guide.LeaderExpired(age, l) {
				s.Status, s.Summary = report.Fail, "a component has no leader: its Lease expired"
				line += ": EXPIRED"
				point(guide.ScenarioLeaderLost)
			}
			s.Evidence = append(s.Evidence, line)
		}
	}

	// The nodes: stale Leases and conditions.
	if nc, ok := source[nodeSource](w); !ok {
		r.Add("nodes", report.Skip, "the nodes collector is not running in this exporter")
	} else if missing := w.notListed("nodes", "leases/kube-node-lease"); missing != "" {
		skipUnlisted(&r, "nodes", missing)
	} else {
		nodes := nc.Nodes()
		s := r.Add("nodes", report.Pass, fmt.Sprintf("%d nodes, every Lease renewed within %s", len(nodes), nodeLeaseStale))
		var stale []string
		ready := 0
		for _, n := range nodes {
			var trouble []string
			for _, c := range n.Conditions {
				if c.Type == string(corev1.NodeReady) && c.Status == string(corev1.ConditionTrue) {
					ready++
				}
				if (c.Type == string(corev1.NodeReady)) != (c.Status == string(corev1.ConditionTrue)) {
					trouble = append(trouble, c.Type+"="+c.Status)
				}
			}
			if n.Unreachable {
				trouble = append(trouble, "tainted unreachable")
			}
			if l, ok := nc.NodeLease(n.Name); ok && l.Renewed > 0 {
				if age := leaseAgeRounded(now, l); age > nodeLeaseStale {
					stale = append(stale, n.Name)
					trouble = append([]string{fmt.Sprintf("Lease %s old: its kubelet stopped renewing", age)}, trouble...)
				}
			}
			if len(trouble) > 0 {
				s.Evidence = append(s.Evidence, n.Name+": "+strings.Join(trouble, ", "))
			}
		}
		sort.Strings(s.Evidence)
		s.Evidence = append([]string{fmt.Sprintf("%d of %d Ready", ready, len(nodes))}, s.Evidence...)
		if ready < len(nodes) && len(stale) == 0 {
			s.Status, s.Summary = report.Fail, fmt.Sprintf("%d of %d nodes not Ready: their kubelets report it", len(nodes)-ready, len(nodes))
			point(guide.ScenarioNodeNotReady)
		}
		if len(stale) > 0 {
			s.Status, s.Summary = report.Fail, "stopped renewing their Lease: "+strings.Join(stale, ", ")
			s.Evidence = append(s.Evidence, "shut down, cut off, or its kubelet failed: the node agent's metrics there tell KubeNodeShutdown, KubeNodePartitioned and KubeletFault apart")
			point(guide.ScenarioNodeDown)
		}
	}

	// The control case: kubernetes.default through cluster DNS.
	w.dnsStep(&r, d, func(_ dnsSource, name string) bool { return strings.HasPrefix(name, "kubernetes.default") }, "kubernetes.default")
	if s := r.Step("dns"); s != nil && s.Status == report.Fail {
		point(guide.ScenarioClusterDNSDown)
	}
	w.dataPlaneStep(&r, d, scenario)
	r.Next = scenario.Next()
	return finish(r, string(scenario), scenario.Alert())
}

// dataPlaneStep reports how many of the Services the backends collector
// probes answer: while the apiserver or its storage is down, whether
// "existing pods and services keep working", as the guide says they do.
func (w *Walker) dataPlaneStep(r *report.Report, d Details, scenario guide.Scenario) {
	bs, ok := source[backendSource](w)
	if !ok {
		r.Add("data-plane", report.Skip, d.backendsNote())
		return
	}
	byVerdict, ok := bs.BackendServices()
	if !ok {
		r.Add("data-plane", report.Skip, "no endpoint probed yet")
		return
	}
	probed := 0
	for _, n := range byVerdict {
		probed += n
	}
	answering := byVerdict[guide.BackendsAnswer]
	s := r.Add("data-plane", report.Pass, fmt.Sprintf("%d of %d probed Services answer", answering, probed))
	if scenario == guide.ScenarioAPIServerDown || scenario == guide.ScenarioEtcdStorageLost {
		s.Summary += ", from the endpoints known before the apiserver went: existing pods and Services keep working"
	}
	for _, v := range guide.BackendVerdictValues()[1:] {
		if byVerdict[v] > 0 {
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s: %d", v, byVerdict[v]))
		}
	}
	if byVerdict[guide.BackendsNotAnswering]+byVerdict[guide.BackendsUnreachable] > 0 {
		s.Status = report.Warn
		s.Evidence = append(s.Evidence, "triage service NAMESPACE/NAME walks each; their alerts name them")
	}
}

// leaseAgeRounded is leaseAge to the second, for the walks' text.
func leaseAgeRounded(now time.Time, l *record.Lease) time.Duration {
	return time.Duration(guide.LeaseAge(now, l) * float64(time.Second)).Round(time.Second)
}

// statusText is an endpoint's answer, for one line.
func statusText(ep guide.EndpointHealth) string {
	switch {
	case ep.Status == 0 && ep.Reason != "":
		return "no answer (" + ep.Reason + ")"
	case ep.Reason != "":
		return fmt.Sprintf("%d (%s)", ep.Status, ep.Reason)
	default:
		return fmt.Sprintf("%d", ep.Status)
	}
}
