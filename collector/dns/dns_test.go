package dns

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// dnsServer is a real DNS server on ip (a loopback address, UDP and TCP)
// that answers kubernetes.default.svc.cluster.local with answer and
// NXDOMAIN for anything else. It returns the port.
func dnsServer(t *testing.T, ip, answer string) int {
	t.Helper()
	handle := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "kubernetes.default.svc.cluster.local." {
			rr, _ := dns.NewRR("kubernetes.default.svc.cluster.local. 5 IN A " + answer)
			m.Answer = []dns.RR{rr}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	_, port, _ := net.SplitHostPort(testenv.DNSServer(t, ip, handle))
	n, _ := strconv.Atoi(port)
	return n
}

func dnsSlice(name, ip string, port int) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolUDP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
}

func newTestDNSCollector(t testing.TB, serviceAddress string, objs ...runtime.Object) *dnsCollector {
	t.Helper()
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(objs...))}
	col, err := newDNSCollector(Config{
		Service: "kube-system/kube-dns", ServiceAddress: serviceAddress, ClusterDomain: "cluster.local",
		SweepInterval: time.Hour, // watches every Service, for the sweep tests; Run is not called
		ResolvConf:    dnsprobe.ResolvConf{Search: []string{"kube-triage.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5},
	}, collector.Deps{Logger: promslog.NewNopLogger(),
		Schedule: prober.Schedule{Interval: time.Hour, Timeout: 300 * time.Millisecond},
		Kube:     kc})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	return col
}

var dnsGolden = []string{
	"kube_triage_dns_probe_result",
	"kube_triage_dns_probe_success", "kube_triage_dns_probe_answer_matches", "kube_triage_dns_probe_queries",
	"kube_triage_dns_probe_nxdomains", "kube_triage_dns_probes_total", "kube_triage_dns_endpoints", "kube_triage_dns_service_found",
}

// Through the Service and each DNS pod: a good pod, a pod that answers
// with the wrong address, and a pod where nothing listens, each reported
// on its own.
func TestDNSProbesServiceAndEachEndpoint(t *testing.T) {
	good := dnsServer(t, "127.0.0.1", "10.96.0.1")
	wrong := dnsServer(t, "127.0.0.3", "10.96.0.99")
	c := newTestDNSCollector(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(good)),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1"}},
		dnsSlice("kube-dns-good", "127.0.0.1", good),
		dnsSlice("kube-dns-wrong", "127.0.0.3", wrong),
		dnsSlice("kube-dns-gone", "127.0.0.2", good), // nothing listens on 127.0.0.2
	)
	c.Record(c.probeAll(context.Background()))
	// The servers' ports are random: name them for the comparison.
	ports := strings.NewReplacer(":"+strconv.Itoa(good)+`"`, `:GOOD"`, ":"+strconv.Itoa(wrong)+`"`, `:WRONG"`)
	collectortest.CompareGolden(t, ports.Replace(collectortest.Render(t, scrapeOnce(t, c), dnsGolden...)), "dns_probes.prom")
}

func TestDNSWithoutTheServiceReportsItMissing(t *testing.T) {
	c := newTestDNSCollector(t, "")
	c.Record(c.probeAll(context.Background()))
	if v, ok := collectortest.Sample(t, scrapeOnce(t, c), "kube_triage_dns_service_found", nil); !ok || v != 0 {
		t.Errorf("dns_service_found = %v (present %v), want 0", v, ok)
	}
}

func TestDNSExpectedAnswer(t *testing.T) {
	c := newTestDNSCollector(t, "", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hostnames", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.42"}})
	for _, name := range []string{"hostnames.default", "hostnames.default.svc", "hostnames.default.svc.cluster.local", "hostnames.default.svc.cluster.local."} {
		if e := c.expected(name, "hostnames.default.svc.cluster.local."); len(e.want) != 1 || e.want[0].String() != "10.96.0.42" || e.gone {
			t.Errorf("expected(%q) = %+v", name, e)
		}
	}
	for _, name := range []string{"hostnames", "example.com", "a.b.c.d"} {
		if e := c.expected(name, name+"."); e.want != nil || e.gone {
			t.Errorf("expected(%q) = %+v; want no expectation", name, e)
		}
	}
	// The name of a Service that does not exist: any answer is stale.
	if e := c.expected("nosuch.default", "nosuch.default.svc.cluster.local."); !e.gone {
		t.Errorf("expected(nosuch.default) = %+v; want gone", e)
	}
}

// The sweep resolves every Service's FQDN once per interval, paced over the
// interval rather than in a burst, and names the Services that fail.
func TestDNSSweep(t *testing.T) {
	const n = 40
	ips := map[string]string{}
	var objs []runtime.Object
	for i := range n {
		name := "svc-" + strconv.Itoa(i)
		ip := "10.96.1." + strconv.Itoa(i+1)
		ips[name+".app.svc.cluster.local."] = ip
		objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app"}, Spec: corev1.ServiceSpec{ClusterIP: ip}})
	}
	ips["svc-7.app.svc.cluster.local."] = "10.96.9.9" // a wrong answer
	delete(ips, "svc-8.app.svc.cluster.local.")       // NXDOMAIN
	objs = append(objs,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "app"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
	)
	ips["kube-dns.kube-system.svc.cluster.local."] = "10.96.0.10"
	handle := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if ip, ok := ips[q.Question[0].Name]; ok {
			rr, _ := dns.NewRR(q.Question[0].Name + " 5 IN A " + ip)
			m.Answer = []dns.RR{rr}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	c := newTestDNSCollector(t, testenv.DNSServer(t, "127.0.0.1", handle), objs...)
	c.cfg.SweepInterval = 800 * time.Millisecond
	s := c.sweepAll(context.Background())
	if s.services != n+1 { // and kube-dns itself; not the headless one
		t.Errorf("swept %d services, want %d", s.services, n+1)
	}
	// Paced, not a burst: the sweep spreads over (nearly) its interval.
	if s.duration < 700*time.Millisecond {
		t.Errorf("sweep took %s; %d lookups must be spread over the 800ms interval", s.duration, n+1)
	}
	c.sweep.Record(s)
	got := collectortest.Render(t, scrapeOnce(t, c), "kube_triage_dns_sweep_failing", "kube_triage_dns_sweep_lookups_total")
	for _, want := range []string{
		`kube_triage_dns_sweep_failing{namespace="app",result="wrong_answer",service="svc-7"} 1`,
		`kube_triage_dns_sweep_failing{namespace="app",result="nxdomain",service="svc-8"} 1`,
		`kube_triage_dns_sweep_lookups_total{result="success"} 39`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	if strings.Count(got, "kube_triage_dns_sweep_failing{") != 2 {
		t.Errorf("want exactly the 2 failing Services:\n%s", got)
	}

	// The sweep is a prober of its own: its failures are on /probes, under
	// its own name, beside the main round's.
	var names []string
	for _, p := range c.Collector().Probers {
		names = append(names, p.Name())
	}
	if !slices.Equal(names, []string{"dns", "dns_sweep"}) {
		t.Errorf("probers %v, want dns and dns_sweep", names)
	}
	failed := map[string]string{}
	for _, r := range c.sweep.History().Latest() {
		if r.Failed() {
			failed[r.Target] = r.Reason
		}
	}
	if len(failed) != 2 || failed["svc-7.app (sweep)"] != "wrong_answer" || failed["svc-8.app (sweep)"] != "nxdomain" {
		t.Errorf("the sweep's failures on /probes: %v", failed)
	}
}

// A sweep whose last round is older than 3 of its periods is stale: what
// it found is no longer exported, and the prober's last run says why.
func TestDNSSweepGoesStale(t *testing.T) {
	c := newTestDNSCollector(t, "")
	now := time.Now()
	c.sweep.Rounds().Now = func() time.Time { return now }
	c.sweep.Rounds().Start(c.cfg.SweepInterval)
	c.sweep.Record(&dnsSweep{services: 3, complete: true, failing: []sweptService{{"app", "gone", guide.DNSNXDomain}}})
	failing := func() bool {
		_, ok := collectortest.Sample(t, scrapeOnce(t, c), "kube_triage_dns_sweep_failing", map[string]string{"service": "gone"})
		return ok
	}
	if !failing() {
		t.Fatal("a current sweep's failure is not exported")
	}
	now = now.Add(3*c.sweep.Period() + time.Second)
	if failing() {
		t.Error("a stale sweep's failure is still exported")
	}
}

// A headless Service's name must answer its ready endpoints' addresses.
func TestDNSExpectedAnswerHeadless(t *testing.T) {
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "peers", Namespace: "app"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "peers-1", Namespace: "app", Labels: map[string]string{discoveryv1.LabelServiceName: "peers"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
				{Addresses: []string{"10.244.0.8"}},
				{Addresses: []string{"10.244.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			},
		},
	))}
	col, err := newDNSCollector(Config{
		Service: "kube-system/kube-dns", ClusterDomain: "cluster.local",
		Names: []string{"peers.app"},
	}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc, Schedule: prober.Schedule{Interval: time.Hour, Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	if got := col.expected("peers.app", "peers.app.svc.cluster.local."); fmt.Sprint(got.want) != "[10.244.0.7 10.244.0.8]" || got.gone {
		t.Errorf("expected(peers.app) = %+v, want the ready endpoints' addresses", got)
	}
}

// The Service the dns collector is told to probe through: missing, then
// headless, then with a ClusterIP; kube_triage_config_problem says so
// until it is right, and each problem is logged once.
func TestDNSConfigProblems(t *testing.T) {
	cs := fake.NewClientset()
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	var logs bytes.Buffer
	col, err := newDNSCollector(Config{Service: "kube-system/kube-dns", ClusterDomain: "cluster.local"}, collector.Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Schedule: prober.Schedule{Interval: time.Hour, Timeout: 300 * time.Millisecond},
		Kube:     kc})
	if err != nil {
		t.Fatal(err)
	}
	c := col
	problems := func() string {
		t.Helper()
		return collectortest.Render(t, scrapeOnce(t, c), "kube_triage_config_problem")
	}
	// Converge polls: the informer sees a change a moment after the API.
	converge := func(what, want string) {
		t.Helper()
		testenv.WaitFor(t, what, 10*time.Second, func() (bool, error) {
			got := problems()
			if want == "" && got == "" || want != "" && strings.Contains(got, "\n"+want+"\n") && strings.Count(got, "kube_triage_config_problem{") == 1 {
				return true, nil
			}
			return false, fmt.Errorf("want %q, got:\n%s", want, got)
		})
	}

	if got := problems(); got != "" {
		t.Errorf("before the Services are listed a missing Service proves nothing, got:\n%s", got)
	}
	collectortest.StartInformers(t, kc)
	converge("no Service", `kube_triage_config_problem{collector="dns",problem="service_not_found"} 1`)
	c.Record(c.probeAll(context.Background())) // nothing to probe: no server
	c.Record(c.probeAll(context.Background()))
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "problem=service_not_found") {
		t.Errorf("want service_not_found logged once in two rounds, got:\n%s", logs.String())
	}

	svcs := cs.CoreV1().Services("kube-system")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
	if _, err := svcs.Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	converge("headless Service", `kube_triage_config_problem{collector="dns",problem="service_no_address"} 1`)
	logs.Reset()
	c.Record(c.probeAll(context.Background()))
	c.Record(c.probeAll(context.Background()))
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "problem=service_no_address") {
		t.Errorf("want service_no_address logged once in two rounds, got:\n%s", logs.String())
	}

	// With an address given by flag, a headless Service is no problem.
	c.cfg.ServiceAddress = "127.0.0.1:53"
	if p := c.configProblems(); len(p) != 0 {
		t.Errorf("headless Service with --collector.dns.service-address: problems %v, want none", p)
	}
	c.cfg.ServiceAddress = ""

	svc.Spec.ClusterIP = "10.96.0.10"
	if _, err := svcs.Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	converge("Service with a ClusterIP", "")
}

// An FQDN endpoint is resolved through the DNS Service, as a pod would; one
// that does not resolve there fails its probes without its name ever being
// handed to the node's own resolver.
func TestDNSFQDNEndpointUnresolvable(t *testing.T) {
	good := dnsServer(t, "127.0.0.1", "10.96.0.1") // NXDOMAIN for any other name
	slice := dnsSlice("kube-dns-fqdn", "dns-a.kube-triage-test.invalid", good)
	slice.AddressType = discoveryv1.AddressTypeFQDN
	c := newTestDNSCollector(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(good)),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}}},
		slice)
	round := c.probeAll(context.Background())
	var endpoint int
	for _, p := range round.probes {
		if p.kind != "endpoint" {
			continue
		}
		endpoint++
		if p.result != guide.DNSError || p.r.Err == nil || !strings.Contains(p.r.Err.Error(), "does not resolve through the DNS Service") {
			t.Errorf("%s via %s: result %s, err %v; want an error that the name does not resolve", p.name, p.server, p.result, p.r.Err)
		}
	}
	if endpoint == 0 {
		t.Fatal("the FQDN endpoint was not probed")
	}
}

// With --namespaces bounding the Services watched, the probed names'
// Services are still known by name: kubernetes.default's answer is checked.
func TestDNSExpectedAnswerOutsideTheScope(t *testing.T) {
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1"}},
	))}
	kc.Informers.SetScope(kube.Scope{Include: []string{"shop"}})
	col, err := newDNSCollector(Config{
		Service: "kube-system/kube-dns", ClusterDomain: "cluster.local",
		SweepInterval: time.Hour}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc, Schedule: prober.Schedule{Interval: time.Hour, Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	c := col
	if _, ok, _ := c.services.GetByKey("default/kubernetes"); ok {
		t.Fatal("the scoped Services include default, the test proves nothing")
	}
	if e := c.expected("kubernetes.default.svc.cluster.local.", "kubernetes.default.svc.cluster.local."); len(e.want) != 1 || e.want[0].String() != "10.96.0.1" {
		t.Errorf("expected(kubernetes.default) = %+v, want 10.96.0.1", e)
	}
}

// Without the sweep, the dns collector (every node agent runs one) watches
// the Services it probes by name and their EndpointSlices, never every
// Service: 5,000 agents are not 5,000 watches of all Services. The sweep
// alone needs them.
func TestDNSWatchesOnlyWhatItProbes(t *testing.T) {
	for _, sweep := range []time.Duration{0, time.Hour} {
		kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset())}
		if _, err := newDNSCollector(Config{
			Service: "kube-system/kube-dns", ClusterDomain: "cluster.local",
			Names: []string{"web.shop"}, SweepInterval: sweep}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc, Schedule: prober.Schedule{Interval: time.Hour, Timeout: time.Second}}); err != nil {
			t.Fatal(err)
		}
		var resources []string
		for _, s := range kc.Informers.Stats() {
			resources = append(resources, s.Resource)
		}
		want := []string{"endpointslices/kube-system/kube-dns", "endpointslices/shop/web",
			"services/default/kubernetes", "services/kube-system/kube-dns", "services/shop/web"}
		if sweep > 0 {
			want = append(want, "services")
			slices.Sort(want)
		}
		if !slices.Equal(resources, want) {
			t.Errorf("sweep %v: watches %q, want %q", sweep, resources, want)
		}
	}
}

// The nameservers probed as resolvers: only from a cluster pod's
// resolv.conf, the first three, each once, never the Service's ClusterIP.
func TestDNSResolvers(t *testing.T) {
	c := newTestDNSCollector(t, "")
	addrs := func(ips ...string) []netip.Addr {
		var out []netip.Addr
		for _, ip := range ips {
			out = append(out, netip.MustParseAddr(ip))
		}
		return out
	}
	pod := []string{"app.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	for _, tc := range []struct {
		name string
		rc   dnsprobe.ResolvConf
		want []string
	}{
		{"node-local cache", dnsprobe.ResolvConf{Search: pod, Nameservers: addrs("169.254.20.10")}, []string{"169.254.20.10:53"}},
		{"no cache: the ClusterIP is the Service", dnsprobe.ResolvConf{Search: pod, Nameservers: addrs("10.96.0.10")}, nil},
		{"a node's resolv.conf", dnsprobe.ResolvConf{Search: []string{"example.internal"}, Nameservers: addrs("127.0.0.53")}, nil},
		{"first three, once each", dnsprobe.ResolvConf{Search: pod, Nameservers: addrs("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3")}, []string{"10.0.0.1:53", "10.0.0.2:53"}},
	} {
		c.cfg.ResolvConf = tc.rc
		if got := c.resolvers("10.96.0.10"); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func scrapeOnce(t testing.TB, c *dnsCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "dns", c.Collector())
}
