//go:build linux

// Package e2e runs the whole product the way a fleet runs it: two local
// control planes (clusters a and b), each with its cluster exporter (two
// replicas in a) and a node agent per node, scraped by one Prometheus that
// labels every series with its cluster and with the node the exporter runs
// on, loading the rule files from alerts/ as shipped, and a real
// Alertmanager with the shipped inhibition rules. For each failure scenario
// it injects the fault into cluster a, waits for the expected alert to reach
// Alertmanager once (not once per replica), checks that the look-alike
// alerts did not notify and that the consequences it names are inhibited,
// removes the fault and waits for the alert to resolve. Nothing may fire for
// cluster b, until its cluster exporter is killed: then
// KubeTriageExporterDown must.
//
// Cluster a's nodes have a network of their own (internal/testbed/localcluster/
// nodenet): each is a network namespace with a real kube-proxy, where its
// agent runs as the DaemonSet's hostNetwork pod does; cluster b's agents
// run on loopback beside kube-proxy stand-ins. The suite needs Linux.
package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

	"github.com/miekg/dns"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/nodenet"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestMain(m *testing.M) { clustertest.Main(m) }

// match names an alert and the labels that tie it to one scenario.
type match struct {
	alert  string
	labels map[string]string
}

// firing selects the alert's firing series in Prometheus.
func (m match) firing() string {
	sel := []string{`alertstate="firing"`, fmt.Sprintf("alertname=%q", m.alert)}
	for k, v := range m.labels {
		sel = append(sel, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(sel)
	return "ALERTS{" + strings.Join(sel, ",") + "}"
}

// in is m in cluster c: every match of a scenario names its cluster.
func (m match) in(c string) match {
	labels := map[string]string{"cluster": c}
	maps.Copy(labels, m.labels)
	return match{m.alert, labels}
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
	// inhibited are consequences that must reach Alertmanager and be
	// inhibited (by the expected alert) before the fault is removed.
	inhibited []match
	inject    func(t *testing.T)
	remove    func(t *testing.T)
	// stays says why the alert is not expected to resolve during the run.
	stays string
	// alone: the scenario runs by itself, and no other alert of the cluster
	// may start to notify while its fault lasts.
	alone bool
}

type result struct {
	scenario   *scenario
	fired      time.Duration
	resolved   time.Duration
	unexpected []string
	inhibited  []string
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
		// The faults are injected into cluster a.
		sc.expect = sc.expect.in("a")
		for j := range sc.lookalikes {
			sc.lookalikes[j] = sc.lookalikes[j].in("a")
		}
		for j := range sc.inhibited {
			sc.inhibited[j] = sc.inhibited[j].in("a")
		}
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
	// What notifies already, or is pending in Prometheus already (an OOM
	// kill pages for 15 minutes by design, a crash loop of the whole run
	// reaches its 15 minutes when it does), is not the scenario's doing.
	before := map[string]bool{}
	if sc.alone {
		alerts, err := e.mon.activeAlerts(ctx)
		if err != nil {
			r.failure = err.Error()
			return r
		}
		for _, a := range alerts {
			before[a.String()] = true
		}
		pending, err := e.mon.prometheus.Alerts(ctx)
		if err != nil {
			r.failure = err.Error()
			return r
		}
		for _, a := range pending.Alerts {
			labels := map[string]string{}
			for k, v := range a.Labels {
				labels[string(k)] = string(v)
			}
			before[alert{Labels: labels}.String()] = true
		}
	}
	start := time.Now()
	sc.inject(t)
	unexpected := map[string]bool{}
	// Look-alikes count while the fault is there: once it is removed, a
	// consequence may outlive its cause for the second it takes to resolve.
	var faultRemoved atomic.Bool
	// poll reports how many alerts match want (inhibited ones only if
	// inhibited is set, else notifying ones), noting any look-alike that
	// notifies.
	poll := func(want match, inhibited bool) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		alerts, err := e.mon.activeAlerts(ctx)
		if err != nil {
			return 0, err
		}
		found := 0
		for _, a := range alerts {
			if a.matches(want.alert, want.labels) && (inhibited && a.inhibited() || !inhibited && a.notifies()) {
				found++
			}
			if !a.notifies() || faultRemoved.Load() {
				continue
			}
			for _, l := range sc.lookalikes {
				if a.matches(l.alert, l.labels) {
					unexpected[l.String()] = true
				}
			}
			if sc.alone && a.Labels["cluster"] == sc.expect.labels["cluster"] && !a.matches(sc.expect.alert, sc.expect.labels) && !before[a.String()] {
				unexpected[a.String()] = true
			}
		}
		return found, nil
	}
	if testenv.Poll(fireWithin, alertPoll, func() (bool, error) { n, err := poll(sc.expect, false); return n > 0, err }) != nil {
		r.failure = fmt.Sprintf("%s did not reach Alertmanager within %s", sc.expect, fireWithin)
		sc.remove(t)
		return r
	}
	r.fired = time.Since(start)
	var failures []string
	// Once per fact: one alert in Alertmanager, one firing series in
	// Prometheus (two replicas must not make two).
	once := func() {
		if n, err := poll(sc.expect, false); err != nil || n != 1 {
			failures = append(failures, fmt.Sprintf("%s: %d alerts in Alertmanager, want 1 (%v)", sc.expect, n, err))
		}
		if n, err := e.mon.count(ctx, sc.expect.firing()); err != nil || n != 1 {
			failures = append(failures, fmt.Sprintf("%s: %d firing series in Prometheus, want 1 (%v)", sc.expect, n, err))
		}
	}
	once()
	for _, want := range sc.inhibited {
		if testenv.Poll(time.Until(start.Add(fireWithin)), alertPoll, func() (bool, error) { n, err := poll(want, true); return n > 0, err }) != nil {
			failures = append(failures, fmt.Sprintf("%s was not inhibited in Alertmanager within %s", want, fireWithin))
			break
		}
		r.inhibited = append(r.inhibited, want.alert)
	}
	// And still once after the alert's rule has been evaluated twice more
	// (over fresh scrapes): a replica's duplicate would have caught up.
	firedAt := time.Now()
	if testenv.Poll(time.Minute, alertPoll, func() (bool, error) {
		return e.mon.evaluatedSince(ctx, sc.expect.alert, firedAt.Add(2*time.Second))
	}) != nil {
		failures = append(failures, fmt.Sprintf("the rule of %s was not evaluated again", sc.expect.alert))
	}
	once()
	faultRemoved.Store(true)
	sc.remove(t)
	removed := time.Now()
	if sc.stays == "" {
		if testenv.Poll(4*time.Minute, alertPoll, func() (bool, error) { n, err := poll(sc.expect, false); return err == nil && n == 0, err }) != nil {
			r.failure = fmt.Sprintf("%s did not resolve within 4m of removing the fault", sc.expect)
		}
		r.resolved = time.Since(removed)
	}
	if len(failures) > 0 && r.failure == "" {
		r.failure = strings.Join(failures, "; ")
	}
	for l := range unexpected {
		r.unexpected = append(r.unexpected, l)
	}
	slices.Sort(r.unexpected)
	return r
}

// alertPoll is how often a scenario asks Alertmanager or Prometheus while
// it waits.
const alertPoll = 500 * time.Millisecond

// env is the running product: the clusters of the fleet, their exporters
// and stand-ins, monitoring. cluster, agents and proxyStale are cluster a's,
// where the scenarios inject their faults.
type env struct {
	a, b    *member
	mon     *monitoring
	cluster *localcluster.Cluster
	agents  map[string]*agent
	// nodes are the node namespaces, each with its real kube-proxy.
	nodes map[string]*nodenet.Node
	// network is cluster a's node and pod network.
	network *nodenet.Network
	// vip is the Service address every agent connects to.
	vip string
	// node-b's node-local DNS cache answers nothing while set.
	cacheDown *atomic.Bool
}

// member is one cluster of the fleet with its exporters.
type member struct {
	name      string // its cluster label
	cluster   *localcluster.Cluster
	exporters []*testenv.ExporterProcess // the cluster role's replicas
	agents    map[string]*agent
	// nodes are its node namespaces, if it has them (nodenet).
	nodes map[string]*nodenet.Node
	// The node-local DNS cache of cachedNode answers nothing while set.
	cacheDown *atomic.Bool
	targets   []target
}

// cachedNode runs a node-local DNS cache (as NodeLocal DNSCache) in
// cluster a, on cacheAddr: its agent's resolv.conf names it, as its pods'
// would.
const (
	cachedNode = "node-b"
	cacheIP    = "127.0.0.154"
)

// agent is a node role exporter; it can be stopped and started again on
// the same address, as a node going away and coming back.
type agent struct {
	cluster    *localcluster.Cluster
	node       string
	addr       string         // where Prometheus scrapes it
	listen     string         // its --web.listen-address
	netns      *testenv.Netns // the node's network namespace; nil: the host's
	args       []string       // besides the cluster's
	resolvConf string         // replaces the cluster's resolv.conf, if set
	proc       *testenv.Process
}

func (a *agent) start(t *testing.T, kubeconfig string) {
	args := []string{"--web.listen-address=" + a.listen}
	for _, arg := range a.cluster.ExporterArgsWith(kubeconfig) {
		if a.resolvConf != "" && strings.HasPrefix(arg, "--collector.dns.resolv-conf=") {
			arg = "--collector.dns.resolv-conf=" + a.resolvConf
		}
		args = append(args, arg)
	}
	env := []string{"KUBECONFIG=/nonexistent"}
	if a.netns != nil {
		a.proc = a.netns.Start(t, "agent "+a.node, testenv.Exporter(t), env, append(args, a.args...)...)
		return
	}
	a.proc = testenv.Start(t, "agent "+a.node, testenv.Exporter(t), env, append(args, a.args...)...)
}

// nodeLocalCache serves DNS on cacheIP:53 by forwarding to the cluster's
// CoreDNS, or answers nothing while down is set, and returns a pod's
// resolv.conf naming it.
func nodeLocalCache(t *testing.T, c *localcluster.Cluster, down *atomic.Bool) string {
	testenv.DNSServerAt(t, cacheIP+":53", func(w dns.ResponseWriter, q *dns.Msg) {
		if down.Load() {
			return
		}
		if in, _, err := (&dns.Client{Timeout: time.Second}).Exchange(q, c.DNSAddr); err == nil {
			_ = w.WriteMsg(in)
		}
	})
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver "+cacheIP+"\noptions ndots:5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const namespace = "e2e"

var nodes = []string{"node-a", "node-b", "node-c"}

// startMember runs the exporters of one cluster: replicas of the cluster
// role (each labelled as running on another node) and an agent per node
// connecting to the Service address vip, with the kubelet stand-in. With
// a network, each node is a namespace of it with a real kube-proxy, where
// its agent runs as the DaemonSet's pod does (kube-proxy's health on the
// node's address, its metrics on loopback by default); without, the agents
// run on loopback beside kube-proxy stand-ins.
func startMember(t *testing.T, name string, c *localcluster.Cluster, nodes []string, replicas int, kubelet, vip string, network *nodenet.Network) *member {
	m := &member{name: name, cluster: c, agents: map[string]*agent{}, nodes: map[string]*nodenet.Node{}}
	for i := range replicas {
		// With the DNS sweep on, so that the DNS dashboard's table of
		// Services whose name does not resolve has data while CoreDNS is down.
		args := []string{"--collector.apiserver.interval=1s", "--collector.services.interval=1s", "--collector.dns.interval=1s", "--collector.dns.timeout=500ms",
			"--collector.dns.sweep-interval=5s", "--collector.backends.interval=2s", "--collector.backends.timeout=1s"}
		var x *testenv.ExporterProcess
		if network != nil { // in the pod network, as the Deployment's pods: the backends collector dials the pods
			x = network.Exporter(t, args...)
		} else { // on loopback, with the backends collector off
			x = testenv.StartExporter(t, append(c.ExporterArgs(), args...)...)
		}
		m.exporters = append(m.exporters, x)
		m.targets = append(m.targets, target{addr: x.Addr, labels: map[string]string{"cluster": name, "node": nodes[i%len(nodes)]}})
	}
	for _, n := range nodes {
		a := &agent{cluster: c, node: n, args: []string{"--role=node", "--node-name=" + n,
			"--collector.apiserver.interval=1s", "--collector.dns.interval=1s", "--collector.dns.timeout=500ms",
			"--collector.kubelet.interval=1s", "--collector.kubelet.url=https://" + kubelet + "/healthz", "--collector.kubelet.insecure-tls",
			"--collector.kubeproxy.interval=1s", "--collector.kubeproxy.vip=" + vip}}
		cached := name == "a" && n == cachedNode
		if network != nil {
			forward := []string{kubelet}
			if cached {
				forward = append(forward, cacheIP+":53")
			}
			node := network.Node(t, n, forward...)
			m.nodes[n] = node
			a.netns, a.listen = node.NS, node.IP+":10027" // as the DaemonSet's $(HOST_IP):10027
			a.addr = node.NS.ForwardFromHost(t, a.listen)
			a.args = append(a.args, "--collector.kubeproxy.url="+node.HealthURL())
		} else {
			proxy := httptest.NewServer(kubeProxyStandIn())
			t.Cleanup(proxy.Close)
			a.addr = testenv.FreeAddr(t)
			a.listen = a.addr
			a.args = append(a.args, "--collector.kubeproxy.url="+proxy.URL, "--collector.kubeproxy.metrics-url="+proxy.URL)
		}
		if cached {
			m.cacheDown = &atomic.Bool{}
			a.resolvConf = nodeLocalCache(t, c, m.cacheDown)
		}
		a.start(t, c.Kubeconfig)
		m.agents[n] = a
		m.targets = append(m.targets, target{addr: a.addr, labels: map[string]string{"cluster": name, "node": n}})
	}
	return m
}

func TestEndToEnd(t *testing.T) {
	clusterA := clustertest.Shared(t)
	ctx := context.Background()
	if err := clusterA.AddNode(ctx, "node-c"); err != nil {
		t.Fatal(err)
	}
	if err := clusterA.CreateNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Cluster b: another control plane, with the same node names as a.
	clusterB, err := localcluster.Start(ctx, localcluster.Options{Root: root, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(clusterB.Stop)

	// Cluster a's nodes run a real kube-proxy each, and connect to a
	// Service whose endpoint is a real server; cluster b's share a loopback
	// address standing in for a Service. The kubelet is a stand-in for all.
	network := nodenet.New(t, clusterA)
	e := &env{vip: network.Service(t, namespace, "vip-backend", "10.96.0.50", 80), network: network}
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

	kubeletAddr := kubelet.Listener.Addr().String()
	e.a = startMember(t, "a", clusterA, nodes, 2, kubeletAddr, e.vip, network)
	e.b = startMember(t, "b", clusterB, clusterB.Nodes, 1, kubeletAddr, vip.Addr().String(), nil)
	e.cluster, e.agents, e.nodes, e.cacheDown = clusterA, e.a.agents, e.a.nodes, e.a.cacheDown
	targets := append(slices.Clone(e.a.targets), e.b.targets...)
	e.mon = startMonitoring(t, root, targets)
	runStart := time.Now()
	testenv.WaitFor(t, "Prometheus scraping every exporter", 2*time.Minute, func() (bool, error) {
		v, err := e.mon.query(ctx, `count(up == 1)`)
		return v == float64(len(targets)), err
	})

	// Cluster b stays healthy: nothing may fire for it, but what its
	// exporter's death raises once it is killed.
	quietB := e.watchQuiet("b")

	var rows []result
	rows = append(rows, e.run(t, e.serviceAndWorkloadScenarios(t))...)
	rows = append(rows, e.run(t, e.nodeScenarios(t))...)
	// Kill b's only cluster exporter now: its alert waits 10 minutes, and
	// the remaining phases take them.
	bDown := e.killClusterExporter(quietB)
	rows = append(rows, e.run(t, []*scenario{e.clusterDNSDown()})...)
	rows = append(rows, e.run(t, e.controlPlaneScenarios())...)
	rows = append(rows, e.run(t, []*scenario{e.etcdLost()})...)
	rows = append(rows, e.run(t, []*scenario{e.apiserverDown()})...)
	rows = append(rows, bDown.wait(t))
	for _, a := range quietB.stop() {
		t.Errorf("cluster b, which stayed healthy, notified %s", a)
	}
	t.Logf("end-to-end results (two clusters, Prometheus and Alertmanager, 1s scrape and evaluation):\n%s", table(rows))
	// No scenario makes kube-proxy exit by itself (it does when its Node's
	// addresses change): one that did would be the harness's fault, hidden
	// by the restart.
	for _, n := range nodes {
		if restarts, log := e.nodes[n].Restarts(); restarts > 0 {
			t.Errorf("kube-proxy on %s exited by itself %d times (started again a second later, as the kubelet does):\n%s", n, restarts, log)
		}
	}

	t.Run("every metric the rules and dashboards use was exported", func(t *testing.T) { e.checkMetricsExported(t) })
	t.Run("every dashboard panel's query returns data", func(t *testing.T) { e.checkDashboards(t, runStart) })
}

// quietWatch records the alerts of one cluster that notify, but those
// allowed.
type quietWatch struct {
	mu      sync.Mutex
	allowed map[string]bool // alert names
	seen    map[string]bool
	done    chan struct{}
	stopped chan struct{}
}

func (e *env) watchQuiet(cluster string) *quietWatch {
	w := &quietWatch{allowed: map[string]bool{}, seen: map[string]bool{}, done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			alerts, err := e.mon.activeAlerts(ctx)
			cancel()
			if err == nil {
				w.mu.Lock()
				for _, a := range alerts {
					if a.Labels["cluster"] == cluster && a.notifies() && !w.allowed[a.Labels["alertname"]] {
						w.seen[match{a.Labels["alertname"], a.Labels}.String()] = true
					}
				}
				w.mu.Unlock()
			}
			select {
			case <-w.done:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	return w
}

func (w *quietWatch) allow(alert string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.allowed[alert] = true
}

// stop ends the watch and returns what notified.
func (w *quietWatch) stop() []string {
	close(w.done)
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.seen))
}

// exporterDown is cluster b's cluster exporter, killed: the scenario that
// runs beside the others.
type exporterDown struct {
	e      *env
	killed time.Time
	addr   string
}

// killClusterExporter kills cluster b's only cluster exporter; its target
// stays in Prometheus's configuration, as a crash-looping pod's does.
func (e *env) killClusterExporter(quiet *quietWatch) *exporterDown {
	quiet.allow("KubeTriageExporterDown")
	x := e.b.exporters[0]
	x.Stop()
	return &exporterDown{e: e, killed: time.Now(), addr: x.Addr}
}

// wait waits for KubeTriageExporterDown about b's exporter (its `for` is 10
// minutes): b has no cluster exporter left (critical, it notifies), and the
// target is down (a warning, which the critical one inhibits).
func (d *exporterDown) wait(t *testing.T) result {
	sc := &scenario{name: "fleet: cluster b's only cluster exporter killed", expect: match{"KubeTriageExporterDown", map[string]string{"cluster": "b", "role": "cluster", "severity": "critical"}},
		stays: "not restarted"}
	r := result{scenario: sc}
	target := match{"KubeTriageExporterDown", map[string]string{"cluster": "b", "role": "cluster", "instance": d.addr, "severity": "warning"}}
	for _, want := range []struct {
		match
		inhibited bool
	}{{sc.expect, false}, {target, true}} {
		err := testenv.Poll(time.Until(d.killed.Add(14*time.Minute)), alertPoll, func() (bool, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			alerts, err := d.e.mon.activeAlerts(ctx)
			n := 0
			for _, a := range alerts {
				if a.matches(want.alert, want.labels) && (want.inhibited && a.inhibited() || !want.inhibited && a.notifies()) {
					n++
				}
			}
			return err == nil && n == 1, err
		})
		if err != nil {
			r.failure = fmt.Sprintf("%s did not reach Alertmanager once (inhibited: %v) within 14m of the kill", want.match, want.inhibited)
			t.Errorf("%s: %v", r.failure, err)
			return r
		}
		if want.inhibited {
			r.inhibited = append(r.inhibited, want.alert+" (the replica)")
		}
	}
	r.fired = time.Since(d.killed)
	return r
}

// kubeProxyStandIn answers /livez and /healthz as a healthy kube-proxy
// does, and /proxyMode.
func kubeProxyStandIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		switch r.URL.Path {
		case "/livez", "/healthz":
			fmt.Fprintf(w, `{"lastUpdated":%q,"currentTime":%q,"nodeEligible":true,"healthy":true}`, now, now)
		case "/proxyMode":
			_, _ = w.Write([]byte("iptables"))
		default:
			http.NotFound(w, r)
		}
	})
}

func table(rows []result) string {
	var b strings.Builder
	b.WriteString("| scenario | expected alert (once) | fired after | resolved after | inhibited by it | unexpected alerts |\n|---|---|---|---|---|---|\n")
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
		inhibited := "-"
		if len(r.inhibited) > 0 {
			inhibited = "`" + strings.Join(r.inhibited, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", r.scenario.name, r.scenario.expect.alert, fired, resolved, inhibited, unexpected)
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
	var unblock func(testing.TB) // removes the rule the node-c scenario adds
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
	e.quietServiceCases(t)
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
	deadPort := testenv.FreeUDPPort(t)
	brokenDNS := fmt.Sprintf("%s:%d", localcluster.SpareDNSName, deadPort)
	stopUnready, unreadyStopped := make(chan struct{}), make(chan struct{})
	svc := func(name string) map[string]string { return map[string]string{"namespace": namespace, "service": name} }
	// Two backend pods of their own in the pod network, both serving: the
	// scenario closes one's port while its readiness (the API's) passes.
	const backendPort = 9376
	backendA, backendB := e.network.Pod(t, "be-a"), e.network.Pod(t, "be-b")
	backendA.Serve(t, backendPort)
	stopB := backendB.Serve(t, backendPort)
	e.network.ServiceOf(t, namespace, "backends", "10.96.0.60", 80, backendPort, backendA, backendB)
	return []*scenario{
		{
			name:       "a ready backend whose serving port is closed",
			expect:     match{"ServiceEndpointsNotAnswering", svc("backends")},
			lookalikes: []match{{"ServiceNoReadyEndpoints", svc("backends")}, {"ServiceEndpointsUnreachable", svc("backends")}},
			inject:     func(*testing.T) { stopB() },
			remove:     func(t *testing.T) { stopB = backendB.Serve(t, backendPort) },
		},
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
			name:   "kube-proxy stopped on node-a (its rules stay in the kernel)",
			expect: match{"KubeProxyUnhealthy", map[string]string{"node": "node-a"}},
			lookalikes: []match{{"KubeProxyUnhealthy", map[string]string{"node": "node-b"}}, {"KubeletFault", map[string]string{"node": "node-a"}},
				{"KubeProxyServiceVIPUnreachable", map[string]string{"node": "node-a"}}},
			inject: func(*testing.T) { e.nodes["node-a"].StopKubeProxy() },
			remove: func(t *testing.T) { e.nodes["node-a"].StartKubeProxy(t) },
		},
		{
			name:   "a rule on node-c rejects a Service's traffic (kube-proxy healthy)",
			expect: match{"KubeProxyServiceVIPUnreachable", map[string]string{"node": "node-c", "target": e.vip}},
			lookalikes: []match{{"KubeProxyServiceVIPUnreachable", map[string]string{"node": "node-a"}}, {"KubeProxyServiceVIPUnreachable", map[string]string{"node": "node-b"}},
				{"KubeProxyUnhealthy", map[string]string{"node": "node-c"}}},
			inject: func(t *testing.T) { unblock = e.nodes["node-c"].BlockService(t, e.vip) },
			remove: func(t *testing.T) { unblock(t) },
		},
		{
			name:       "node-local DNS cache down on " + cachedNode + " (the DNS Service answers)",
			expect:     match{"DNSNodeLocalCacheFailing", map[string]string{"node": cachedNode, "server": cacheIP + ":53"}},
			lookalikes: []match{{"DNSFailingFromNode", map[string]string{"node": cachedNode}}, {"ClusterDNSDown", nil}},
			inject:     func(*testing.T) { e.cacheDown.Store(true) },
			remove:     func(*testing.T) { e.cacheDown.Store(false) },
		},
	}
}

// quietServiceCases are Services that are fine, or empty on purpose, in the
// ways real clusters hold them; no alert may fire for them, and the
// Services dashboard's panels show them: a canary beside the web
// Deployment that alone exposes an admin port (one Service over two
// workloads, a port served by part of its pods), a Deployment parked at
// zero replicas, and a DaemonSet behind a Service with internalTrafficPolicy
// Local (an endpoint on every node).
func (e *env) quietServiceCases(t *testing.T) {
	ctx := context.Background()
	c := e.cluster
	canary := deployment("web-canary", map[string]string{"app": "web", "track": "canary"})
	canary.Spec.Replicas = ptr.To[int32](1)
	canary.Spec.Template.Spec.Containers[0].Ports = append(canary.Spec.Template.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "admin", ContainerPort: 9000})
	parked := deployment("parked", map[string]string{"app": "parked"})
	parked.Spec.Replicas = ptr.To[int32](0)
	for _, d := range []*appsv1.Deployment{canary, parked} {
		_, err := c.Client.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{})
		must(t, err)
	}
	nodeLocal := map[string]string{"app": "node-local"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "node-local", Namespace: namespace},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: nodeLocal},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: nodeLocal}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/serve_hostname", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9376}}}},
			}}}}
	_, err := c.Client.AppsV1().DaemonSets(namespace).Create(ctx, ds, metav1.CreateOptions{})
	must(t, err)
	admin := service("web-admin", map[string]string{"app": "web"})
	admin.Spec.Ports = append(admin.Spec.Ports, corev1.ServicePort{Name: "admin", Port: 9000, TargetPort: intstr.FromString("admin")})
	local := service("node-local", nodeLocal)
	local.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	for _, svc := range []*corev1.Service{admin, service("parked", map[string]string{"app": "parked"}), local} {
		_, err := c.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
		must(t, err)
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

// --- phase 2: a node shut down, a partition, a kubelet fault ---------------

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

// --- phase 3: cluster DNS down, alone: its consequences are inhibited -------

// clusterDNSDown stops CoreDNS. Every node's and DNS pod's lookups fail too:
// their alerts fire later, and Alertmanager inhibits them; nothing else
// notifies.
func (e *env) clusterDNSDown() *scenario {
	ctx := context.Background()
	c := e.cluster
	return &scenario{
		name:       "cluster DNS down (CoreDNS stopped)",
		expect:     match{"ClusterDNSDown", nil},
		lookalikes: []match{{"DNSFailingFromNode", nil}, {"DNSEndpointFailing", nil}, {"KubeAPIServerDown", nil}},
		inhibited: []match{
			{"DNSFailingFromNode", map[string]string{"node": "node-a"}},
			{"DNSEndpointFailing", map[string]string{"server": net.JoinHostPort(localcluster.DNSEndpointName, dnsPort(c))}},
		},
		alone:  true,
		inject: func(t *testing.T) { must(t, c.StopComponent(localcluster.CoreDNS)) },
		remove: func(t *testing.T) { must(t, c.StartComponent(ctx, localcluster.CoreDNS)) },
	}
}

// --- phase 4: scheduler and controller-manager down ------------------------

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

// --- phases 5 and 6: etcd lost, then the apiserver down --------------------

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

// apiserverDown kills the apiserver; meanwhile the CoreDNS pods restart,
// and cannot load the cluster's names without it: cluster DNS goes down as
// a consequence, and its alert is inhibited.
func (e *env) apiserverDown() *scenario {
	c := e.cluster
	return &scenario{
		name:   "apiserver down (and CoreDNS, restarted meanwhile, with it)",
		expect: match{"KubeAPIServerDown", nil},
		lookalikes: []match{{"KubeAPIServerStorageDown", nil}, {"KubeControlPlaneLeaderLost", nil}, {"KubeNodeShutdown", nil},
			{"KubeNodePartitioned", nil}, {"KubeletFault", nil}, {"ClusterDNSDown", nil}, {"KubeTriageWatchFailing", nil}},
		inhibited: []match{{"ClusterDNSDown", nil}},
		alone:     true,
		inject: func(t *testing.T) {
			must(t, c.KillComponent(localcluster.APIServer))
			must(t, c.StopComponent(localcluster.CoreDNS))
		},
		remove: func(t *testing.T) {
			// "Existing pods and services keep working": the backends
			// collector, probing on from the endpoints it knew, says so
			// while the apiserver is still down.
			ctx := context.Background()
			if v, err := e.mon.query(ctx, `max(time() - kube_triage_probe_last_run_timestamp_seconds{cluster="a",collector="backends"})`); err != nil || v > 10 {
				t.Errorf("with the apiserver down, the backends prober's last round was %vs ago (%v); want it probing on", v, err)
			}
			if v, err := e.mon.query(ctx, `min(kube_triage_backends_services{cluster="a",verdict="answering"})`); err != nil || v < 2 {
				t.Errorf("with the apiserver down, %v probed Services answer (%v); want the 2 that do (vip-backend, backends)", v, err)
			}
			must(t, c.StartComponent(ctx, localcluster.APIServer))
			must(t, c.StartComponent(ctx, localcluster.CoreDNS))
		},
	}
}

// dnsPort is the port of the cluster's CoreDNS, which its DNS endpoint
// publishes.
func dnsPort(c *localcluster.Cluster) string {
	_, port, _ := net.SplitHostPort(c.DNSAddr)
	return port
}
