package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-triage/kube-triage-exporter/collector"
	dnscollector "github.com/kube-triage/kube-triage-exporter/collector/dns"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// A DNS server that fails: /probes and the landing page show the failure's
// reason, and the result's log shows the queries sent and what came back.
func TestProbesPageShowsFailureAndQueryLog(t *testing.T) {
	server := testenv.DNSServer(t, "127.0.0.1", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
	})
	cs := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}}}})
	deps := collector.Deps{Logger: promslog.NewNopLogger(), Kube: &kube.Client{Informers: kube.NewInformers(cs)},
		Schedule: prober.Schedule{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond}}
	c, err := (&dnscollector.Config{Service: "kube-system/kube-dns", ServiceAddress: server, ClusterDomain: "cluster.local",
		ResolvConf: dnsprobe.ResolvConf{Search: []string{"default.svc.cluster.local"}, Ndots: 5}}).New(deps)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := collector.NewExporterOf(deps, collector.Named{Name: "dns", Collector: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go exp.Run(ctx)
	h, err := New(exp, Options{TelemetryPath: "/metrics", DefaultTimeout: time.Second,
		Ready: func() error { return nil }, Version: "test", Role: collector.RoleCluster}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	var page string
	testenv.WaitFor(t, "a failed probe on /probes", 10*time.Second, func() (bool, error) {
		_, page = serve(h, httptest.NewRequest(http.MethodGet, ProbesPath, nil))
		return strings.Contains(page, "<td>kubernetes.default @service</td><td>servfail</td>"), nil
	})
	link := regexp.MustCompile(`href="\?id=(\d+)&amp;debug=true"`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("no log link on:\n%s", page)
	}
	code, log := serve(h, httptest.NewRequest(http.MethodGet, ProbesPath+"?id="+link[1]+"&debug=true", nil))
	for _, want := range []string{"result: failed: servfail", "A kubernetes.default.default.svc.cluster.local. @" + server, "SERVFAIL"} {
		if code != 200 || !strings.Contains(log, want) {
			t.Errorf("the log lacks %q (status %d):\n%s", want, code, log)
		}
	}
	if code, _ := serve(h, httptest.NewRequest(http.MethodGet, ProbesPath+"?id=999999999", nil)); code != http.StatusNotFound {
		t.Errorf("an unknown id: %d, want 404", code)
	}
	_, metrics := serve(h, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !regexp.MustCompile(`kube_triage_probe_failures_total\{collector="dns",reason="servfail"\} [1-9]`).MatchString(metrics) ||
		!strings.Contains(metrics, `kube_triage_probe_failures_total{collector="dns",reason="timeout"} 0`) {
		t.Errorf("the failures are not counted by reason:\n%s", metrics)
	}
	_, landing := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if !regexp.MustCompile(`\d+ probes, [1-9]\d* failing`).MatchString(landing) || !strings.Contains(landing, "kubernetes.default @service: servfail") {
		t.Errorf("the landing page does not show the failing probes:\n%s", landing)
	}
}
