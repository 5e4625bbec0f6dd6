package kube

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// interner shares one copy of strings that repeat across objects
// (namespaces, label keys and values, port names) and of pod shapes.
type interner struct {
	mu         sync.Mutex
	m          map[string]string
	shapes     map[string]*record.PodShape
	containers map[[2]string]*record.Container // by name and type
}

func newInterner() *interner {
	return &interner{m: map[string]string{}, shapes: map[string]*record.PodShape{}, containers: map[[2]string]*record.Container{}}
}

// maxInterned bounds each table: label values such as pod-template-hash
// churn with every rollout, so a table starts afresh when it gets this big.
const maxInterned = 200_000

func (in *interner) get(s string) string {
	if s == "" {
		return ""
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.getLocked(s)
}

func (in *interner) getLocked(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) >= maxInterned {
		clear(in.m)
	}
	in.m[s] = s
	return s
}

func (in *interner) labels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[in.get(k)] = in.get(v)
	}
	return out
}

// container returns the one shared copy of c.
func (in *interner) container(name, typ string) *record.Container {
	in.mu.Lock()
	defer in.mu.Unlock()
	k := [2]string{name, typ}
	if v, ok := in.containers[k]; ok {
		return v
	}
	if len(in.containers) >= maxInterned {
		clear(in.containers)
	}
	c := record.NewContainer(in.getLocked(name), typ)
	in.containers[k] = c
	return c
}

// shape returns the one shared copy of s.
func (in *interner) shape(s record.PodShape) *record.PodShape {
	var key strings.Builder
	for _, l := range s.Labels {
		key.WriteString(l)
		key.WriteByte(0)
	}
	key.WriteByte(1)
	for _, p := range s.Ports {
		fmt.Fprintf(&key, "%s\x00%d\x00%s\x00", p.Name, p.Port, p.Protocol)
	}
	key.WriteString("\x01" + s.OwnerKind + "\x00" + s.OwnerName)
	if s.AllDeclare {
		key.WriteString("\x01")
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.shapes[key.String()]; ok {
		return v
	}
	if len(in.shapes) >= maxInterned {
		clear(in.shapes)
	}
	in.shapes[key.String()] = &s
	return &s
}

func (in *interner) pod(p *corev1.Pod) *record.Pod {
	shape := record.PodShape{Labels: in.sortedLabels(p.Labels)}
	containers := p.Spec.Containers
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			containers = append(containers[:len(containers):len(containers)], c)
		}
	}
	shape.AllDeclare = len(containers) > 0
	for _, c := range containers {
		shape.AllDeclare = shape.AllDeclare && len(c.Ports) > 0
		for _, port := range c.Ports {
			shape.Ports = append(shape.Ports, record.ContainerPort{Name: in.get(port.Name), Port: port.ContainerPort, Protocol: corev1.Protocol(in.get(string(port.Protocol)))})
		}
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		shape.OwnerKind, shape.OwnerName = in.get(ref.Kind), in.get(ref.Name)
	}
	r := record.NewPod(p.Namespace, p.Name, in.shape(shape))
	r.SetPhase(p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			r.Ready = c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil
		}
	}
	r.Terminating = p.DeletionTimestamp != nil
	r.SetReason(in.get(p.Status.Reason))
	for _, group := range []struct {
		typ      string
		statuses []corev1.ContainerStatus
	}{{"init", p.Status.InitContainerStatuses}, {"regular", p.Status.ContainerStatuses}, {"ephemeral", p.Status.EphemeralContainerStatuses}} {
		for _, cs := range group.statuses {
			var waiting string
			if cs.State.Waiting != nil {
				waiting = in.get(cs.State.Waiting.Reason)
			}
			if r.Containers == nil {
				r.Containers = make([]record.ContainerStatus, 0, len(p.Status.InitContainerStatuses)+len(p.Status.ContainerStatuses)+len(p.Status.EphemeralContainerStatuses))
			}
			r.Containers = append(r.Containers, record.NewContainerStatus(in.container(cs.Name, group.typ), cs.RestartCount,
				waiting, in.termination(cs.State.Terminated), in.termination(cs.LastTerminationState.Terminated)))
		}
	}
	return r
}

func (in *interner) termination(t *corev1.ContainerStateTerminated) *record.Termination {
	if t == nil {
		return nil
	}
	return &record.Termination{Reason: in.get(t.Reason), ExitCode: t.ExitCode, Signal: t.Signal, FinishedAt: t.FinishedAt.Unix(), Message: t.Message}
}

func (in *interner) service(s *corev1.Service) *record.Service {
	r := &record.Service{
		Meta:      record.Meta{Name: s.Name, Namespace: in.get(s.Namespace)},
		Type:      corev1.ServiceType(in.get(string(s.Spec.Type))),
		ClusterIP: s.Spec.ClusterIP,
		Selector:  in.labels(s.Spec.Selector),

		PublishNotReadyAddresses: s.Spec.PublishNotReadyAddresses,
		ExpectedEmpty:            s.Annotations[record.ServiceOptOutAnnotation] == "true",
		ProbeBackends:            in.get(s.Annotations[record.BackendsProbeAnnotation]),
		ProbePath:                in.get(s.Annotations[record.BackendsPathAnnotation]),
		// externalTrafficPolicy applies to the traffic of NodePort and
		// LoadBalancer Services only.
		ExternalLocal: s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal &&
			(s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer),
		InternalLocal: s.Spec.InternalTrafficPolicy != nil && *s.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
	}
	for _, p := range s.Spec.Ports {
		tp := p.TargetPort
		if tp.Type == intstr.String {
			tp.StrVal = in.get(tp.StrVal)
		}
		r.Ports = append(r.Ports, record.ServicePort{Name: in.get(p.Name), Port: p.Port, TargetPort: tp, Protocol: corev1.Protocol(in.get(string(p.Protocol))),
			AppProtocol: in.get(ptr.Deref(p.AppProtocol, ""))})
	}
	return r
}

func (in *interner) endpointSlice(s *discoveryv1.EndpointSlice) *record.EndpointSlice {
	r := &record.EndpointSlice{
		Meta:        record.Meta{Name: s.Name, Namespace: in.get(s.Namespace)},
		Service:     in.get(s.Labels[discoveryv1.LabelServiceName]),
		AddressType: discoveryv1.AddressType(in.get(string(s.AddressType))),
	}
	for _, p := range s.Ports {
		r.Ports = append(r.Ports, record.SlicePort{Name: in.get(ptr.Deref(p.Name, "")), Port: ptr.Deref(p.Port, 0),
			Protocol: corev1.Protocol(in.get(string(ptr.Deref(p.Protocol, corev1.ProtocolTCP)))), AppProtocol: in.get(ptr.Deref(p.AppProtocol, ""))})
	}
	var addrs []byte
	for _, ep := range s.Endpoints {
		c := ep.Conditions
		ready := c.Ready == nil || *c.Ready
		terminating := c.Terminating != nil && *c.Terminating
		serving := ready
		if c.Serving != nil {
			serving = *c.Serving
		}
		switch {
		case ready:
			r.Ready++
			if ep.NodeName != nil && *ep.NodeName != "" && !slices.Contains(r.ReadyNodes, *ep.NodeName) {
				r.ReadyNodes = append(r.ReadyNodes, in.get(*ep.NodeName))
			}
			if len(ep.Addresses) > 0 {
				if a, err := netip.ParseAddr(ep.Addresses[0]); err == nil && (a.Is4() == (r.AddressType == discoveryv1.AddressTypeIPv4)) {
					addrs = append(addrs, a.AsSlice()...)
				}
			}
		case !terminating:
			r.NotReady++
		}
		if serving {
			r.Serving++
		}
		if terminating {
			r.Terminating++
		}
	}
	r.ReadyAddrs = string(addrs)
	if cap(r.ReadyNodes) > len(r.ReadyNodes) {
		r.ReadyNodes = slices.Clone(r.ReadyNodes) // kept at its length: appending left up to half unused
	}
	return r
}

// sortedLabels is a label map as interned sorted pairs.
func (in *interner) sortedLabels(m map[string]string) record.Labels {
	if len(m) == 0 {
		return nil
	}
	l := make(record.Labels, 0, 2*len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l = append(l, in.get(k), in.get(m[k]))
	}
	return l
}

func (in *interner) workload(kind string, meta metav1.ObjectMeta, replicas *int32, template map[string]string) *record.Workload {
	w := &record.Workload{Meta: record.Meta{Name: meta.Name, Namespace: in.get(meta.Namespace)}, Kind: kind, Replicas: 1, Template: in.sortedLabels(template)}
	if replicas != nil {
		w.Replicas = *replicas
	}
	if ref := metav1.GetControllerOfNoCopy(&meta); ref != nil && ref.Kind == "Deployment" {
		w.Owned = true
	}
	return w
}

func (in *interner) lease(l *coordinationv1.Lease) *record.Lease {
	r := &record.Lease{Meta: record.Meta{Name: l.Name, Namespace: in.get(l.Namespace)}}
	if l.Spec.HolderIdentity != nil {
		r.Holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseDurationSeconds != nil {
		r.DurationSeconds = *l.Spec.LeaseDurationSeconds
	}
	if l.Spec.LeaseTransitions != nil {
		r.Transitions = *l.Spec.LeaseTransitions
	}
	switch {
	case l.Spec.RenewTime != nil:
		r.Renewed = l.Spec.RenewTime.UnixMilli()
	case l.Spec.AcquireTime != nil:
		r.Renewed = l.Spec.AcquireTime.UnixMilli()
	}
	return r
}

func (in *interner) node(n *corev1.Node) *record.Node {
	r := &record.Node{Meta: record.Meta{Name: n.Name}}
	for _, c := range n.Status.Conditions {
		r.Conditions = append(r.Conditions, record.NodeCondition{Type: in.get(string(c.Type)), Status: in.get(string(c.Status))})
	}
	r.Unschedulable = n.Spec.Unschedulable
	for _, t := range n.Spec.Taints {
		health := strings.HasPrefix(t.Key, "node.kubernetes.io/")
		r.Unreachable = r.Unreachable || t.Key == corev1.TaintNodeUnreachable
		r.Unschedulable = r.Unschedulable || !health && (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute)
	}
	return r
}
