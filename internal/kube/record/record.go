// Package record holds what the informer caches keep instead of the API
// objects: one small record per Pod, Service, EndpointSlice, Lease, Node
// and workload, with only the fields some collector reads. It imports
// the API types, never client-go, so that the judgments
// (internal/guide) can read records too.
package record

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

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
// its record about 100 bytes, most of it the pod's key and its container
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
	// key is "namespace/name", the key the informer's store files the
	// record under: GetObjectMeta hands client-go the whole key as the
	// name, so the store's key is this string, not a second copy, and the
	// name and namespace are slices of it (about 56 bytes a pod).
	key string
	*PodShape
	reason *string // the pod's status reason; nil for most pods
	// Containers are the statuses of the init, regular and ephemeral
	// containers, as the terminations collector reads them.
	Containers []ContainerStatus
	ns         uint8 // the namespace's length (63 at most)
	phase      uint8 // index in phases: a byte, not a string's 16
	// Ready is the Ready condition, false once the pod is being deleted
	// (the EndpointSlice controller takes it out of service then).
	Ready bool
	// Terminating: the pod is being deleted; it is leaving whatever selects
	// it.
	Terminating bool
}

// NewPod is the record of pod name in namespace, of shape, without
// status. The record is 64 bytes (a size class).
func NewPod(namespace, name string, shape *PodShape) *Pod {
	if namespace == "" { // as client-go keys an object without one
		return &Pod{key: name, PodShape: shape}
	}
	return &Pod{key: namespace + "/" + name, ns: uint8(min(len(namespace), 255)), PodShape: shape}
}

// Name is the pod's name.
func (p *Pod) Name() string {
	if p.ns == 0 {
		return p.key
	}
	return p.key[int(p.ns)+1:]
}

// Namespace is the pod's namespace.
func (p *Pod) Namespace() string { return p.key[:p.ns] }

// Key is namespace/name (name alone without a namespace).
func (p *Pod) Key() string { return p.key }

// GetObjectMeta lets client-go (meta.Accessor) key the record: the whole
// key as the name, no namespace, so that the key it makes is p.key itself
// (a pod cache has no namespace index that would read the namespace).
func (p *Pod) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: p.key}
}

// Reason is the pod's status reason (Evicted, ...).
func (p *Pod) Reason() string {
	if p.reason == nil {
		return ""
	}
	return *p.reason
}

// SetReason sets the pod's status reason.
func (p *Pod) SetReason(reason string) {
	p.reason = nil
	if reason != "" {
		p.reason = &reason
	}
}

// phases are the pod phases, by the index a record keeps.
var phases = []corev1.PodPhase{"", corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// Phase is the pod's phase.
func (p *Pod) Phase() corev1.PodPhase { return phases[p.phase] }

// SetPhase sets the pod's phase; one the API does not define is Unknown.
func (p *Pod) SetPhase(phase corev1.PodPhase) {
	i := slices.Index(phases, phase)
	if i < 0 {
		i = slices.Index(phases, corev1.PodUnknown)
	}
	p.phase = uint8(i)
}

// Workload names the pod's workload from its controller: a ReplicaSet is
// resolved to its Deployment by the pod-template-hash the Deployment
// controller puts in both names; a bare pod is its own workload (kind
// Pod). Jobs stay Jobs: naming their CronJob needs the Job.
func (p *Pod) Workload() (kind, name string) {
	switch p.OwnerKind {
	case "":
		return "Pod", p.Name()
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

// ContainerStatus is what the exporter keeps of a container's status: 16
// bytes, and a pod has one per container.
type ContainerStatus struct {
	*containerState
	RestartCount int32
}

// containerState is which container a status is of, and how it ended:
// for a container that is not waiting and has never ended, most of them,
// its container's one copy (Container.idle), shared by every pod's.
type containerState struct {
	*Container
	waiting                    string
	terminated, lastTerminated *Termination
}

// NewContainerStatus is the status of container c: restarts, its waiting
// reason ("" for none), its end when it has exited now, and its previous
// run's end, once it has restarted.
func NewContainerStatus(c *Container, restarts int32, waiting string, terminated, lastTerminated *Termination) ContainerStatus {
	if waiting == "" && terminated == nil && lastTerminated == nil {
		idle := c.idle
		if idle == nil { // a Container not made by NewContainer: one of its own
			idle = &containerState{Container: c}
		}
		return ContainerStatus{containerState: idle, RestartCount: restarts}
	}
	return ContainerStatus{containerState: &containerState{c, waiting, terminated, lastTerminated}, RestartCount: restarts}
}

// Waiting is the waiting reason (CrashLoopBackOff, ImagePullBackOff...).
func (s ContainerStatus) Waiting() string {
	if s.containerState == nil {
		return ""
	}
	return s.waiting
}

// Terminated is the current state when the container has exited.
func (s ContainerStatus) Terminated() *Termination {
	if s.containerState == nil {
		return nil
	}
	return s.terminated
}

// LastTerminated is the previous run's end, once the container has
// restarted.
func (s ContainerStatus) LastTerminated() *Termination {
	if s.containerState == nil {
		return nil
	}
	return s.lastTerminated
}

// Container names a container of a pod: one copy shared by every pod that
// has it.
type Container struct {
	Name string
	Type string // init, regular or ephemeral
	idle *containerState
}

// NewContainer is container name of type typ, with the state its statuses
// share while it runs and has never ended.
func NewContainer(name, typ string) *Container {
	c := &Container{Name: name, Type: typ}
	c.idle = &containerState{Container: c}
	return c
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
	// ProbeBackends is the Service's BackendsProbeAnnotation ("true",
	// "false", or "" when absent); ProbePath its BackendsPathAnnotation.
	ProbeBackends, ProbePath string
	// ExternalLocal and InternalLocal: externalTrafficPolicy or
	// internalTrafficPolicy is Local, so a node without a ready endpoint of
	// its own drops that traffic instead of forwarding it.
	ExternalLocal, InternalLocal bool
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name        string
	Port        int32
	TargetPort  intstr.IntOrString
	Protocol    corev1.Protocol
	AppProtocol string
}

// EndpointSlice is the cached record of an EndpointSlice: its Service and
// address family, the Service ports its endpoints serve, how many of its
// endpoints are in each condition, and the nodes of the ready ones.
type EndpointSlice struct {
	Meta
	Service     string // the kubernetes.io/service-name label; "" if absent
	AddressType discoveryv1.AddressType
	// Ports are the slice's ports, named as the Service's ports: its
	// endpoints serve those ports and no other. The EndpointSlice
	// controller puts pods that do not expose a port's targetPort into
	// slices without that port.
	Ports       []SlicePort
	Ready       int32 // ready true, or unset (which consumers treat as ready)
	Serving     int32 // serving true, or unset and ready
	Terminating int32 // terminating true
	NotReady    int32 // neither ready nor terminating
	// ReadyNodes are the distinct nodes of the ready endpoints.
	ReadyNodes []string
	// ReadyAddrs are the ready endpoints' addresses (each one's first),
	// packed: 4 bytes each in an IPv4 slice, 16 in an IPv6 one. The
	// backends collector dials them; a string costs a fraction of a
	// slice of addresses.
	ReadyAddrs string
}

// SlicePort is a port of an EndpointSlice: the Service port's name and
// the number its endpoints serve it on.
type SlicePort struct {
	Name        string
	Port        int32
	Protocol    corev1.Protocol
	AppProtocol string
}

// Addrs unpacks ReadyAddrs.
func (e *EndpointSlice) Addrs() []netip.Addr {
	size := 4
	if e.AddressType == discoveryv1.AddressTypeIPv6 {
		size = 16
	}
	out := make([]netip.Addr, 0, len(e.ReadyAddrs)/size)
	for i := 0; i+size <= len(e.ReadyAddrs); i += size {
		a, _ := netip.AddrFromSlice([]byte(e.ReadyAddrs[i : i+size]))
		out = append(out, a)
	}
	return out
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

// BackendsProbeAnnotation on a Service: "false" keeps the backends
// collector from dialling its endpoints; "true" asks for it where the
// collector probes only the Services that ask (--collector.backends.opt-in),
// and says the exporter is let through to them, so that their timeouts
// page even when none of their endpoints answers.
const BackendsProbeAnnotation = "kube-triage.io/probe-backends"

// BackendsPathAnnotation on a Service names a path: the backends
// collector then sends an HTTP GET to each ready endpoint of its TCP ports
// instead of opening a connection only.
const BackendsPathAnnotation = "kube-triage.io/probe-http-path"

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
