package kubelet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

func newTestKubeletProber(t *testing.T, url string, timeout time.Duration) *kubeletProber {
	t.Helper()
	c := &Config{URL: url, InsecureTLS: true}
	if err := c.Check(collector.RoleNode); err != nil {
		t.Fatal(err)
	}
	p, err := c.newProber(collector.Deps{Role: collector.RoleNode, Logger: promslog.NewNopLogger(),
		Schedule: prober.Schedule{Interval: time.Hour, Timeout: timeout},
		Kube:     &kube.Client{Config: &rest.Config{Host: "https://apiserver.invalid", BearerToken: "agent-token"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The node agent asks its kubelet with its own token, over TLS it does not
// verify; a healthy, a failing, a slow and an absent kubelet each read as
// what they are, and a slow one never holds the probe past its timeout.
func TestKubeletProbe(t *testing.T) {
	var gotAuth atomic.Value // written by the server's goroutines
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok"))
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("[-]syncloop failed: reason withheld"))
		case "/slow":
			time.Sleep(2 * time.Second)
		}
	}))
	defer kubelet.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	for _, tc := range []struct {
		name, url                string
		reachable, success, code float64
	}{
		{"healthy", kubelet.URL + "/healthz", 1, 1, 200},
		{"failing", kubelet.URL + "/broken", 1, 0, 500},
		{"slow", kubelet.URL + "/slow", 0, 0, 0},
		{"down", "https://" + closed.Addr().String() + "/healthz", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestKubeletProber(t, tc.url, 300*time.Millisecond)
			start := time.Now()
			a := c.probe(context.Background())
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("probe took %s, beyond its 300ms timeout", took)
			}
			c.Record(a)
			g := collectortest.ScrapeOnce(t, "kubelet", c.Collector())
			for name, want := range map[string]float64{"kube_triage_kubelet_reachable": tc.reachable,
				"kube_triage_kubelet_probe_success": tc.success, "kube_triage_kubelet_probe_http_status_code": tc.code} {
				if v, ok := collectortest.Sample(t, g, name, nil); !ok || v != want {
					t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
				}
			}
		})
	}
	if gotAuth.Load() != "Bearer agent-token" {
		t.Errorf("the kubelet was asked with Authorization %q, want the agent's token", gotAuth.Load())
	}
}

func TestKubeletURLMustBeHTTP(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:10250", "ftp://x/healthz"} {
		err := (&Config{URL: u}).Check(collector.RoleNode)
		if err == nil || !strings.Contains(err.Error(), "kubelet URL") {
			t.Errorf("URL %q: error %v, want one naming the kubelet URL", u, err)
		}
	}
}
