package collector

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// TriageCluster walks the Troubleshoot Clusters guide: the apiserver and
// its storage, the leaders, the nodes, cluster DNS; the verdict is the
// scenario of the alert pack the evidence points to.
func (e *Exporter) TriageCluster(ctx context.Context, d TriageDetails, nodeLeaseStale time.Duration) triage.Report {
	r := newReport("cluster", "", d)
	now := time.Now()
	scenario := guide.ScenarioOK
	point := func(s guide.Scenario) {
		if scenario == guide.ScenarioOK {
			scenario = s
		}
	}

	// The apiserver: reachable, and each check of /livez and /readyz.
	if ac := findCollector[*apiserverCollector](e); ac == nil {
		r.Add("apiserver", triage.Skip, "the apiserver collector is not running in this exporter")
	} else if last, ok, err := ac.Last(); !ok {
		r.Add("apiserver", triage.Skip, fmt.Sprintf("no probe result yet (%v)", err))
	} else {
		s := r.Add("apiserver", triage.Pass, "reachable; every /livez and /readyz check passes")
		var failed []string
		for _, ep := range apiserverEndpoints {
			res := last.endpoints[ep]
			line := fmt.Sprintf("/%s: %s", ep, res.statusText())
			if f := failedChecks(res.checks); len(f) > 0 {
				line += ", failing: " + strings.Join(f, ", ")
				failed = append(failed, f...)
			}
			s.Evidence = append(s.Evidence, line)
		}
		switch {
		case !last.reachable:
			s.Status, s.Summary = triage.Fail, "unreachable: no answer from /livez or /readyz"
			point(guide.ScenarioAPIServerDown)
		case slices.ContainsFunc(failed, func(c string) bool { return strings.HasPrefix(c, "etcd") }):
			s.Status, s.Summary = triage.Fail, "answers, but its storage (etcd) fails: reads and writes fail"
			point(guide.ScenarioEtcdStorageLost)
		case len(failed) > 0 || last.endpoints["livez"].reason != "" || last.endpoints["readyz"].reason != "":
			s.Status, s.Summary = triage.Fail, "answers, but not healthy"
			point(guide.ScenarioAPIServerUnhealthy)
		}
	}

	// The scheduler's and controller-manager's leaders.
	if cc := findCollector[*controlplaneCollector](e); cc == nil {
		r.Add("leaders", triage.Skip, "the controlplane collector is not running in this exporter")
	} else if missing := e.notListed("leases/kube-system"); missing != "" {
		skipUnlisted(&r, "leaders", missing)
	} else {
		s := r.Add("leaders", triage.Pass, "every leader renews its Lease")
		for _, comp := range guide.LeaderComponents {
			obj, ok, _ := cc.leases.GetByKey("kube-system/" + comp)
			l, isLease := obj.(*record.Lease)
			if !ok || !isLease {
				s.Evidence = append(s.Evidence, comp+": no Lease (a managed control plane hides it)")
				continue
			}
			age := leaseAgeRounded(now, l)
			line := fmt.Sprintf("%s: held by %s, renewed %s ago (duration %ds, %d transitions)", comp, guide.HolderHost(l.Holder), age, l.DurationSeconds, l.Transitions)
			if guide.LeaderExpired(age, l) {
				s.Status, s.Summary = triage.Fail, "a component has no leader: its Lease expired"
				line += ": EXPIRED"
				point(guide.ScenarioLeaderLost)
			}
			s.Evidence = append(s.Evidence, line)
		}
	}

	// The nodes: stale Leases and conditions.
	if nc := findCollector[*nodesCollector](e); nc == nil {
		r.Add("nodes", triage.Skip, "the nodes collector is not running in this exporter")
	} else if missing := e.notListed("nodes", "leases/kube-node-lease"); missing != "" {
		skipUnlisted(&r, "nodes", missing)
	} else {
		nodes := nc.nodes.List()
		s := r.Add("nodes", triage.Pass, fmt.Sprintf("%d nodes, every Lease renewed within %s", len(nodes), nodeLeaseStale))
		var stale []string
		ready := 0
		for _, obj := range nodes {
			n, ok := obj.(*record.Node)
			if !ok {
				continue
			}
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
			if obj, ok, _ := nc.leases.GetByKey("kube-node-lease/" + n.Name); ok {
				if l, ok := obj.(*record.Lease); ok && l.Renewed > 0 {
					age := leaseAgeRounded(now, l)
					if age > nodeLeaseStale {
						stale = append(stale, n.Name)
						trouble = append([]string{fmt.Sprintf("Lease %s old: its kubelet stopped renewing", age)}, trouble...)
					}
				}
			}
			if len(trouble) > 0 {
				s.Evidence = append(s.Evidence, n.Name+": "+strings.Join(trouble, ", "))
			}
		}
		sort.Strings(s.Evidence)
		s.Evidence = append([]string{fmt.Sprintf("%d of %d Ready", ready, len(nodes))}, s.Evidence...)
		if ready < len(nodes) && len(stale) == 0 {
			s.Status, s.Summary = triage.Fail, fmt.Sprintf("%d of %d nodes not Ready: their kubelets report it", len(nodes)-ready, len(nodes))
			point(guide.ScenarioNodeNotReady)
		}
		if len(stale) > 0 {
			s.Status, s.Summary = triage.Fail, "stopped renewing their Lease: "+strings.Join(stale, ", ")
			s.Evidence = append(s.Evidence, "shut down, cut off, or its kubelet failed: the node agent's metrics there tell KubeNodeShutdown, KubeNodePartitioned and KubeletFault apart")
			point(guide.ScenarioNodeDown)
		}
	}

	// The control case: kubernetes.default through cluster DNS.
	dnsStep(&r, e, d, func(name string) bool { return strings.HasPrefix(name, "kubernetes.default") }, "kubernetes.default")
	if s := r.Step("dns"); s != nil && s.Status == triage.Fail {
		point(guide.ScenarioClusterDNSDown)
	}
	r.Next = scenario.Next()
	return finish(r, string(scenario), scenario.Alert())
}

// leaseAgeRounded is leaseAge to the second, for the walks' text.
func leaseAgeRounded(now time.Time, l *record.Lease) time.Duration {
	return time.Duration(guide.LeaseAge(now, l) * float64(time.Second)).Round(time.Second)
}

// statusText is an answer's outcome, for one line.
func (a healthAnswer) statusText() string {
	switch {
	case a.status == 0 && a.reason != "":
		return "no answer (" + a.reason + ")"
	case a.reason != "":
		return fmt.Sprintf("%d (%s)", a.status, a.reason)
	default:
		return fmt.Sprintf("%d", a.status)
	}
}
