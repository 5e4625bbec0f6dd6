package guide

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// Verdict is what the "Debug Services" guide concludes about one Service.
type Verdict string

// The verdicts, in the order the guide rules them out.
const (
	VerdictOK                     Verdict = "ok"
	VerdictNoSelector             Verdict = "no_selector"
	VerdictSelectorMatchesNothing Verdict = "selector_matches_nothing"
	// VerdictScaledToZero: the selector matches no pod, and the pod
	// template of a workload scaled to zero: empty on purpose (by hand, an
	// autoscaler, a parked environment). It does not page.
	VerdictScaledToZero Verdict = "scaled_to_zero"
	VerdictPodsNotReady Verdict = "pods_not_ready"
	VerdictPortMismatch Verdict = "port_mismatch"
	VerdictNoEndpoints  Verdict = "no_endpoints"
	// VerdictPortNoEndpoints: a port that no ready endpoint serves while
	// others are served: the pods that expose its targetPort are not
	// ready, or none does.
	VerdictPortNoEndpoints Verdict = "port_no_endpoints"
)

// ServiceVerdicts are every verdict, in the guide's order, each with the
// alert it raises ("" for none): the services collector's label values,
// the alerts' selectors and the walk's runbook link all come from here.
var ServiceVerdicts = []struct {
	Verdict Verdict
	Alert   string
}{
	{VerdictOK, ""},
	{VerdictNoSelector, ""},
	{VerdictSelectorMatchesNothing, "ServiceSelectorMatchesNothing"},
	{VerdictScaledToZero, ""},
	{VerdictPodsNotReady, "ServiceNoReadyEndpoints"},
	{VerdictPortMismatch, "ServiceTargetPortMismatch"},
	{VerdictNoEndpoints, "ServiceNoReadyEndpoints"},
	{VerdictPortNoEndpoints, "ServiceNoReadyEndpoints"},
}

// Verdicts lists the verdicts in the guide's order.
func Verdicts() []Verdict {
	out := make([]Verdict, len(ServiceVerdicts))
	for i, v := range ServiceVerdicts {
		out[i] = v.Verdict
	}
	return out
}

// Alert is the alert a verdict raises; "" for none.
func (v Verdict) Alert() string {
	for _, sv := range ServiceVerdicts {
		if sv.Verdict == v {
			return sv.Alert
		}
	}
	return ""
}

// ServiceNext is what to do when a Service's walk fails at a step.
var ServiceNext = map[string]string{
	"selector":  "Fix the selector, or the pod template's labels, so that they match (labels are case-sensitive).",
	"readiness": "Read a not-ready pod's readiness probe and events (kubectl describe pod); the probe's port, path and timeout are the usual suspects.",
	"ports":     "Make the Service's targetPort name or number one that the pods' containers declare.",
	"endpoints": "Pods are ready but no endpoint is published: look at the EndpointSlice controller (kube-controller-manager), or at whoever manages this Service's endpoints.",
	"pods":      "Ready endpoints do not answer: a refusal is the pod's process (nothing listens on the port its readiness vouches for: read its readiness probe); a timeout the network between the exporter and the pod (its node, a NetworkPolicy).",
	"dns":       "The name does not resolve to the ClusterIP: walk the cluster (triage cluster) for DNS itself, then the DNS pods' logs.",
	"connect":   "Endpoints exist but the ClusterIP does not answer from here: kube-proxy's rules on this node (the KubeProxyServiceVIPUnreachable runbook), or the pods do not listen on the targetPort.",
}

// ServiceResult is what the guide concludes about one Service.
type ServiceResult struct {
	Name, Type    string
	Headless      bool
	ExpectedEmpty bool
	Endpoints     map[string]EndpointCounts // by address type
	Ready         int32                     // ready endpoints, all families
	Ports         []PortResult
	Selected      int
	SelectedReady int
	// SelectedWorkloads counts the workloads of the selected pods.
	SelectedWorkloads int
	MissingPorts      []string
	ScaledToZero      []WorkloadRef
	// LocalPolicies are the Local traffic policies the Service has
	// (external, internal); LocalNodes the number of nodes with a ready
	// endpoint, which is where that traffic is served.
	LocalPolicies []string
	LocalNodes    int
	Verdict       Verdict
}

// EndpointCounts are the endpoints of one address family by condition.
type EndpointCounts struct{ Ready, Serving, Terminating, NotReady int32 }

// PortResult is one Service port: its endpoints and the selected pods
// that do not serve it.
type PortResult struct {
	Name                        string
	Ready, Serving, Terminating int32
	PodsMissing                 int
}

// WorkloadRef names a workload.
type WorkloadRef struct{ Kind, Name string }

// JudgeService follows the guide: does the Service have endpoints, on
// every port; if not, does its selector match pods (or a workload scaled
// to zero); are they ready; does the targetPort exist. pods are the
// candidates (those the selector may match); workloads is called only for
// a selector that matches no pod.
func JudgeService(svc *record.Service, pods []*record.Pod, epSlices []*record.EndpointSlice, workloads func() []*record.Workload) ServiceResult {
	typ := string(svc.Type)
	if typ == "" {
		typ = string(corev1.ServiceTypeClusterIP)
	}
	r := ServiceResult{
		Name:          svc.Name,
		Type:          typ,
		Headless:      svc.ClusterIP == corev1.ClusterIPNone,
		ExpectedEmpty: svc.ExpectedEmpty,
		Endpoints:     map[string]EndpointCounts{},
	}
	localNodes := map[string]bool{}
	for _, s := range epSlices {
		at := string(s.AddressType)
		ec := r.Endpoints[at]
		ec.Ready += s.Ready
		ec.Serving += s.Serving
		ec.Terminating += s.Terminating
		ec.NotReady += s.NotReady
		r.Endpoints[at] = ec
		r.Ready += s.Ready
		for _, n := range s.ReadyNodes {
			if n != "" {
				localNodes[n] = true
			}
		}
	}
	if svc.ExternalLocal {
		r.LocalPolicies = append(r.LocalPolicies, "external")
	}
	if svc.InternalLocal {
		r.LocalPolicies = append(r.LocalPolicies, "internal")
	}
	r.LocalNodes = len(localNodes)

	if len(svc.Selector) == 0 {
		// Endpoints are managed by hand or by another controller: judge
		// them alone.
		r.Ports = portEndpoints(svc.Ports, epSlices)
		r.Verdict = VerdictNoSelector
		if r.Ready == 0 {
			r.Verdict = VerdictNoEndpoints
		}
		return r
	}
	var selected []*record.Pod
	owners := map[WorkloadRef]bool{}
	for _, p := range pods {
		if Selectable(p) && Matches(svc.Selector, p.Labels) {
			selected = append(selected, p)
			if p.Ready {
				r.SelectedReady++
			}
			kind, name := p.Workload()
			if kind == "Pod" {
				name = "" // bare pods count as one
			}
			owners[WorkloadRef{kind, name}] = true
		}
	}
	r.Selected = len(selected)
	r.SelectedWorkloads = len(owners)
	r.Ports = portEndpoints(svc.Ports, epSlices)
	for i, sp := range svc.Ports {
		r.Ports[i].PodsMissing = podsMissingTarget(sp, selected)
		if r.Selected > 0 && r.Ports[i].PodsMissing == r.Selected && !slices.Contains(r.MissingPorts, r.Ports[i].Name) {
			r.MissingPorts = append(r.MissingPorts, r.Ports[i].Name)
		}
	}

	switch {
	case r.Selected == 0:
		r.ScaledToZero = scaledToZero(svc.Selector, workloads())
		r.Verdict = VerdictSelectorMatchesNothing
		if len(r.ScaledToZero) > 0 {
			r.Verdict = VerdictScaledToZero
		}
	case r.SelectedReady == 0 && !svc.PublishNotReadyAddresses:
		// (A Service that publishes not-ready addresses serves through
		// them: it is judged by its endpoints alone.)
		r.Verdict = VerdictPodsNotReady
	case len(r.MissingPorts) > 0:
		r.Verdict = VerdictPortMismatch
	case r.Ready == 0:
		r.Verdict = VerdictNoEndpoints
	case slices.ContainsFunc(r.Ports, func(p PortResult) bool { return p.Ready == 0 }):
		r.Verdict = VerdictPortNoEndpoints
	default:
		r.Verdict = VerdictOK
	}
	return r
}

// PortLabel names a Service port: its name, or its number when it has
// none (a Service with a single port need not name it).
func PortLabel(sp record.ServicePort) string {
	if sp.Name != "" {
		return sp.Name
	}
	return strconv.Itoa(int(sp.Port))
}

// portEndpoints counts, for each Service port, the endpoints of the slices
// that carry it: the EndpointSlice controller names a slice's ports after
// the Service's, and leaves a port out of the slices of pods that do not
// expose its targetPort. Each address family is counted apart and the
// larger count kept, so that a dual-stack pod counts once.
func portEndpoints(ports []record.ServicePort, epSlices []*record.EndpointSlice) []PortResult {
	out := make([]PortResult, len(ports))
	for i, sp := range ports {
		byFamily := map[string]*PortResult{}
		for _, s := range epSlices {
			if !slices.ContainsFunc(s.Ports, func(p record.SlicePort) bool { return p.Name == sp.Name }) {
				continue
			}
			f := byFamily[string(s.AddressType)]
			if f == nil {
				f = &PortResult{}
				byFamily[string(s.AddressType)] = f
			}
			f.Ready += s.Ready
			f.Serving += s.Serving
			f.Terminating += s.Terminating
		}
		out[i].Name = PortLabel(sp)
		for _, f := range byFamily {
			out[i].Ready = max(out[i].Ready, f.Ready)
			out[i].Serving = max(out[i].Serving, f.Serving)
			out[i].Terminating = max(out[i].Terminating, f.Terminating)
		}
	}
	return out
}

// Selectable: the pod can be a Service's endpoint; finished pods never
// are, and terminating ones are leaving.
func Selectable(p *record.Pod) bool {
	return p.Phase() != corev1.PodSucceeded && p.Phase() != corev1.PodFailed && !p.Terminating
}

// Matches: every pair of the selector is among the labels.
func Matches(selector map[string]string, labels record.Labels) bool {
	for k, v := range selector {
		if got, ok := labels.Get(k); !ok || got != v {
			return false
		}
	}
	return true
}

// scaledToZero names the workloads whose pod template the selector matches,
// if every one of them is scaled to zero; nil if none matches or one wants
// pods (then its pods are missing, which is not on purpose). A ReplicaSet
// that a Deployment controls is its Deployment's business.
func scaledToZero(selector map[string]string, workloads []*record.Workload) []WorkloadRef {
	var zero []WorkloadRef
	for _, w := range workloads {
		if w.Owned || !Matches(selector, w.Template) {
			continue
		}
		if w.Replicas > 0 {
			return nil
		}
		zero = append(zero, WorkloadRef{w.Kind, w.Name})
	}
	return zero
}

// podsMissingTarget counts the pods that do not expose the port's
// targetPort. A named targetPort must match a named container port, or the
// pod serves nothing of this port. A numeric one is judged only on pods
// whose every container declares ports: declaring them is optional, and
// traffic reaches an undeclared port all the same.
func podsMissingTarget(sp record.ServicePort, pods []*record.Pod) int {
	target := sp.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(sp.Port) // unset targetPort defaults to port
	}
	protocol := sp.Protocol
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	missing := 0
	for _, p := range pods {
		if target.Type == intstr.Int && !p.AllDeclare {
			continue
		}
		exposed := slices.ContainsFunc(p.Ports, func(cp record.ContainerPort) bool {
			cpProtocol := cp.Protocol
			if cpProtocol == "" {
				cpProtocol = corev1.ProtocolTCP
			}
			if cpProtocol != protocol {
				return false
			}
			if target.Type == intstr.String {
				return cp.Name == target.StrVal
			}
			return cp.Port == target.IntVal
		})
		if !exposed {
			missing++
		}
	}
	return missing
}
