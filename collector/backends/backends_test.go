package backends

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

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
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/netguard"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

const ns = "shop"

// service is a Service with TCP ports named after their numbers.
func service(name string, annotations map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: ports}}
}

func tcp(name string) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: 80, Protocol: corev1.ProtocolTCP}
}

// endpoints are EndpointSlices of the Service, one per address
// (host:port): each serves the port name on its address's port number.
func endpoints(service, port string, ready bool, addrs ...string) []runtime.Object {
	var out []runtime.Object
	for _, a := range addrs {
		ap := netip.MustParseAddrPort(a)
		out = append(out, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-%d", service, port, len(out)), Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(port), Port: ptr.To(int32(ap.Port())), Protocol: ptr.To(corev1.ProtocolTCP)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ap.Addr().String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
		})
	}
	return out
}

// objects flattens Services and their endpoints.
func objects(objs ...any) []runtime.Object {
	var out []runtime.Object
	for _, o := range objs {
		switch o := o.(type) {
		case runtime.Object:
			out = append(out, o)
		case []runtime.Object:
			out = append(out, o...)
		}
	}
	return out
}

// listening is a loopback address that accepts connections.
func listening(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// closed is a loopback address nothing listens on: it refuses.
func closed(t *testing.T) string {
	t.Helper()
	return testenv.RefusingAddr(t)
}

func newTestCollector(t *testing.T, cfg Config, s prober.Schedule, objs []runtime.Object) (*backendsCollector, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	if cfg.Rate == 0 {
		cfg.Rate = 1000
	}
	c, err := newBackendsCollector(cfg, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc, Schedule: s})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	return c, cs
}

var quick = prober.Schedule{Interval: 400 * time.Millisecond, Timeout: 200 * time.Millisecond}

// round probes one batch and records it, as the prober does.
func round(c *backendsCollector) *pass {
	p := c.probeBatch(context.Background())
	c.Record(p)
	return p
}

func sample(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	return collectortest.Sample(t, g, name, labels)
}

// The guide's loop over the pods, for real: each ready endpoint is dialled
// and counted by what it did; the verdict tells the application (a
// refusal, a 5xx) from everything answering.
func TestBackendsJudgeWhatAnswers(t *testing.T) {
	up, up2, down := listening(t), listening(t), closed(t)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound) // answering: below 500
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer failing.Close()
	web := tcp("http")
	web.AppProtocol = ptr.To("http")
	udp := corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	c, _ := newTestCollector(t, Config{}, quick, objects(
		service("cart", nil, tcp("tcp")), endpoints("cart", "tcp", true, up, up2),
		service("half", nil, tcp("tcp")), endpoints("half", "tcp", true, up, down),
		// Not ready: not dialled (the API's verdict speaks for it).
		service("starting", nil, tcp("tcp")), endpoints("starting", "tcp", false, down),
		service("web", map[string]string{record.BackendsPathAnnotation: "/healthz"}, web), endpoints("web", "http", true, ok.Listener.Addr().String()),
		service("api", nil, web), endpoints("api", "http", true, failing.Listener.Addr().String()),
		service("dns", nil, udp), endpoints("dns", "dns", true, down),
		service("skipped", map[string]string{record.BackendsProbeAnnotation: "false"}, tcp("tcp")), endpoints("skipped", "tcp", true, down),
	))
	p := round(c)
	if p.targets != 6 { // cart 2, half 2, web 1, api 1
		t.Errorf("%d targets, want 6 (not the not-ready, UDP and opted-out ones)", p.targets)
	}
	g := collectortest.ScrapeOnce(t, "backends", c.Collector())
	for _, want := range []struct {
		service, port string
		result        guide.BackendResult
		n             float64
	}{
		{"cart", "tcp", guide.BackendAnswering, 2},
		{"half", "tcp", guide.BackendAnswering, 1}, {"half", "tcp", guide.BackendRefused, 1},
		{"web", "http", guide.BackendAnswering, 1},
		{"api", "http", guide.BackendAnswering, 0}, {"api", "http", guide.BackendError, 1},
	} {
		got, found := sample(t, g, "kube_triage_service_port_backends", map[string]string{"namespace": ns, "service": want.service, "port": want.port, "result": string(want.result)})
		if !found || got != want.n {
			t.Errorf("%s port %s %s: %v (found %v), want %v", want.service, want.port, want.result, got, found, want.n)
		}
	}
	if _, found := sample(t, g, "kube_triage_service_port_backends", map[string]string{"service": "cart", "result": "refused"}); found {
		t.Error("a result no endpoint has is exported (only answering is always there)")
	}
	for svc, v := range map[string]guide.BackendVerdict{"cart": guide.BackendsAnswer, "half": guide.BackendsNotAnswering, "web": guide.BackendsAnswer, "api": guide.BackendsNotAnswering} {
		if got, _ := sample(t, g, "kube_triage_service_backends_verdict", map[string]string{"service": svc, "verdict": string(v)}); got != 1 {
			t.Errorf("%s: verdict %s not exported", svc, v)
		}
	}
	for _, svc := range []string{"starting", "dns", "skipped"} {
		if _, found := sample(t, g, "kube_triage_service_backends_verdict", map[string]string{"service": svc}); found {
			t.Errorf("%s has a backend verdict: it was not to be probed", svc)
		}
	}
	if got, _ := sample(t, g, "kube_triage_backends_services", map[string]string{"verdict": "answering"}); got != 2 {
		t.Errorf("%v Services answering, want 2", got)
	}
	if got, _ := sample(t, g, "kube_triage_backends_probes_total", map[string]string{"result": "refused"}); got != 1 {
		t.Errorf("%v refusals counted, want 1", got)
	}
}

// A round probes what the rate allows; the next ones go on where it
// stopped, so that a pass covers every endpoint, and the pass's length is
// exported.
func TestBackendsRotateUnderTheRate(t *testing.T) {
	var objs []runtime.Object
	for i := range 10 {
		name := "svc-" + strconv.Itoa(i)
		objs = append(objs, objects(service(name, nil, tcp("tcp")), endpoints(name, "tcp", true, listening(t)))...)
	}
	// 0.2s of each round at 10 per second: 2 endpoints a round, 5 rounds a
	// pass.
	c, _ := newTestCollector(t, Config{Rate: 10}, prober.Schedule{Interval: 400 * time.Millisecond, Timeout: 200 * time.Millisecond}, objs)
	seen := map[string]int{}
	for r := range 5 {
		p := round(c)
		if len(p.probed) != 2 {
			t.Fatalf("round %d probed %d endpoints, want 2", r, len(p.probed))
		}
		for _, pr := range p.probed {
			seen[pr.service]++
		}
		if got := len(p.services); got != 2*(r+1) {
			t.Errorf("after round %d, %d Services have results, want %d", r, got, 2*(r+1))
		}
		if p.seconds != 5*0.4 {
			t.Errorf("a pass takes %vs, want 2s (5 rounds of 0.4s)", p.seconds)
		}
	}
	if len(seen) != 10 {
		t.Errorf("a pass probed %d of the 10 Services: %v", len(seen), seen)
	}
	for svc, n := range seen {
		if n != 1 {
			t.Errorf("%s probed %d times in one pass", svc, n)
		}
	}
	if p := round(c); p.probed[0].service != "shop/svc-0" {
		t.Errorf("the next pass starts at %s, want shop/svc-0", p.probed[0].service)
	}
}

// A Service that goes loses its series; the results of its endpoints are
// forgotten.
func TestBackendsForgetWhatIsGone(t *testing.T) {
	c, cs := newTestCollector(t, Config{}, quick, objects(service("cart", nil, tcp("tcp")), endpoints("cart", "tcp", true, listening(t))))
	round(c)
	if err := cs.CoreV1().Services(ns).Delete(context.Background(), "cart", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	collectortest.WaitSample(t, "backends", c.Collector(), "kube_triage_backends_targets", nil, 5*time.Second, "the Service's endpoints to leave the targets",
		func(v float64) bool { round(c); return v == 0 })
	round(c)
	g := collectortest.ScrapeOnce(t, "backends", c.Collector())
	if _, found := sample(t, g, "kube_triage_service_backends_verdict", map[string]string{"service": "cart"}); found {
		t.Error("a deleted Service still has a backend verdict")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) != 0 {
		t.Errorf("%d results kept for endpoints that are gone", len(c.results))
	}
}

// Scope: --collector.backends.opt-in probes only the Services that ask;
// an excluded namespace is left alone.
func TestBackendsScope(t *testing.T) {
	objs := objects(
		service("asks", map[string]string{record.BackendsProbeAnnotation: "true"}, tcp("tcp")), endpoints("asks", "tcp", true, listening(t)),
		service("quiet", nil, tcp("tcp")), endpoints("quiet", "tcp", true, listening(t)),
	)
	c, _ := newTestCollector(t, Config{OptIn: true}, quick, objs)
	if p := round(c); p.targets != 1 || p.probed[0].service != "shop/asks" {
		t.Errorf("opt-in: %d targets (%v), want shop/asks alone", p.targets, p.probed)
	}
	c, _ = newTestCollector(t, Config{ExcludeNamespaces: []string{ns}}, quick, objs)
	if p := round(c); p.targets != 0 {
		t.Errorf("an excluded namespace's Services are probed: %v", p.probed)
	}
}

// What a failed connection says: a reset is the endpoint, silence or no
// route the network, and the verdict only pages for the network where the
// exporter is known to get through (another endpoint of the port answers,
// or the Service says so).
func TestBackendsTellTheNetworkFromTheApplication(t *testing.T) {
	for _, c := range []struct {
		err  error
		want guide.BackendResult
	}{
		{nil, guide.BackendAnswering},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, guide.BackendRefused},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, guide.BackendUnreachable},
		{&net.OpError{Op: "dial", Err: syscall.ENETUNREACH}, guide.BackendUnreachable},
		{context.DeadlineExceeded, guide.BackendTimeout},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), guide.BackendTimeout},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, guide.BackendError},
		{netguard.ErrNotLoopback, guide.BackendError},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %s, want %s", c.err, got, c.want)
		}
	}
	up := listening(t)
	// Two Services, one endpoint each that drops everything (a policy),
	// one of them with an endpoint that answers too, and one that says
	// the exporter is let in.
	c, _ := newTestCollector(t, Config{}, quick, objects(
		service("partial", nil, tcp("tcp")), endpoints("partial", "tcp", true, up, "127.0.0.2:81"),
		service("policy", nil, tcp("tcp")), endpoints("policy", "tcp", true, "127.0.0.2:82"),
		service("letin", map[string]string{record.BackendsProbeAnnotation: "true"}, tcp("tcp")), endpoints("letin", "tcp", true, "127.0.0.2:83"),
	))
	dial := c.dial
	c.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == up {
			return dial(ctx, network, addr)
		}
		<-ctx.Done() // dropped: nothing comes back
		return nil, &net.OpError{Op: "dial", Err: ctx.Err()}
	}
	round(c)
	g := collectortest.ScrapeOnce(t, "backends", c.Collector())
	for svc, v := range map[string]guide.BackendVerdict{"partial": guide.BackendsUnreachable, "policy": guide.BackendsNoAccess, "letin": guide.BackendsUnreachable} {
		if got, _ := sample(t, g, "kube_triage_service_backends_verdict", map[string]string{"service": svc, "verdict": string(v)}); got != 1 {
			t.Errorf("%s: verdict %s not exported", svc, v)
		}
	}
	if got, _ := sample(t, g, "kube_triage_service_port_backends", map[string]string{"service": "policy", "result": "timeout"}); got != 1 {
		t.Errorf("policy: %v timeouts, want 1", got)
	}
}

// An exporter that reaches no endpoint at all (an egress policy around
// it, or not in the pod network) says so as a misconfiguration; one
// refusal proves the way is open.
func TestBackendsCutOffIsAConfigProblem(t *testing.T) {
	var objs []runtime.Object
	for i := range 3 {
		name := "svc-" + strconv.Itoa(i)
		objs = append(objs, objects(service(name, nil, tcp("tcp")), endpoints(name, "tcp", true, fmt.Sprintf("127.0.0.2:%d", 81+i)))...)
	}
	c, _ := newTestCollector(t, Config{}, quick, objs)
	refuse := ""
	c.dial = func(ctx context.Context, _, addr string) (net.Conn, error) {
		if addr == refuse {
			return nil, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
		}
		return nil, &net.OpError{Op: "dial", Err: syscall.ENETUNREACH}
	}
	round(c)
	if got := c.configProblems(); len(got) != 1 || got[0] != "backends_cut_off" {
		t.Errorf("config problems %v, want [backends_cut_off]", got)
	}
	refuse = "127.0.0.2:82"
	round(c)
	if got := c.configProblems(); len(got) != 0 {
		t.Errorf("config problems %v with an endpoint that refused", got)
	}
}

// In a test binary, nothing but loopback is dialled.
func TestBackendsDialOnlyLoopbackInTests(t *testing.T) {
	_, err := guardedDial(context.Background(), "tcp", "10.244.0.5:80")
	if !errors.Is(err, netguard.ErrNotLoopback) {
		t.Fatalf("dialling a pod IP from a test binary: %v, want netguard's refusal", err)
	}
}

// Endpoints that failed are probed again each round ahead of the rotation
// (a quarter of the batch at most), so that a blip clears in a round.
func TestBackendsRetryFailuresFirst(t *testing.T) {
	var objs []runtime.Object
	down := closed(t)
	for i := range 20 {
		name := fmt.Sprintf("svc-%02d", i)
		addr := listening(t)
		if i == 1 {
			addr = down
		}
		objs = append(objs, objects(service(name, nil, tcp("tcp")), endpoints(name, "tcp", true, addr))...)
	}
	// 40/s over 0.2s: 8 a round, 2 of them retries at most.
	c, _ := newTestCollector(t, Config{Rate: 40}, quick, objs)
	round(c)
	p := round(c)
	var got []string
	for _, pr := range p.probed {
		got = append(got, pr.service)
	}
	want := []string{"shop/svc-01", "shop/svc-08", "shop/svc-09", "shop/svc-10", "shop/svc-11", "shop/svc-12", "shop/svc-13", "shop/svc-14"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("second round probed %v, want the failed one first, then the rotation: %v", got, want)
	}
	if p := round(c); p.probed[1].service != "shop/svc-15" {
		t.Errorf("third round's rotation starts at %s, want shop/svc-15", p.probed[1].service)
	}
}

// An HTTP endpoint that accepts the connection and never answers is the
// application (error), not the network (timeout).
func TestBackendsHungHTTPIsTheApplication(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := make(chan net.Conn, 16)
	defer func() {
		l.Close()
		for {
			select {
			case c := <-held:
				c.Close()
			default:
				return
			}
		}
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			held <- conn // never answered
		}
	}()
	web := tcp("http")
	web.AppProtocol = ptr.To("http")
	c, _ := newTestCollector(t, Config{}, quick, objects(service("hung", nil, web), endpoints("hung", "http", true, l.Addr().String())))
	p := round(c)
	if len(p.probed) != 1 || p.probed[0].result.outcome() != guide.BackendError {
		t.Fatalf("a hung HTTP endpoint: %+v, want error", p.probed)
	}
}

// A round whose bound comes first (the triage command's single round)
// dials its batch at the rate within the bound; a probe cut short by the
// round's end has no result.
func TestBackendsRoundWithinItsBound(t *testing.T) {
	c, _ := newTestCollector(t, Config{Rate: 50}, prober.Schedule{Interval: 10 * time.Second, Timeout: 200 * time.Millisecond},
		objects(service("a", nil, tcp("tcp")), endpoints("a", "tcp", true, listening(t), listening(t), listening(t))))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if p := c.probeBatch(ctx); len(p.probed) != 3 {
		t.Errorf("a round bound to 1s probed %d of 3 endpoints", len(p.probed))
	}
	c.dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if p := c.probeBatch(ctx); len(p.probed) != 0 {
		t.Errorf("probes cut short by the round's end were recorded: %+v", p.probed)
	}
}

// A rate that is not a positive number stops start-up, naming the flag.
func TestBackendsRateChecked(t *testing.T) {
	for _, r := range []float64{0, -1} {
		if err := (&Config{Rate: r}).Check(collector.RoleCluster); err == nil || !strings.Contains(err.Error(), "--collector.backends.rate") {
			t.Errorf("rate %v: %v", r, err)
		}
	}
	if _, err := parseRate("NaN"); err == nil {
		t.Error("NaN accepted as a rate")
	}
	if err := (&Config{Rate: 50}).Check(collector.RoleCluster); err != nil {
		t.Error(err)
	}
}

// When the targets are listed again (a Service went), those still there
// keep their last result: the rotation does not start them over.
func TestBackendsKeepResultsWhenListedAgain(t *testing.T) {
	c, cs := newTestCollector(t, Config{}, quick, append(objects(service("cart", nil, tcp("tcp")), endpoints("cart", "tcp", true, listening(t))),
		objects(service("till", nil, tcp("tcp")), endpoints("till", "tcp", true, closed(t)))...))
	if p := round(c); len(p.probed) != 2 {
		t.Fatalf("probed %d endpoints, want 2", len(p.probed))
	}
	if err := cs.CoreV1().Services(ns).Delete(context.Background(), "cart", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the targets listed again without cart", 5*time.Second, func() (bool, error) {
		c.relist()
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.all) == 1, nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all[0].service != "shop/till" || c.results[0].outcome() != guide.BackendRefused {
		t.Errorf("after listing again: %s with result %q, want shop/till still refused", c.all[0].service, c.results[0].outcome())
	}
}

// A target is 32 bytes and a result 16 (there is one of each per ready
// endpoint), and both give back what they were made of.
func TestTargetAndResult(t *testing.T) {
	if n := unsafe.Sizeof(target{}); n != 32 {
		t.Errorf("a target is %d bytes, want 32", n)
	}
	if n := unsafe.Sizeof(result{}); n != 16 {
		t.Errorf("a result is %d bytes, want 16", n)
	}
	for _, a := range []string{"10.244.1.7:8080", "[fd00::17]:443", "[::ffff:10.1.2.3]:80"} {
		ap := netip.MustParseAddrPort(a)
		if got, want := newTarget(&servicePort{}, ap).addr(), netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()); got != want {
			t.Errorf("target of %s: %s, want %s", a, got, want)
		}
	}
	at := time.Unix(1_800_000_000, 0)
	if r := newResult(guide.BackendRefused, "connection refused", at); r.outcome() != guide.BackendRefused || r.errText() != "connection refused" || !r.time().Equal(at) {
		t.Errorf("result %s %q %s", r.outcome(), r.errText(), r.time())
	}
	if r := newResult(guide.BackendAnswering, "", at); r.err != nil || r.errText() != "" || r.outcome() != guide.BackendAnswering {
		t.Errorf("an answer kept an error: %+v", r)
	}
}
