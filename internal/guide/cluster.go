package guide

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// NodeLeaseStale is how old a node's Lease is stale: the node controller's
// default grace period, and the alerts' threshold (the mixin's
// nodeLeaseStaleSeconds).
const NodeLeaseStale = 40 * time.Second

// LeaderComponents are the components whose leader Leases (named after
// them, in kube-system) say whether they lead.
var LeaderComponents = []string{"kube-scheduler", "kube-controller-manager"}

// LeaseAge is how long ago the Lease was renewed, in seconds; never
// negative (clocks of the renewer and the exporter differ).
func LeaseAge(now time.Time, l *record.Lease) float64 {
	return max(0, float64(now.UnixMilli()-l.Renewed)/1000)
}

// LeaderExpired: no instance leads, as the Lease tells: it was renewed
// once and is older than the duration its leader set.
func LeaderExpired(age time.Duration, l *record.Lease) bool {
	return l.Renewed > 0 && l.DurationSeconds > 0 && age > time.Duration(l.DurationSeconds)*time.Second
}

// holderSuffix is the per-process UUID leader election appends to the
// host name ("cp-1_0f1e..."): a new value at every restart.
var holderSuffix = regexp.MustCompile(`_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// HolderHost is a Lease's holder identity without its UUID.
func HolderHost(id string) string { return holderSuffix.ReplaceAllString(id, "") }

// Scenario is the cluster failure scenario of the alert pack that the
// evidence points to.
type Scenario string

// The scenarios the cluster walk tells apart, with the alert that names
// each and what to do.
const (
	ScenarioOK                 Scenario = "ok"
	ScenarioAPIServerDown      Scenario = "apiserver_down"
	ScenarioEtcdStorageLost    Scenario = "etcd_storage_lost"
	ScenarioAPIServerUnhealthy Scenario = "apiserver_unhealthy"
	ScenarioLeaderLost         Scenario = "leader_lost"
	ScenarioNodeDown           Scenario = "node_down"
	ScenarioNodeNotReady       Scenario = "node_not_ready"
	ScenarioClusterDNSDown     Scenario = "cluster_dns_down"
)

// Scenarios are the scenarios, each with its alert and next step.
var Scenarios = []struct {
	Scenario    Scenario
	Alert, Next string
}{
	{ScenarioOK, "", ""},
	{ScenarioAPIServerDown, "KubeAPIServerDown", "The apiserver does not answer: is its process running, and its load balancer? Its own log says why it stopped."},
	{ScenarioEtcdStorageLost, "KubeAPIServerStorageDown", "The apiserver answers but etcd does not: check the etcd members (etcdctl endpoint health) and their disks."},
	{ScenarioAPIServerUnhealthy, "KubeAPIServerDown", "Read the failing checks above; /readyz?verbose on the apiserver lists them."},
	{ScenarioLeaderLost, "KubeControlPlaneLeaderLost", "No instance of that component leads: is it running, and can it reach the apiserver?"},
	{ScenarioNodeDown, "KubeNodeShutdown", "Look at the node itself: is it up, does it reach the apiserver, does its kubelet run?"},
	{ScenarioNodeNotReady, "KubeletFault", "Read the node's conditions and its kubelet's log: the container runtime, the network plugin or a pressure keeps it not Ready."},
	{ScenarioClusterDNSDown, "ClusterDNSDown", "The control case fails: look at the DNS pods and their logs, and the DNS Service's endpoints."},
}

func (s Scenario) find() (alert, next string) {
	for _, sc := range Scenarios {
		if sc.Scenario == s {
			return sc.Alert, sc.Next
		}
	}
	return "", ""
}

// Alert is the alert that names the scenario.
func (s Scenario) Alert() string { a, _ := s.find(); return a }

// Next is what to do in the scenario.
func (s Scenario) Next() string { _, n := s.find(); return n }

// APIServerHealth is the apiserver collector's last round: whether the
// apiserver answered, and each health endpoint's answer.
type APIServerHealth struct {
	Reachable bool
	Endpoints []EndpointHealth // livez, readyz
}

// EndpointHealth is one health endpoint's answer.
type EndpointHealth struct {
	Name   string // livez, readyz
	Status int    // 0 when no response came
	// Reason is why the probe failed ("" when it passed): timeout,
	// connection, tls, auth, check_failed, http_status.
	Reason       string
	FailedChecks []string
}

// Scenario is what the answers point to: down, its storage lost, or not
// healthy; ok when both endpoints pass.
func (h APIServerHealth) Scenario() Scenario {
	var failed []string
	unhealthy := false
	for _, ep := range h.Endpoints {
		failed = append(failed, ep.FailedChecks...)
		unhealthy = unhealthy || ep.Reason != ""
	}
	switch {
	case !h.Reachable:
		return ScenarioAPIServerDown
	case slices.ContainsFunc(failed, func(c string) bool { return strings.HasPrefix(c, "etcd") }):
		return ScenarioEtcdStorageLost
	case len(failed) > 0 || unhealthy:
		return ScenarioAPIServerUnhealthy
	}
	return ScenarioOK
}
