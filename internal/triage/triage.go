// Package triage walks the guides' decision trees for one Service, one
// pod, one workload or the cluster, over what the collectors keep (their
// caches and last probe results) with the collectors' own judgments
// (internal/guide). The collectors hand the walks read-only sources
// (collector.Collector.Source), found here by the interfaces below; the
// walks never reach into a collector. The page (/triage/...) walks the
// running exporter's state; the command (kube-triage-exporter triage)
// builds the collectors a walk needs, lists once, probes once and walks the
// same way, adding what only a one-shot may fetch (events, a pod's
// conditions, a connection to the ClusterIP).
package triage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

// The sources the walks read, each implemented by a collector's Source.
type (
	// serviceSource: the services collector's judgement of one Service.
	serviceSource interface {
		Service(namespace, name string) (svc *record.Service, pods []*record.Pod, res guide.ServiceResult, found bool)
	}
	// podSource: the cache of pod records (the services and terminations
	// collectors share one).
	podSource interface {
		Pod(namespace, name string) (*record.Pod, bool)
		PodsIn(namespace string) []*record.Pod
	}
	// backendSource: the backends collector's probes of the endpoints.
	backendSource interface {
		Backends(namespace, name string) (verdict guide.BackendVerdict, endpoints []guide.BackendEndpoint, ok bool)
		BackendServices() (byVerdict map[guide.BackendVerdict]int, ok bool)
	}
	// terminationSource: the terminations collector's history.
	terminationSource interface {
		RecentOf(namespace, pod string) []guide.SeenTermination
		WorkloadOf(p *record.Pod) (kind, name string)
	}
	// dnsSource: the dns collector's last round.
	dnsSource interface {
		DNSLookups() (found bool, lookups []guide.Lookup, err error)
		DNSService() string
		DNSResources() []string
		ServiceOf(name string) (namespace, service string, ok bool)
	}
	// apiserverSource: the apiserver collector's last round.
	apiserverSource interface {
		APIServerHealth() (h guide.APIServerHealth, ok bool, err error)
	}
	// leaderSource: the controlplane collector's leader Leases.
	leaderSource interface {
		LeaderLease(component string) (*record.Lease, bool)
	}
	// nodeSource: the nodes collector's Nodes and their Leases.
	nodeSource interface {
		Nodes() []*record.Node
		NodeLease(node string) (*record.Lease, bool)
	}
)

// Walker walks the guides over an exporter's collectors.
type Walker struct {
	sources []any
	kube    *kube.Client // nil when the exporter reads no API
}

// New walks over what exp's collectors keep.
func New(exp *collector.Exporter) *Walker {
	return &Walker{sources: exp.Sources(), kube: exp.Kube()}
}

// source finds the first collector's source that is a T.
func source[T any](w *Walker) (T, bool) {
	for _, s := range w.sources {
		if t, ok := s.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// Details are what the command adds to a walk; the page has none.
type Details struct {
	// Source names where the evidence comes from, for the report.
	Source string
	// Pod returns more lines about a pod: its conditions, its last
	// events. Nil: none.
	Pod func(ctx context.Context, namespace, name string) []string
	// Dial, if set, opens a TCP connection to each port of the Service's
	// ClusterIP through this machine's network.
	Dial func(ctx context.Context, address string) error
	// DialNote says why there is no Dial.
	DialNote string
	// DNSNote says why the DNS step has no lookups, when it has none.
	DNSNote string
	// BackendsNote says why the pods step has no probes, when the
	// backends collector does not run.
	BackendsNote string
}

// backendsNote says why a step has no backend probes to read.
func (d Details) backendsNote() string {
	if d.BackendsNote != "" {
		return d.BackendsNote
	}
	return "the backends collector does not run in this exporter (the cluster role runs it, in the pod network)"
}

// dnsStep reports the DNS collector's last lookups of the names that want
// (a Service's, or the control case), and returns them.
func (w *Walker) dnsStep(r *report.Report, d Details, want func(dns dnsSource, name string) bool, name string) []guide.Lookup {
	dns, ok := source[dnsSource](w)
	if !ok {
		note := d.DNSNote
		if note == "" {
			note = "the dns collector is not running in this exporter"
		}
		r.Add("dns", report.Skip, note)
		return nil
	}
	if missing := w.notListed(dns.DNSResources()...); missing != "" {
		skipUnlisted(r, "dns", missing)
		return nil
	}
	found, all, err := dns.DNSLookups()
	if err != nil {
		r.Add("dns", report.Skip, fmt.Sprintf("the dns collector has no current round (%v)", err))
		return nil
	}
	if !found {
		r.Add("dns", report.Fail, "the cluster DNS Service ("+dns.DNSService()+") does not exist or has no address: nothing answers the pods' lookups")
		return nil
	}
	var lookups []guide.Lookup
	for _, l := range all {
		if want(dns, l.Name) {
			lookups = append(lookups, l)
		}
	}
	if len(lookups) == 0 {
		r.Add("dns", report.Skip, "the exporter does not look these names up: --collector.dns.name="+name)
		return nil
	}
	s := r.Add("dns", report.Pass, fmt.Sprintf("%d lookups answer right", len(lookups)))
	failed := 0
	// One line per name when every server answered it alike, else one
	// per server.
	var names []string
	byName := map[string][]guide.Lookup{}
	for _, l := range lookups {
		if l.Result != guide.DNSSuccess {
			failed++
		}
		if byName[l.Name] == nil {
			names = append(names, l.Name)
		}
		byName[l.Name] = append(byName[l.Name], l)
	}
	for _, name := range names {
		ls := byName[name]
		alike := !slices.ContainsFunc(ls, func(l guide.Lookup) bool { return lookupText(l, false) != lookupText(ls[0], false) })
		if alike {
			var servers []string
			for _, l := range ls {
				servers = append(servers, serverText(l))
			}
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s: %s, through %s", name, lookupText(ls[0], true), strings.Join(servers, ", ")))
			continue
		}
		for _, l := range ls {
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s through %s: %s", name, serverText(l), lookupText(l, true)))
		}
	}
	if failed > 0 {
		s.Status, s.Summary = report.Fail, fmt.Sprintf("%d of %d lookups fail or answer wrong", failed, len(lookups))
	}
	return lookups
}

func serverText(l guide.Lookup) string {
	switch l.Kind {
	case guide.ServerService:
		return "the DNS Service"
	case guide.ServerEndpoint:
		return "DNS pod " + l.Server
	}
	return l.Kind + " " + l.Server
}

// lookupText is a lookup's result and answer; with the error when
// detailed (errors name the server, which differs).
func lookupText(l guide.Lookup, detailed bool) string {
	t := string(l.Result)
	if len(l.Addrs) > 0 {
		t += fmt.Sprintf(" %v", l.Addrs)
	}
	if l.Answered != "" && l.Answered != l.Name {
		t += " as " + l.Answered
	}
	if l.Note != "" {
		t += "; " + l.Note
	}
	if detailed && l.Err != nil {
		t += "; " + l.Err.Error()
	}
	return t
}

func newReport(kind, target string, d Details) report.Report {
	src := d.Source
	if src == "" {
		src = "the exporter's caches and last probe results"
	}
	return report.Report{Kind: kind, Target: target, Source: src, Time: time.Now()}
}

// finish sets the verdict, the failing step and the runbook of the alert
// that names the verdict.
func finish(r report.Report, verdict, alert string) report.Report {
	r.Verdict = verdict
	r.Finish()
	if alert != "" && !r.OK() {
		r.Runbook = guide.Runbook(alert)
	}
	return r
}

// notListed names those of resources (as kube.Informers tracks them)
// whose informer has not completed its first list; "" when all have.
func (w *Walker) notListed(resources ...string) string {
	if w.kube == nil {
		return ""
	}
	var missing []string
	for _, p := range w.kube.Informers.Pending() {
		if slices.Contains(resources, p) {
			missing = append(missing, p)
		}
	}
	return strings.Join(missing, ", ")
}

// inScope: the namespaced informers watch ns.
func (w *Walker) inScope(ns string) bool { return w.kube == nil || w.kube.Informers.InScope(ns) }

// skipUnlisted skips a step whose resources the API did not list, and
// marks the walk incomplete.
func skipUnlisted(r *report.Report, step, missing string) {
	r.Incomplete = "the API did not list " + missing
	r.Add(step, report.Skip, r.Incomplete)
}

// notWalked ends a walk that cannot see what it needs: it says why and
// judges nothing.
func notWalked(r report.Report, step, why string) report.Report {
	r.Incomplete = why
	r.Add(step, report.Skip, why+": the walk would judge what it has not seen")
	return finish(r, "unknown", "")
}

func protocolOf(p corev1.Protocol) string {
	if p == "" {
		return string(corev1.ProtocolTCP)
	}
	return string(p)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func oneLineText(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return s
}
