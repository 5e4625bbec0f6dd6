// Package clustergen makes the objects of a realistic cluster as the API
// serves them, for the load benchmarks: Deployments with their ReplicaSets,
// pods and Services, EndpointSlices of at most 100 endpoints, Nodes with
// their Leases. Every object is a pure function of its index, so a
// benchmark can make them again instead of holding them.
//
// The pods have the shape the issue that set the performance targets
// measured (issue 31): about 9.8 KB of JSON each, 6 to 8 labels, a
// projected service-account volume, managedFields as the controller manager
// and the kubelet leave them; 1% in CrashLoopBackOff, 5% restarted after
// an OOMKilled or Error termination. Pod IPs are loopback addresses
// (127.1.0.0/16), so that a collector dialling them in a benchmark sends
// nothing off the machine.
package clustergen

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Cluster is the size of a generated cluster. Pods are spread over the
// Services' Deployments round-robin; Services over Namespaces.
type Cluster struct {
	Pods, Nodes, Services, Namespaces int
}

// Issue31 is the fixture of the issue that set the performance targets:
// 50,000 pods, 100 nodes, 101 Services.
var Issue31 = Cluster{Pods: 50_000, Nodes: 100, Services: 101, Namespaces: 20}

// slicePods is the EndpointSlice controller's default maximum of endpoints
// per slice.
const slicePods = 100

// epoch is the time every generated object was created at: a constant, so
// that the objects are the same in every run.
var epoch = metav1.NewTime(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))

// Namespace is the namespace of Service (and Deployment) svc.
func (c Cluster) Namespace(svc int) string { return fmt.Sprintf("team-%02d", svc%max(c.Namespaces, 1)) }

func app(svc int) string  { return fmt.Sprintf("app-%03d", svc) }
func hash(svc int) string { return fmt.Sprintf("%08x", uint32(svc)*2654435761)[:8] + "c" }

// PodIP is the address of pod i: loopback, unique for up to 65,536 pods
// (Pod refuses more).
func PodIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/256, i%256) }

// NodeIP is the address of node i, loopback too (127.0.0.1 is the first).
func NodeIP(i int) string { return fmt.Sprintf("127.0.%d.%d", (i+1)/256, (i+1)%256) }

// servicePods is how many pods Service svc's Deployment has.
func (c Cluster) servicePods(svc int) int {
	n := c.Pods / c.Services
	if svc < c.Pods%c.Services {
		n++
	}
	return n
}

// Pod is pod i: the (i/Services)th replica of Service i%Services.
func (c Cluster) Pod(i int) *corev1.Pod {
	if i >= 1<<16 || c.Nodes >= 1<<16-1 {
		panic(fmt.Sprintf("clustergen: pod %d of a cluster of %d nodes: addresses for 65,536 pods and 65,534 nodes at most", i, c.Nodes))
	}
	svc, replica := i%c.Services, i/c.Services
	ns, name := c.Namespace(svc), fmt.Sprintf("%s-%s-%05d", app(svc), hash(svc), replica)
	labels := map[string]string{
		"app": app(svc), "pod-template-hash": hash(svc),
		"app.kubernetes.io/name": app(svc), "app.kubernetes.io/instance": app(svc) + "-prod",
		"app.kubernetes.io/version": "1.4.2", "app.kubernetes.io/managed-by": "Helm",
	}
	if svc%2 == 0 { // six labels on half the workloads, eight on the rest
		labels["team"] = fmt.Sprintf("team-%02d", svc%7)
		labels["app.kubernetes.io/part-of"] = "shop"
	}
	node := fmt.Sprintf("node-%03d", i%max(c.Nodes, 1))
	started := metav1.NewTime(epoch.Add(time.Duration(i%3600) * time.Second))
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, GenerateName: fmt.Sprintf("%s-%s-", app(svc), hash(svc)),
			UID:             types.UID(fmt.Sprintf("%08x-%04x-4%03x-8000-%012x", i, svc, i%4096, i)),
			ResourceVersion: fmt.Sprint(1000 + i), CreationTimestamp: epoch, Labels: labels,
			Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-11-24T08:00:00Z",
				"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
				"kubectl.kubernetes.io/default-container": "app", "checksum/config": strings.Repeat("9f86d081884c7d65", 4)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app(svc) + "-" + hash(svc),
				UID: types.UID(fmt.Sprintf("rs-%08d", svc)), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &epoch,
					FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(specFields)},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &started,
					FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(statusFields), Subresource: "status"},
			},
		},
		Spec: corev1.PodSpec{
			NodeName: node, ServiceAccountName: "default", DeprecatedServiceAccount: "default",
			RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, SchedulerName: "default-scheduler",
			TerminationGracePeriodSeconds: ptr.To[int64](30), EnableServiceLinks: ptr.To(true), PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
			Priority: ptr.To[int32](0), SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), FSGroup: ptr.To[int64](2000)},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/shop/" + app(svc) + ":1.4.2", ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"--port=8080", "--metrics-port=9090", "--log-level=info"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
					{Name: "GOMAXPROCS", Value: "2"},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
					InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"},
					{Name: "kube-api-access-" + hash(svc)[:5], MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}, {
				Name: "log-shipper", Image: "registry.example.com/platform/log-shipper:3.1.0", ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"--input=/var/log/app", "--output=forward://logs.platform.svc:24224", "--buffer=8MiB"},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/var/log/app", ReadOnly: true},
					{Name: "kube-api-access-" + hash(svc)[:5], MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
			Volumes: []corev1.Volume{
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "kube-api-access-" + hash(svc)[:5], VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: ptr.To[int32](420),
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
							FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
					}}}},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBurstable, StartTime: &started,
			HostIP: NodeIP(i % max(c.Nodes, 1)), PodIP: PodIP(i),
			HostIPs: []corev1.HostIP{{IP: NodeIP(i % max(c.Nodes, 1))}}, PodIPs: []corev1.PodIP{{IP: PodIP(i)}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", Image: "registry.example.com/shop/" + app(svc) + ":1.4.2", Started: ptr.To(true), Ready: true,
				ImageID:     "registry.example.com/shop/" + app(svc) + "@sha256:" + strings.Repeat("0123456789abcdef", 4),
				ContainerID: fmt.Sprintf("containerd://%064x", i),
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			}, {
				Name: "log-shipper", Image: "registry.example.com/platform/log-shipper:3.1.0", Started: ptr.To(true), Ready: true,
				ImageID:     "registry.example.com/platform/log-shipper@sha256:" + strings.Repeat("fedcba9876543210", 4),
				ContainerID: fmt.Sprintf("containerd://%064x", 1<<40+i),
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			}},
		},
	}
	ready := corev1.ConditionTrue
	switch {
	case i%100 == 7: // CrashLoopBackOff: waiting after its last Error exit
		ready = corev1.ConditionFalse
		cs := &p.Status.ContainerStatuses[0]
		cs.Started, cs.Ready, cs.RestartCount = ptr.To(false), false, 12
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off 5m0s restarting failed container=app pod=" + name + "_" + ns + "(" + string(p.UID) + ")"}}
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", StartedAt: started, FinishedAt: started, ContainerID: cs.ContainerID}}
	case i%20 == 3: // restarted once after an OOMKilled or Error exit
		restart(p, []string{"OOMKilled", "Error"}[i/20%2])
	}
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: started},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: started},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: started},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: epoch},
	}
	return p
}

// restart records one more restart of p's container after it exited for
// reason (OOMKilled or Error).
func restart(p *corev1.Pod, reason string) {
	cs := &p.Status.ContainerStatuses[0]
	code := int32(1)
	if reason == "OOMKilled" {
		code = 137
	}
	cs.RestartCount++
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, StartedAt: epoch, FinishedAt: cs.State.Running.StartedAt, ContainerID: cs.ContainerID}}
}

// Restarted is pod i after its container's nth restart since Pod(i) (an
// OOMKilled or Error exit in turn), with resource version rv: the update a
// watch delivers when a container restarts.
func (c Cluster) Restarted(i, n int, rv string) *corev1.Pod {
	p := c.Pod(i)
	if p.Status.ContainerStatuses[0].State.Running == nil { // crash-looping: it stays so
		p.Status.ContainerStatuses[0].RestartCount += int32(n)
	} else {
		for k := range n {
			restart(p, []string{"OOMKilled", "Error"}[k%2])
		}
		started := metav1.NewTime(epoch.Add(time.Duration(n) * time.Minute))
		p.Status.ContainerStatuses[0].State.Running.StartedAt = started
	}
	p.ResourceVersion = rv
	return p
}

// Deployment is Service svc's Deployment.
func (c Cluster) Deployment(svc int) *appsv1.Deployment {
	n := int32(c.servicePods(svc))
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: app(svc), Namespace: c.Namespace(svc), UID: types.UID(fmt.Sprintf("deploy-%08d", svc)),
			ResourceVersion: "10", Generation: 3, CreationTimestamp: epoch, Labels: map[string]string{"app": app(svc)}},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app(svc)}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app(svc)}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/shop/" + app(svc) + ":1.4.2"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: epoch, LastTransitionTime: epoch}}},
	}
}

// ReplicaSet is the current ReplicaSet of Service svc's Deployment.
func (c Cluster) ReplicaSet(svc int) *appsv1.ReplicaSet {
	n := int32(c.servicePods(svc))
	return &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Name: app(svc) + "-" + hash(svc), Namespace: c.Namespace(svc), UID: types.UID(fmt.Sprintf("rs-%08d", svc)),
			ResourceVersion: "11", Generation: 1, CreationTimestamp: epoch, Labels: map[string]string{"app": app(svc), "pod-template-hash": hash(svc)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: app(svc), UID: types.UID(fmt.Sprintf("deploy-%08d", svc)), Controller: ptr.To(true)}}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app(svc), "pod-template-hash": hash(svc)}}},
		Status: appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, ObservedGeneration: 1},
	}
}

// Service is Service svc, selecting its Deployment's pods.
func (c Cluster) Service(svc int) *corev1.Service {
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: app(svc), Namespace: c.Namespace(svc), UID: types.UID(fmt.Sprintf("svc-%08d", svc)),
			ResourceVersion: "12", CreationTimestamp: epoch, Labels: map[string]string{"app": app(svc)}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": app(svc)},
			ClusterIP: fmt.Sprintf("10.96.%d.%d", svc/256, svc%256), ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", svc/256, svc%256)},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// Slices are Service svc's EndpointSlices: its pods, 100 to a slice.
func (c Cluster) Slices(svc int) []*discoveryv1.EndpointSlice {
	pods := c.servicePods(svc)
	var slices []*discoveryv1.EndpointSlice
	for first := 0; first < pods; first += slicePods {
		s := &discoveryv1.EndpointSlice{
			TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", app(svc), first/slicePods), Namespace: c.Namespace(svc),
				ResourceVersion: "13", CreationTimestamp: epoch,
				Labels:          map[string]string{discoveryv1.LabelServiceName: app(svc), discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: app(svc), UID: types.UID(fmt.Sprintf("svc-%08d", svc)), Controller: ptr.To(true)}}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		for r := first; r < min(first+slicePods, pods); r++ {
			p := c.Pod(r*c.Services + svc)
			ready := p.Status.Conditions[2].Status == corev1.ConditionTrue
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{p.Status.PodIP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
				NodeName:   ptr.To(p.Spec.NodeName),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
			})
		}
		slices = append(slices, s)
	}
	return slices
}

// Node is node i, Ready.
func (c Cluster) Node(i int) *corev1.Node {
	name := fmt.Sprintf("node-%03d", i)
	return &corev1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprintf("node-%08d", i)), ResourceVersion: "14", CreationTimestamp: epoch,
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/zone": fmt.Sprintf("zone-%c", 'a'+i%3)}},
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.244.%d.0/24", i%256), ProviderID: "example://" + name},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("31Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: epoch, LastTransitionTime: epoch, Reason: "KubeletHasSufficientMemory"},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: epoch, LastTransitionTime: epoch, Reason: "KubeletHasNoDiskPressure"},
				{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: epoch, LastTransitionTime: epoch, Reason: "KubeletHasSufficientPID"},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: epoch, LastTransitionTime: epoch, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
			},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: NodeIP(i)}, {Type: corev1.NodeHostName, Address: name}},
			NodeInfo:        corev1.NodeSystemInfo{KubeletVersion: "v1.35.0", ContainerRuntimeVersion: "containerd://2.1.4", OSImage: "Debian GNU/Linux 13", Architecture: "amd64", OperatingSystem: "linux"},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		},
	}
}

// Lease is node i's heartbeat Lease, renewed at renew.
func (c Cluster) Lease(i int, renew time.Time) *coordinationv1.Lease {
	name := fmt.Sprintf("node-%03d", i)
	return &coordinationv1.Lease{
		TypeMeta: metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease, ResourceVersion: "15", CreationTimestamp: epoch,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: types.UID(fmt.Sprintf("node-%08d", i))}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

// ControlPlaneLease is the leader-election Lease of component
// (kube-scheduler, kube-controller-manager), renewed at renew.
func ControlPlaneLease(component string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: component, Namespace: metav1.NamespaceSystem, ResourceVersion: "16", CreationTimestamp: epoch},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("control-plane-1_" + component), LeaseDurationSeconds: ptr.To[int32](15),
			AcquireTime: &metav1.MicroTime{Time: epoch.Time}, RenewTime: &metav1.MicroTime{Time: renew}, LeaseTransitions: ptr.To[int32](2)},
	}
}

// specFields and statusFields are the managedFields of a Deployment's pod
// as the controller manager and the kubelet write them.
const specFields = `{"f:metadata":{"f:annotations":{".":{},"f:checksum/config":{},"f:kubectl.kubernetes.io/default-container":{},"f:kubectl.kubernetes.io/restartedAt":{},"f:prometheus.io/port":{},"f:prometheus.io/scrape":{}},"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/managed-by":{},"f:app.kubernetes.io/name":{},"f:app.kubernetes.io/part-of":{},"f:app.kubernetes.io/version":{},"f:pod-template-hash":{},"f:team":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"00000000-0000-4000-8000-000000000000\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:args":{},"f:env":{".":{},"k:{\"name\":\"GOMAXPROCS\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"POD_NAME\"}":{".":{},"f:name":{},"f:valueFrom":{".":{},"f:fieldRef":{}}},"k:{\"name\":\"POD_NAMESPACE\"}":{".":{},"f:name":{},"f:valueFrom":{".":{},"f:fieldRef":{}}}},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:initialDelaySeconds":{},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}},"k:{\"containerPort\":9090,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}}},"f:readinessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:securityContext":{".":{},"f:allowPrivilegeEscalation":{},"f:capabilities":{".":{},"f:drop":{}},"f:readOnlyRootFilesystem":{}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{},"f:volumeMounts":{".":{},"k:{\"mountPath\":\"/tmp\"}":{".":{},"f:mountPath":{},"f:name":{}}}},"k:{\"name\":\"log-shipper\"}":{".":{},"f:args":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:securityContext":{".":{},"f:allowPrivilegeEscalation":{},"f:capabilities":{".":{},"f:drop":{}},"f:readOnlyRootFilesystem":{}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{},"f:volumeMounts":{".":{},"k:{\"mountPath\":\"/var/log/app\"}":{".":{},"f:mountPath":{},"f:name":{},"f:readOnly":{}}}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{".":{},"f:fsGroup":{},"f:runAsNonRoot":{}},"f:terminationGracePeriodSeconds":{},"f:volumes":{".":{},"k:{\"name\":\"tmp\"}":{".":{},"f:emptyDir":{},"f:name":{}}}}}`

const statusFields = `{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"PodReadyToStartContainers\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:hostIPs":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.244.1.17\"}":{".":{},"f:ip":{}}},"f:startTime":{}}}`
