package backends

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	goruntime "runtime"
	"testing"
	"time"

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
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// BenchmarkBackendsAtScale: 10,000 Services of 3 ready endpoints each at
// the default schedule and rate. It reports how long a pass over every
// endpoint takes (s/pass), the CPU of a round's bookkeeping (listing the
// targets again, as a change anywhere makes a round do, and counting every
// Service's results; the connections apart),
// and the heap the targets and the results of a whole pass hold per
// endpoint.
func BenchmarkBackendsAtScale(b *testing.B) {
	const services, perService = 10000, 3
	objs := make([]runtime.Object, 0, 2*services)
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fmt.Sprintf("ns-%d", i%100)},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}})
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-abcde", Namespace: fmt.Sprintf("ns-%d", i%100), Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		for j := range perService {
			n := i*perService + j
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("127.%d.%d.%d", 1+n/65536, n/256%256, n%256)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		objs = append(objs, s)
	}
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(objs...))}
	defaults := Spec.Probe.Schedule
	c, err := newBackendsCollector(Config{Rate: 50}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc, Schedule: defaults})
	if err != nil {
		b.Fatal(err)
	}
	collectortest.StartInformers(b, kc)
	before := testenv.HeapAlloc()
	c.relist()
	c.mu.Lock()
	all := c.all
	now := time.Now()
	for i := range c.results {
		c.results[i] = newResult(guide.BackendAnswering, "", now)
	}
	states, _ := c.judge()
	c.mu.Unlock()
	perEndpoint := float64(testenv.HeapAlloc()-before) / float64(len(all))
	goruntime.KeepAlive(states)
	if len(all) != services*perService {
		b.Fatalf("%d targets, want %d", len(all), services*perService)
	}
	n := c.batch()
	passSeconds := math.Ceil(float64(len(all))/float64(n)) * defaults.Interval.Seconds()

	b.ResetTimer()
	cpu := testenv.ProcessCPU()
	for range b.N {
		c.changes.Add(1) // a change every round, as in a busy cluster: listed again
		c.relist()
		c.mu.Lock()
		c.judge()
		c.mu.Unlock()
	}
	b.ReportMetric(float64((testenv.ProcessCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/round")
	b.ReportMetric(passSeconds, "s/pass")
	b.ReportMetric(float64(n), "endpoints/round")
	b.ReportMetric(perEndpoint, "B/endpoint")
}

// BenchmarkBackendConnection: the CPU of one probe of an endpoint that
// answers, a TCP connection opened and closed on loopback; both ends are
// in this process, so the figure is an upper bound of the exporter's
// share.
func BenchmarkBackendConnection(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	c := newProber(promslog.NewNopLogger(), Config{Rate: 50}, Spec.Probe.Schedule, nil, nil)
	t := newTarget(&servicePort{}, netip.MustParseAddrPort(l.Addr().String()))
	b.ResetTimer()
	cpu := testenv.ProcessCPU()
	for range b.N {
		if r := c.probe(context.Background(), t); r.outcome() != guide.BackendAnswering {
			b.Fatalf("probe: %s %s", r.outcome(), r.errText())
		}
	}
	b.ReportMetric(float64((testenv.ProcessCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/connection")
}
