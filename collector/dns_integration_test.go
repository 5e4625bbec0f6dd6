package collector

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testenv"
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
	broken := localcluster.SpareDNSName + ":" + itoa(closed)
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

	rc, err := dnsprobe.ReadResolvConf(cluster.ResolvConf)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	hostnames := "hostnames." + ns
	col, err := newDNSCollector(Deps{Logger: promslog.NewNopLogger(), Kube: kc, Config: Config{DNS: DNSConfig{
		Interval: 300 * time.Millisecond, Timeout: 500 * time.Millisecond,
		Service: "kube-system/kube-dns", ServiceAddress: cluster.DNSAddr, ClusterDomain: "cluster.local",
		ResolvConf: rc, Names: []string{hostnames},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	kc.Informers.Start(ctx)
	go col.(Runner).Run(ctx)

	probe := func(server, name string) (float64, bool) {
		return sample(t, scrapeOnce(t, col), "kube_triage_dns_probe_success", map[string]string{"server": server, "name": name})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	is := func(server, name string, want float64) func() bool {
		return func() bool { v, ok := probe(server, name); return ok && v == want }
	}

	_, corednsPort, _ := net.SplitHostPort(cluster.DNSAddr)
	pod := localcluster.DNSEndpointName + ":" + corednsPort
	waitFor("the control name through the Service, the DNS pod and the broken one", func() bool {
		return is("service", "kubernetes.default", 1)() && is(pod, "kubernetes.default", 1)() &&
			is(broken, "kubernetes.default", 0)() && is("service", hostnames, 1)()
	})
	if v, _ := sample(t, scrapeOnce(t, col), "kube_triage_dns_probe_answer_matches", map[string]string{"server": "service", "name": hostnames}); v != 1 {
		t.Errorf("answer for %s does not match its ClusterIP %s", hostnames, svc.Spec.ClusterIP)
	}

	if err := cluster.Client.CoreV1().Services(ns).Delete(ctx, "hostnames", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the deleted Service to turn NXDOMAIN", func() bool {
		v, _ := sample(t, scrapeOnce(t, col), "kube_triage_dns_probes_total", map[string]string{"server_kind": "service", "result": "nxdomain"})
		return v > 0 && is("service", hostnames, 0)()
	})

	if err := cluster.StopComponent(localcluster.CoreDNS); err != nil {
		t.Fatal(err)
	}
	waitFor("the control probe to fail with CoreDNS stopped", is("service", "kubernetes.default", 0))
	if err := cluster.StartComponent(ctx, localcluster.CoreDNS); err != nil {
		t.Fatal(err)
	}
	waitFor("the control probe to recover", is("service", "kubernetes.default", 1))
}
