package collector

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// The triage walks: the guides' decision trees for one Service, one pod or
// the cluster, walked over what the collectors keep (their caches and
// last probe results) with the collectors' own judging code. The page
// (/triage/...) walks the running exporter's state; the command
// (kube-triage-exporter triage) builds the same collectors, lists once,
// probes once and walks the same way, adding what only a one-shot may
// fetch (events, a pod's conditions, a connection to the ClusterIP).

// RunbookBase is where the walks' runbook links point (the mixin's
// runbookURLBase default).
const RunbookBase = "https://github.com/kube-triage/kube-triage-exporter/blob/main/docs/runbooks/"

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

// maxDetailedPods bounds the pods whose details a walk fetches or lists.
const maxDetailedPods = 5

// TriageService walks the Debug Services guide for one Service.
func (e *Exporter) TriageService(ctx context.Context, namespace, name string, d TriageDetails) triage.Report {
	r := newReport("service", namespace+"/"+name, d)
	sc := findCollector[*servicesCollector](e)
	if sc == nil {
		return notWalked(r, "service", "the services collector does not run in this exporter (the cluster role runs it)")
	}
	if !e.inScope(namespace) {
		return notWalked(r, "service", "namespace "+namespace+" is outside this exporter's --namespaces")
	}
	if missing := e.notListed("services", "endpointslices", "pods"); missing != "" {
		return notWalked(r, "service", "the API did not list "+missing)
	}
	key := namespace + "/" + name
	obj, found, _ := sc.services.GetByKey(key)
	svc, _ := obj.(*kube.Service)
	if !found || svc == nil {
		r.Add("service", triage.Fail, "no Service "+key,
			"kubectl get services -n "+namespace+" lists the Services there; the name and namespace must be exact")
		r.Next = "Check the name and the namespace the client uses (DNS names are <service>.<namespace>)."
		return finish(r, "not_found", "")
	}
	if svc.Type == corev1.ServiceTypeExternalName {
		r.Add("service", triage.Pass, "ExternalName: a DNS alias, without endpoints; the walk stops here")
		return finish(r, "external_name", "")
	}
	pods := sc.candidatePods(svc)
	res := judgeService(svc, pods, indexed[kube.EndpointSlice](sc.slices, serviceIndex, key), sc.workloadsIn(namespace))
	unlistedWorkloads := e.notListed("deployments", "statefulsets", "replicasets")

	// 1. Is the Service defined, and how.
	step := r.Add("service", triage.Pass, fmt.Sprintf("type %s, ClusterIP %s, selector %s", res.typ, orNone(svc.ClusterIP), selectorText(svc.Selector)))
	for _, sp := range svc.Ports {
		step.Evidence = append(step.Evidence, fmt.Sprintf("port %s: %d/%s -> targetPort %s", portLabel(sp), sp.Port, protocolOf(sp.Protocol), targetText(sp)))
	}
	if svc.ExpectedEmpty {
		step.Evidence = append(step.Evidence, kube.ServiceOptOutAnnotation+`="true": empty on purpose, the alerts leave it alone`)
	}

	// 2. Does its name resolve, to its ClusterIP.
	dnsStep(&r, e, d, func(probed string) bool {
		ns, s, ok := findCollector[*dnsCollector](e).serviceOf(probed)
		return ok && ns == namespace && s == name
	}, name+"."+namespace)

	// 3. Does the selector match pods.
	notReady := selectedNotReady(svc, pods)
	switch {
	case len(svc.Selector) == 0:
		r.Add("selector", triage.Skip, "no selector: its endpoints are managed by hand or by another controller")
	case res.verdict == verdictScaledToZero:
		s := r.Add("selector", triage.Warn, "matches no pod, on purpose: every workload it selects is scaled to zero")
		for _, w := range res.scaledToZero {
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s %s: 0 replicas", w.kind, w.name))
		}
	case res.selected == 0:
		s := r.Add("selector", triage.Fail, fmt.Sprintf("%s matches no running pod in %s", selectorText(svc.Selector), namespace),
			"compare it with the labels of the pods that should serve: kubectl get pods -n "+namespace+" --show-labels")
		if unlistedWorkloads != "" {
			s.Evidence = append(s.Evidence, "the API did not list "+unlistedWorkloads+": a workload scaled to zero on purpose cannot be told from a typo")
		}
	default:
		s := r.Add("selector", triage.Pass, fmt.Sprintf("matches %d pods of %d workloads", res.selected, res.selectedWorkloads))
		if res.selectedWorkloads > 1 {
			s.Status = triage.Warn
			s.Evidence = append(s.Evidence, "more than one workload: a canary, or a selector too wide")
		}
	}

	// 4. Are they ready.
	if res.selected == 0 {
		r.Add("readiness", triage.Skip, "no pod to look at")
	} else {
		s := r.Add("readiness", triage.Pass, fmt.Sprintf("%d of %d ready", res.selectedReady, res.selected))
		if res.verdict == verdictPodsNotReady {
			s.Status = triage.Fail
			s.Summary = fmt.Sprintf("none of the %d pods is ready: their readiness probes fail", res.selected)
		} else if res.selectedReady < res.selected {
			s.Status = triage.Warn
		}
		if svc.PublishNotReadyAddresses {
			s.Evidence = append(s.Evidence, "publishNotReadyAddresses: traffic reaches pods whatever their readiness")
		}
		for i, p := range notReady {
			if i == maxDetailedPods {
				s.Evidence = append(s.Evidence, fmt.Sprintf("... and %d more not ready", len(notReady)-i))
				break
			}
			s.Evidence = append(s.Evidence, "not ready: "+p.Name+podStateText(p))
			if d.Pod != nil {
				for _, l := range d.Pod(ctx, p.Namespace, p.Name) {
					s.Evidence = append(s.Evidence, "  "+l)
				}
			}
		}
	}

	// 5. Does each port's targetPort exist on the pods.
	if res.selected == 0 {
		r.Add("ports", triage.Skip, "no pod to compare the targetPorts with")
	} else {
		s := r.Add("ports", triage.Pass, "every targetPort is exposed by the selected pods")
		for i, sp := range svc.Ports {
			p := res.ports[i]
			line := fmt.Sprintf("%s -> %s: exposed by %d of %d pods", p.name, targetText(sp), res.selected-p.podsMissing, res.selected)
			s.Evidence = append(s.Evidence, line)
		}
		if declared := declaredPorts(pods, svc.Selector); len(declared) > 0 {
			s.Evidence = append(s.Evidence, "the pods declare: "+strings.Join(declared, ", "))
		}
		if len(res.missingPorts) > 0 {
			s.Status = triage.Fail
			s.Summary = fmt.Sprintf("no selected pod exposes the targetPort of %s", strings.Join(res.missingPorts, ", "))
			s.Evidence = append(s.Evidence, "a named targetPort must match a containerPort's name exactly; a number, its containerPort")
		}
	}

	// 6. Does it have endpoints, on every port.
	s := r.Add("endpoints", triage.Pass, fmt.Sprintf("%d ready endpoints", res.ready))
	for _, at := range slices.Sorted(maps.Keys(res.endpoints)) {
		ec := res.endpoints[at]
		s.Evidence = append(s.Evidence, fmt.Sprintf("%s: ready %d, serving %d, terminating %d, not ready %d", at, ec.ready, ec.serving, ec.terminating, ec.notReady))
	}
	for _, p := range res.ports {
		s.Evidence = append(s.Evidence, fmt.Sprintf("port %s: ready %d", p.name, p.ready))
	}
	switch {
	case res.verdict == verdictScaledToZero:
		s.Status = triage.Warn
	case res.ready == 0:
		s.Status, s.Summary = triage.Fail, "no ready endpoint: every client gets connection refused or a timeout"
	case slices.ContainsFunc(res.ports, func(p portResult) bool { return p.ready == 0 }):
		s.Status, s.Summary = triage.Fail, "a port has no ready endpoint: no ready pod exposes its targetPort"
	}
	if len(res.localPolicies) > 0 {
		s.Evidence = append(s.Evidence, fmt.Sprintf("traffic policy Local (%s): ready endpoints on %d nodes; other nodes drop that traffic", strings.Join(res.localPolicies, ", "), res.localNodes))
	}

	// 7. Does the ClusterIP answer.
	connectStep(ctx, &r, d, svc)

	if s := r.Step("dns"); s != nil && s.Status == triage.Fail && res.headless && res.ready == 0 && !slices.ContainsFunc(s.Evidence, func(l string) bool {
		return !strings.Contains(l, ": "+dnsNXDomain) && !strings.Contains(l, ": "+dnsNoAnswer)
	}) {
		// A headless Service's name is its ready endpoints' addresses:
		// with none, NXDOMAIN is the right answer.
		s.Status, s.Summary = triage.Warn, "headless with no ready endpoint: its name has no address to answer (the cause is below)"
	}
	if svc.ExpectedEmpty && res.ready == 0 {
		// Empty on purpose: having no pods or endpoints is not a failure.
		for _, name := range []string{"selector", "readiness", "endpoints"} {
			if st := r.Step(name); st != nil && st.Status == triage.Fail {
				st.Status = triage.Warn
			}
		}
	}
	return finish(r, res.verdict, "")
}

// connectStep opens a TCP connection to each TCP port of the ClusterIP.
func connectStep(ctx context.Context, r *triage.Report, d TriageDetails, svc *kube.Service) {
	switch {
	case svc.ClusterIP == "" || svc.ClusterIP == corev1.ClusterIPNone:
		r.Add("connect", triage.Skip, "headless: no ClusterIP to connect to")
		return
	case d.Dial == nil:
		note := d.DialNote
		if note == "" {
			note = "the page does not connect; the command does, from inside the cluster network"
		}
		r.Add("connect", triage.Skip, note)
		return
	}
	if !slices.ContainsFunc(svc.Ports, func(sp kube.ServicePort) bool { return protocolOf(sp.Protocol) == string(corev1.ProtocolTCP) }) {
		r.Add("connect", triage.Skip, "no TCP port to connect to")
		return
	}
	s := r.Add("connect", triage.Pass, "the ClusterIP accepts connections on every TCP port")
	for _, sp := range svc.Ports {
		if protocolOf(sp.Protocol) != string(corev1.ProtocolTCP) {
			continue
		}
		addr := net.JoinHostPort(svc.ClusterIP, strconv.Itoa(int(sp.Port)))
		if err := d.Dial(ctx, addr); err != nil {
			s.Status, s.Summary = triage.Fail, "a TCP connection to the ClusterIP failed"
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s: %v", addr, err))
			continue
		}
		s.Evidence = append(s.Evidence, addr+": connected")
	}
}

// dnsStep reports the DNS collector's last lookups of the names that want
// (a Service's, or the control case).
func dnsStep(r *triage.Report, e *Exporter, d TriageDetails, want func(name string) bool, name string) {
	dc := findCollector[*dnsCollector](e)
	if dc == nil {
		note := d.DNSNote
		if note == "" {
			note = "the dns collector is not running in this exporter"
		}
		r.Add("dns", triage.Skip, note)
		return
	}
	if missing := e.notListed(dc.resources...); missing != "" {
		r.Add("dns", triage.Skip, "the API did not list "+missing+": the DNS Service and the names' Services are not known")
		r.Incomplete = "the API did not list " + missing
		return
	}
	last, ok, err := dc.Last()
	if !ok {
		r.Add("dns", triage.Skip, fmt.Sprintf("the dns collector has no current round (%v)", err))
		return
	}
	if !last.serviceFound {
		r.Add("dns", triage.Fail, "the cluster DNS Service ("+dc.cfg.Service+") does not exist or has no address: nothing answers the pods' lookups")
		return
	}
	var lookups []dnsProbeResult
	for _, p := range last.probes {
		if want(p.name) {
			lookups = append(lookups, p)
		}
	}
	if len(lookups) == 0 {
		r.Add("dns", triage.Skip, "the exporter does not look these names up: --collector.dns.name="+name)
		return
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
}

func serverText(p dnsProbeResult) string {
	switch p.kind {
	case "service":
		return "the DNS Service"
	case "endpoint":
		return "DNS pod " + p.server
	}
	return p.kind + " " + p.server
}

// lookupText is a lookup's result and answer; with the error when
// detailed (errors name the server, which differs).
func lookupText(p dnsProbeResult, detailed bool) string {
	t := p.result
	if len(p.r.Addrs) > 0 {
		t += fmt.Sprintf(" %v", p.r.Addrs)
	}
	if p.r.Answered != "" && p.r.Answered != p.name {
		t += " as " + p.r.Answered
	}
	if p.note != "" {
		t += "; " + p.note
	}
	if detailed && p.r.Err != nil {
		t += "; " + p.r.Err.Error()
	}
	return t
}

// declaredPorts are the distinct ports the selected pods' containers
// declare, as name:port/protocol.
func declaredPorts(pods []*kube.Pod, selector map[string]string) []string {
	var out []string
	seen := map[*kube.PodShape]bool{}
	for _, p := range pods {
		if p.PodShape == nil || seen[p.PodShape] || !matches(selector, p.Labels) {
			continue
		}
		seen[p.PodShape] = true
		for _, cp := range p.Ports {
			text := fmt.Sprintf("%s:%d/%s", orNone(cp.Name), cp.Port, protocolOf(cp.Protocol))
			if !slices.Contains(out, text) {
				out = append(out, text)
			}
		}
		if len(out) > 20 {
			break
		}
	}
	sort.Strings(out)
	return out
}

// selectedNotReady are the selected pods that are not ready.
func selectedNotReady(svc *kube.Service, pods []*kube.Pod) []*kube.Pod {
	var out []*kube.Pod
	for _, p := range pods {
		if !p.Ready && selectable(p) && len(svc.Selector) > 0 && matches(svc.Selector, p.Labels) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// podStateText is a pod's phase and its containers' trouble, for one line.
func podStateText(p *kube.Pod) string {
	parts := []string{string(p.Phase)}
	for _, c := range p.Containers {
		if c.Waiting != "" {
			parts = append(parts, c.Name+" waiting "+c.Waiting)
		}
		if c.RestartCount > 0 {
			parts = append(parts, fmt.Sprintf("%s restarted %d times", c.Name, c.RestartCount))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// TriagePod walks the guide's "Determine the Reason for Pod Failure" for
// one pod.
func (e *Exporter) TriagePod(ctx context.Context, namespace, name string, d TriageDetails) triage.Report {
	r := newReport("pod", namespace+"/"+name, d)
	if why := e.podsNotKnown(namespace); why != "" {
		return notWalked(r, "pod", why)
	}
	p, ok := e.podRecord(namespace, name)
	if !ok {
		r.Add("pod", triage.Fail, "no pod "+namespace+"/"+name, "a pod replaced by its controller has a new name: kubectl get pods -n "+namespace)
		return finish(r, "not_found", "")
	}
	walkPod(ctx, &r, p, d, e.workloadOf)
	e.addRestartHistory(&r, p)
	return r
}

// maxHistory bounds the terminations a pod walk lists.
const maxHistory = 10

// addRestartHistory adds to the termination step the pod's terminations
// the terminations collector saw (the API keeps only the last of each
// container), newest first.
func (e *Exporter) addRestartHistory(r *triage.Report, p *kube.Pod) {
	tc := findCollector[*terminationsCollector](e)
	s := r.Step("termination")
	if tc == nil || s == nil {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	shown := 0
	for i := len(tc.recent) - 1; i >= 0 && shown < maxHistory; i-- {
		t := tc.recent[i]
		if t.Namespace != p.Namespace || t.Pod != p.Name {
			continue
		}
		shown++
		line := fmt.Sprintf("seen by the exporter %s: %s %s, exit code %s", t.Time.UTC().Format(time.RFC3339), orNone(t.Container), t.Reason, t.ExitCode)
		if t.Signal != "" {
			line += " (" + t.Signal + ")"
		}
		if t.Count > 1 {
			line += fmt.Sprintf(", %g times", t.Count)
		}
		s.Evidence = append(s.Evidence, line)
	}
}

// workloadOf names a pod's workload as the terminations collector does
// (a Job resolved to its CronJob when it can).
func (e *Exporter) workloadOf(p *kube.Pod) (kind, name string) {
	if tc := findCollector[*terminationsCollector](e); tc != nil {
		return tc.workloadOf(p)
	}
	return p.Workload()
}

// walkPod adds the pod walk's steps to r and finishes it.
func walkPod(ctx context.Context, r *triage.Report, p *kube.Pod, d TriageDetails, workloadOf func(*kube.Pod) (string, string)) {
	now := time.Now()
	kind, workload := workloadOf(p)
	s := r.Add("pod", triage.Pass, fmt.Sprintf("phase %s, workload %s %s", p.Phase, kind, workload))
	verdict := "ok"
	switch {
	case p.Reason == "Evicted":
		s.Status, s.Summary, verdict = triage.Fail, "evicted by the kubelet (node pressure): "+s.Summary, "Evicted"
	case p.Phase == corev1.PodFailed:
		s.Status, verdict = triage.Fail, "Failed"
	case p.Terminating:
		s.Status, s.Summary = triage.Warn, "being deleted: "+s.Summary
	}
	if d.Pod != nil {
		s.Evidence = append(s.Evidence, d.Pod(ctx, p.Namespace, p.Name)...)
	}

	// Each container: its state, its restarts and why it waits.
	cs := r.Add("containers", triage.Pass, fmt.Sprintf("%d containers", len(p.Containers)))
	var terms []string
	recent := false
	for _, c := range p.Containers {
		state := "running"
		switch {
		case c.Waiting != "":
			state = "waiting: " + c.Waiting
		case c.Terminated != nil:
			state = "terminated: " + terminationText(c.Terminated, now)
		}
		cs.Evidence = append(cs.Evidence, fmt.Sprintf("%s (%s): %s, restarts %d", c.Name, c.Type, state, c.RestartCount))
		if slices.Contains(stuckReasons, c.Waiting) {
			cs.Status, cs.Summary = triage.Fail, fmt.Sprintf("container %s is stuck: %s", c.Name, c.Waiting)
			if verdict == "ok" {
				verdict = c.Waiting
			}
		}
		for _, t := range []*kube.Termination{c.Terminated, c.LastTerminated} {
			if t == nil {
				continue
			}
			terms = append(terms, fmt.Sprintf("%s: %s", c.Name, terminationText(t, now)))
			if t.Message != "" {
				terms = append(terms, "  message: "+oneLineText(cleanMessage(t.Message), 300))
			}
			if t.Reason != "Completed" && now.Unix()-t.FinishedAt < int64(recentDeath/time.Second) {
				recent = true
				if verdict == "ok" {
					verdict = reasonLabel(t.Reason)
				}
			}
		}
	}

	// The last termination of each container.
	ts := r.Add("termination", triage.Pass, "no container has died recently")
	ts.Evidence = terms
	if len(terms) == 0 {
		ts.Summary = "no container has terminated"
	}
	if recent {
		ts.Status, ts.Summary = triage.Fail, fmt.Sprintf("a container died in the last %d minutes: %s", int(recentDeath.Minutes()), verdict)
	}

	rs := r.Add("readiness", triage.Pass, "ready")
	switch {
	case p.Phase == corev1.PodSucceeded:
		rs.Summary = "completed"
	case p.Phase == corev1.PodPending:
		rs.Status, rs.Summary = triage.Fail, "pending: not scheduled or its containers not started"
		if verdict == "ok" {
			verdict = "Pending"
		}
	case !p.Ready:
		rs.Status, rs.Summary = triage.Fail, "not ready: its readiness probe fails, or a container is not running"
		if verdict == "ok" {
			verdict = "not_ready"
		}
	}
	runbook := ""
	switch verdict {
	case "OOMKilled":
		runbook = "ContainerOOMKilled"
		r.Next = "The container used more memory than its limit: raise the limit or find the leak (kube_triage_container_terminations_total by workload)."
	case "CrashLoopBackOff", "Error":
		runbook = "ContainerCrashLooping"
		r.Next = "Read the previous run's log: kubectl logs -n " + p.Namespace + " " + p.Name + " --previous; the exit code and message above say how it ended."
	case "ImagePullBackOff", "ErrImagePull", "InvalidImageName":
		runbook = "ImagePullFailing"
		r.Next = "Check the image name and tag, and the pull secret: the events say what the registry answered."
	case "Evicted":
		runbook = "PodsEvicted"
		r.Next = "The node ran short of memory, disk or PIDs: look at its conditions and what else runs there."
	case "Pending":
		r.Next = "Read the pod's events: the scheduler says why no node fits."
	case "not_ready":
		r.Next = "Read the readiness probe and the events: kubectl describe pod -n " + p.Namespace + " " + p.Name + "."
	}
	*r = finish(*r, verdict, runbook)
}

// recentDeath is how long ago a container's death still fails the pod
// walk (the alerts' OOM window).
const recentDeath = 15 * time.Minute

func terminationText(t *kube.Termination, now time.Time) string {
	s := fmt.Sprintf("%s, exit code %d", orNone(t.Reason), t.ExitCode)
	if sig := signalLabel(t); sig != "" {
		s += " (" + sig + ")"
	}
	if t.FinishedAt > 0 {
		s += fmt.Sprintf(", %s ago", now.Sub(time.Unix(t.FinishedAt, 0)).Round(time.Second))
	}
	return s
}

// TriageWorkload walks the pod walk for a workload's pod that is worst
// off (a failing step first, then the most restarts): what the workload
// alerts link to.
func (e *Exporter) TriageWorkload(ctx context.Context, namespace, kind, name string, d TriageDetails) triage.Report {
	target := namespace + "/" + kind + "/" + name
	if why := e.podsNotKnown(namespace); why != "" || findCollector[*terminationsCollector](e) == nil {
		if why == "" {
			why = "the terminations collector does not run in this exporter (the cluster role runs it)"
		}
		return notWalked(newReport("workload", target, d), "pod", why)
	}
	var pods []*kube.Pod
	if tc := findCollector[*terminationsCollector](e); tc != nil {
		for _, obj := range tc.pods.List() {
			if p, ok := obj.(*kube.Pod); ok && p.Namespace == namespace {
				if k, n := tc.workloadOf(p); k == kind && n == name {
					pods = append(pods, p)
				}
			}
		}
	}
	if len(pods) == 0 {
		r := newReport("workload", target, d)
		r.Add("pod", triage.Skip, "no pod of this workload now (the terminations collector keeps its counts for --collector.terminations.retention)")
		return finish(r, "no_pods", "")
	}
	// The pods that restarted most first; the first whose walk fails is
	// the one shown, else the first.
	sort.SliceStable(pods, func(i, j int) bool { return restarts(pods[i]) > restarts(pods[j]) })
	var shown triage.Report
	for i, p := range pods {
		r := newReport("workload", target+" (pod "+p.Name+")", d)
		walkPod(ctx, &r, p, d, e.workloadOf)
		e.addRestartHistory(&r, p)
		if i == 0 || !r.OK() {
			shown = r
		}
		if !r.OK() {
			break
		}
	}
	shown.Steps = append([]triage.Step{{Name: "workload", Status: triage.Pass, Summary: fmt.Sprintf("%d pods; the one worst off is walked", len(pods))}}, shown.Steps...)
	return shown
}

func restarts(p *kube.Pod) int32 {
	var n int32
	for _, c := range p.Containers {
		n += c.RestartCount
	}
	return n
}

// TriageCluster walks the Troubleshoot Clusters guide: the apiserver and
// its storage, the leaders, the nodes, cluster DNS; the verdict is the
// scenario of the alert pack the evidence points to.
func (e *Exporter) TriageCluster(ctx context.Context, d TriageDetails, nodeLeaseStale time.Duration) triage.Report {
	r := newReport("cluster", "", d)
	now := time.Now()
	scenario, runbook := "ok", ""
	point := func(s, rb string) {
		if scenario == "ok" {
			scenario, runbook = s, rb
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
			point("apiserver_down", "KubeAPIServerDown")
		case slices.ContainsFunc(failed, func(c string) bool { return strings.HasPrefix(c, "etcd") }):
			s.Status, s.Summary = triage.Fail, "answers, but its storage (etcd) fails: reads and writes fail"
			point("etcd_storage_lost", "KubeAPIServerStorageDown")
		case len(failed) > 0 || last.endpoints["livez"].reason != "" || last.endpoints["readyz"].reason != "":
			s.Status, s.Summary = triage.Fail, "answers, but not healthy"
			point("apiserver_unhealthy", "KubeAPIServerDown")
		}
	}

	// The scheduler's and controller-manager's leaders.
	if cc := findCollector[*controlplaneCollector](e); cc == nil {
		r.Add("leaders", triage.Skip, "the controlplane collector is not running in this exporter")
	} else if missing := e.notListed("leases/kube-system"); missing != "" {
		r.Add("leaders", triage.Skip, "the API did not list "+missing)
		r.Incomplete = "the API did not list " + missing
	} else {
		s := r.Add("leaders", triage.Pass, "every leader renews its Lease")
		for _, comp := range leaderComponents {
			obj, ok, _ := cc.leases.GetByKey("kube-system/" + comp)
			l, isLease := obj.(*kube.Lease)
			if !ok || !isLease {
				s.Evidence = append(s.Evidence, comp+": no Lease (a managed control plane hides it)")
				continue
			}
			age := time.Duration(leaseAge(now, l) * float64(time.Second)).Round(time.Second)
			line := fmt.Sprintf("%s: held by %s, renewed %s ago (duration %ds, %d transitions)", comp, holderHost(l.Holder), age, l.DurationSeconds, l.Transitions)
			if l.Renewed > 0 && l.DurationSeconds > 0 && age > time.Duration(l.DurationSeconds)*time.Second {
				s.Status, s.Summary = triage.Fail, "a component has no leader: its Lease expired"
				line += ": EXPIRED"
				point("leader_lost", "KubeControlPlaneLeaderLost")
			}
			s.Evidence = append(s.Evidence, line)
		}
	}

	// The nodes: stale Leases and conditions.
	if nc := findCollector[*nodesCollector](e); nc == nil {
		r.Add("nodes", triage.Skip, "the nodes collector is not running in this exporter")
	} else if missing := e.notListed("nodes", "leases/kube-node-lease"); missing != "" {
		r.Add("nodes", triage.Skip, "the API did not list "+missing)
		r.Incomplete = "the API did not list " + missing
	} else {
		nodes := nc.nodes.List()
		s := r.Add("nodes", triage.Pass, fmt.Sprintf("%d nodes, every Lease renewed within %s", len(nodes), nodeLeaseStale))
		var stale []string
		ready := 0
		for _, obj := range nodes {
			n, ok := obj.(*kube.Node)
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
				if l, ok := obj.(*kube.Lease); ok && l.Renewed > 0 {
					age := time.Duration(leaseAge(now, l) * float64(time.Second)).Round(time.Second)
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
			point("node_not_ready", "KubeletFault")
		}
		if len(stale) > 0 {
			s.Status, s.Summary = triage.Fail, "stopped renewing their Lease: "+strings.Join(stale, ", ")
			s.Evidence = append(s.Evidence, "shut down, cut off, or its kubelet failed: the node agent's metrics there tell KubeNodeShutdown, KubeNodePartitioned and KubeletFault apart")
			point("node_down", "KubeNodeShutdown")
		}
	}

	// The control case: kubernetes.default through cluster DNS.
	dnsStep(&r, e, d, func(name string) bool { return strings.HasPrefix(name, "kubernetes.default") }, "kubernetes.default")
	if s := r.Step("dns"); s != nil && s.Status == triage.Fail {
		point("cluster_dns_down", "ClusterDNSDown")
	}
	next := map[string]string{
		"apiserver_down":      "The apiserver does not answer: is its process running, and its load balancer? Its own log says why it stopped.",
		"etcd_storage_lost":   "The apiserver answers but etcd does not: check the etcd members (etcdctl endpoint health) and their disks.",
		"apiserver_unhealthy": "Read the failing checks above; /readyz?verbose on the apiserver lists them.",
		"leader_lost":         "No instance of that component leads: is it running, and can it reach the apiserver?",
		"node_down":           "Look at the node itself: is it up, does it reach the apiserver, does its kubelet run?",
		"node_not_ready":      "Read the node's conditions and its kubelet's log: the container runtime, the network plugin or a pressure keeps it not Ready.",
		"cluster_dns_down":    "The control case fails: look at the DNS pods and their logs, and the DNS Service's endpoints.",
	}
	r.Next = next[scenario]
	return finish(r, scenario, runbook)
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

// podRecord finds a pod in any collector's cache of pods.
func (e *Exporter) podRecord(namespace, name string) (*kube.Pod, bool) {
	var stores []cache.Store
	if tc := findCollector[*terminationsCollector](e); tc != nil {
		stores = append(stores, tc.pods)
	}
	if sc := findCollector[*servicesCollector](e); sc != nil {
		stores = append(stores, sc.pods)
	}
	for _, s := range stores {
		if obj, ok, _ := s.GetByKey(namespace + "/" + name); ok {
			if p, ok := obj.(*kube.Pod); ok {
				return p, true
			}
		}
	}
	return nil, false
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

// finish sets the verdict, the failing step and the runbook (an alert's).
func finish(r triage.Report, verdict, runbook string) triage.Report {
	r.Verdict = verdict
	r.Finish()
	if runbook == "" {
		runbook = serviceRunbooks[verdict]
	}
	if runbook != "" && !r.OK() {
		r.Runbook = RunbookBase + runbook + ".md"
	}
	if r.Next == "" && !r.OK() {
		r.Next = serviceNext[r.FailingStep]
	}
	return r
}

// The runbooks that go on from a Service's verdict (the alert it raises).
var serviceRunbooks = map[string]string{
	verdictSelectorMatchesNothing: "ServiceSelectorMatchesNothing",
	verdictPodsNotReady:           "ServiceNoReadyEndpoints",
	verdictNoEndpoints:            "ServiceNoReadyEndpoints",
	verdictPortNoEndpoints:        "ServiceNoReadyEndpoints",
	verdictPortMismatch:           "ServiceTargetPortMismatch",
}

// What to do when a Service's walk fails at a step.
var serviceNext = map[string]string{
	"selector":  "Fix the selector, or the pod template's labels, so that they match (labels are case-sensitive).",
	"readiness": "Read a not-ready pod's readiness probe and events (kubectl describe pod); the probe's port, path and timeout are the usual suspects.",
	"ports":     "Make the Service's targetPort name or number one that the pods' containers declare.",
	"endpoints": "Pods are ready but no endpoint is published: look at the EndpointSlice controller (kube-controller-manager), or at whoever manages this Service's endpoints.",
	"dns":       "The name does not resolve to the ClusterIP: walk the cluster (triage cluster) for DNS itself, then the DNS pods' logs.",
	"connect":   "Endpoints exist but the ClusterIP does not answer from here: kube-proxy's rules on this node (the KubeProxyServiceVIPUnreachable runbook), or the pods do not listen on the targetPort.",
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

// notWalked ends a walk that cannot see what it needs: it says why and
// judges nothing.
func notWalked(r triage.Report, step, why string) triage.Report {
	r.Incomplete = why
	r.Add(step, triage.Skip, why+": the walk would judge what it has not seen")
	return finish(r, "unknown", "")
}

// podsNotKnown says why this exporter cannot know the pods of namespace;
// "" when it can.
func (e *Exporter) podsNotKnown(namespace string) string {
	switch {
	case findCollector[*terminationsCollector](e) == nil && findCollector[*servicesCollector](e) == nil:
		return "no collector of this exporter keeps pods (the cluster role's services and terminations do)"
	case !e.inScope(namespace):
		return "namespace " + namespace + " is outside this exporter's --namespaces"
	}
	if missing := e.notListed("pods"); missing != "" {
		return "the API did not list " + missing
	}
	return ""
}

func selectorText(sel map[string]string) string {
	if len(sel) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

func targetText(sp kube.ServicePort) string {
	if sp.TargetPort.String() == "0" {
		return strconv.Itoa(int(sp.Port))
	}
	return sp.TargetPort.String()
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
			r = e.TriageCluster(req.Context(), TriageDetails{}, NodeLeaseStale)
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

// NodeLeaseStale is how old a node's Lease is stale: the node controller's
// default grace period, and the alerts' threshold.
const NodeLeaseStale = 40 * time.Second

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
