package apiserver

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// Verbose answers as kube-apiserver writes them (trimmed).
const (
	livezOK = `[+]ping ok
[+]log ok
[+]etcd ok
[+]poststarthook/start-apiserver-admission-initializer ok
livez check passed
`
	readyzOK = `[+]ping ok
[+]log ok
[+]etcd ok
[+]etcd-readiness ok
[+]informer-sync ok
[+]shutdown ok
readyz check passed
`
	readyzEtcdDown = `[+]ping ok
[+]log ok
[-]etcd failed: reason withheld
[-]etcd-readiness failed: reason withheld
[+]informer-sync ok
[+]shutdown ok
readyz check failed
`
)

// fakeAPIServer answers /livez and /readyz with fixed statuses and bodies.
func fakeAPIServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(handle))
	t.Cleanup(srv.Close)
	return srv
}

func answer(livezStatus int, livez string, readyzStatus int, readyz string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["verbose"]; !ok {
			http.Error(w, "probe must ask for verbose output", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/livez":
			w.WriteHeader(livezStatus)
			_, _ = w.Write([]byte(livez))
		case "/readyz":
			w.WriteHeader(readyzStatus)
			_, _ = w.Write([]byte(readyz))
		default:
			http.NotFound(w, r)
		}
	}
}

// newTestAPIServerCollector probes every hour unless told an interval.
func newTestAPIServerCollector(t *testing.T, host string, timeout time.Duration, interval ...time.Duration) *apiserverCollector {
	t.Helper()
	sched := prober.Schedule{Interval: time.Hour, Timeout: timeout}
	if len(interval) > 0 {
		sched.Interval = interval[0]
	}
	c, err := newCollector(Config{}, collector.Deps{
		Logger:   promslog.NewNopLogger(),
		Schedule: sched,
		Kube:     &kube.Client{Config: &rest.Config{Host: host}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiserverGolden are the families whose values do not depend on timing.
var apiserverGolden = []string{
	"kube_triage_apiserver_reachable", "kube_triage_apiserver_probe_success",
	"kube_triage_apiserver_probe_http_status_code", "kube_triage_apiserver_check_success",
	"kube_triage_apiserver_probes_total", "kube_triage_apiserver_probe_failures_total",
}

func scrapeOnce(t *testing.T, c *apiserverCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "apiserver", c.Collector())
}

func TestAPIServerHealthy(t *testing.T) {
	srv := fakeAPIServer(t, answer(200, livezOK, 200, readyzOK))
	c := newTestAPIServerCollector(t, srv.URL, time.Second)
	c.Record(c.probeAll(context.Background()))
	collectortest.Golden(t, scrapeOnce(t, c), "apiserver_healthy.prom", apiserverGolden...)
}

// The storage scenario: the apiserver answers, but its etcd checks fail.
// It must read differently from "apiserver down": reachable stays 1.
func TestAPIServerEtcdDown(t *testing.T) {
	srv := fakeAPIServer(t, answer(200, livezOK, 500, readyzEtcdDown))
	c := newTestAPIServerCollector(t, srv.URL, time.Second)
	c.Record(c.probeAll(context.Background()))
	c.Record(c.probeAll(context.Background()))
	collectortest.Golden(t, scrapeOnce(t, c), "apiserver_etcd_down.prom", apiserverGolden...)
}

func TestAPIServerFailureReasons(t *testing.T) {
	cases := []struct {
		name       string
		url        func(t *testing.T) string
		reason     string
		reachable  float64
		statusCode float64
		timeout    time.Duration // 5s unless the case is about the timeout
	}{
		{"unauthorized", func(t *testing.T) string {
			return fakeAPIServer(t, answer(401, "Unauthorized", 401, "Unauthorized")).URL
		}, "auth", 1, 401, 0},
		{"server error without checks", func(t *testing.T) string {
			return fakeAPIServer(t, answer(503, "overloaded", 503, "overloaded")).URL
		}, "http_status", 1, 503, 0},
		{"timeout", func(t *testing.T) string {
			return fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}).URL
		}, "timeout", 0, 0, 200 * time.Millisecond},
		{"nothing listening", func(t *testing.T) string {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return srv.URL
		}, "connection", 0, 0, 0},
		{"plain HTTP server behind an https URL", func(t *testing.T) string {
			return "https://" + strings.TrimPrefix(fakeAPIServer(t, answer(200, livezOK, 200, readyzOK)).URL, "http://")
		}, "tls", 0, 0, 0},
		{"certificate from an unknown authority", func(t *testing.T) string {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(answer(200, livezOK, 200, readyzOK)))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return srv.URL
		}, "tls", 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second // a TLS handshake under -race on a busy machine is slow
			}
			c := newTestAPIServerCollector(t, tc.url(t), timeout)
			c.Record(c.probeAll(context.Background()))
			want := `
# HELP kube_triage_apiserver_reachable 1 if the last probe of the apiserver's health endpoint got an HTTP response (whatever its status), 0 if it could not connect or timed out.
# TYPE kube_triage_apiserver_reachable gauge
kube_triage_apiserver_reachable ` + strconv.FormatFloat(tc.reachable, 'g', -1, 64) + `
# HELP kube_triage_apiserver_probe_http_status_code HTTP status of the last probe of the apiserver's health endpoint; 0 when no response came.
# TYPE kube_triage_apiserver_probe_http_status_code gauge
kube_triage_apiserver_probe_http_status_code{endpoint="livez"} ` + strconv.FormatFloat(tc.statusCode, 'g', -1, 64) + `
kube_triage_apiserver_probe_http_status_code{endpoint="readyz"} ` + strconv.FormatFloat(tc.statusCode, 'g', -1, 64) + `
`
			g := scrapeOnce(t, c)
			if err := testutil.GatherAndCompare(g, strings.NewReader(want),
				"kube_triage_apiserver_reachable", "kube_triage_apiserver_probe_http_status_code"); err != nil {
				t.Error(err)
			}
			for _, ep := range endpoints {
				if got := c.failures[[2]string{ep, tc.reason}]; got != 1 {
					t.Errorf("%s: failures{reason=%q} = %v, want 1 (all: %v)", ep, tc.reason, got, c.failures)
				}
			}
		})
	}
}

func TestAPIServerNoGaugesBeforeFirstProbe(t *testing.T) {
	c := newTestAPIServerCollector(t, "https://127.0.0.1:1", time.Second)
	n, err := testutil.GatherAndCount(scrapeOnce(t, c), "kube_triage_apiserver_reachable", "kube_triage_apiserver_probe_success")
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d gauge series before any probe; want none rather than false zeros", n)
	}
}

func TestParseHealthChecksBadInput(t *testing.T) {
	body := "[+]ping ok\n[+]ping ok\n[-]etcd failed: reason withheld\n" +
		"[+]bad\xffname ok\n[+]" + strings.Repeat("x", 200) + " ok\n" +
		"[+]informer-sync excluded: skipped\ngarbage\n[?]what ok\n"
	got := parseHealthChecks([]byte(body))
	want := []healthCheck{{"ping", true}, {"etcd", false}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("check %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// A round longer than the interval still counts: with etcd down /readyz
// answers after its checks time out, which may be longer than the interval.
func TestAPIServerSlowRoundIsRecorded(t *testing.T) {
	srv := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		answer(500, readyzEtcdDown, 500, readyzEtcdDown)(w, r)
	})
	c := newTestAPIServerCollector(t, srv.URL, 5*time.Second, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	testenv.WaitFor(t, "a round longer than the interval to be recorded", 10*time.Second, func() (bool, error) {
		if v, ok := collectortest.Sample(t, scrapeOnce(t, c), "kube_triage_apiserver_check_success", map[string]string{"endpoint": "readyz", "check": "etcd"}); !ok || v != 0 {
			return false, fmt.Errorf("readyz etcd check_success %v (present %v), want 0", v, ok)
		}
		return true, nil
	})
}

// With FailingChecksOnly (the node role's setting) only failing checks get
// a series.
func TestAPIServerFailingChecksOnly(t *testing.T) {
	srv := fakeAPIServer(t, answer(200, livezOK, 500, readyzEtcdDown))
	c := newTestAPIServerCollector(t, srv.URL, time.Second)
	c.cfg.FailingChecksOnly = true
	c.Record(c.probeAll(context.Background()))
	want := `
# HELP kube_triage_apiserver_check_success 1 if the named check passed ([+]) in the last verbose answer of the health endpoint, 0 if it failed ([-]). The etcd check is the apiserver's storage.
# TYPE kube_triage_apiserver_check_success gauge
kube_triage_apiserver_check_success{check="etcd",endpoint="readyz"} 0
kube_triage_apiserver_check_success{check="etcd-readiness",endpoint="readyz"} 0
`
	if err := testutil.GatherAndCompare(scrapeOnce(t, c), strings.NewReader(want), "kube_triage_apiserver_check_success"); err != nil {
		t.Error(err)
	}
}
