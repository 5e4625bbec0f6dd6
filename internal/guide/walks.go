package guide

import "strings"

// A triage walk, as a path under the exporter's /triage/: its segments,
// literal or a {label} that names an alert's label (namespace, service,
// workload_kind, workload, pod). The pages route by these and the alerts'
// triage_url annotations are built from them, so the two cannot drift.
type Walk struct {
	Kind string // service, pod, workload, cluster
	Path string
}

// The walks.
var (
	ServiceWalk  = Walk{"service", "service/{namespace}/{service}"}
	PodWalk      = Walk{"pod", "pod/{namespace}/{pod}"}
	WorkloadWalk = Walk{"workload", "workload/{namespace}/{workload_kind}/{workload}"}
	ClusterWalk  = Walk{"cluster", "cluster"}
	Walks        = []Walk{ServiceWalk, PodWalk, WorkloadWalk, ClusterWalk}
)

// Segments are the walk's path segments.
func (w Walk) Segments() []string { return strings.Split(w.Path, "/") }

// Match reads the {label} segments of path (a walk's path, without the
// /triage/ prefix) into their labels; ok is false when path is not this
// walk's.
func (w Walk) Match(path string) (labels map[string]string, ok bool) {
	want, got := w.Segments(), strings.Split(path, "/")
	if len(want) != len(got) {
		return nil, false
	}
	labels = map[string]string{}
	for i, seg := range want {
		if name, isLabel := strings.CutPrefix(seg, "{"); isLabel {
			labels[strings.TrimSuffix(name, "}")] = got[i]
		} else if seg != got[i] {
			return nil, false
		}
	}
	return labels, true
}

// AlertWalks says which walk each alert's triage_url links: the Service
// walk for a Service's alerts, the workload walk for a workload's, the
// cluster walk for the control plane's, a node's and cluster DNS (not
// kube-proxy's or one node's DNS: the cluster walk does not see them; the
// node agent's metrics do).
var AlertWalks = []struct {
	Alert string
	Walk  Walk
}{
	{"ServiceSelectorMatchesNothing", ServiceWalk},
	{"ServiceNoReadyEndpoints", ServiceWalk},
	{"ServiceTargetPortMismatch", ServiceWalk},
	{"ServiceEndpointsFlapping", ServiceWalk},
	{"ServiceLocalTrafficPolicyGap", ServiceWalk},
	{"ServiceEndpointsNotAnswering", ServiceWalk},
	{"ServiceEndpointsUnreachable", ServiceWalk},
	{"ContainerOOMKilled", WorkloadWalk},
	{"ContainerCrashLooping", WorkloadWalk},
	{"WorkloadTerminationRateHigh", WorkloadWalk},
	{"ImagePullFailing", WorkloadWalk},
	{"PodsEvicted", WorkloadWalk},
	{"JobFailing", WorkloadWalk},
	{"KubeAPIServerDown", ClusterWalk},
	{"KubeAPIServerStorageDown", ClusterWalk},
	{"KubeControlPlaneLeaderLost", ClusterWalk},
	{"KubeNodeShutdown", ClusterWalk},
	{"KubeNodePartitioned", ClusterWalk},
	{"KubeletFault", ClusterWalk},
	{"ClusterDNSDown", ClusterWalk},
}
