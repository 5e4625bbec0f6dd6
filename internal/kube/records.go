package kube

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The informer caches hold these records instead of the API objects: the
// transform (trim) turns each object into its record before it is cached,
// keeping only the fields some collector reads. A full Pod is 6 to 15 KB;
// its record about 300 bytes, most of it the pod's name and its container
// statuses: what the pods of one controller have in common (labels, ports,
// owner) is one shared PodShape.
//
// Because the caches hold records, the factory's typed listers must not be
// used: read the informer's store and type-assert to these types.

// Meta is the identity a record keeps: enough for the informers to key and
// index it. No UID or resourceVersion: the reflector versions the watch
// from the API objects it decodes, not from what the cache holds.
type Meta struct {
	Name, Namespace string
}

// GetObjectMeta lets client-go (meta.Accessor) read a record's identity.
func (m *Meta) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}
}

// Pod is the cached record of a Pod.
type Pod struct {
	Meta
	*PodShape
	Phase corev1.PodPhase
	// Ready is the Ready condition, false once the pod is being deleted
	// (the EndpointSlice controller takes it out of service then).
	Ready bool
	// Terminating: the pod is being deleted; it is leaving whatever selects
	// it.
	Terminating bool
	// Reason is the pod's status reason (Evicted, ...).
	Reason string
	// Containers are the statuses of the init, regular and ephemeral
	// containers, as the terminations collector reads them.
	Containers []ContainerStatus
}

// Workload names the pod's workload from its controller: a ReplicaSet is
// resolved to its Deployment by the pod-template-hash the Deployment
// controller puts in both names; a bare pod is its own workload (kind
// Pod). Jobs stay Jobs: naming their CronJob needs the Job.
func (p *Pod) Workload() (kind, name string) {
	switch p.OwnerKind {
	case "":
		return "Pod", p.Name
	case "ReplicaSet":
		if hash, _ := p.Labels.Get("pod-template-hash"); hash != "" {
			if deploy, ok := strings.CutSuffix(p.OwnerName, "-"+hash); ok {
				return "Deployment", deploy
			}
		}
	}
	return p.OwnerKind, p.OwnerName
}

// PodShape is what the pods of one controller revision have in common; the
// records of such pods share one copy. Never modify it.
type PodShape struct {
	Labels Labels
	// Ports of the regular containers and of the sidecars (init containers
	// that keep running), which Services can target too.
	Ports []ContainerPort
	// OwnerKind and OwnerName are the controller's; empty for a bare pod.
	OwnerKind, OwnerName string
	// AllDeclare: every container (and sidecar) declares a port. Only then
	// does a numeric targetPort that none declares say the Service is
	// wrong: a container that declares nothing may listen anywhere (an
	// application beside a sidecar that declares its own, say).
	AllDeclare bool
}

// Labels are label pairs sorted by key: key, value, key, value... A slice
// of strings costs a fraction of a map, and label sets repeat, so equal
// sets share one copy.
type Labels []string

// Get returns the value of key and whether the label is set.
func (l Labels) Get(key string) (string, bool) {
	for i := 0; i+1 < len(l); i += 2 {
		if l[i] == key {
			return l[i+1], true
		}
	}
	return "", false
}

// ContainerStatus is what the exporter keeps of a container's status.
type ContainerStatus struct {
	Name         string
	Type         string // init, regular or ephemeral
	RestartCount int32
	// Waiting is the waiting reason (CrashLoopBackOff, ImagePullBackOff...).
	Waiting string
	// Terminated is the current state when the container has exited;
	// LastTerminated the previous run's end, once it has restarted.
	Terminated, LastTerminated *Termination
}

// Termination is how a container run ended.
type Termination struct {
	Reason     string
	ExitCode   int32
	Signal     int32
	FinishedAt int64 // Unix seconds; identifies the run with the container
	Message    string
}

// ContainerPort is a port a container declares.
type ContainerPort struct {
	Name     string
	Port     int32
	Protocol corev1.Protocol
}

// Service is the cached record of a Service.
type Service struct {
	Meta
	Type      corev1.ServiceType
	ClusterIP string
	Selector  map[string]string
	Ports     []ServicePort
	// PublishNotReadyAddresses: its endpoints include pods that are not
	// ready, so traffic flows whatever their readiness.
	PublishNotReadyAddresses bool
	// ExpectedEmpty: the Service carries ServiceOptOutAnnotation "true".
	ExpectedEmpty bool
	// ExternalLocal and InternalLocal: externalTrafficPolicy or
	// internalTrafficPolicy is Local, so a node without a ready endpoint of
	// its own drops that traffic instead of forwarding it.
	ExternalLocal, InternalLocal bool
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string
	Port       int32
	TargetPort intstr.IntOrString
	Protocol   corev1.Protocol
}

// EndpointSlice is the cached record of an EndpointSlice: its Service and
// address family, the Service ports its endpoints serve, how many of its
// endpoints are in each condition, and the nodes of the ready ones.
type EndpointSlice struct {
	Meta
	Service     string // the kubernetes.io/service-name label; "" if absent
	AddressType discoveryv1.AddressType
	// Ports are the names of the slice's ports, which are the Service
	// ports' names: its endpoints serve those ports and no other. The
	// EndpointSlice controller puts pods that do not expose a port's
	// targetPort into slices without that port.
	Ports       []string
	Ready       int32 // ready true, or unset (which consumers treat as ready)
	Serving     int32 // serving true, or unset and ready
	Terminating int32 // terminating true
	NotReady    int32 // neither ready nor terminating
	// ReadyNodes are the distinct nodes of the ready endpoints.
	ReadyNodes []string
}

// Workload is the cached record of a Deployment, StatefulSet or ReplicaSet:
// how many replicas it wants and the labels of the pods it makes, so that a
// Service whose selector matches no pod can tell a workload scaled to zero
// from a typo.
type Workload struct {
	Meta
	Kind     string // Deployment, StatefulSet or ReplicaSet
	Replicas int32  // spec.replicas (1 when unset)
	// Template are the pod template's labels.
	Template Labels
	// Owned: a ReplicaSet that a Deployment controls (the Deployment speaks
	// for it).
	Owned bool
}

// Lease is the cached record of a Lease: who holds it and when it was last
// renewed.
type Lease struct {
	Meta
	Holder string
	// Renewed is the renew time (the acquire time if never renewed), in
	// Unix milliseconds; 0 if the Lease has neither.
	Renewed         int64
	DurationSeconds int32
	Transitions     int32
}

// Node is the cached record of a Node: its conditions, whether the node
// controller has tainted it unreachable, and whether ordinary pods may be
// scheduled there.
type Node struct {
	Meta
	Conditions  []NodeCondition
	Unreachable bool
	// Unschedulable: cordoned, or tainted NoSchedule or NoExecute by
	// someone (a control-plane node, a dedicated pool), not by the node
	// controller for its health.
	Unschedulable bool
}

// NodeCondition is a condition's type and status (True, False, Unknown).
type NodeCondition struct {
	Type, Status string
}

// ServiceOptOutAnnotation on a Service says it is empty on purpose (scaled
// to zero, a placeholder): the alerts stay quiet about it.
const ServiceOptOutAnnotation = "kube-triage.io/expected-empty"

func (p *Pod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (p *Pod) DeepCopyObject() runtime.Object {
	c := *p                                   // the shape is shared and never modified
	c.Containers = slices.Clone(p.Containers) // Terminations are never modified
	return &c
}

func (s *Service) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (s *Service) DeepCopyObject() runtime.Object {
	c := *s
	c.Selector = maps.Clone(s.Selector)
	c.Ports = slices.Clone(s.Ports)
	return &c
}

func (e *EndpointSlice) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (e *EndpointSlice) DeepCopyObject() runtime.Object {
	c := *e
	return &c
}

func (w *Workload) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (w *Workload) DeepCopyObject() runtime.Object {
	c := *w // the template labels are shared and never modified
	return &c
}

func (l *Lease) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (l *Lease) DeepCopyObject() runtime.Object {
	c := *l
	return &c
}

func (n *Node) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (n *Node) DeepCopyObject() runtime.Object {
	c := *n
	c.Conditions = slices.Clone(n.Conditions)
	return &c
}

// interner shares one copy of strings that repeat across objects
// (namespaces, label keys and values, port names) and of pod shapes.
type interner struct {
	mu     sync.Mutex
	m      map[string]string
	shapes map[string]*PodShape
}

func newInterner() *interner {
	return &interner{m: map[string]string{}, shapes: map[string]*PodShape{}}
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

// shape returns the one shared copy of s.
func (in *interner) shape(s PodShape) *PodShape {
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

func (in *interner) pod(p *corev1.Pod) *Pod {
	r := &Pod{Meta: Meta{Name: p.Name, Namespace: in.get(p.Namespace)}, Phase: corev1.PodPhase(in.get(string(p.Status.Phase)))}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			r.Ready = c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil
		}
	}
	r.Terminating = p.DeletionTimestamp != nil
	shape := PodShape{Labels: in.sortedLabels(p.Labels)}
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
			shape.Ports = append(shape.Ports, ContainerPort{Name: in.get(port.Name), Port: port.ContainerPort, Protocol: corev1.Protocol(in.get(string(port.Protocol)))})
		}
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		shape.OwnerKind, shape.OwnerName = in.get(ref.Kind), in.get(ref.Name)
	}
	r.PodShape = in.shape(shape)
	r.Reason = in.get(p.Status.Reason)
	for _, group := range []struct {
		typ      string
		statuses []corev1.ContainerStatus
	}{{"init", p.Status.InitContainerStatuses}, {"regular", p.Status.ContainerStatuses}, {"ephemeral", p.Status.EphemeralContainerStatuses}} {
		for _, cs := range group.statuses {
			c := ContainerStatus{Name: in.get(cs.Name), Type: group.typ, RestartCount: cs.RestartCount,
				Terminated: in.termination(cs.State.Terminated), LastTerminated: in.termination(cs.LastTerminationState.Terminated)}
			if cs.State.Waiting != nil {
				c.Waiting = in.get(cs.State.Waiting.Reason)
			}
			r.Containers = append(r.Containers, c)
		}
	}
	return r
}

func (in *interner) termination(t *corev1.ContainerStateTerminated) *Termination {
	if t == nil {
		return nil
	}
	return &Termination{Reason: in.get(t.Reason), ExitCode: t.ExitCode, Signal: t.Signal, FinishedAt: t.FinishedAt.Unix(), Message: t.Message}
}

func (in *interner) service(s *corev1.Service) *Service {
	r := &Service{
		Meta:      Meta{Name: s.Name, Namespace: in.get(s.Namespace)},
		Type:      corev1.ServiceType(in.get(string(s.Spec.Type))),
		ClusterIP: s.Spec.ClusterIP,
		Selector:  in.labels(s.Spec.Selector),

		PublishNotReadyAddresses: s.Spec.PublishNotReadyAddresses,
		ExpectedEmpty:            s.Annotations[ServiceOptOutAnnotation] == "true",
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
		r.Ports = append(r.Ports, ServicePort{Name: in.get(p.Name), Port: p.Port, TargetPort: tp, Protocol: corev1.Protocol(in.get(string(p.Protocol)))})
	}
	return r
}

func (in *interner) endpointSlice(s *discoveryv1.EndpointSlice) *EndpointSlice {
	r := &EndpointSlice{
		Meta:        Meta{Name: s.Name, Namespace: in.get(s.Namespace)},
		Service:     in.get(s.Labels[discoveryv1.LabelServiceName]),
		AddressType: discoveryv1.AddressType(in.get(string(s.AddressType))),
	}
	for _, p := range s.Ports {
		name := ""
		if p.Name != nil {
			name = in.get(*p.Name)
		}
		r.Ports = append(r.Ports, name)
	}
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
	return r
}

// sortedLabels is a label map as interned sorted pairs.
func (in *interner) sortedLabels(m map[string]string) Labels {
	if len(m) == 0 {
		return nil
	}
	l := make(Labels, 0, 2*len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l = append(l, in.get(k), in.get(m[k]))
	}
	return l
}

func (in *interner) workload(kind string, meta metav1.ObjectMeta, replicas *int32, template map[string]string) *Workload {
	w := &Workload{Meta: Meta{Name: meta.Name, Namespace: in.get(meta.Namespace)}, Kind: kind, Replicas: 1, Template: in.sortedLabels(template)}
	if replicas != nil {
		w.Replicas = *replicas
	}
	if ref := metav1.GetControllerOfNoCopy(&meta); ref != nil && ref.Kind == "Deployment" {
		w.Owned = true
	}
	return w
}

func (in *interner) lease(l *coordinationv1.Lease) *Lease {
	r := &Lease{Meta: Meta{Name: l.Name, Namespace: in.get(l.Namespace)}}
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

func (in *interner) node(n *corev1.Node) *Node {
	r := &Node{Meta: Meta{Name: n.Name}}
	for _, c := range n.Status.Conditions {
		r.Conditions = append(r.Conditions, NodeCondition{Type: in.get(string(c.Type)), Status: in.get(string(c.Status))})
	}
	r.Unschedulable = n.Spec.Unschedulable
	for _, t := range n.Spec.Taints {
		health := strings.HasPrefix(t.Key, "node.kubernetes.io/")
		r.Unreachable = r.Unreachable || t.Key == corev1.TaintNodeUnreachable
		r.Unschedulable = r.Unschedulable || !health && (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute)
	}
	return r
}
