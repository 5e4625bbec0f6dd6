// Package dashboards_test checks the Grafana dashboards: each imports into
// Grafana's schema, picks its data source through a variable, and queries
// only valid PromQL over metrics the exporter exports.
package dashboards_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/promqlcheck"
)

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	return files
}

// Each dashboard decodes strictly into the Grafana Foundation SDK's
// dashboard type: no unknown field, no field of the wrong type.
func TestDashboardsMatchGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, f := range dashboardFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard.Dashboard //nolint:staticcheck // the classic JSON model is what Dashboards → Import takes; v2 is a different format
		if err := d.UnmarshalJSONStrict(raw); err != nil {
			// The decoder returns an empty BuildErrors, typed but nil, on
			// success.
			var be cog.BuildErrors
			if !errors.As(err, &be) || len(be) > 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
		if d.Uid == nil || *d.Uid == "" || d.Title == nil || *d.Title == "" {
			t.Errorf("%s: needs a uid and a title", f)
		}
	}
}

// panelJSON is the part of a dashboard this test reads.
type panelJSON struct {
	Title      string `json:"title"`
	Datasource *dsRef `json:"datasource"`
	Targets    []struct {
		Datasource *dsRef `json:"datasource"`
		Expr       string `json:"expr"`
	} `json:"targets"`
	Panels []panelJSON `json:"panels"` // rows
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardJSON struct {
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource *dsRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panelJSON `json:"panels"`
}

func load(t *testing.T, f string) dashboardJSON {
	t.Helper()
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardJSON
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return d
}

func panels(ps []panelJSON) []panelJSON {
	var out []panelJSON
	for _, p := range ps {
		out = append(out, p)
		out = append(out, panels(p.Panels)...)
	}
	return out
}

// The data source is a variable, never a hard-coded UID, so the dashboard
// imports into any Grafana.
func TestDashboardsUseDatasourceVariable(t *testing.T) {
	isVar := func(ds *dsRef) bool { return ds != nil && (ds.UID == "${datasource}" || ds.UID == "$datasource") }
	for _, f := range dashboardFiles(t) {
		d := load(t, f)
		hasVar := false
		for _, v := range d.Templating.List {
			if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
				hasVar = true
			}
			if v.Type == "query" && !isVar(v.Datasource) {
				t.Errorf("%s: variable %s does not use the datasource variable", f, v.Name)
			}
		}
		if !hasVar {
			t.Errorf("%s: no Prometheus datasource variable named datasource", f)
		}
		for _, p := range panels(d.Panels) {
			if len(p.Targets) > 0 && !isVar(p.Datasource) {
				t.Errorf("%s: panel %q: datasource %+v is not ${datasource}", f, p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				if !isVar(tg.Datasource) {
					t.Errorf("%s: panel %q: a query's datasource %+v is not ${datasource}", f, p.Title, tg.Datasource)
				}
			}
		}
	}
}

// grafanaVars matches the dashboard variables and Grafana's own, which
// stand for a value in PromQL.
var grafanaVars = regexp.MustCompile(`\$\{?(__rate_interval|__interval|__range)\}?|\$\{?[a-z_]+(:[a-z]+)?\}?`)

func promQL(expr string) string {
	return grafanaVars.ReplaceAllStringFunc(expr, func(v string) string {
		if strings.Contains(v, "__") {
			return "5m"
		}
		return "x"
	})
}

// recorded are the names the shipped recording rules (alerts/*.rules.yaml)
// record, which the dashboards may read beside the exporter's metrics.
func recorded(t *testing.T) []string {
	t.Helper()
	rules, err := promqlcheck.LoadRules(filepath.Join("..", "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules {
		if r.Record != "" {
			names = append(names, r.Record)
		}
	}
	return names
}

// Every query parses as PromQL and reads only metrics the exporter exports
// or the shipped recording rules record.
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	records := recorded(t)
	check := func(f, where, expr string) {
		unknown, err := promqlcheck.UnknownMetrics(promQL(expr), records...)
		if err != nil {
			t.Errorf("%s: %s: %q: %v", f, where, expr, err)
		}
		for _, name := range unknown {
			t.Errorf("%s: %s uses %s, which the exporter does not export", f, where, name)
		}
	}
	// label_values(selector, label): the selector a metric with or without
	// matchers.
	labelValues := regexp.MustCompile(`^label_values\((\w+(?:\{.*\})?),\s*\w+\)$`)
	for _, f := range dashboardFiles(t) {
		d := load(t, f)
		queries := 0
		for _, p := range panels(d.Panels) {
			for _, tg := range p.Targets {
				queries++
				check(f, "panel "+p.Title, tg.Expr)
			}
		}
		if queries == 0 {
			t.Errorf("%s: no queries", f)
		}
		for _, v := range d.Templating.List {
			q, ok := v.Query.(map[string]any)
			if v.Type != "query" || !ok {
				continue
			}
			m := labelValues.FindStringSubmatch(q["query"].(string))
			if m == nil {
				t.Errorf("%s: variable %s: query %v is not label_values(selector, label)", f, v.Name, q["query"])
				continue
			}
			check(f, "variable "+v.Name, m[1])
		}
	}
}
