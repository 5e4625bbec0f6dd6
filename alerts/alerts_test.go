// Package alerts_test checks the rule files as Prometheus and promtool see
// them, and keeps them true to the exporter and the docs.
package alerts_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/rulefmt"
	"sigs.k8s.io/yaml"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/promqlcheck"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

const runbookBase = "https://github.com/kube-triage/kube-triage-exporter/blob/main/docs/runbooks/"

func ruleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.rules.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in alerts/: %v", err)
	}
	return files
}

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in alerts/tests/: %v", err)
	}
	return files
}

// alerts parses every rule file with Prometheus's own loader.
func alerts(t *testing.T) []rulefmt.Rule {
	t.Helper()
	rules, err := promqlcheck.LoadRules(".")
	if err != nil {
		t.Error(err)
	}
	return rules
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds promtool; runs in make test, not under -short")
	}
	abs := make([]string, len(args))
	for i, a := range args {
		if strings.HasSuffix(a, ".yaml") {
			p, err := filepath.Abs(a)
			if err != nil {
				t.Fatal(err)
			}
			a = p
		}
		abs[i] = a
	}
	out, err := testenv.Promtool(t, nil, abs...)
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, append([]string{"check", "rules"}, ruleFiles(t)...)...)
}

var camelCase = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]+$`)

// Every alert is named, labelled and annotated as the conventions say, and
// its runbook exists.
func TestAlertConventions(t *testing.T) {
	for _, r := range alerts(t) {
		if r.Alert == "" {
			continue
		}
		if !camelCase.MatchString(r.Alert) {
			t.Errorf("%s: alert names are CamelCase", r.Alert)
		}
		if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, sev)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		if want := runbookBase + r.Alert + ".md"; r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
		if _, err := os.Stat(filepath.Join("..", "docs", "runbooks", r.Alert+".md")); err != nil {
			t.Errorf("%s: runbook missing: %v", r.Alert, err)
		}
	}
}

// Every alert is listed in the README's "What pages you, and why", and the
// list names no other.
func TestAlertsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range alerts(t) {
		if r.Alert != "" {
			names = append(names, r.Alert)
			if !strings.Contains(string(doc), "| `"+r.Alert+"` |") {
				t.Errorf("%s is not in the README's table of alerts", r.Alert)
			}
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z0-9]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		if !slices.Contains(names, m[1]) {
			t.Errorf("the README's table of alerts lists %s, which no rule file defines", m[1])
		}
	}
}

// No rule watches a metric the exporter does not export (or that no rule
// records).
func TestRulesUseExportedMetrics(t *testing.T) {
	var recorded []string
	for _, r := range alerts(t) {
		if r.Record != "" {
			recorded = append(recorded, r.Record)
		}
	}
	for _, r := range alerts(t) {
		unknown, err := promqlcheck.UnknownMetrics(r.Expr, recorded...)
		if err != nil {
			t.Errorf("%s%s: %v", r.Alert, r.Record, err)
		}
		for _, name := range unknown {
			t.Errorf("%s%s uses %s, which the exporter does not export", r.Alert, r.Record, name)
		}
	}
}

// promtoolTests is the part of a promtool test file this test reads.
type promtoolTests struct {
	Tests []struct {
		AlertRuleTests []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// Every alert has a promtool test where it fires and one where it stays
// quiet.
func TestEveryAlertTestedFiringAndQuiet(t *testing.T) {
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range testFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pt promtoolTests
		if err := yaml.Unmarshal(data, &pt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range pt.Tests {
			for _, a := range tc.AlertRuleTests {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for _, r := range alerts(t) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no promtool test where it fires", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no promtool test where it stays quiet", r.Alert)
		}
	}
}
