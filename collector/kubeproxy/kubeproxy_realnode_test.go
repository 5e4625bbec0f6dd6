//go:build linux

package kubeproxy

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/nodenet"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// TestNodeAgentAgainstRealKubeProxy runs the node agent as the shipped
// DaemonSet does (its arguments from deploy/node-daemonset.yaml, in the
// node's network namespace as its hostNetwork pod, kube-proxy's health on
// the node's address, its metrics on loopback) beside a real kube-proxy in
// nftables mode with kubeadm's default addresses, on two simulated nodes
// of the local control plane, with a Service whose endpoint is a real
// server in a pod namespace and a kubelet stand-in on the node's
// 127.0.0.1:10248. Every node-role collector succeeds; the agent reads kube-proxy's
// health and mode, and its connection to the ClusterIP goes through its
// own node's rules: a rule there that rejects the Service's traffic makes
// it fail while node-b still connects; a stopped kube-proxy fails its
// health while the rules it wrote still carry the connection.
func TestNodeAgentAgainstRealKubeProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the local control plane and kube-proxy")
	}
	c := clustertest.Shared(t)
	ns := clustertest.Namespace(t, c, "realnode")
	w := nodenet.New(t, c)
	vip := w.Service(t, ns, "backend", "10.96.0.51", 80)
	a, b := w.Node(t, "node-a"), w.Node(t, "node-b")

	// What a pod on node-b gets from the ClusterIP: the backend's answer,
	// through node-b's rules (DNAT to the pod address).
	body := getFromNode(t, b, "http://"+vip+"/")
	if body != "backend\n" {
		t.Fatalf("GET %s from node-b: %q, want the backend's answer", vip, body)
	}

	// The kubelet's plain health port on the node's loopback.
	kubelet := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ReadHeaderTimeout: 5 * time.Second}
	kubeletListener := a.NS.Listen(t, "127.0.0.1:10248")
	go func() { _ = kubelet.Serve(kubeletListener) }()
	t.Cleanup(func() { kubelet.Close() })

	// Where the pod has a Service account and a cluster DNS Service, the test
	// names the local control plane's and its CoreDNS.
	args := append(daemonSetArgs(t, a), c.ExporterArgs()...)
	args = append(args, "--collector.apiserver.interval=1s", "--collector.dns.interval=1s", "--collector.kubelet.interval=1s",
		"--collector.kubeproxy.interval=1s", "--collector.kubeproxy.timeout=2s", "--collector.kubeproxy.vip="+vip)
	a.NS.Start(t, "agent node-a", testenv.Exporter(t), []string{"KUBECONFIG=/nonexistent", "NODE_NAME=" + a.Name}, args...)
	scrape := a.NS.ForwardFromHost(t, a.IP+":10027")
	expect := func(what, name string, labels map[string]string, want float64) {
		t.Helper()
		testenv.WaitFor(t, what, 30*time.Second, func() (bool, error) {
			v, ok, err := testenv.Sample(scrape, name, labels)
			return ok && v == want, err
		})
	}
	for _, collector := range []string{"apiserver", "dns", "kubelet", "kubeproxy"} {
		expect("the "+collector+" collector succeeding", "kube_triage_scrape_collector_success", map[string]string{"collector": collector}, 1)
	}
	expect("the kubelet answering on the node's loopback port 10248", "kube_triage_kubelet_probe_success", nil, 1)
	livez := map[string]string{"endpoint": "livez"}
	target := map[string]string{"target": vip}

	expect("livez answered by kube-proxy", "kube_triage_kubeproxy_probe_success", livez, 1)
	expect("healthz answered", "kube_triage_kubeproxy_probe_success", map[string]string{"endpoint": "healthz"}, 1)
	expect("the node eligible", "kube_triage_kubeproxy_node_eligible", nil, 1)
	expect("the proxy mode from the metrics server on loopback (the default --collector.kubeproxy.metrics-url)",
		"kube_triage_kubeproxy_info", map[string]string{"proxy_mode": "nftables"}, 1)
	expect("the VIP reachable through node-a's rules", "kube_triage_kubeproxy_service_vip_reachable", target, 1)
	if age, _, err := testenv.Sample(scrape, "kube_triage_kubeproxy_last_update_age_seconds", nil); err != nil || age > 5 {
		t.Errorf("last update age %v (%v): a healthy kube-proxy reports its current time", age, err)
	}

	// A rule of node-a's own rejects the Service's traffic; kube-proxy runs
	// on and says healthy.
	unblock := a.BlockService(t, vip)
	expect("the VIP unreachable from node-a", "kube_triage_kubeproxy_service_vip_reachable", target, 0)
	expect("livez passing all the while: the fault is the rules, not kube-proxy", "kube_triage_kubeproxy_probe_success", livez, 1)
	if body := getFromNode(t, b, "http://"+vip+"/"); body != "backend\n" {
		t.Errorf("from node-b, whose rules are whole, GET %s: %q", vip, body)
	}
	unblock(t)
	expect("the VIP reachable again", "kube_triage_kubeproxy_service_vip_reachable", target, 1)

	// kube-proxy stops: its health goes, the rules in the kernel stay.
	a.StopKubeProxy()
	expect("livez failing with kube-proxy stopped", "kube_triage_kubeproxy_probe_success", livez, 0)
	expect("kube-proxy unreachable", "kube_triage_kubeproxy_reachable", nil, 0)
	expect("the VIP reachable with kube-proxy stopped: its rules stay in the kernel", "kube_triage_kubeproxy_service_vip_reachable", target, 1)
	a.StartKubeProxy(t)
	expect("livez back", "kube_triage_kubeproxy_probe_success", livez, 1)
	for _, n := range []*nodenet.Node{a, b} {
		if restarts, log := n.Restarts(); restarts > 0 {
			t.Errorf("kube-proxy on %s exited by itself %d times:\n%s", n.Name, restarts, log)
		}
	}
}

// getFromNode GETs url from inside the node's network namespace.
func getFromNode(t *testing.T, n *nodenet.Node, url string) string {
	t.Helper()
	_, body, err := testenv.Get(n.NS.HTTPClient(3*time.Second), url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, n.Name, err)
	}
	return body
}

// daemonSetArgs are the shipped DaemonSet's container arguments, with the
// downward API's variables set as the kubelet would for a pod on node.
func daemonSetArgs(t *testing.T, node *nodenet.Node) []string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "deploy", "node-daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(data, &ds); err != nil {
		t.Fatalf("deploy/node-daemonset.yaml: %v", err)
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Fatalf("the DaemonSet's pod: hostNetwork %v, dnsPolicy %q; this test runs the agent in the node's network namespace with a pod's resolv.conf", spec.HostNetwork, spec.DNSPolicy)
	}
	expand := strings.NewReplacer("$(HOST_IP)", node.IP, "$(NODE_NAME)", node.Name)
	var args []string
	for _, arg := range spec.Containers[0].Args {
		args = append(args, expand.Replace(arg))
	}
	return args
}
