package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// triageExporter is an exporter of the services and terminations
// collectors over a fake API, listed once as the command does.
func triageExporter(t *testing.T, specs []Spec, objs ...runtime.Object) *Exporter {
	t.Helper()
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(objs...))}
	e, err := NewExporter(specs, Deps{Logger: promslog.NewNopLogger(), Kube: kc, Config: Config{
		Services: ServicesConfig{Interval: time.Hour}, Terminations: TerminationsConfig{Retention: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.Once(ctx, 10*time.Second)
	return e
}

// The walks' special cases, over fake caches: empty on purpose is not a
// failure, a UDP-only Service is not dialled, a bad page path is a 404.
func TestTriageServiceCases(t *testing.T) {
	expectedEmpty := svc("placeholder", map[string]string{"app": "none"})
	expectedEmpty.Annotations = map[string]string{record.ServiceOptOutAnnotation: "true"}
	udp := svc("syslog", map[string]string{"app": "syslog"}, corev1.ServicePort{Name: "udp", Port: 514, Protocol: corev1.ProtocolUDP})
	e := triageExporter(t, []Spec{servicesSpec, terminationsSpec}, expectedEmpty, udp, pod("syslog-1", map[string]string{"app": "syslog"}, true))
	dialled := 0
	d := TriageDetails{Dial: func(context.Context, string) error { dialled++; return nil }}

	r := e.TriageService(context.Background(), testNS, "placeholder", d)
	if !r.OK() || r.Verdict != string(guide.VerdictSelectorMatchesNothing) || r.Step("selector").Status != triage.Warn {
		t.Errorf("expected-empty Service: %s, selector %+v", r.Title(), r.Step("selector"))
	}
	if dialled != 1 {
		t.Errorf("the placeholder's TCP port dialled %d times", dialled)
	}
	dialled = 0
	r = e.TriageService(context.Background(), testNS, "syslog", d)
	if s := r.Step("connect"); s == nil || s.Status != triage.Skip || dialled != 0 {
		t.Errorf("UDP-only Service: connect %+v, dialled %d", s, dialled)
	}
	r = e.TriageService(context.Background(), testNS, "absent", d)
	if r.OK() || r.Verdict != "not_found" || r.FailingStep != "service" {
		t.Errorf("absent Service: %s", r.Title())
	}

	srv := httptest.NewServer(e.Pages()[TriagePath])
	defer srv.Close()
	for path, want := range map[string]int{
		"/triage/service/" + testNS + "/syslog?format=json": http.StatusOK,
		"/triage/pod/" + testNS + "/syslog-1?format=json":   http.StatusOK,
		"/triage/cluster":           http.StatusOK,
		"/triage/service/" + testNS: http.StatusNotFound,
		"/triage/node/x":            http.StatusNotFound,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == http.StatusOK && resp.Header.Get("Content-Type") == "application/json" {
			var r triage.Report
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
	e := triageExporter(t, []Spec{controlplaneSpec}, pod("web-1", map[string]string{"app": "web"}, true))
	for _, r := range []triage.Report{
		e.TriageService(context.Background(), testNS, "web", TriageDetails{}),
		e.TriagePod(context.Background(), testNS, "web-1", TriageDetails{}),
		e.TriageWorkload(context.Background(), testNS, "Pod", "web-1", TriageDetails{}),
	} {
		if r.Incomplete == "" || r.Verdict != "unknown" || !r.OK() {
			t.Errorf("%s: verdict %s, incomplete %q", r.Title(), r.Verdict, r.Incomplete)
		}
	}
}
