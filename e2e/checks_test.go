//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/promqlcheck"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// ruleExprs are the expressions of every rule in alerts/, by rule.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := promqlcheck.LoadRules(filepath.Join(root, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for i, r := range rules {
		exprs[fmt.Sprintf("rule %d %s%s", i, r.Alert, r.Record)] = r.Expr
	}
	return exprs
}

// panel is the part of a dashboard panel this file reads.
type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// dashboardExprs are the queries of every dashboard panel, by dashboard and
// panel title, with the dashboard variables set to "all".
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	exprs := map[string]string{}
	var walk func(file string, ps []panel)
	walk = func(file string, ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				expr := strings.NewReplacer("$namespace", ".*", "$cluster", "a", "$__rate_interval", "1m").Replace(tg.Expr)
				exprs[file+": "+p.Title+" #"+string(rune('A'+i))] = expr
			}
			walk(file, p.Panels)
		}
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walk(filepath.Base(f), d.Panels)
	}
	return exprs
}

// onlyWhenBroken are families exported only while something is wrong that
// the run does not break (their alerts wait longer than it lasts); promtool
// tests feed them.
var onlyWhenBroken = map[string]string{
	"kube_triage_config_problem": "a collector's configuration leaves it nothing to probe",
}

// checkMetricsExported: every metric a rule or a dashboard selects was
// stored by Prometheus during the run, so none watches a metric that does
// not exist.
func (e *env) checkMetricsExported(t *testing.T) {
	stored, err := e.mon.seriesNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exprs := ruleExprs(t)
	for k, v := range dashboardExprs(t) {
		exprs[k] = v
	}
	for where, expr := range exprs {
		names, err := promqlcheck.MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		for _, n := range names {
			if _, ok := onlyWhenBroken[n]; !stored[n] && !ok {
				t.Errorf("%s uses %s, which no exporter exported during the run", where, n)
			}
		}
	}
}

// checkDashboards: every panel's query returns data from the real
// Prometheus over the run.
func (e *env) checkDashboards(t *testing.T, since time.Time) {
	ctx := context.Background()
	r := promv1.Range{Start: since, End: time.Now(), Step: 5 * time.Second}
	for where, expr := range dashboardExprs(t) {
		v, _, _, err := e.mon.prometheus.QueryRange(ctx, expr, r)
		if err != nil {
			t.Errorf("%s: %q: %v", where, expr, err)
			continue
		}
		if m, ok := v.(model.Matrix); !ok || len(m) == 0 {
			t.Errorf("%s: %q returned no data over the run", where, expr)
		}
	}
}
