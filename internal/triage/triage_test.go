package triage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/registry"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

const testNS = "kube-triage"

func svc(name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Name: "http", Port: 80}}
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: ports, ClusterIP: "10.96.0.9"}}
}

func pod(name string, labels map[string]string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: labels},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
}

// walker walks the named collectors over a fake API, listed once as the
// command does.
func walker(t *testing.T, names []string, objs ...runtime.Object) *Walker {
	t.Helper()
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(objs...))}
	setup := collector.NewSetup(registry.Specs()).Only(names...)
	e, err := collector.NewExporter(setup, collector.Deps{Logger: promslog.NewNopLogger(), Role: collector.RoleCluster, Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.Once(ctx, 10*time.Second)
	return New(e)
}

// The walks' special cases, over fake caches: empty on purpose is not a
// failure, a UDP-only Service is not dialled, a bad page path is a 404,
// and a name that cannot be a Kubernetes name a 400.
func TestTriageServiceCases(t *testing.T) {
	expectedEmpty := svc("placeholder", map[string]string{"app": "none"})
	expectedEmpty.Annotations = map[string]string{record.ServiceOptOutAnnotation: "true"}
	udp := svc("syslog", map[string]string{"app": "syslog"}, corev1.ServicePort{Name: "udp", Port: 514, Protocol: corev1.ProtocolUDP})
	w := walker(t, []string{"services", "terminations"}, expectedEmpty, udp, pod("syslog-1", map[string]string{"app": "syslog"}, true))
	dialled := 0
	d := Details{Dial: func(context.Context, string) error { dialled++; return nil }}

	r := w.Service(context.Background(), testNS, "placeholder", d)
	if !r.OK() || r.Verdict != string(guide.VerdictSelectorMatchesNothing) || r.Step("selector").Status != report.Warn {
		t.Errorf("expected-empty Service: %s, selector %+v", r.Title(), r.Step("selector"))
	}
	if dialled != 1 {
		t.Errorf("the placeholder's TCP port dialled %d times", dialled)
	}
	dialled = 0
	r = w.Service(context.Background(), testNS, "syslog", d)
	if s := r.Step("connect"); s == nil || s.Status != report.Skip || dialled != 0 {
		t.Errorf("UDP-only Service: connect %+v, dialled %d", s, dialled)
	}
	r = w.Service(context.Background(), testNS, "absent", d)
	if r.OK() || r.Verdict != "not_found" || r.FailingStep != "service" {
		t.Errorf("absent Service: %s", r.Title())
	}

	srv := httptest.NewServer(w.Pages(promslog.NewNopLogger())[Path])
	defer srv.Close()
	for path, want := range map[string]int{
		"/triage/service/" + testNS + "/syslog?format=json": http.StatusOK,
		"/triage/pod/" + testNS + "/syslog-1?format=json":   http.StatusOK,
		"/triage/workload/" + testNS + "/Pod/syslog-1":      http.StatusOK,
		"/triage/cluster":                                 http.StatusOK,
		"/triage/":                                        http.StatusOK,
		"/triage/service/" + testNS:                       http.StatusNotFound,
		"/triage/node/x":                                  http.StatusNotFound,
		"/triage/pod/%00/x":                               http.StatusBadRequest,
		"/triage/pod/" + testNS + "/Not_A_Name":           http.StatusBadRequest,
		"/triage/service/NS/x":                            http.StatusBadRequest,
		"/triage/workload/" + testNS + "/deploy%20ment/x": http.StatusBadRequest,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == http.StatusOK && resp.Header.Get("Content-Type") == "application/json" {
			var r report.Report
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Kind == "" {
				t.Errorf("GET %s: %v %+v", path, err, r)
			}
		}
		resp.Body.Close()
	}
}

// An exporter that does not keep what a walk needs (a node agent, say) says so
// and judges nothing: no "not found" from caches it does not have.
func TestTriageWithoutTheCollectors(t *testing.T) {
	w := walker(t, []string{"controlplane"}, pod("web-1", map[string]string{"app": "web"}, true))
	for _, r := range []report.Report{
		w.Service(context.Background(), testNS, "web", Details{}),
		w.Pod(context.Background(), testNS, "web-1", Details{}),
		w.Workload(context.Background(), testNS, "Pod", "web-1", Details{}),
	} {
		if r.Incomplete == "" || r.Verdict != "unknown" || !r.OK() {
			t.Errorf("%s: verdict %s, incomplete %q", r.Title(), r.Verdict, r.Incomplete)
		}
	}
}

// Each collector's Source is the source its walk steps look for: a method
// renamed on either side would otherwise turn a step into "the collector
// is not running".
func TestCollectorsGiveTheirSources(t *testing.T) {
	want := map[string][]func(any) bool{
		"services":     {is[serviceSource], is[podSource]},
		"backends":     {is[backendSource]},
		"terminations": {is[terminationSource], is[podSource]},
		"dns":          {is[dnsSource]},
		"apiserver":    {is[apiserverSource]},
		"controlplane": {is[leaderSource]},
		"nodes":        {is[nodeSource]},
	}
	kc := &kube.Client{Config: &rest.Config{Host: "https://apiserver.invalid"}, Informers: kube.NewInformers(fake.NewClientset())}
	for _, s := range registry.Specs() {
		checks, ok := want[s.Name]
		if !ok {
			continue
		}
		d := collector.Deps{Logger: promslog.NewNopLogger(), Role: collector.RoleCluster, Kube: kc}
		if s.Probe != nil {
			d.Schedule = s.Probe.Schedule
		}
		c, err := collector.DefaultConfig(s).New(d)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		for i, check := range checks {
			if !check(c.Source) {
				t.Errorf("%s: its Source is not the walks' source #%d", s.Name, i+1)
			}
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		t.Errorf("no collector registered for %v", want)
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// fakeBackends is a backends collector's probes, as the pods step reads
// them.
type fakeBackends struct {
	verdict   guide.BackendVerdict
	endpoints []guide.BackendEndpoint
}

func (f fakeBackends) Backends(string, string) (guide.BackendVerdict, []guide.BackendEndpoint, bool) {
	return f.verdict, f.endpoints, f.verdict != ""
}

func (f fakeBackends) BackendServices() (map[guide.BackendVerdict]int, bool) {
	return map[guide.BackendVerdict]int{guide.BackendsAnswer: 3, f.verdict: 1}, f.verdict != ""
}

// The pods step: a Service ready by the API whose endpoints refuse fails
// there, names the endpoint and takes the backend verdict and its alert;
// one whose endpoints all time out (a policy, most likely) only warns.
func TestTriagePodsStep(t *testing.T) {
	web := map[string]string{"app": "web"}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: testNS, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(80))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	w := walker(t, []string{"services"}, svc("web", web), pod("web-1", web, true), slice)
	r := w.Service(context.Background(), testNS, "web", Details{})
	if s := r.Step("pods"); s == nil || s.Status != report.Skip || r.Verdict != string(guide.VerdictOK) {
		t.Fatalf("without the backends collector: pods %+v, verdict %s", s, r.Verdict)
	}
	w.sources = append(w.sources, fakeBackends{guide.BackendsNotAnswering, []guide.BackendEndpoint{
		{Port: "http", Addr: "10.244.1.1:80", Result: guide.BackendRefused, Err: "connect: connection refused"},
		{Port: "http", Addr: "10.244.1.2:80", Result: guide.BackendAnswering},
	}})
	r = w.Service(context.Background(), testNS, "web", Details{})
	s := r.Step("pods")
	if s == nil || s.Status != report.Fail || r.FailingStep != "pods" || r.Verdict != "not_answering" || r.Runbook != guide.Runbook("ServiceEndpointsNotAnswering") {
		t.Fatalf("refusing endpoint: pods %+v, failing %s, verdict %s, runbook %s", s, r.FailingStep, r.Verdict, r.Runbook)
	}
	if len(s.Evidence) != 1 || !strings.Contains(s.Evidence[0], "10.244.1.1:80: refused") {
		t.Errorf("evidence %q, want the refusing endpoint alone", s.Evidence)
	}
	if r.Next != guide.ServiceNext["pods"] {
		t.Errorf("next step %q", r.Next)
	}
	w.sources[len(w.sources)-1] = fakeBackends{guide.BackendsNoAccess, []guide.BackendEndpoint{{Port: "http", Addr: "10.244.1.1:80", Result: guide.BackendTimeout}}}
	r = w.Service(context.Background(), testNS, "web", Details{})
	if s := r.Step("pods"); s.Status != report.Warn || !r.OK() || r.Verdict != string(guide.VerdictOK) {
		t.Errorf("no access: pods %+v, ok %v, verdict %s", s, r.OK(), r.Verdict)
	}
}

// The cluster walk counts the Services that answer.
func TestTriageClusterDataPlane(t *testing.T) {
	w := walker(t, []string{"nodes"})
	r := w.Cluster(context.Background(), Details{}, time.Minute)
	if s := r.Step("data-plane"); s == nil || s.Status != report.Skip {
		t.Fatalf("without the backends collector: %+v", s)
	}
	w.sources = append(w.sources, fakeBackends{verdict: guide.BackendsNotAnswering})
	r = w.Cluster(context.Background(), Details{}, time.Minute)
	if s := r.Step("data-plane"); s.Status != report.Warn || s.Summary != "3 of 4 probed Services answer" {
		t.Errorf("data-plane step %+v", s)
	}
}
