package kubeproxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// fakeKubeProxy serves kube-proxy's health and metrics endpoints. stale
// is how long ago it last programmed the rules (0: healthy); draining
// makes /healthz fail with nodeEligible false, as during a drain.
func fakeKubeProxy(t *testing.T, stale time.Duration, draining bool, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		now := time.Now().UTC()
		last := now.Add(-stale)
		healthy := stale == 0
		body := func(eligible string) string {
			return `{"lastUpdated":"` + last.Format(time.RFC3339Nano) + `","currentTime":"` + now.Format(time.RFC3339Nano) + `"` + eligible + `,"healthy":` + map[bool]string{true: "true", false: "false"}[healthy] + `}`
		}
		switch r.URL.Path {
		case "/livez":
			if !healthy {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			_, _ = w.Write([]byte(body("")))
		case "/healthz":
			if !healthy || draining {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			_, _ = w.Write([]byte(body(`,"nodeEligible":` + map[bool]string{true: "false", false: "true"}[draining])))
		case "/proxyMode":
			_, _ = w.Write([]byte("nftables"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestKubeproxy(t *testing.T, url string, vips []string, timeout time.Duration) *kubeproxyCollector {
	t.Helper()
	c, err := newKubeproxyCollector(Config{HealthURL: url, MetricsURL: url, VIPs: vips},
		collector.Deps{Logger: promslog.NewNopLogger(), Schedule: prober.Schedule{Interval: time.Hour, Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKubeproxyProbe(t *testing.T) {
	vip, err := net.Listen("tcp", "127.0.0.1:0") // a VIP whose rules work
	if err != nil {
		t.Fatal(err)
	}
	defer vip.Close()
	dead := testenv.RefusingAddr(t) // one whose rules are missing
	closedURL := "http://" + dead

	for _, tc := range []struct {
		name     string
		url      string
		want     map[string]float64 // by metric name, labels in the key after '|'
		wantMode bool
	}{
		{"healthy", fakeKubeProxy(t, 0, false, 0).URL, map[string]float64{
			"kube_triage_kubeproxy_reachable": 1, "kube_triage_kubeproxy_probe_success|livez": 1, "kube_triage_kubeproxy_probe_success|healthz": 1,
			"kube_triage_kubeproxy_last_update_age_seconds": 0, "kube_triage_kubeproxy_node_eligible": 1}, true},
		{"rules stale for 5 minutes", fakeKubeProxy(t, 5*time.Minute, false, 0).URL, map[string]float64{
			"kube_triage_kubeproxy_reachable": 1, "kube_triage_kubeproxy_probe_success|livez": 0, "kube_triage_kubeproxy_probe_http_status_code|livez": 503,
			"kube_triage_kubeproxy_last_update_age_seconds": 300}, true},
		{"node draining: healthz fails, livez does not", fakeKubeProxy(t, 0, true, 0).URL, map[string]float64{
			"kube_triage_kubeproxy_probe_success|livez": 1, "kube_triage_kubeproxy_probe_success|healthz": 0, "kube_triage_kubeproxy_node_eligible": 0}, true},
		{"slow", fakeKubeProxy(t, 0, false, 2*time.Second).URL, map[string]float64{
			"kube_triage_kubeproxy_reachable": 0, "kube_triage_kubeproxy_probe_success|livez": 0}, false},
		{"absent", closedURL, map[string]float64{
			"kube_triage_kubeproxy_reachable": 0, "kube_triage_kubeproxy_probe_http_status_code|healthz": 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestKubeproxy(t, tc.url, []string{vip.Addr().String(), dead}, 300*time.Millisecond)
			start := time.Now()
			c.Record(c.probeAll(context.Background()))
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("a round took %s, beyond its 300ms timeout", took)
			}
			g := scrapeOnce(t, c)
			for key, want := range tc.want {
				name, ep, _ := strings.Cut(key, "|")
				labels := map[string]string{}
				if ep != "" {
					labels["endpoint"] = ep
				}
				if v, ok := collectortest.Sample(t, g, name, labels); !ok || v < want-1 || v > want+1 {
					t.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, want)
				}
			}
			if _, ok := collectortest.Sample(t, g, "kube_triage_kubeproxy_info", map[string]string{"proxy_mode": "nftables"}); ok != tc.wantMode {
				t.Errorf("proxy mode reported %v, want %v", ok, tc.wantMode)
			}
			for target, want := range map[string]float64{vip.Addr().String(): 1, dead: 0} {
				if v, ok := collectortest.Sample(t, g, "kube_triage_kubeproxy_service_vip_reachable", map[string]string{"target": target}); !ok || v != want {
					t.Errorf("VIP %s reachable = %v (present %v), want %v", target, v, ok, want)
				}
			}
		})
	}
}

func TestKubeproxyBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{HealthURL: "127.0.0.1:10256"},
		{HealthURL: "http://127.0.0.1:10256", MetricsURL: "https://x:1"},
		{HealthURL: "http://127.0.0.1:10256", VIPs: []string{"10.96.0.1"}},
		{HealthURL: "http://127.0.0.1:10256", LocalServices: []string{"no-namespace"}},
	} {
		if err := cfg.Check(collector.RoleNode); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	// The schedule is checked by the one validation flags use too.
	_, err := newKubeproxyCollector(Config{HealthURL: "http://127.0.0.1:10256"}, collector.Deps{Schedule: prober.Schedule{Timeout: time.Second}})
	if err == nil || err.Error() != "--collector.kubeproxy.interval=0s: must be positive" {
		t.Errorf("zero interval: %v", err)
	}
}

// kube-proxy before 1.28 has no /livez: it answers 404, which is not a
// failure; /healthz is still reported.
func TestKubeproxyWithoutLivez(t *testing.T) {
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"lastUpdated":"2026-11-24T12:00:00Z","currentTime":"2026-11-24T12:00:00Z"}`))
	}))
	defer old.Close()
	c := newTestKubeproxy(t, old.URL, nil, time.Second)
	c.Record(c.probeAll(context.Background()))
	g := scrapeOnce(t, c)
	if v, ok := collectortest.Sample(t, g, "kube_triage_kubeproxy_probe_success", map[string]string{"endpoint": "livez"}); ok {
		t.Errorf("livez reported (%v) by a kube-proxy that has none", v)
	}
	if v, ok := collectortest.Sample(t, g, "kube_triage_kubeproxy_probe_success", map[string]string{"endpoint": "healthz"}); !ok || v != 1 {
		t.Errorf("healthz = %v (present %v), want 1", v, ok)
	}
}

// The ready endpoints on this node of the Local Services it is told of:
// not-ready ones and other nodes' do not count.
func TestKubeproxyLocalEndpoints(t *testing.T) {
	ep := func(node string, ready bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{"10.244.0.9"}, NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
	}
	slice := func(ns, service string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: service + "-x", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps}
	}
	service := func(ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	}
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(
		service("kube-system", "node-local-dns"), service("shop", "ingress"),
		slice("kube-system", "node-local-dns", ep("node-a", true), ep("node-a", false), ep("node-b", true)),
		slice("shop", "ingress", ep("node-b", true)),
	))}
	col, err := newKubeproxyCollector(Config{HealthURL: "http://127.0.0.1:1", LocalServices: []string{"kube-system/node-local-dns", "shop/ingress", "shop/typo"}},
		collector.Deps{Logger: promslog.NewNopLogger(), NodeName: "node-a", Kube: kc, Schedule: prober.Schedule{Interval: time.Hour, Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	g := scrapeOnce(t, col)
	for service, want := range map[string]float64{"node-local-dns": 1, "ingress": 0} {
		if v, ok := collectortest.Sample(t, g, "kube_triage_kubeproxy_local_endpoints", map[string]string{"service": service}); !ok || v != want {
			t.Errorf("%s: %v local endpoints (present %v), want %v", service, v, ok, want)
		}
	}
	// A Service that does not exist is a misconfiguration, not a node
	// without endpoints.
	if _, ok := collectortest.Sample(t, g, "kube_triage_kubeproxy_local_endpoints", map[string]string{"service": "typo"}); ok {
		t.Error("a series for shop/typo, which does not exist")
	}
	if got := col.configProblems(); len(got) != 1 || got[0] != localServiceNotFound {
		t.Errorf("config problems %v, want %s", got, localServiceNotFound)
	}
}

func scrapeOnce(t *testing.T, c *kubeproxyCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "kubeproxy", c.Collector())
}
