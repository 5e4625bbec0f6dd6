package dns

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// The dns collector against the real CoreDNS serving the local control
// plane: the control name resolves to the kubernetes Service's ClusterIP
// through the Service and through the DNS pod; a DNS endpoint that does
// not answer is reported on its own; stopping CoreDNS fails the control
// probe; a Service deleted after it resolved turns NXDOMAIN.
func TestDNSOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := clustertest.Namespace(t, cluster, "dns")
	svc, err := cluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hostnames"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "hostnames"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A second DNS "pod" on a port where nothing answers (the API takes no
	// loopback IP in a slice: the local cluster's DNS endpoints are FQDNs
	// that its CoreDNS resolves to 127.0.0.1).
	closed := testenv.FreeUDPPort(t)
	broken := localcluster.SpareDNSName + ":" + strconv.Itoa(closed)
	if _, err := cluster.Client.DiscoveryV1().EndpointSlices("kube-system").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kube-dns-broken-" + ns, Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To(int32(closed)), Protocol: ptr.To(corev1.ProtocolUDP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{localcluster.SpareDNSName}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cluster.Client.DiscoveryV1().EndpointSlices("kube-system").Delete(context.Background(), "kube-dns-broken-"+ns, metav1.DeleteOptions{})
	}()

	hostnames := "hostnames." + ns
	col := runDNSCollector(ctx, t, cluster, cluster.ResolvConf, hostnames)

	probe := func(server, name string) (float64, bool) {
		return collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_dns_probe_success", map[string]string{"server": server, "name": name})
	}
	is := func(server, name string, want float64) func() (bool, error) {
		return func() (bool, error) {
			if v, ok := probe(server, name); !ok || v != want {
				return false, fmt.Errorf("probe_success through %s for %s is %v (present %v), want %v", server, name, v, ok, want)
			}
			return true, nil
		}
	}
	all := func(conds ...func() (bool, error)) func() (bool, error) {
		return func() (bool, error) {
			for _, cond := range conds {
				if ok, err := cond(); !ok {
					return false, err
				}
			}
			return true, nil
		}
	}

	_, corednsPort, _ := net.SplitHostPort(cluster.DNSAddr)
	pod := localcluster.DNSEndpointName + ":" + corednsPort
	testenv.WaitFor(t, "the control name through the Service, the DNS pod and the broken one", 60*time.Second, all(
		is("service", "kubernetes.default", 1), is(pod, "kubernetes.default", 1),
		is(broken, "kubernetes.default", 0), is("service", hostnames, 1)))
	if v, _ := collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_dns_probe_answer_matches", map[string]string{"server": "service", "name": hostnames}); v != 1 {
		t.Errorf("answer for %s does not match its ClusterIP %s", hostnames, svc.Spec.ClusterIP)
	}

	if err := cluster.Client.CoreV1().Services(ns).Delete(ctx, "hostnames", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the deleted Service to turn NXDOMAIN", 60*time.Second, all(
		func() (bool, error) {
			if v, _ := collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_dns_probes_total", map[string]string{"server_kind": "service", "result": "nxdomain"}); v == 0 {
				return false, fmt.Errorf("no nxdomain answer counted through the Service")
			}
			return true, nil
		},
		is("service", hostnames, 0)))

	if err := cluster.StopComponent(localcluster.CoreDNS); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the control probe to fail with CoreDNS stopped", 60*time.Second, is("service", "kubernetes.default", 0))
	if err := cluster.StartComponent(ctx, localcluster.CoreDNS); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the control probe to recover", 60*time.Second, is("service", "kubernetes.default", 1))
}

// A node-local DNS cache (as NodeLocal DNSCache on 169.254.20.10) on
// loopback port 53, the nameserver of the pods' resolv.conf, forwarding to
// the local control plane's CoreDNS: probed as server_kind resolver. When
// the cache stops answering while the Service answers, the resolver
// probes fail alone (DNSNodeLocalCacheFailing's case); when it serves a
// deleted Service's cached answer, that is a stale_answer, not a success.
func TestDNSThroughNodeLocalCache(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := clustertest.Namespace(t, cluster, "nodelocal")
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "cached"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "cached"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	const (
		forwarding = iota
		down       // answers nothing: the cache's pod is gone
		serveStale // answers from its cache only
	)
	var mode atomic.Int32
	var cached sync.Map // question name: *dns.Msg
	resolver := testenv.DNSServerAt(t, "127.0.0.153:53", func(w dns.ResponseWriter, q *dns.Msg) {
		name := q.Question[0].Name
		switch mode.Load() {
		case down:
			return
		case serveStale:
			if m, ok := cached.Load(name); ok {
				reply := m.(*dns.Msg).Copy()
				reply.Id = q.Id
				_ = w.WriteMsg(reply)
				return
			}
		}
		in, _, err := (&dns.Client{Timeout: time.Second}).Exchange(q, cluster.DNSAddr)
		if err != nil {
			return
		}
		if in.Rcode == dns.RcodeSuccess && len(in.Answer) > 0 {
			cached.Store(name, in)
		}
		_ = w.WriteMsg(in)
	})
	resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.153\noptions ndots:5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := "cached." + ns
	col := runDNSCollector(ctx, t, cluster, resolvConf, name)

	result := func(server, name string, result guide.DNSResult) func() (bool, error) {
		return func() (bool, error) {
			v, ok := collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_dns_probe_result", map[string]string{"server": server, "name": name, "result": string(result)})
			return ok && v == 1, nil
		}
	}
	both := func(a, b func() (bool, error)) func() (bool, error) {
		return func() (bool, error) { x, _ := a(); y, _ := b(); return x && y, nil }
	}
	testenv.WaitFor(t, "both names through the cache and the Service", 60*time.Second, both(
		both(result(resolver, "kubernetes.default", guide.DNSSuccess), result(resolver, name, guide.DNSSuccess)),
		both(result("service", "kubernetes.default", guide.DNSSuccess), result("service", name, guide.DNSSuccess))))

	mode.Store(down)
	testenv.WaitFor(t, "the cache to time out while the Service answers", 60*time.Second, both(
		result(resolver, "kubernetes.default", guide.DNSTimeout), result("service", "kubernetes.default", guide.DNSSuccess)))

	mode.Store(serveStale)
	if err := cluster.Client.CoreV1().Services(ns).Delete(ctx, "cached", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the cache's answer for the deleted Service to read stale, the Service's NXDOMAIN", 60*time.Second, both(
		result(resolver, name, guide.DNSStaleAnswer), result("service", name, guide.DNSNXDomain)))
}

// runDNSCollector runs a dns collector on the local control plane, every
// 300ms, with the resolv.conf at resolvConf and a chosen name.
func runDNSCollector(ctx context.Context, t *testing.T, cluster *localcluster.Cluster, resolvConf, name string) *dnsCollector {
	t.Helper()
	rc, err := dnsprobe.ReadResolvConf(resolvConf)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	col, err := newDNSCollector(Config{Service: "kube-system/kube-dns", ServiceAddress: cluster.DNSAddr, ClusterDomain: "cluster.local",
		ResolvConf: rc, Names: []string{name}}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc,
		Schedule: prober.Schedule{Interval: 300 * time.Millisecond, Timeout: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	kc.Informers.Start(ctx)
	go col.Run(ctx)
	return col
}
