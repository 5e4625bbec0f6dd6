package collector

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// The triage walks: the guides' decision trees for one Service, one pod or
// the cluster, walked over what the collectors keep (their caches and
// last probe results) with the collectors' own judging code. The page
// (/triage/...) walks the running exporter's state; the command
// (kube-triage-exporter triage) builds the same collectors, lists once,
// probes once and walks the same way, adding what only a one-shot may
// fetch (events, a pod's conditions, a connection to the ClusterIP).

// TriageDetails are what the command adds to a walk; the page has none.
type TriageDetails struct {
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
}

// dnsStep reports the DNS collector's last lookups of the names that want
// (a Service's, or the control case), and returns them.
func dnsStep(r *triage.Report, e *Exporter, d TriageDetails, want func(name string) bool, name string) []dnsProbeResult {
	dc := findCollector[*dnsCollector](e)
	if dc == nil {
		note := d.DNSNote
		if note == "" {
			note = "the dns collector is not running in this exporter"
		}
		r.Add("dns", triage.Skip, note)
		return nil
	}
	if missing := e.notListed(dc.resources...); missing != "" {
		skipUnlisted(r, "dns", missing)
		return nil
	}
	last, ok, err := dc.Last()
	if !ok {
		r.Add("dns", triage.Skip, fmt.Sprintf("the dns collector has no current round (%v)", err))
		return nil
	}
	if !last.serviceFound {
		r.Add("dns", triage.Fail, "the cluster DNS Service ("+dc.cfg.Service+") does not exist or has no address: nothing answers the pods' lookups")
		return nil
	}
	var lookups []dnsProbeResult
	for _, p := range last.probes {
		if want(p.name) {
			lookups = append(lookups, p)
		}
	}
	if len(lookups) == 0 {
		r.Add("dns", triage.Skip, "the exporter does not look these names up: --collector.dns.name="+name)
		return nil
	}
	s := r.Add("dns", triage.Pass, fmt.Sprintf("%d lookups answer right", len(lookups)))
	failed := 0
	// One line per name when every server answered it alike, else one
	// per server.
	var names []string
	byName := map[string][]dnsProbeResult{}
	for _, p := range lookups {
		if p.result != dnsSuccess {
			failed++
		}
		if byName[p.name] == nil {
			names = append(names, p.name)
		}
		byName[p.name] = append(byName[p.name], p)
	}
	for _, name := range names {
		ps := byName[name]
		alike := !slices.ContainsFunc(ps, func(p dnsProbeResult) bool { return lookupText(p, false) != lookupText(ps[0], false) })
		if alike {
			var servers []string
			for _, p := range ps {
				servers = append(servers, serverText(p))
			}
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s: %s, through %s", name, lookupText(ps[0], true), strings.Join(servers, ", ")))
			continue
		}
		for _, p := range ps {
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s through %s: %s", name, serverText(p), lookupText(p, true)))
		}
	}
	if failed > 0 {
		s.Status, s.Summary = triage.Fail, fmt.Sprintf("%d of %d lookups fail or answer wrong", failed, len(lookups))
	}
	return lookups
}

func findCollector[T any](e *Exporter) T {
	var zero T
	if e == nil {
		return zero
	}
	for _, nc := range e.collectors {
		if c, ok := nc.c.(T); ok {
			return c
		}
	}
	return zero
}

func newReport(kind, target string, d TriageDetails) triage.Report {
	source := d.Source
	if source == "" {
		source = "the exporter's caches and last probe results"
	}
	return triage.Report{Kind: kind, Target: target, Source: source, Time: time.Now()}
}

// finish sets the verdict, the failing step and the runbook of the alert
// that names the verdict.
func finish(r triage.Report, verdict, alert string) triage.Report {
	r.Verdict = verdict
	r.Finish()
	if alert != "" && !r.OK() {
		r.Runbook = guide.Runbook(alert)
	}
	return r
}

// notListed names those of resources (as kube.Informers tracks them)
// whose informer has not completed its first list; "" when all have.
func (e *Exporter) notListed(resources ...string) string {
	if e.kube == nil {
		return ""
	}
	var missing []string
	for _, p := range e.kube.Informers.Pending() {
		if slices.Contains(resources, p) {
			missing = append(missing, p)
		}
	}
	return strings.Join(missing, ", ")
}

// inScope: the namespaced informers watch ns.
func (e *Exporter) inScope(ns string) bool { return e.kube == nil || e.kube.Informers.InScope(ns) }

// skipUnlisted skips a step whose resources the API did not list, and
// marks the walk incomplete.
func skipUnlisted(r *triage.Report, step, missing string) {
	r.Incomplete = "the API did not list " + missing
	r.Add(step, triage.Skip, r.Incomplete)
}

// notWalked ends a walk that cannot see what it needs: it says why and
// judges nothing.
func notWalked(r triage.Report, step, why string) triage.Report {
	r.Incomplete = why
	r.Add(step, triage.Skip, why+": the walk would judge what it has not seen")
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

// TriagePages serves the walks: /triage/service/NAMESPACE/NAME,
// /triage/pod/NAMESPACE/NAME, /triage/workload/NAMESPACE/KIND/NAME and
// /triage/cluster; HTML, or JSON with ?format=json.
func (e *Exporter) triagePages() map[string]http.Handler {
	return map[string]http.Handler{TriagePath: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		parts := strings.Split(strings.Trim(strings.TrimPrefix(req.URL.Path, TriagePath), "/"), "/")
		var r triage.Report
		switch {
		case len(parts) == 3 && parts[0] == "service":
			r = e.TriageService(req.Context(), parts[1], parts[2], TriageDetails{})
		case len(parts) == 3 && parts[0] == "pod":
			r = e.TriagePod(req.Context(), parts[1], parts[2], TriageDetails{})
		case len(parts) == 4 && parts[0] == "workload":
			r = e.TriageWorkload(req.Context(), parts[1], parts[2], parts[3], TriageDetails{})
		case len(parts) == 1 && (parts[0] == "cluster" || parts[0] == ""):
			r = e.TriageCluster(req.Context(), TriageDetails{}, guide.NodeLeaseStale)
		default:
			http.Error(w, "not a walk: want "+TriagePath+"service/NAMESPACE/NAME, pod/NAMESPACE/NAME, workload/NAMESPACE/KIND/NAME or cluster", http.StatusNotFound)
			return
		}
		var err error
		if req.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			err = r.WriteJSON(w)
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			err = r.WriteHTML(w)
		}
		if err != nil {
			e.logger.Warn("rendering a triage page", "path", req.URL.Path, "err", err)
		}
	})}
}

// TriagePath is the prefix of the triage pages.
const TriagePath = "/triage/"

// Once starts the informers, waits for their first lists at most
// listWait (then goes on with what it has: an apiserver without its
// storage lists nothing, and the walks say what was not listed) and runs
// one probe round of every probing collector: what the command walks.
func (e *Exporter) Once(ctx context.Context, listWait time.Duration) {
	if e.kube != nil {
		e.kube.Informers.Start(ctx)
	}
	var wg sync.WaitGroup
	for _, nc := range e.collectors {
		if p, ok := nc.c.(interface {
			ProbeOnce(context.Context, time.Duration)
		}); ok {
			wg.Go(func() { p.ProbeOnce(ctx, listWait) })
		}
	}
	if e.kube != nil {
		deadline := time.Now().Add(listWait)
		for len(e.kube.Informers.Pending()) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	wg.Wait()
}
