package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/registry"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// manifests holds deploy/'s resources, decoded strictly into their types.
type manifests struct {
	deployments     []appsv1.Deployment
	daemonSets      []appsv1.DaemonSet
	services        []corev1.Service
	serviceAccounts []corev1.ServiceAccount
	clusterRoles    []rbacv1.ClusterRole
	bindings        []rbacv1.ClusterRoleBinding
	serviceMonitors []monitoringv1.ServiceMonitor
	pdbs            []policyv1.PodDisruptionBudget
	namespace       string
}

// loadManifests reads every resource deploy/kustomization.yaml lists. An
// unknown field anywhere is an error, as a server-side apply would make it.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "deploy")
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	readStrict(t, filepath.Join(dir, "kustomization.yaml"), []byte(mustRead(t, filepath.Join(dir, "kustomization.yaml"))), &k)
	m := manifests{namespace: k.Namespace}
	for _, res := range k.Resources {
		path := filepath.Join(dir, res)
		for i, doc := range strings.Split(mustRead(t, path), "\n---\n") {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s document %d: %v", path, i, err)
			}
			where := fmt.Sprintf("%s document %d (%s)", path, i, meta.Kind)
			switch meta.Kind {
			case "Namespace":
				var ns corev1.Namespace
				readStrict(t, where, []byte(doc), &ns)
				if ns.Name != k.Namespace {
					t.Errorf("%s: namespace %q, kustomization says %q", where, ns.Name, k.Namespace)
				}
			case "Deployment":
				m.deployments = appendDecoded(t, where, doc, m.deployments)
			case "DaemonSet":
				m.daemonSets = appendDecoded(t, where, doc, m.daemonSets)
			case "Service":
				m.services = appendDecoded(t, where, doc, m.services)
			case "ServiceAccount":
				m.serviceAccounts = appendDecoded(t, where, doc, m.serviceAccounts)
			case "ClusterRole":
				m.clusterRoles = appendDecoded(t, where, doc, m.clusterRoles)
			case "ClusterRoleBinding":
				m.bindings = appendDecoded(t, where, doc, m.bindings)
			case "PodDisruptionBudget":
				m.pdbs = appendDecoded(t, where, doc, m.pdbs)
			case "ServiceMonitor":
				m.serviceMonitors = appendDecoded(t, where, doc, m.serviceMonitors)
			case "PrometheusRule": // its content is checked against alerts/ by the alerts tests
				readStrict(t, where, []byte(doc), &monitoringv1.PrometheusRule{})
			default:
				t.Errorf("%s: unexpected kind %q", where, meta.Kind)
			}
		}
	}
	return m
}

// appendDecoded decodes doc strictly as a T and appends it.
func appendDecoded[T any](t *testing.T, where, doc string, to []T) []T {
	t.Helper()
	var v T
	readStrict(t, where, []byte(doc), &v)
	return append(to, v)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readStrict(t *testing.T, where string, data []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// workload is a pod template with the role it runs.
type workload struct {
	name     string
	role     collector.Role
	template corev1.PodTemplateSpec
	selector *metav1.LabelSelector
}

func (m manifests) workloads() []workload {
	var ws []workload
	for _, d := range m.deployments {
		ws = append(ws, workload{"Deployment " + d.Name, collector.RoleCluster, d.Spec.Template, d.Spec.Selector})
	}
	for _, d := range m.daemonSets {
		ws = append(ws, workload{"DaemonSet " + d.Name, collector.RoleNode, d.Spec.Template, d.Spec.Selector})
	}
	return ws
}

func TestDeployHasBothRoles(t *testing.T) {
	m := loadManifests(t)
	if len(m.deployments) != 1 || len(m.daemonSets) != 1 {
		t.Fatalf("want one Deployment (cluster role) and one DaemonSet (node role), got %d and %d", len(m.deployments), len(m.daemonSets))
	}
	if len(m.serviceMonitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(m.serviceMonitors))
	}
}

// Containers run non-root on a read-only root filesystem with limits, and
// their arguments are flags the exporter accepts, with the right role.
func TestDeployWorkloadsAreLockedDown(t *testing.T) {
	m := loadManifests(t)
	for _, w := range m.workloads() {
		spec := w.template.Spec
		if sel, err := metav1.LabelSelectorAsSelector(w.selector); err != nil || !sel.Matches(labelSet(w.template.Labels)) {
			t.Errorf("%s: selector does not match its pod template", w.name)
		}
		if spec.ServiceAccountName == "" || !slices.ContainsFunc(m.serviceAccounts, func(sa corev1.ServiceAccount) bool { return sa.Name == spec.ServiceAccountName }) {
			t.Errorf("%s: serviceAccountName %q is not one deploy/ creates", w.name, spec.ServiceAccountName)
		}
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pod must set runAsNonRoot and a non-zero runAsUser", w.name)
		}
		// The node agent uses its node's network (kube-proxy's metrics on
		// loopback, the VIPs through the node's rules) with a pod's DNS; no
		// other host namespace, and the cluster role none.
		if spec.HostPID || spec.HostIPC || spec.HostNetwork != (w.role == collector.RoleNode) {
			t.Errorf("%s: hostNetwork %v (want it for the node role only), hostPID %v, hostIPC %v", w.name, spec.HostNetwork, spec.HostPID, spec.HostIPC)
		}
		if spec.HostNetwork && spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("%s: with hostNetwork, dnsPolicy must be ClusterFirstWithHostNet (a pod's resolv.conf), not %q", w.name, spec.DNSPolicy)
		}
		for _, c := range spec.Containers {
			where := w.name + " container " + c.Name
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem must be true", where)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: must drop ALL capabilities", where)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: needs cpu and memory requests and a memory limit", where)
			}
			// Garbage from the initial list would otherwise grow the heap
			// to twice what the caches hold; the limit makes the runtime
			// collect before the kernel kills the container.
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory"
			}) {
				t.Errorf("%s: needs GOMEMLIMIT from limits.memory", where)
			}
			f := newFlags(registry.Specs())
			if _, err := f.app.Parse(c.Args); err != nil {
				t.Errorf("%s: args %v: %v", where, c.Args, err)
				continue
			}
			if collector.Role(f.role) != w.role {
				t.Errorf("%s: --role=%s, want %s", where, f.role, w.role)
			}
			if w.role == collector.RoleNode && !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
			}) {
				t.Errorf("%s: node role needs NODE_NAME from spec.nodeName", where)
			}
			_, port, err := net.SplitHostPort((*f.web.WebListenAddresses)[0])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return fmt.Sprint(p.ContainerPort) == port && p.Name == "metrics" }) {
				t.Errorf("%s: no containerPort named metrics on the listen port %s", where, port)
			}
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port != intstr.FromString("metrics") {
					t.Errorf("%s: liveness and readiness probes must GET on the metrics port", where)
				}
			}
			if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("%s: liveness must use /healthz (readiness waits for the apiserver; liveness must not)", where)
			}
		}
	}
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// RBAC is read-only, never touches Secrets, and is bound to the exporter's
// ServiceAccount in its namespace.
func TestDeployRBACIsLeastPrivilege(t *testing.T) {
	m := loadManifests(t)
	readOnly := []string{"get", "list", "watch"}
	for _, r := range m.clusterRoles {
		for i, rule := range r.Rules {
			for _, v := range rule.Verbs {
				if !slices.Contains(readOnly, v) {
					t.Errorf("ClusterRole %s rule %d: verb %q; only get, list, watch are allowed", r.Name, i, v)
				}
			}
			for _, res := range append(slices.Clone(rule.Resources), rule.APIGroups...) {
				if res == "*" || res == "secrets" {
					t.Errorf("ClusterRole %s rule %d: %q is not allowed", r.Name, i, res)
				}
			}
			for _, u := range rule.NonResourceURLs {
				if strings.Contains(u, "*") {
					t.Errorf("ClusterRole %s rule %d: wildcard URL %q", r.Name, i, u)
				}
			}
		}
	}
	for _, b := range m.bindings {
		for _, s := range b.Subjects {
			if s.Kind != "ServiceAccount" || s.Namespace != m.namespace {
				t.Errorf("ClusterRoleBinding %s: subject %+v must be a ServiceAccount in %s", b.Name, s, m.namespace)
			}
		}
	}
}

// The Services publish not-ready pods and the ServiceMonitor scrapes them by
// port name, keeping the exporter's own labels (honorLabels). It adds none
// that the alerts need: they learn role and node from the exporter.
func TestDeployServicesAndServiceMonitor(t *testing.T) {
	m := loadManifests(t)
	sm := m.serviceMonitors[0]
	smSel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.workloads() {
		var found bool
		for _, svc := range m.services {
			if !labelSelectorMatches(svc.Spec.Selector, w.template.Labels) {
				continue
			}
			found = true
			if !svc.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: publishNotReadyAddresses must be true so that an exporter waiting for the apiserver is still scraped", svc.Name)
			}
			if !smSel.Matches(labelSet(svc.Labels)) {
				t.Errorf("ServiceMonitor does not select Service %s", svc.Name)
			}
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					t.Errorf("ServiceMonitor port %q is not a port of Service %s", ep.Port, svc.Name)
				}
			}
		}
		if !found {
			t.Errorf("no Service selects %s", w.name)
		}
	}
	for _, ep := range sm.Spec.Endpoints {
		if !ep.HonorLabels {
			t.Errorf("ServiceMonitor endpoint %q: honorLabels must be true, or the namespace, service and node labels of the exporter's series are renamed exported_*", ep.Port)
		}
	}
}

// The cluster role runs as replicas spread over nodes, and a disruption
// budget keeps one up through drains; the node agents are not in it.
func TestDeployClusterReplicas(t *testing.T) {
	m := loadManifests(t)
	for _, d := range m.deployments {
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("Deployment %s: want at least 2 replicas", d.Name)
		}
		spread := slices.ContainsFunc(d.Spec.Template.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
			sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			return err == nil && c.TopologyKey == corev1.LabelHostname && sel.Matches(labelSet(d.Spec.Template.Labels))
		})
		if !spread {
			t.Errorf("Deployment %s: its replicas are not spread over nodes (topologySpreadConstraints on %s)", d.Name, corev1.LabelHostname)
		}
		var covered bool
		for _, p := range m.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labelSet(d.Spec.Template.Labels)) {
				continue
			}
			covered = p.Spec.MinAvailable != nil && p.Spec.MinAvailable.IntValue() >= 1
			for _, ds := range m.daemonSets {
				if sel.Matches(labelSet(ds.Spec.Template.Labels)) {
					t.Errorf("PodDisruptionBudget %s also selects the DaemonSet %s", p.Name, ds.Name)
				}
			}
		}
		if !covered {
			t.Errorf("Deployment %s: no PodDisruptionBudget keeps one replica available", d.Name)
		}
	}
}

func labelSelectorMatches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Both images run the binary as the same non-root user.
func TestDockerfilesRunNonRoot(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Dockerfile", "Dockerfile.prebuilt"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		var last []string // the final stage
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "FROM ") {
				last = nil
			}
			last = append(last, line)
		}
		stage := strings.Join(last, "\n")
		for _, want := range []string{"USER 65532:65532", `ENTRYPOINT ["/kube-triage-exporter"]`, fmt.Sprintf("EXPOSE %d", DefaultPort)} {
			if !strings.Contains(stage, want) {
				t.Errorf("%s: final stage lacks %q", name, want)
			}
		}
		if !bytes.Contains([]byte(last[0]), []byte("scratch")) && !bytes.Contains([]byte(last[0]), []byte("distroless")) {
			t.Errorf("%s: final stage %q is neither scratch nor distroless", name, last[0])
		}
	}
}
