package triage

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

// maxDetailedPods bounds the pods whose details a walk fetches or lists.
const maxDetailedPods = 5

// Service walks the Debug Services guide for one Service.
func (w *Walker) Service(ctx context.Context, namespace, name string, d Details) report.Report {
	r := newReport("service", namespace+"/"+name, d)
	sc, ok := source[serviceSource](w)
	if !ok {
		return notWalked(r, "service", "the services collector does not run in this exporter (the cluster role runs it)")
	}
	if !w.inScope(namespace) {
		return notWalked(r, "service", "namespace "+namespace+" is outside this exporter's --namespaces")
	}
	if missing := w.notListed("services", "endpointslices", "pods"); missing != "" {
		return notWalked(r, "service", "the API did not list "+missing)
	}
	key := namespace + "/" + name
	svc, pods, res, found := sc.Service(namespace, name)
	if !found {
		r.Add("service", report.Fail, "no Service "+key,
			"kubectl get services -n "+namespace+" lists the Services there; the name and namespace must be exact")
		r.Next = "Check the name and the namespace the client uses (DNS names are <service>.<namespace>)."
		return finish(r, "not_found", "")
	}
	if svc.Type == corev1.ServiceTypeExternalName {
		r.Add("service", report.Pass, "ExternalName: a DNS alias, without endpoints; the walk stops here")
		return finish(r, "external_name", "")
	}
	unlistedWorkloads := w.notListed("deployments", "statefulsets", "replicasets")

	// 1. Is the Service defined, and how.
	step := r.Add("service", report.Pass, fmt.Sprintf("type %s, ClusterIP %s, selector %s", res.Type, orNone(svc.ClusterIP), selectorText(svc.Selector)))
	for _, sp := range svc.Ports {
		step.Evidence = append(step.Evidence, fmt.Sprintf("port %s: %d/%s -> targetPort %s", guide.PortLabel(sp), sp.Port, protocolOf(sp.Protocol), targetText(sp)))
	}
	if svc.ExpectedEmpty {
		step.Evidence = append(step.Evidence, record.ServiceOptOutAnnotation+`="true": empty on purpose, the alerts leave it alone`)
	}

	// 2. Does its name resolve, to its ClusterIP.
	lookups := w.dnsStep(&r, d, func(dns dnsSource, probed string) bool {
		ns, s, ok := dns.ServiceOf(probed)
		return ok && ns == namespace && s == name
	}, name+"."+namespace)

	// 3. Does the selector match pods.
	notReady := selectedNotReady(svc, pods)
	switch {
	case len(svc.Selector) == 0:
		r.Add("selector", report.Skip, "no selector: its endpoints are managed by hand or by another controller")
	case res.Verdict == guide.VerdictScaledToZero:
		s := r.Add("selector", report.Warn, "matches no pod, on purpose: every workload it selects is scaled to zero")
		for _, w := range res.ScaledToZero {
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s %s: 0 replicas", w.Kind, w.Name))
		}
	case res.Selected == 0:
		s := r.Add("selector", report.Fail, fmt.Sprintf("%s matches no running pod in %s", selectorText(svc.Selector), namespace),
			"compare it with the labels of the pods that should serve: kubectl get pods -n "+namespace+" --show-labels")
		if unlistedWorkloads != "" {
			s.Evidence = append(s.Evidence, "the API did not list "+unlistedWorkloads+": a workload scaled to zero on purpose cannot be told from a typo")
		}
	default:
		s := r.Add("selector", report.Pass, fmt.Sprintf("matches %d pods of %d workloads", res.Selected, res.SelectedWorkloads))
		if res.SelectedWorkloads > 1 {
			s.Status = report.Warn
			s.Evidence = append(s.Evidence, "more than one workload: a canary, or a selector too wide")
		}
	}

	// 4. Are they ready.
	if res.Selected == 0 {
		r.Add("readiness", report.Skip, "no pod to look at")
	} else {
		s := r.Add("readiness", report.Pass, fmt.Sprintf("%d of %d ready", res.SelectedReady, res.Selected))
		if res.Verdict == guide.VerdictPodsNotReady {
			s.Status = report.Fail
			s.Summary = fmt.Sprintf("none of the %d pods is ready: their readiness probes fail", res.Selected)
		} else if res.SelectedReady < res.Selected {
			s.Status = report.Warn
		}
		if svc.PublishNotReadyAddresses {
			s.Evidence = append(s.Evidence, "publishNotReadyAddresses: traffic reaches pods whatever their readiness")
		}
		for i, p := range notReady {
			if i == maxDetailedPods {
				s.Evidence = append(s.Evidence, fmt.Sprintf("... and %d more not ready", len(notReady)-i))
				break
			}
			s.Evidence = append(s.Evidence, "not ready: "+p.Name()+podStateText(p))
			if d.Pod != nil {
				for _, l := range d.Pod(ctx, p.Namespace(), p.Name()) {
					s.Evidence = append(s.Evidence, "  "+l)
				}
			}
		}
	}

	// 5. Does each port's targetPort exist on the pods.
	if res.Selected == 0 {
		r.Add("ports", report.Skip, "no pod to compare the targetPorts with")
	} else {
		s := r.Add("ports", report.Pass, "every targetPort is exposed by the selected pods")
		for i, sp := range svc.Ports {
			p := res.Ports[i]
			line := fmt.Sprintf("%s -> %s: exposed by %d of %d pods", p.Name, targetText(sp), res.Selected-p.PodsMissing, res.Selected)
			s.Evidence = append(s.Evidence, line)
		}
		if declared := declaredPorts(pods, svc.Selector); len(declared) > 0 {
			s.Evidence = append(s.Evidence, "the pods declare: "+strings.Join(declared, ", "))
		}
		if len(res.MissingPorts) > 0 {
			s.Status = report.Fail
			s.Summary = fmt.Sprintf("no selected pod exposes the targetPort of %s", strings.Join(res.MissingPorts, ", "))
			s.Evidence = append(s.Evidence, "a named targetPort must match a containerPort's name exactly; a number, its containerPort")
		}
	}

	// 6. Does it have endpoints, on every port.
	s := r.Add("endpoints", report.Pass, fmt.Sprintf("%d ready endpoints", res.Ready))
	for _, at := range slices.Sorted(maps.Keys(res.Endpoints)) {
		ec := res.Endpoints[at]
		s.Evidence = append(s.Evidence, fmt.Sprintf("%s: ready %d, serving %d, terminating %d, not ready %d", at, ec.Ready, ec.Serving, ec.Terminating, ec.NotReady))
	}
	for _, p := range res.Ports {
		s.Evidence = append(s.Evidence, fmt.Sprintf("port %s: ready %d", p.Name, p.Ready))
	}
	switch {
	case res.Verdict == guide.VerdictScaledToZero:
		s.Status = report.Warn
	case res.Ready == 0:
		s.Status, s.Summary = report.Fail, "no ready endpoint: every client gets connection refused or a timeout"
	case slices.ContainsFunc(res.Ports, func(p guide.PortResult) bool { return p.Ready == 0 }):
		s.Status, s.Summary = report.Fail, "a port has no ready endpoint: no ready pod exposes its targetPort"
	}
	if len(res.LocalPolicies) > 0 {
		s.Evidence = append(s.Evidence, fmt.Sprintf("traffic policy Local (%s): ready endpoints on %d nodes; other nodes drop that traffic", strings.Join(res.LocalPolicies, ", "), res.LocalNodes))
	}

	// 7. Do the ready endpoints answer, dialled one by one (the guide's
	// wget of each pod IP:port).
	backendVerdict := w.podsStep(&r, d, namespace, name)

	// 8. Does the ClusterIP answer.
	connectStep(ctx, &r, d, svc)

	if s := r.Step("dns"); s.Status == report.Fail && res.Headless && res.Ready == 0 && !slices.ContainsFunc(lookups, func(l guide.Lookup) bool {
		return l.Result != guide.DNSSuccess && l.Result != guide.DNSNXDomain && l.Result != guide.DNSNoAnswer
	}) {
		// A headless Service's name is its ready endpoints' addresses:
		// with none, NXDOMAIN is the right answer.
		s.Status, s.Summary = report.Warn, "headless with no ready endpoint: its name has no address to answer (the cause is below)"
	}
	if svc.ExpectedEmpty && res.Ready == 0 {
		// Empty on purpose: having no pods or endpoints is not a failure.
		for _, name := range []string{"selector", "readiness", "endpoints"} {
			if st := r.Step(name); st != nil && st.Status == report.Fail {
				st.Status = report.Warn
			}
		}
	}
	verdict, alert := string(res.Verdict), res.Verdict.Alert()
	if res.Verdict == guide.VerdictOK && backendVerdict.Alert() != "" {
		// Ready by the API, not answering on the wire.
		verdict, alert = string(backendVerdict), backendVerdict.Alert()
	}
	r = finish(r, verdict, alert)
	if !r.OK() {
		r.Next = guide.ServiceNext[r.FailingStep]
	}
	return r
}

// maxDetailedEndpoints bounds the endpoints the pods step lists.
const maxDetailedEndpoints = 10

// podsStep reports the backends collector's last probe of each ready
// endpoint of the Service, and returns its backend verdict ("" for none).
func (w *Walker) podsStep(r *report.Report, d Details, namespace, name string) guide.BackendVerdict {
	bs, ok := source[backendSource](w)
	if !ok {
		r.Add("pods", report.Skip, d.backendsNote())
		return ""
	}
	verdict, endpoints, ok := bs.Backends(namespace, name)
	if !ok {
		r.Add("pods", report.Skip, "no endpoint of it probed yet (a ready endpoint of a TCP port, in the backends collector's scope)")
		return ""
	}
	counts := map[guide.BackendResult]int{}
	for _, e := range endpoints {
		counts[e.Result]++
	}
	var summary []string
	for _, res := range guide.BackendResults {
		if counts[res] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", counts[res], res))
		}
	}
	s := r.Add("pods", report.Pass, fmt.Sprintf("%s: %s", verdict, strings.Join(summary, ", ")))
	switch verdict {
	case guide.BackendsNotAnswering, guide.BackendsUnreachable:
		s.Status = report.Fail
	case guide.BackendsNoAccess:
		s.Status = report.Warn
		s.Evidence = append(s.Evidence, "every endpoint timed out: a NetworkPolicy that keeps the exporter out, most likely (deploy/examples/networkpolicy-allow-kube-triage.yaml lets it in)")
	}
	listed := 0
	for _, e := range endpoints {
		if e.Result == guide.BackendAnswering && s.Status != report.Pass {
			continue // the failing ones are the news
		}
		if listed == maxDetailedEndpoints {
			s.Evidence = append(s.Evidence, "... and more (the exporter's /probes page lists every failed one)")
			break
		}
		listed++
		line := fmt.Sprintf("port %s, %s: %s", e.Port, e.Addr, e.Result)
		if e.Err != "" {
			line += " (" + e.Err + ")"
		}
		s.Evidence = append(s.Evidence, line)
	}
	return verdict
}

// connectStep opens a TCP connection to each TCP port of the ClusterIP.
func connectStep(ctx context.Context, r *report.Report, d Details, svc *record.Service) {
	switch {
	case svc.ClusterIP == "" || svc.ClusterIP == corev1.ClusterIPNone:
		r.Add("connect", report.Skip, "headless: no ClusterIP to connect to")
		return
	case d.Dial == nil:
		note := d.DialNote
		if note == "" {
			note = "the page does not connect; the command does, from inside the cluster network"
		}
		r.Add("connect", report.Skip, note)
		return
	}
	if !slices.ContainsFunc(svc.Ports, func(sp record.ServicePort) bool { return protocolOf(sp.Protocol) == string(corev1.ProtocolTCP) }) {
		r.Add("connect", report.Skip, "no TCP port to connect to")
		return
	}
	s := r.Add("connect", report.Pass, "the ClusterIP accepts connections on every TCP port")
	for _, sp := range svc.Ports {
		if protocolOf(sp.Protocol) != string(corev1.ProtocolTCP) {
			continue
		}
		addr := net.JoinHostPort(svc.ClusterIP, strconv.Itoa(int(sp.Port)))
		if err := d.Dial(ctx, addr); err != nil {
			s.Status, s.Summary = report.Fail, "a TCP connection to the ClusterIP failed"
			s.Evidence = append(s.Evidence, fmt.Sprintf("%s: %v", addr, err))
			continue
		}
		s.Evidence = append(s.Evidence, addr+": connected")
	}
}

// declaredPorts are the distinct ports the selected pods' containers
// declare, as name:port/protocol.
func declaredPorts(pods []*record.Pod, selector map[string]string) []string {
	var out []string
	seen := map[*record.PodShape]bool{}
	for _, p := range pods {
		if p.PodShape == nil || seen[p.PodShape] || !guide.Matches(selector, p.Labels) {
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
func selectedNotReady(svc *record.Service, pods []*record.Pod) []*record.Pod {
	var out []*record.Pod
	for _, p := range pods {
		if !p.Ready && guide.Selectable(p) && len(svc.Selector) > 0 && guide.Matches(svc.Selector, p.Labels) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// podStateText is a pod's phase and its containers' trouble, for one line.
func podStateText(p *record.Pod) string {
	parts := []string{string(p.Phase())}
	for _, c := range p.Containers {
		if c.Waiting() != "" {
			parts = append(parts, c.Name+" waiting "+c.Waiting())
		}
		if c.RestartCount > 0 {
			parts = append(parts, fmt.Sprintf("%s restarted %d times", c.Name, c.RestartCount))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
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

func targetText(sp record.ServicePort) string {
	if sp.TargetPort.String() == "0" {
		return strconv.Itoa(int(sp.Port))
	}
	return sp.TargetPort.String()
}
