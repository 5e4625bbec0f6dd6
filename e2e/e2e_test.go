// Package e2e runs the whole product the way users run it: the exporter in
// both roles against the local control plane, a real Prometheus loading
// the rule files from alerts/ as shipped, and a real Alertmanager. For each
// failure scenario it injects the fault, waits for the expected alert to
// reach Alertmanager, checks that the look-alike alerts did not fire,
// removes the fault and waits for the alert to resolve.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testenv"
)

func TestMain(m *testing.M) { clustertest.Main(m) }

// match names an alert and the labels that tie it to one scenario.
type match struct {
	alert  string
	labels map[string]string
}

func (m match) String() string {
	var l []string
	for k, v := range m.labels {
		l = append(l, k+"="+v)
	}
	slices.Sort(l)
	return m.alert + "{" + strings.Join(l, ",") + "}"
}

// scenario is one row of the table: a fault, the alert it must raise and
// the alerts a look-alike fault would raise, which must stay quiet.
type scenario struct {
	name       string
	expect     match
	lookalikes []match
	inject     func(t *testing.T)
	remove     func(t *testing.T)
	// stays says why the alert is not expected to resolve during the run.
	stays string
}

type result struct {
	scenario   *scenario
	fired      time.Duration
	resolved   time.Duration
	unexpected []string
	failure    string
}

// fireWithin bounds the wait for an alert: the longest `for` in the rule
// files used here (5m), the Lease thresholds and the probe intervals.
const fireWithin = 8 * time.Minute

// run plays a phase's scenarios side by side (their faults do not touch
// each other's signals) and returns their rows.
func (e *env) run(t *testing.T, phase []*scenario) []result {
	t.Helper()
	results := make([]result, len(phase))
	var wg sync.WaitGroup
	for i, sc := range phase {
		// What stays if play ends early (a t.Fatal inside it).
		results[i] = result{scenario: sc, failure: "did not finish"}
		wg.Go(func() { results[i] = e.play(t, sc) })
	}
	wg.Wait()
	for _, r := range results {
		if r.failure != "" {
			t.Errorf("%s: %s", r.scenario.name, r.failure)
		}
		if len(r.unexpected) > 0 {
			t.Errorf("%s: look-alike alerts fired: %v", r.scenario.name, r.unexpected)
		}
	}
	return results
}

func (e *env) play(t *testing.T, sc *scenario) result {
	r := result{scenario: sc}
	ctx := context.Background()
	start := time.Now()
	sc.inject(t)
	unexpected := map[string]bool{}
	// poll reports whether want is firing, noting any look-alike seen.
	poll := func(want match) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		alerts, err := e.mon.activeAlerts(ctx)
		if err != nil {
			return false, err
		}
		found := false
		for _, a := range alerts {
			found = found || a.matches(want.alert, want.labels)
			for _, l := range sc.lookalikes {
				if a.matches(l.alert, l.labels) {
					unexpected[l.String()] = true
				}
			}
		}
		return found, nil
	}
	if !waitUntil(fireWithin, func() bool { ok, _ := poll(sc.expect); return ok }) {
		r.failure = fmt.Sprintf("%s did not reach Alertmanager within %s", sc.expect, fireWithin)
		sc.remove(t)
		return r
	}
	r.fired = time.Since(start)
	sc.remove(t)
	removed := time.Now()
	if sc.stays == "" {
		if !waitUntil(4*time.Minute, func() bool { ok, err := poll(sc.expect); return err == nil && !ok }) {
			r.failure = fmt.Sprintf("%s did not resolve within 4m of removing the fault", sc.expect)
		}
		r.resolved = time.Since(removed)
	}
	for l := range unexpected {
		r.unexpected = append(r.unexpected, l)
	}
	slices.Sort(r.unexpected)
	return r
}

// waitUntil polls cond every half second until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// env is the running product: cluster, exporters, stand-ins, monitoring.
type env struct {
	cluster *localcluster.Cluster
	mon     *monitoring
	agents  map[string]*agent
	// Per node: kube-proxy's stand-in answers 503 with stale rules while set.
	proxyStale map[string]*atomic.Bool
}

// agent is a node role exporter; it can be stopped and started again on
// the same address, as a node going away and coming back.
type agent struct {
	cluster    *localcluster.Cluster
	node, addr string
	args       []string // besides the cluster's
	proc       *testenv.Process
}

func (a *agent) start(t *testing.T, kubeconfig string) {
	a.proc = testenv.Start(t, "agent "+a.node, testenv.Exporter(t), []string{"KUBECONFIG=/nonexistent"},
		append(append([]string{"--web.listen-address=" + a.addr}, a.cluster.ExporterArgsWith(kubeconfig)...), a.args...)...)
}

const namespace = "e2e"

var nodes = []string{"node-a", "node-b", "node-c"}

func TestEndToEnd(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx := context.Background()
	if err := cluster.AddNode(ctx, "node-c"); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{cluster: cluster, agents: map[string]*agent{}, proxyStale: map[string]*atomic.Bool{}}

	// The kubelet and kube-proxy do not run here: each node gets stand-ins
	// on loopback, and all share one Service VIP that accepts connections.
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer kubelet.Close()
	vip, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer vip.Close()
	go func() {
		for {
			c, err := vip.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	clusterExporter := testenv.StartExporter(t, append(cluster.ExporterArgs(),
		"--collector.apiserver.interval=1s", "--collector.services.interval=1s", "--collector.dns.interval=1s", "--collector.dns.timeout=500ms")...)
	targets := []target{{addr: clusterExporter.Addr, labels: map[string]string{"role": "cluster"}}}
	for _, n := range nodes {
		stale := &atomic.Bool{}
		e.proxyStale[n] = stale
		proxy := httptest.NewServer(kubeProxyStandIn(stale))
		defer proxy.Close()
		a := &agent{cluster: cluster, node: n, addr: testenv.FreeAddr(t), args: []string{"--role=node", "--node-name=" + n,
			"--collector.apiserver.interval=1s", "--collector.dns.interval=1s", "--collector.dns.timeout=500ms",
			"--collector.nodes.interval=1s", "--collector.nodes.kubelet-url=" + kubelet.URL + "/healthz", "--collector.nodes.kubelet-insecure-tls",
			"--collector.kubeproxy.interval=1s", "--collector.kubeproxy.url=" + proxy.URL, "--collector.kubeproxy.metrics-url=" + proxy.URL,
			"--collector.kubeproxy.vip=" + vip.Addr().String()}}
		a.start(t, cluster.Kubeconfig)
		e.agents[n] = a
		targets = append(targets, target{addr: a.addr, labels: map[string]string{"role": "node", "node": n}})
	}
	e.mon = startMonitoring(t, root, targets)
	runStart := time.Now()
	testenv.WaitFor(t, "Prometheus scraping every exporter", 2*time.Minute, func() (bool, error) {
		v, err := e.mon.query(ctx, `count(up == 1)`)
		return v == float64(len(targets)), err
	})

	var rows []result
	rows = append(rows, e.run(t, e.serviceAndWorkloadScenarios(t))...)
	rows = append(rows, e.run(t, e.nodeScenarios(t))...)
	rows = append(rows, e.run(t, e.controlPlaneScenarios())...)
	rows = append(rows, e.run(t, []*scenario{e.etcdLost()})...)
	rows = append(rows, e.run(t, []*scenario{e.apiserverDown()})...)
	t.Logf("end-to-end results (Prometheus and Alertmanager, 1s scrape and evaluation):\n%s", table(rows))

	t.Run("every metric the rules and dashboards use was exported", func(t *testing.T) { e.checkMetricsExported(t) })
	t.Run("every dashboard panel's query returns data", func(t *testing.T) { e.checkDashboards(t, runStart) })
}

// kubeProxyStandIn answers /livez and /healthz as kube-proxy does: 200 with
// fresh times, or 503 with a lastUpdated 5 minutes old while stale.
func kubeProxyStandIn(stale *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		last := now
		if stale.Load() {
			last = now.Add(-5 * time.Minute)
		}
		switch r.URL.Path {
		case "/livez", "/healthz":
			if stale.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintf(w, `{"lastUpdated":%q,"currentTime":%q,"nodeEligible":true,"healthy":%v}`,
				last.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), !stale.Load())
		case "/proxyMode":
			_, _ = w.Write([]byte("iptables"))
		default:
			http.NotFound(w, r)
		}
	})
}

func table(rows []result) string {
	var b strings.Builder
	b.WriteString("| scenario | expected alert | fired after | resolved after | unexpected alerts |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		resolved := fmt.Sprintf("%.0f s", r.resolved.Seconds())
		if r.scenario.stays != "" {
			resolved = r.scenario.stays
		}
		fired := fmt.Sprintf("%.0f s", r.fired.Seconds())
		if r.failure != "" {
			fired, resolved = "FAILED", r.failure
		}
		unexpected := "none"
		if len(r.unexpected) > 0 {
			unexpected = strings.Join(r.unexpected, ", ")
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", r.scenario.name, r.scenario.expect.alert, fired, resolved, unexpected)
	}
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}

// --- phase 1: the guide's Service and workload cases, a DNS pod, kube-proxy ---

func (e *env) serviceAndWorkloadScenarios(t *testing.T) []*scenario {
	ctx := context.Background()
	c := e.cluster
	core := c.Client.CoreV1()
	web := map[string]string{"app": "web"}
	stuck := map[string]string{"app": "stuck"}
	for _, d := range []*appsv1.Deployment{deployment("web", web), deployment("stuck", stuck)} {
		if _, err := c.Client.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := core.Services(namespace).Create(ctx, service("web", web), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Two bare pods: one to be OOM-killed; one crash looping throughout, so
	// that the waiting-pods series exist (ContainerCrashLooping's 15 minutes
	// are longer than the run).
	for _, name := range []string{"oom", "crashy"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53"}}}}
		if _, err := core.Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, name+" running", time.Minute, func() (bool, error) {
			p, err := core.Pods(namespace).Get(ctx, name, metav1.GetOptions{})
			return err == nil && len(p.Status.ContainerStatuses) == 1, err
		})
	}
	if err := c.SetContainerWaiting(ctx, namespace, "crashy", "app", "CrashLoopBackOff"); err != nil {
		t.Fatal(err)
	}
	// node-problem-detector's kind of condition on node-a, for the Cluster
	// dashboard's conditions panel; no alert reads it.
	n, err := core.Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: "KernelDeadlock", Status: corev1.ConditionTrue,
		Reason: "DockerHung", Message: "task docker:7 blocked for more than 300 seconds", LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()})
	if _, err := core.Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A second DNS "pod" whose port answers nothing (the local cluster's DNS
	// endpoints are names its CoreDNS resolves to 127.0.0.1).
	deadPort := freeUDPPort(t)
	brokenDNS := fmt.Sprintf("%s:%d", localcluster.SpareDNSName, deadPort)
	stopUnready, unreadyStopped := make(chan struct{}), make(chan struct{})
	svc := func(name string) map[string]string { return map[string]string{"namespace": namespace, "service": name} }
	return []*scenario{
		{
			name:       "operator error: a selector typo",
			expect:     match{"ServiceSelectorMatchesNothing", svc("web-typo")},
			lookalikes: []match{{"ServiceNoReadyEndpoints", svc("web-typo")}, {"ServiceTargetPortMismatch", svc("web-typo")}},
			inject: func(t *testing.T) {
				_, err := core.Services(namespace).Create(ctx, service("web-typo", map[string]string{"app": "wbe"}), metav1.CreateOptions{})
				must(t, err)
			},
			remove: func(t *testing.T) {
				_, err := core.Services(namespace).Patch(ctx, "web-typo", types.MergePatchType, []byte(`{"spec":{"selector":{"app":"web"}}}`), metav1.PatchOptions{})
				must(t, err)
			},
		},
		{
			name:       "operator error: a targetPort no container exposes",
			expect:     match{"ServiceTargetPortMismatch", svc("web-port")},
			lookalikes: []match{{"ServiceSelectorMatchesNothing", svc("web-port")}},
			inject: func(t *testing.T) {
				s := service("web-port", web)
				s.Spec.Ports[0].TargetPort = intstr.FromString("metrics")
				_, err := core.Services(namespace).Create(ctx, s, metav1.CreateOptions{})
				must(t, err)
			},
			remove: func(t *testing.T) {
				_, err := core.Services(namespace).Patch(ctx, "web-port", types.MergePatchType, []byte(`{"spec":{"ports":[{"name":"http","port":80,"targetPort":"http"}]}}`), metav1.PatchOptions{})
				must(t, err)
			},
		},
		{
			name:       "a Service with no ready endpoints (pods never ready)",
			expect:     match{"ServiceNoReadyEndpoints", svc("stuck")},
			lookalikes: []match{{"ServiceSelectorMatchesNothing", svc("stuck")}, {"ServiceTargetPortMismatch", svc("stuck")}},
			inject: func(t *testing.T) {
				_, err := core.Services(namespace).Create(ctx, service("stuck", stuck), metav1.CreateOptions{})
				must(t, err)
				go func() { // kwok readies new pods; the kubelet of a broken app would not
					defer close(unreadyStopped)
					keepUnready(c, "app=stuck", stopUnready)
				}()
			},
			remove: func(t *testing.T) { // the probes pass again: the kubelet would mark the pods ready
				close(stopUnready)
				<-unreadyStopped
				pods, err := core.Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=stuck"})
				must(t, err)
				for _, p := range pods.Items {
					must(t, c.SetPodReady(ctx, namespace, p.Name, true))
				}
			},
		},
		{
			name:       "an OOM-killed workload",
			expect:     match{"ContainerOOMKilled", map[string]string{"namespace": namespace, "workload": "oom"}},
			lookalikes: []match{{"PodsEvicted", map[string]string{"namespace": namespace}}, {"JobFailing", map[string]string{"namespace": namespace}}},
			inject: func(t *testing.T) {
				must(t, c.SetContainerTerminated(ctx, namespace, "oom", localcluster.Termination{Container: "app", Reason: "OOMKilled", ExitCode: 137, Restarts: 1}))
			},
			remove: func(*testing.T) {},
			stays:  "by design, 15 min after the last OOM kill",
		},
		{
			name:       "one DNS pod broken (it does not answer; the Service does)",
			expect:     match{"DNSEndpointFailing", map[string]string{"server": brokenDNS}},
			lookalikes: []match{{"ClusterDNSDown", nil}, {"DNSFailingFromNode", nil}},
			inject: func(t *testing.T) {
				_, err := c.Client.DiscoveryV1().EndpointSlices("kube-system").Create(ctx, &discoveryv1.EndpointSlice{
					ObjectMeta:  metav1.ObjectMeta{Name: "kube-dns-broken", Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
					AddressType: discoveryv1.AddressTypeFQDN,
					Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To(int32(deadPort)), Protocol: ptr.To(corev1.ProtocolUDP)}},
					Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{localcluster.SpareDNSName}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
				}, metav1.CreateOptions{})
				must(t, err)
			},
			remove: func(t *testing.T) {
				must(t, c.Client.DiscoveryV1().EndpointSlices("kube-system").Delete(ctx, "kube-dns-broken", metav1.DeleteOptions{}))
			},
		},
		{
			name:       "kube-proxy rules stale on node-a",
			expect:     match{"KubeProxyUnhealthy", map[string]string{"node": "node-a"}},
			lookalikes: []match{{"KubeProxyUnhealthy", map[string]string{"node": "node-b"}}, {"KubeletFault", map[string]string{"node": "node-a"}}},
			inject:     func(*testing.T) { e.proxyStale["node-a"].Store(true) },
			remove:     func(*testing.T) { e.proxyStale["node-a"].Store(false) },
		},
	}
}

// keepUnready sets the matching pods not ready, and any new one (kwok
// readies new pods), until stop is closed.
func keepUnready(c *localcluster.Cluster, selector string, stop <-chan struct{}) {
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		case <-time.After(500 * time.Millisecond):
		}
		pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					_ = c.SetPodReady(ctx, namespace, p.Name, false)
				}
			}
		}
	}
}

func deployment(name string, labels map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/serve_hostname", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9376}}}},
			}}},
	}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
}

// --- phase 2: a node shut down, a partition, a kubelet fault; DNS down -----

func (e *env) nodeScenarios(t *testing.T) []*scenario {
	ctx := context.Background()
	c := e.cluster
	node := func(n string) map[string]string { return map[string]string{"node": n} }
	others := func(n, expected string) []match {
		var m []match
		for _, a := range []string{"KubeNodeShutdown", "KubeNodePartitioned", "KubeletFault"} {
			if a != expected {
				m = append(m, match{a, node(n)})
			}
		}
		return append(m, match{"KubeAPIServerDown", nil})
	}
	dead := testenv.DeadKubeconfig(t) // the apiserver as seen from the far side of a partition
	return []*scenario{
		{
			name:       "cluster DNS down (CoreDNS stopped)",
			expect:     match{"ClusterDNSDown", nil},
			lookalikes: []match{{"DNSFailingFromNode", nil}, {"KubeAPIServerDown", nil}},
			inject:     func(t *testing.T) { must(t, c.StopComponent(localcluster.CoreDNS)) },
			remove:     func(t *testing.T) { must(t, c.StartComponent(ctx, localcluster.CoreDNS)) },
		},

		{
			name:       "kubelet fault on node-a (Lease stale, node up)",
			expect:     match{"KubeletFault", node("node-a")},
			lookalikes: others("node-a", "KubeletFault"),
			inject:     func(t *testing.T) { must(t, c.StopLeaseRenewal("node-a")) },
			remove:     func(t *testing.T) { must(t, c.ResumeLeaseRenewal(ctx, "node-a")) },
		},
		{
			name:       "network partition of node-b (its agent loses the apiserver)",
			expect:     match{"KubeNodePartitioned", node("node-b")},
			lookalikes: others("node-b", "KubeNodePartitioned"),
			inject: func(t *testing.T) {
				must(t, c.StopLeaseRenewal("node-b"))
				a := e.agents["node-b"]
				a.proc.Stop()
				a.start(t, dead)
			},
			remove: func(t *testing.T) {
				must(t, c.ResumeLeaseRenewal(ctx, "node-b"))
				a := e.agents["node-b"]
				a.proc.Stop()
				a.start(t, c.Kubeconfig)
			},
		},
		{
			name:       "node-c shut down (Lease stale, agent gone)",
			expect:     match{"KubeNodeShutdown", node("node-c")},
			lookalikes: others("node-c", "KubeNodeShutdown"),
			inject: func(t *testing.T) {
				must(t, c.StopLeaseRenewal("node-c"))
				e.agents["node-c"].proc.Stop()
			},
			remove: func(t *testing.T) {
				must(t, c.ResumeLeaseRenewal(ctx, "node-c"))
				e.agents["node-c"].start(t, c.Kubeconfig)
			},
		},
	}
}

// --- phase 3: scheduler and controller-manager down ------------------------

func (e *env) controlPlaneScenarios() []*scenario {
	ctx := context.Background()
	c := e.cluster
	var out []*scenario
	for _, comp := range []string{localcluster.Scheduler, localcluster.ControllerManager} {
		out = append(out, &scenario{
			name:       comp + " down",
			expect:     match{"KubeControlPlaneLeaderLost", map[string]string{"component": comp}},
			lookalikes: []match{{"KubeAPIServerDown", nil}, {"KubeAPIServerStorageDown", nil}, {"KubeNodeShutdown", nil}, {"KubeletFault", nil}},
			inject:     func(t *testing.T) { must(t, c.StopComponent(comp)) },
			remove:     func(t *testing.T) { must(t, c.StartComponent(ctx, comp)) },
		})
	}
	return out
}

// --- phases 4 and 5: etcd lost, then the apiserver down --------------------

func (e *env) etcdLost() *scenario {
	c := e.cluster
	return &scenario{
		name:   "apiserver storage (etcd) lost",
		expect: match{"KubeAPIServerStorageDown", nil},
		lookalikes: []match{{"KubeAPIServerDown", nil}, {"KubeControlPlaneLeaderLost", nil}, {"KubeNodeShutdown", nil},
			{"KubeNodePartitioned", nil}, {"KubeletFault", nil}},
		inject: func(t *testing.T) { must(t, c.StopComponent(localcluster.Etcd)) },
		remove: func(t *testing.T) { must(t, c.StartComponent(context.Background(), localcluster.Etcd)) },
	}
}

func (e *env) apiserverDown() *scenario {
	c := e.cluster
	return &scenario{
		name:   "apiserver down",
		expect: match{"KubeAPIServerDown", nil},
		lookalikes: []match{{"KubeAPIServerStorageDown", nil}, {"KubeControlPlaneLeaderLost", nil}, {"KubeNodeShutdown", nil},
			{"KubeNodePartitioned", nil}, {"KubeletFault", nil}},
		inject: func(t *testing.T) { must(t, c.KillComponent(localcluster.APIServer)) },
		remove: func(t *testing.T) { must(t, c.StartComponent(context.Background(), localcluster.APIServer)) },
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
