// Package localcluster runs a real Kubernetes control plane on loopback for
// integration tests and `make demo`: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and CoreDNS built from their Go
// modules, and kwok simulating nodes. It is a simulator only in the nodes:
// no kubelet runs, so kwok moves scheduled pods to Running and Ready and
// renews node Leases; everything else (EndpointSlices, DNS answers, leader
// Leases) comes from the real components.
package localcluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/filelock"
)

// Component names, for StopComponent and StartComponent.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	CoreDNS           = "coredns"
	// Kwok is the binary that simulates a node's kubelet; each node has its
	// own process, named by NodeAgent.
	Kwok = "kwok"
)

// NodeAgent names the kwok process that plays the kubelet of node.
func NodeAgent(node string) string { return "kwok-" + node }

// Binaries are the programs a cluster runs, as hack/build-bins.sh names them.
var Binaries = []string{Etcd, APIServer, ControllerManager, Scheduler, CoreDNS, Kwok}

// Options configure a cluster.
type Options struct {
	// Root is the repository root (for .cache/bin and tools/kwok/stages).
	Root string
	// Nodes are the simulated nodes to register; default node-a and node-b.
	Nodes []string
	// Logf receives progress lines (start-up timings); nil discards them.
	Logf func(format string, args ...any)
}

// Cluster is a running local control plane.
type Cluster struct {
	// Dir holds the certificates, data and logs (<component>.log).
	Dir string
	// Kubeconfig is the admin kubeconfig file.
	Kubeconfig string
	// Config and Client talk to the apiserver as cluster admin.
	Config *rest.Config
	Client kubernetes.Interface
	// DNSAddr is CoreDNS's UDP/TCP address (127.0.0.1:port), serving
	// cluster.local from the apiserver. It is published as the endpoint of
	// the kube-system/kube-dns Service (ClusterIP DNSServiceIP), as kubeadm
	// does; the ClusterIP routes nowhere on the host (no kube-proxy there;
	// see nodenet for nodes that have one).
	DNSAddr string
	// ResolvConf is a pod's resolv.conf for the default namespace.
	ResolvConf string
	// ServiceCIDR is the range ClusterIPs come from.
	ServiceCIDR string
	// Nodes are the simulated nodes.
	Nodes []string

	opts       Options
	kwokStages string
	mu         sync.Mutex // guards components and order: nodes can be added later
	components map[string]*component
	order      []string
	nodeAgents int
	stopOnce   sync.Once
}

const (
	serviceCIDR = "10.96.0.0/16"
	podCIDR     = "10.244.0.0/16"
	// NodeNetCIDR is nodenet's: its nodes' and pods' addresses, which
	// exist only inside its network namespaces.
	NodeNetCIDR = "10.250.0.0/24"
)

// GuardedRanges are the test clusters' addresses that must never be
// dialled from the host's network namespace, where they route out of the
// machine: hack/test.sh gives them blackhole routes there while the tests
// run.
var GuardedRanges = []string{serviceCIDR, podCIDR, NodeNetCIDR}

// Start builds (if needed) and starts a cluster. On error nothing is left
// running and the directory is removed.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if len(opts.Nodes) == 0 {
		opts.Nodes = []string{"node-a", "node-b"}
	}
	if err := bins.Ensure(opts.Root, opts.Logf, Binaries...); err != nil {
		return nil, err
	}
	sweepStaleDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, ServiceCIDR: serviceCIDR, Nodes: opts.Nodes, opts: opts, components: map[string]*component{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	begin := time.Now()
	if err := c.startControlPlane(ctx); err != nil {
		return nil, err
	}
	for _, n := range opts.Nodes {
		if err := c.AddNode(ctx, n); err != nil {
			return nil, err
		}
	}
	if err := c.publishClusterDNS(ctx); err != nil {
		return nil, err
	}
	opts.Logf("localcluster: control plane ready in %.1fs (dir %s)", time.Since(begin).Seconds(), dir)
	return c, nil
}

// ExporterArgs are the flags that point kube-triage-exporter at this
// cluster. The DNS Service's ClusterIP routes nowhere here, so DNS probes
// go to CoreDNS's loopback address instead; always run the exporter with
// these.
func (c *Cluster) ExporterArgs() []string { return c.ExporterArgsWith(c.Kubeconfig) }

// ExporterArgsWith is ExporterArgs with another kubeconfig: one that
// impersonates a ServiceAccount, or one whose apiserver is out of reach.
// The backends collector is off: an exporter on the host dials no pod IP
// (they route out of the machine there); NetnsExporterArgs leaves it on.
func (c *Cluster) ExporterArgsWith(kubeconfig string) []string {
	return append(c.NetnsExporterArgs(kubeconfig), "--no-collector.backends")
}

// NetnsExporterArgs are the arguments of an exporter that runs in a
// network namespace of the test's own, where the pod IPs it dials stay.
func (c *Cluster) NetnsExporterArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--collector.dns.service-address=" + c.DNSAddr,
		"--collector.dns.resolv-conf=" + c.ResolvConf,
	}
}

// DNSServiceIP is the ClusterIP of kube-system/kube-dns.
const DNSServiceIP = "10.96.0.10"

// Names CoreDNS answers with 127.0.0.1: the API refuses loopback IPs in
// EndpointSlices, so the kube-dns endpoint is published as the FQDN
// DNSEndpointName; SpareDNSName is for tests that publish another one.
const (
	DNSEndpointName = "dns-a.localcluster.test"
	SpareDNSName    = "dns-b.localcluster.test"
)

// publishClusterDNS creates the kube-dns Service with CoreDNS as its
// endpoint, and a pod's resolv.conf pointing at it.
func (c *Cluster) publishClusterDNS(ctx context.Context) error {
	_, portText, _ := net.SplitHostPort(c.DNSAddr)
	port, _ := strconv.Atoi(portText)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.ServiceSpec{ClusterIP: DNSServiceIP, Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt(port)},
			{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt(port)},
		}},
	}
	if _, err := c.Client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating kube-dns: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-local", Namespace: "kube-system", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kube-dns", discoveryv1.LabelManagedBy: "localcluster",
		}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolUDP)},
			{Name: ptr.To("dns-tcp"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)},
		},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{DNSEndpointName}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices("kube-system").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating kube-dns endpoints: %w", err)
	}
	// default/kubernetes has no endpoints here (the apiserver cannot publish
	// a loopback address): say it is empty on purpose.
	patch := []byte(`{"metadata":{"annotations":{"kube-triage.io/expected-empty":"true"}}}`)
	if _, err := c.Client.CoreV1().Services("default").Patch(ctx, "kubernetes", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating default/kubernetes: %w", err)
	}
	// No nameserver line: a pod's would be the ClusterIP, which nothing
	// here serves (and tests send nothing off loopback), so the exporter's
	// resolver probes stay off; the tests of a node-local cache write
	// their own resolv.conf naming a loopback one.
	c.ResolvConf = filepath.Join(c.Dir, "resolv.conf")
	return os.WriteFile(c.ResolvConf, []byte("search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"), 0o600)
}

// Stop ends every component and removes the directory. It is safe to call
// more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		order := slices.Clone(c.order)
		c.mu.Unlock()
		for i := len(order) - 1; i >= 0; i-- {
			c.component(order[i]).stop()
		}
		os.RemoveAll(c.Dir)
	})
}

// StopComponent stops one component gracefully (SIGTERM), as an operator
// or a crash-looping process would leave it.
func (c *Cluster) StopComponent(name string) error {
	comp, err := c.lookup(name)
	if err == nil {
		comp.stop()
	}
	return err
}

// KillComponent kills one component at once (SIGKILL), as a VM crash would.
func (c *Cluster) KillComponent(name string) error {
	comp, err := c.lookup(name)
	if err == nil {
		comp.kill()
	}
	return err
}

func (c *Cluster) component(name string) *component {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.components[name]
}

func (c *Cluster) lookup(name string) (*component, error) {
	if comp := c.component(name); comp != nil {
		return comp, nil
	}
	return nil, fmt.Errorf("no component %q", name)
}

// StartComponent starts a stopped component again with the same ports and
// data, and waits until it is ready.
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	comp, err := c.lookup(name)
	if err != nil {
		return err
	}
	if comp.running() {
		return nil
	}
	return comp.start(ctx, startTimeout)
}

// Log returns a component's log so far.
func (c *Cluster) Log(name string) string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	return string(data)
}

const startTimeout = 60 * time.Second

// startControlPlane picks the ports and starts every component but the
// nodes. Test packages start clusters side by side, and a free port is free
// only until someone binds it: a file lock shared by every process on the
// machine covers the time from picking the ports to the components binding
// them, so two clusters never pick the same one.
func (c *Cluster) startControlPlane(ctx context.Context) (err error) {
	unlock, err := filelock.Lock(filepath.Join(os.TempDir(), "kte-localcluster-ports.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.configure(); err != nil {
		return err
	}
	for _, name := range []string{Etcd, APIServer} {
		if err := c.startComponent(ctx, name); err != nil {
			return err
		}
	}
	// The rest only need the apiserver; start them side by side.
	errs := make(chan error, 3)
	for _, name := range []string{ControllerManager, Scheduler, CoreDNS} {
		go func() { errs <- c.startComponent(ctx, name) }()
	}
	for range 3 {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (c *Cluster) startComponent(ctx context.Context, name string) error {
	begin := time.Now()
	if err := c.component(name).start(ctx, startTimeout); err != nil {
		return err
	}
	c.opts.Logf("localcluster: %s ready in %.1fs", name, time.Since(begin).Seconds())
	return nil
}

// configure writes keys, the kubeconfig and the config files, and defines
// every component with free loopback ports.
func (c *Cluster) configure() error {
	ports, err := freePorts(9)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, etcdMetrics, apiPort, kcmPort, schedPort, dnsPort, dnsHealth, dnsReady :=
		ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6], ports[7], ports[8]

	saKey, err := writeServiceAccountKey(c.Dir)
	if err != nil {
		return err
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	tokenHex := hex.EncodeToString(token)
	tokens := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(tokenHex+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}

	host := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	certDir := filepath.Join(c.Dir, "certs")
	caFile := filepath.Join(certDir, "apiserver.crt") // the apiserver writes it on first start
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	c.DNSAddr = fmt.Sprintf("127.0.0.1:%d", dnsPort)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	bin := func(name string) string { return filepath.Join(bins.Dir(c.opts.Root), name) }
	logOf := func(name string) string { return filepath.Join(c.Dir, name+".log") }
	kc := c.Kubeconfig

	c.define(&component{
		name: Etcd, bin: bin(Etcd), log: logOf(Etcd),
		args: []string{
			"--name=local", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
			"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
			fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeer),
			fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPeer),
			fmt.Sprintf("--initial-cluster=local=http://127.0.0.1:%d", etcdPeer),
			fmt.Sprintf("--listen-metrics-urls=http://127.0.0.1:%d", etcdMetrics),
			"--log-level=warn", "--unsafe-no-fsync=true",
		},
		ready: httpReady(fmt.Sprintf("http://127.0.0.1:%d/health", etcdMetrics), plainHTTP),
	})
	c.define(&component{
		name: APIServer, bin: bin(APIServer), log: logOf(APIServer),
		args: []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
			"--cert-dir=" + certDir, "--token-auth-file=" + tokens, "--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + saKey, "--service-account-signing-key-file=" + saKey,
			"--service-cluster-ip-range=" + serviceCIDR,
			// On loopback the apiserver cannot publish its own endpoints.
			"--endpoint-reconciler-type=none",
		},
		ready: func(ctx context.Context) error {
			if err := c.writeKubeconfig(host, caFile, tokenHex); err != nil {
				return err
			}
			return httpReady(host+"/readyz", func() (*http.Client, error) { return rest.HTTPClientFor(c.Config) })(ctx)
		},
	})
	// The controller-manager and the scheduler write their self-signed
	// serving certificates to certDir; the readiness check trusts only
	// that certificate, so it cannot mistake another process on the port
	// for the component.
	controlPlaneArgs := func(port int) []string {
		return []string{
			"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
			"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port), "--cert-dir=" + certDir,
			"--leader-elect-lease-duration=8s", "--leader-elect-renew-deadline=6s", "--leader-elect-retry-period=2s",
		}
	}
	c.define(&component{
		name: ControllerManager, bin: bin(ControllerManager), log: logOf(ControllerManager),
		args: append(controlPlaneArgs(kcmPort),
			"--service-account-private-key-file="+saKey, "--root-ca-file="+caFile,
			"--use-service-account-credentials=true",
			"--cluster-cidr="+podCIDR, "--service-cluster-ip-range="+serviceCIDR),
		ready: httpReady(fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), trusting(filepath.Join(certDir, ControllerManager+".crt"))),
	})
	c.define(&component{
		name: Scheduler, bin: bin(Scheduler), log: logOf(Scheduler),
		args:  controlPlaneArgs(schedPort),
		ready: httpReady(fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), trusting(filepath.Join(certDir, Scheduler+".crt"))),
	})

	corefile := filepath.Join(c.Dir, "Corefile")
	// CoreDNS answers cluster.local from the apiserver; the test names of DNS endpoints from
	// hosts; any other name NXDOMAIN, as an upstream would say of a name
	// that does not exist (there is no upstream here).
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`cluster.local.:%[1]d in-addr.arpa.:%[1]d ip6.arpa.:%[1]d {
    bind 127.0.0.1
    errors
    health 127.0.0.1:%[2]d
    ready 127.0.0.1:%[3]d
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %[6]s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
localcluster.test.:%[1]d {
    bind 127.0.0.1
    hosts {
        127.0.0.1 %[4]s %[5]s
    }
}
.:%[1]d {
    bind 127.0.0.1
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`, dnsPort, dnsHealth, dnsReady, DNSEndpointName, SpareDNSName, kc)), 0o600); err != nil {
		return err
	}
	c.define(&component{
		name: CoreDNS, bin: bin(CoreDNS), log: logOf(CoreDNS),
		args:  []string{"-conf", corefile},
		ready: httpReady(fmt.Sprintf("http://127.0.0.1:%d/ready", dnsReady), plainHTTP),
	})

	stages, err := writeKwokStages(c.opts.Root, c.Dir)
	if err != nil {
		return err
	}
	c.kwokStages = stages
	return nil
}

func (c *Cluster) define(comp *component) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.components[comp.name] = comp
	c.order = append(c.order, comp.name)
}

// defineNodeAgent defines the kwok process that plays node's kubelet: it
// keeps the node Ready, renews its Lease and runs the pods scheduled to it.
func (c *Cluster) defineNodeAgent(node string) *component {
	if comp := c.component(NodeAgent(node)); comp != nil {
		return comp
	}
	name := NodeAgent(node)
	c.mu.Lock()
	c.nodeAgents++
	podCIDR := fmt.Sprintf("10.244.%d.0/24", c.nodeAgents) // distinct pod IPs per node
	c.mu.Unlock()
	c.define(&component{
		name: name, bin: filepath.Join(bins.Dir(c.opts.Root), Kwok), log: filepath.Join(c.Dir, name+".log"),
		args: []string{
			"--kubeconfig=" + c.Kubeconfig, "--config=" + c.kwokStages,
			"--manage-single-node=" + node,
			"--node-lease-duration-seconds=40", "--cidr=" + podCIDR, "--node-ip=127.0.0.1",
			// Each node's kwok serves its own (unused) port; pick a free one.
			"--server-address=127.0.0.1:0",
		},
		// kwok has no readiness endpoint; AddNode waits for the node to
		// turn Ready instead.
		ready: func(context.Context) error { return nil },
	})
	return c.component(name)
}

// writeKubeconfig writes the admin kubeconfig once the apiserver has made
// its certificate, and builds the client.
func (c *Cluster) writeKubeconfig(host, caFile, token string) error {
	if c.Config != nil {
		return nil
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return errNotReady
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	cfg.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	c.Config, c.Client = restCfg, client
	return nil
}

// httpReady returns a check that GETs url with the client newClient makes
// (once it succeeds) and wants 200.
func httpReady(url string, newClient func() (*http.Client, error)) func(ctx context.Context) error {
	var client *http.Client
	return func(ctx context.Context) error {
		if client == nil {
			hc, err := newClient()
			if err != nil {
				return err
			}
			client = hc
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

func plainHTTP() (*http.Client, error) { return &http.Client{}, nil }

// trusting makes a client that trusts only the certificates in caFile,
// once the component has written it.
func trusting(caFile string) func() (*http.Client, error) {
	return func() (*http.Client, error) {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, errNotReady
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", caFile)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
	}
}

func writeServiceAccountKey(dir string) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sa.key")
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return path, os.WriteFile(path, data, 0o600)
}

// writeKwokStages joins the stage configs kwok needs into one file.
func writeKwokStages(root, dir string) (string, error) {
	var parts []string
	for _, f := range []string{
		"node-fast/node-initialize.yaml",
		"node-heartbeat-with-lease/node-heartbeat-with-lease.yaml",
		"pod-fast/pod-ready.yaml",
		"pod-fast/pod-complete.yaml",
		"pod-fast/pod-delete.yaml",
	} {
		data, err := os.ReadFile(filepath.Join(root, "tools", "kwok", "stages", f))
		if err != nil {
			return "", fmt.Errorf("kwok stages: %w", err)
		}
		parts = append(parts, strings.TrimSpace(string(data)))
	}
	path := filepath.Join(dir, "kwok-stages.yaml")
	return path, os.WriteFile(path, []byte(strings.Join(parts, "\n---\n")+"\n"), 0o600)
}

// freePorts reserves n distinct loopback ports, free for TCP and UDP,
// below the kernel's ephemeral range: a component the end-to-end rows stop
// and start again (CoreDNS, the apiserver) must find its port free, and
// one the kernel hands out could meanwhile be the source port of any
// connection on the machine (it happened: "bind: address already in
// use"). The listeners are closed before return, so another process
// could in principle bind a port meanwhile; the component then fails to
// start with its log in the error.
func freePorts(n int) ([]int, error) {
	low, high := 10_000, ephemeralLow()
	if high-low < 1_000 { // a machine whose ephemeral range starts low
		low, high = 0, 0
	}
	var ports []int
	var ls []io.Closer
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 10_000 {
			return nil, fmt.Errorf("no %d free loopback ports in [%d, %d)", n, low, high)
		}
		port := 0 // the kernel's choice
		if high > 0 {
			port = low + mrand.IntN(high-low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		port = l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		ls = append(ls, l, u)
		ports = append(ports, port)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768 // Linux's default
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\t")
	low, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 32768
	}
	return low
}

// dirPrefix names cluster directories: <prefix><pid>-<random>, so that a
// later start can remove those whose process died without cleaning up.
const dirPrefix = "kte-cluster-"

func sweepStaleDirs() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}
