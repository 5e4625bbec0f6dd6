//go:build linux

// Package nodenet gives a local control plane's simulated nodes a network of
// their own: each node is a network namespace running a real kube-proxy
// against the control plane, with its own Service rules (nftables), and a
// backend "pod" in another namespace on the same bridge, so a connection to a
// Service's ClusterIP from a node goes through that node's rules to a real
// server. A node agent started in a node's namespace sees what a DaemonSet
// pod with hostNetwork sees on a kubeadm node: kube-proxy's health server on
// the node's address, its metrics on 127.0.0.1:10249.
//
// Addresses are chosen here (localcluster.NodeNetCIDR) and exist only inside the
// namespaces: a node's default route leads to the pods namespace, which
// routes nowhere. The host is reached only on its loopback, through
// forwarders: the apiserver, CoreDNS and whatever the test names.
package nodenet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/childproc"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

const (
	// gateway is the bridge's address in the pods namespace: every node's
	// default route.
	gateway = "10.250.0.1"
	// PodIP:PodPort is the backend pod: an HTTP server answering 200.
	PodIP   = "10.250.0.10"
	PodPort = 8080
	// Ports kube-proxy serves on by default (kubeadm leaves them so):
	// health on every address, metrics on loopback only.
	HealthPort  = 10256
	MetricsAddr = "127.0.0.1:10249"
)

// Network is the pods namespace (a bridge, the backend pod) and the nodes
// attached to it.
type Network struct {
	cluster  *localcluster.Cluster
	pods     *testenv.Netns
	proxyBin string
	nodes    int
	podCount int
	// exporters counts the cluster exporters in the pods' namespace.
	exporters   int
	forwardOnce sync.Once
}

// New makes the pods namespace and starts the backend pod in it.
func New(t testing.TB, c *localcluster.Cluster) *Network {
	t.Helper()
	testenv.NeedNetns(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := bins.Ensure(root, t.Logf, "kube-proxy"); err != nil {
		t.Fatal(err)
	}
	w := &Network{cluster: c, pods: testenv.NewNetns(t, "pods"), proxyBin: filepath.Join(bins.Dir(root), "kube-proxy")}
	w.pods.Exec(t, "ip", "link", "add", "br0", "type", "bridge")
	w.pods.Exec(t, "ip", "addr", "add", gateway+"/24", "dev", "br0")
	w.pods.Exec(t, "ip", "addr", "add", PodIP+"/24", "dev", "br0")
	w.pods.Exec(t, "ip", "link", "set", "br0", "up")
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("backend\n")) }),
		ReadHeaderTimeout: 5 * time.Second}
	l := w.pods.Listen(t, net.JoinHostPort(PodIP, fmt.Sprint(PodPort)))
	go func() { _ = backend.Serve(l) }()
	t.Cleanup(func() { backend.Close() })
	return w
}

// Service creates a selector-less Service with the given ClusterIP and port
// and an EndpointSlice whose one ready endpoint is the backend pod; it
// returns the Service address (clusterIP:port).
func (w *Network) Service(t testing.TB, namespace, name, clusterIP string, port int32) string {
	t.Helper()
	return w.service(t, namespace, name, clusterIP, port, PodPort,
		[]discoveryv1.Endpoint{{Addresses: []string{PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}})
}

func (w *Network) service(t testing.TB, namespace, name, clusterIP string, port int32, targetPort int, eps []discoveryv1.Endpoint) string {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt(targetPort)}}}}
	if _, err := w.cluster.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s/%s: %v", namespace, name, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-backend", Namespace: namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "nodenet",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(targetPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   eps,
	}
	if _, err := w.cluster.Client.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the EndpointSlice of %s/%s: %v", namespace, name, err)
	}
	return net.JoinHostPort(clusterIP, fmt.Sprint(port))
}

// Pod is a backend pod of its own: a network namespace on the bridge with
// an address of its own, as a CNI gives each pod.
type Pod struct {
	Name, IP string
	NS       *testenv.Netns
}

// Pod attaches a new pod namespace to the bridge; it serves nothing until
// told to (Serve).
func (w *Network) Pod(t testing.TB, name string) *Pod {
	t.Helper()
	w.podCount++
	p := &Pod{Name: name, IP: fmt.Sprintf("10.250.0.%d", 100+w.podCount), NS: testenv.NewNetns(t, name)}
	w.attach(t, p.NS, fmt.Sprintf("p%d", w.podCount), p.IP)
	return p
}

// attach plugs ns into the bridge by a veth pair (veth on the bridge's
// side, eth0 in ns) with the address ip, its default route the gateway.
func (w *Network) attach(t testing.TB, ns *testenv.Netns, veth, ip string) {
	t.Helper()
	w.pods.Exec(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
	w.pods.Exec(t, "ip", "link", "set", veth, "master", "br0", "up")
	ns.Exec(t, "ip", "addr", "add", ip+"/24", "dev", "eth0")
	ns.Exec(t, "ip", "link", "set", "eth0", "up")
	ns.Exec(t, "ip", "route", "add", "default", "via", gateway)
}

// Serve runs an HTTP server on the pod's port that answers with the pod's
// name, as the guide's hostnames pods do; stop closes it (the port then
// refuses, as when the process dies), and Serve may start it again.
func (p *Pod) Serve(t testing.TB, port int) (stop func()) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(p.Name + "\n")) }),
		ReadHeaderTimeout: 5 * time.Second}
	l := p.NS.Listen(t, net.JoinHostPort(p.IP, fmt.Sprint(port)))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return func() { srv.Close() }
}

// policyTable is the nftables table DropIncoming writes in a pod.
const policyTable = "kube-triage-policy"

// DropIncoming drops, in the pod's namespace, every TCP packet that comes
// to port: what a NetworkPolicy that does not admit the client does (the
// client's connection times out). The returned func removes it.
func (p *Pod) DropIncoming(t testing.TB, port int) (undo func(testing.TB)) {
	t.Helper()
	p.NS.Exec(t, "nft", fmt.Sprintf(`table ip %s { chain input { type filter hook input priority 0; tcp dport %d drop; }; }`, policyTable, port))
	return func(t testing.TB) {
		t.Helper()
		p.NS.Exec(t, "nft", "delete", "table", "ip", policyTable)
	}
}

// ServiceOf creates a selector-less Service with the given ClusterIP and
// port and an EndpointSlice whose ready endpoints are the pods, on
// targetPort; it returns the Service address (clusterIP:port).
func (w *Network) ServiceOf(t testing.TB, namespace, name, clusterIP string, port int32, targetPort int, pods ...*Pod) string {
	t.Helper()
	var eps []discoveryv1.Endpoint
	for _, p := range pods {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{p.IP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return w.service(t, namespace, name, clusterIP, port, targetPort, eps)
}

// Exporter runs a cluster exporter in the pods' namespace, as its
// Deployment's pod runs in the pod network: it reaches the apiserver and
// CoreDNS at their host addresses (forwarded in), and dials pod IPs and
// ClusterIPs that exist only in these namespaces. It listens on the
// gateway address; Addr is its host address for a scraper.
func (w *Network) Exporter(t testing.TB, args ...string) *testenv.ExporterProcess {
	t.Helper()
	w.forwardControlPlane(t)
	listen := net.JoinHostPort(gateway, fmt.Sprint(10027+w.exporters))
	w.exporters++
	p := w.pods.Start(t, "exporter (pod network)", testenv.Exporter(t), []string{"KUBECONFIG=/nonexistent"},
		append(append(w.cluster.NetnsExporterArgs(w.cluster.Kubeconfig), "--web.listen-address="+listen), args...)...)
	return &testenv.ExporterProcess{Process: p, Addr: w.pods.ForwardFromHost(t, listen)}
}

// forwardControlPlane makes the apiserver and CoreDNS reachable in the
// pods' namespace, once.
func (w *Network) forwardControlPlane(t testing.TB) {
	t.Helper()
	w.forwardOnce.Do(func() {
		apiserver, err := url.Parse(w.cluster.Config.Host)
		if err != nil {
			t.Fatal(err)
		}
		w.pods.ForwardToHost(t, apiserver.Host, false)
		w.pods.ForwardToHost(t, w.cluster.DNSAddr, true)
	})
}

// Node is one simulated node's network namespace with its kube-proxy.
type Node struct {
	Name, IP string
	NS       *testenv.Netns
	net      *Network
	proxy    *kubeProxy
}

// Node attaches a new node namespace to the bridge, forwards the control
// plane's apiserver and CoreDNS (and the host addresses in forward, each
// TCP and UDP) into it at the same addresses, and starts its kube-proxy.
// The Node object must exist in the cluster.
func (w *Network) Node(t testing.TB, name string, forward ...string) *Node {
	t.Helper()
	w.nodes++
	n := &Node{Name: name, IP: fmt.Sprintf("10.250.0.%d", 20+w.nodes), NS: testenv.NewNetns(t, name), net: w}
	w.attach(t, n.NS, fmt.Sprintf("n%d", w.nodes), n.IP)
	apiserver, err := url.Parse(w.cluster.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	n.NS.ForwardToHost(t, apiserver.Host, false)
	n.NS.ForwardToHost(t, w.cluster.DNSAddr, true)
	for _, addr := range forward {
		n.NS.ForwardToHost(t, addr, true)
	}
	n.proxy = &kubeProxy{cmd: append([]string{"netns", "exec", n.NS.Name, w.proxyBin},
		"--kubeconfig="+w.cluster.Kubeconfig,
		"--hostname-override="+n.Name,
		"--proxy-mode=nftables",
		fmt.Sprintf("--healthz-bind-address=0.0.0.0:%d", HealthPort),
		"--metrics-bind-address="+MetricsAddr,
		// The conntrack table's size and hash are the host's (global
		// sysctls), and its timeouts are not this test's business: leave them.
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
	)}
	t.Cleanup(func() {
		n.proxy.stop()
		if exits := n.proxy.exitLog(); exits != "" {
			t.Logf("kube-proxy on %s exited by itself and was started again:\n%s", n.Name, exits)
		}
	})
	n.StartKubeProxy(t)
	return n
}

// HealthURL is kube-proxy's health server as a DaemonSet pod reaches it:
// on the node's address.
func (n *Node) HealthURL() string { return fmt.Sprintf("http://%s:%d", n.IP, HealthPort) }

// StartKubeProxy starts the node's kube-proxy in nftables mode and waits
// until it has programmed the rules (its /healthz answers 200).
func (n *Node) StartKubeProxy(t testing.TB) {
	t.Helper()
	n.proxy.start()
	if err := testenv.Poll(time.Minute, 100*time.Millisecond, func() (bool, error) {
		status, _, err := testenv.Get(n.NS.HTTPClient(2*time.Second), n.HealthURL()+"/healthz")
		return status == http.StatusOK, err
	}); err != nil {
		t.Fatalf("kube-proxy on %s did not program its rules: %v; its last lines: %s", n.Name, err, n.proxy.lastLines())
	}
}

// StopKubeProxy kills kube-proxy; the rules it wrote stay in the kernel,
// as they do when kube-proxy crashes on a real node.
func (n *Node) StopKubeProxy() { n.proxy.stop() }

// Restarts says how often kube-proxy exited by itself (and was started
// again), with the last lines it wrote each time.
func (n *Node) Restarts() (int, string) { return n.proxy.restarts(), n.proxy.exitLog() }

// kubeProxy runs kube-proxy as its DaemonSet's pod runs: started again a
// second after it exits by itself, as the kubelet does (kube-proxy exits on
// purpose, for one, when its Node's addresses change), until stopped.
type kubeProxy struct {
	cmd []string // ip netns exec ...

	mu      sync.Mutex
	proc    *exec.Cmd
	stopped chan struct{} // closed by stop
	done    chan struct{} // closed when the supervising goroutine ends
	exits   []string
	out     *testenv.SyncBuffer // the running one's output
}

func (k *kubeProxy) start() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done != nil {
		select {
		case <-k.done:
		default:
			return // running
		}
	}
	k.stopped, k.done = make(chan struct{}), make(chan struct{})
	go k.supervise(k.stopped, k.done)
}

func (k *kubeProxy) supervise(stopped, done chan struct{}) {
	defer close(done)
	for {
		out := &testenv.SyncBuffer{}
		k.mu.Lock()
		k.out = out
		k.mu.Unlock()
		cmd := exec.Command("ip", k.cmd...)
		cmd.Stdout, cmd.Stderr = out, out
		k.mu.Lock()
		select {
		case <-stopped: // stop ran while this waited to start again
			k.mu.Unlock()
			return
		default:
		}
		err := childproc.Start(cmd)
		k.proc = cmd
		k.mu.Unlock()
		if err == nil {
			err = cmd.Wait()
		}
		select {
		case <-stopped:
			return
		default:
		}
		k.mu.Lock()
		k.exits = append(k.exits, fmt.Sprintf("%s (%v): %s", time.Now().Format(time.TimeOnly), err, lastLines(out.String(), 3)))
		k.mu.Unlock()
		select {
		case <-stopped:
			return
		case <-time.After(time.Second):
		}
	}
}

func (k *kubeProxy) stop() {
	k.mu.Lock()
	if k.done == nil {
		k.mu.Unlock()
		return
	}
	select {
	case <-k.stopped:
	default:
		close(k.stopped)
	}
	if k.proc != nil && k.proc.Process != nil {
		_ = k.proc.Process.Kill()
	}
	done := k.done
	k.mu.Unlock()
	<-done
}

func (k *kubeProxy) lastLines() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.out == nil {
		return ""
	}
	return lastLines(k.out.String(), 5)
}

func (k *kubeProxy) restarts() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.exits)
}

func (k *kubeProxy) exitLog() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.exits, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// faultTable is the nftables table BlockService writes: not kube-proxy's,
// which kube-proxy rebuilds on its next sync (any Service or endpoint
// change in the cluster), but a rule of the node's own, as a host firewall
// or another agent leaves one, that kube-proxy never looks at.
const faultTable = "kube-triage-fault"

// BlockService makes this node reject TCP connections to the Service
// address before kube-proxy's rules see them, while kube-proxy runs on and
// reports healthy; other nodes are untouched. The returned func removes
// the rule.
func (n *Node) BlockService(t testing.TB, vip string) (unblock func(testing.TB)) {
	t.Helper()
	host, port, err := net.SplitHostPort(vip)
	if err != nil {
		t.Fatal(err)
	}
	// Priority -200: before kube-proxy's DNAT (dstnat, -100) rewrites the
	// ClusterIP to the pod's address.
	n.NS.Exec(t, "nft", fmt.Sprintf(`table ip %s { chain output { type filter hook output priority -200; ip daddr %s tcp dport %s reject with tcp reset; }; }`,
		faultTable, host, port))
	return func(t testing.TB) {
		t.Helper()
		n.NS.Exec(t, "nft", "delete", "table", "ip", faultTable)
	}
}
