//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// target is one exporter Prometheus scrapes, with the target labels the
// scrape config gives it: its cluster, and the node its pod runs on, which
// a common relabeling puts on every series (the exporter's own labels win,
// honor_labels).
type target struct {
	addr   string
	labels map[string]string
}

// monitoring is a real Prometheus, loading alerts/*.rules.yaml as shipped,
// and a real Alertmanager it sends to, both on loopback with 1s intervals.
type monitoring struct {
	prometheus   promv1.API
	promURL      string
	alertmanager string // base URL
}

func startMonitoring(t *testing.T, root string, targets []target) *monitoring {
	t.Helper()
	if err := bins.Ensure(root, t.Logf, "prometheus", "alertmanager"); err != nil {
		t.Fatal(err)
	}
	bin := func(name string) string { return filepath.Join(bins.Dir(root), name) }
	dir := t.TempDir()
	amAddr, promAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)

	// The inhibition rules as shipped, under a route that notifies at once.
	inhibit, err := os.ReadFile(filepath.Join(root, "alerts", "inhibit-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	amConfig := filepath.Join(dir, "alertmanager.yml")
	write(t, amConfig, `route:
  receiver: "null"
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
`+string(inhibit))
	testenv.Start(t, "alertmanager", bin("alertmanager"), nil, "--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "am"), "--web.listen-address="+amAddr, "--cluster.listen-address=")

	var scrape strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&scrape, "      - targets: [%q]\n        labels:\n", tg.addr)
		for k, v := range tg.labels {
			fmt.Fprintf(&scrape, "          %s: %q\n", k, v)
		}
	}
	promConfig := filepath.Join(dir, "prometheus.yml")
	write(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - %s
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: kube-triage-exporter
    honor_labels: true
    static_configs:
%s`, filepath.Join(root, "alerts", "*.rules.yaml"), amAddr, scrape.String()))
	testenv.Start(t, "prometheus", bin("prometheus"), nil, "--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr,
		"--rules.alert.resend-delay=1s", "--scrape.discovery-reload-interval=1s")

	m := &monitoring{promURL: "http://" + promAddr, alertmanager: "http://" + amAddr}
	for _, base := range []string{m.promURL, m.alertmanager} {
		testenv.WaitFor(t, base+" ready", time.Minute, func() (bool, error) {
			code, _, err := testenv.Get(http.DefaultClient, base+"/-/ready")
			return code == http.StatusOK, err
		})
	}
	client, err := promapi.NewClient(promapi.Config{Address: m.promURL})
	if err != nil {
		t.Fatal(err)
	}
	m.prometheus = promv1.NewAPI(client)
	return m
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// alert is an alert as Alertmanager's API v2 lists it.
type alert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"` // active (it notifies) or suppressed
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// notifies: the alert is active, neither inhibited nor silenced.
func (a alert) notifies() bool { return a.Status.State == "active" }

// inhibited: Alertmanager holds the alert back because another inhibits it.
func (a alert) inhibited() bool {
	return a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0
}

// activeAlerts lists what Alertmanager holds as firing now, inhibited or
// not.
func (m *monitoring) activeAlerts(ctx context.Context) ([]alert, error) {
	q := url.Values{"active": {"true"}, "inhibited": {"true"}, "silenced": {"true"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.alertmanager+"/api/v2/alerts?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager: %s", resp.Status)
	}
	var alerts []alert
	return alerts, json.NewDecoder(resp.Body).Decode(&alerts)
}

// String names the alert by its labels.
func (a alert) String() string { return match{a.Labels["alertname"], a.Labels}.String() }

// matches says whether a has the name and every label of want.
func (a alert) matches(name string, want map[string]string) bool {
	if a.Labels["alertname"] != name {
		return false
	}
	for k, v := range want {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

// seriesNames lists every metric name Prometheus has stored.
func (m *monitoring) seriesNames(ctx context.Context) (map[string]bool, error) {
	values, _, _, err := m.prometheus.LabelValues(ctx, model.MetricNameLabel, nil, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, v := range values {
		names[string(v)] = true
	}
	return names, nil
}

// evaluatedSince reports whether the alerting rule alert has been evaluated
// since t.
func (m *monitoring) evaluatedSince(ctx context.Context, alert string, t time.Time) (bool, error) {
	rules, err := m.prometheus.Rules(ctx, nil)
	if err != nil {
		return false, err
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if a, ok := r.(promv1.AlertingRule); ok && a.Name == alert {
				return a.LastEvaluation.After(t), nil
			}
		}
	}
	return false, fmt.Errorf("no alerting rule %s", alert)
}

// count is the number of series expr returns now.
func (m *monitoring) count(ctx context.Context, expr string) (int, error) {
	v, _, _, err := m.prometheus.Query(ctx, expr, time.Now())
	if err != nil {
		return 0, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return 0, fmt.Errorf("%s: %s, not a vector", expr, v.Type())
	}
	return len(vec), nil
}

// query evaluates expr now and returns the first sample's value.
func (m *monitoring) query(ctx context.Context, expr string) (float64, error) {
	v, _, _, err := m.prometheus.Query(ctx, expr, time.Now())
	if err != nil {
		return 0, err
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) == 0 {
		return 0, fmt.Errorf("%s: no result", expr)
	}
	return float64(vec[0].Value), nil
}
