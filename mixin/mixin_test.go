package mixin

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the shipped files from the mixin")

func render(t *testing.T, config string) *Rendered {
	t.Helper()
	r, err := Render(config)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// generatedFiles are the files in the tree that the mixin writes.
func generatedFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../alerts/*.rules.yaml", "../alerts/inhibit-rules.yaml", "../dashboards/*.json", "../deploy/prometheusrule.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

// The rule files, the PrometheusRule, the inhibition rules and the
// dashboards are the mixin rendered with its defaults, byte for byte, and
// no file is left over from a group or dashboard the mixin no longer has.
func TestShippedFilesAreTheMixin(t *testing.T) {
	files, err := render(t, "").Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range generatedFiles(t) {
		rel, _ := filepath.Rel("..", f)
		if _, ok := files[filepath.ToSlash(rel)]; ok {
			continue
		}
		if *update {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s is not rendered by the mixin any more; run make generate", rel)
	}
	for rel, want := range files {
		p := filepath.Join("..", filepath.FromSlash(rel))
		if *update {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v; run make generate", rel, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the mixin; edit mixin/ and run make generate", rel)
		}
	}
}

// The YAML writer is faithful: every file reads back as the data the
// mixin rendered.
func TestYAMLReadsBackAsRendered(t *testing.T) {
	r := render(t, "")
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range r.RuleGroups {
		var got struct {
			Groups []any `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(files["alerts/"+RuleFileName(g.Name)], &got); err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		var want any
		if err := json.Unmarshal(g.Raw, &want); err != nil {
			t.Fatal(err)
		}
		if len(got.Groups) != 1 || !reflect.DeepEqual(got.Groups[0], want) {
			t.Errorf("group %s does not read back as rendered:\n got %v\nwant %v", g.Name, got.Groups, want)
		}
	}
	var got, want any
	if err := yaml.UnmarshalStrict(files["alerts/inhibit-rules.yaml"], &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.AlertmanagerConfig, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inhibit-rules.yaml does not read back as rendered:\n got %v\nwant %v", got, want)
	}
}

func TestFold(t *testing.T) {
	s := strings.Repeat("word ", 60) + "end"
	lines := fold(s, 20)
	for _, l := range lines {
		if len(l) > 20 || strings.HasPrefix(l, " ") || strings.HasSuffix(l, " ") {
			t.Errorf("line %q", l)
		}
	}
	if strings.Join(lines, " ") != s {
		t.Errorf("fold lost text")
	}
}

// ruleQueries are the expressions of every rule, by group and rule.
func ruleQueries(r *Rendered) map[string]string {
	out := map[string]string{}
	for _, g := range r.RuleGroups {
		for i, rule := range g.Rules {
			out[fmt.Sprintf("%s/%d %s%s", g.Name, i, rule.Alert, rule.Record)] = rule.Expr
		}
	}
	return out
}

// dashboardQueries are the queries of every dashboard panel and variable,
// with Grafana's variables given values ($cluster is "x").
func dashboardQueries(t *testing.T, r *Rendered) map[string]string {
	t.Helper()
	out := map[string]string{}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "${cluster}", "x", "$cluster", "x", "$namespace", "x", "${namespace}", "x")
	for name, d := range r.Dashboards {
		var v any
		if err := json.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		var walk func(any, string)
		walk = func(v any, where string) {
			switch x := v.(type) {
			case map[string]any:
				if e, ok := x["expr"].(string); ok {
					out[where] = grafana.Replace(e)
				}
				// The cluster variable lists the clusters: it selects none.
				if q, ok := x["query"].(map[string]any); ok && x["name"] != "cluster" {
					if m := labelValues.FindStringSubmatch(fmt.Sprint(q["query"])); m != nil {
						out[where+" variable"] = grafana.Replace(m[1])
					}
				}
				if title, ok := x["title"].(string); ok {
					where = name + ": " + title
				}
				for k, c := range x {
					walk(c, where+"."+k)
				}
			case []any:
				for i, c := range x {
					walk(c, where+"["+string(rune('0'+i%10))+"]")
				}
			}
		}
		walk(v, name)
	}
	return out
}

// queries are every PromQL query the mixin renders.
func queries(t *testing.T, r *Rendered) map[string]string {
	out := ruleQueries(r)
	maps.Copy(out, dashboardQueries(t, r))
	return out
}

// With a ruler over many clusters, every aggregation and every join of a
// rule keeps the cluster label, so no alert mixes clusters; and the label's
// name is the configured one. Checked on the PromQL syntax tree.
func TestEveryRuleKeepsTheClusterLabel(t *testing.T) {
	const label = "k8s_cluster"
	r := render(t, `{clusterLabel: "`+label+`"}`)
	for where, q := range ruleQueries(r) {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, q)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			switch x := n.(type) {
			case *parser.AggregateExpr:
				if x.Without == slices.Contains(x.Grouping, label) || slices.Contains(x.Grouping, "cluster") {
					t.Errorf("%s: %s %v drops %s:\n%s", where, x.Op, x.Grouping, label, q)
				}
			case *parser.BinaryExpr:
				m := x.VectorMatching
				if m == nil || x.LHS.Type() != parser.ValueTypeVector || x.RHS.Type() != parser.ValueTypeVector {
					break
				}
				if (m.On && !slices.Contains(m.MatchingLabels, label)) || (!m.On && slices.Contains(m.MatchingLabels, label)) || slices.Contains(m.MatchingLabels, "cluster") {
					t.Errorf("%s: a join on %v does not keep %s:\n%s", where, m.MatchingLabels, label, q)
				}
			case *parser.Call:
				if x.Func.Name == "vector" {
					t.Errorf("%s: vector() has no %s label:\n%s", where, label, q)
				}
			}
			return nil
		})
	}
}

// Every selector of every dashboard query picks the dashboard's cluster,
// by the configured label.
func TestDashboardsSelectTheCluster(t *testing.T) {
	const label = "k8s_cluster"
	r := render(t, `{clusterLabel: "`+label+`"}`)
	if len(r.Dashboards) == 0 {
		t.Fatal("no dashboards")
	}
	for where, q := range dashboardQueries(t, r) {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, q)
			continue
		}
		for _, sel := range parser.ExtractSelectors(expr) {
			if !slices.ContainsFunc(sel, func(m *labels.Matcher) bool {
				return m.Name == label && m.Type == labels.MatchEqual && m.Value == "x"
			}) {
				t.Errorf("%s: selector %v does not pick $cluster by %s:\n%s", where, sel, label, q)
			}
		}
	}
}

// The configured selector narrows every selector of the exporter's series
// (and of up), in rules and dashboards alike.
func TestSelectorReachesEverySelector(t *testing.T) {
	r := render(t, `{kubeTriageSelector: 'job="kt"'}`)
	recorded := map[string]bool{}
	for _, g := range r.RuleGroups {
		for _, rule := range g.Rules {
			recorded[rule.Record] = true
		}
	}
	for where, q := range queries(t, r) {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, sel := range parser.ExtractSelectors(expr) {
			var name string
			var job bool
			for _, m := range sel {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
				job = job || (m.Name == "job" && m.Value == "kt")
			}
			if recorded[name] {
				continue // recorded from selected series
			}
			if !job {
				t.Errorf("%s: a selector %v does not carry the configured selector:\n%s", where, sel, q)
			}
		}
	}
}

// Every inhibition's sources and targets are alerts of the pack, and each
// source fires no later than its targets: its for is no longer than
// theirs. Otherwise the consequences would notify before the cause.
func TestInhibitionsFireCauseFirst(t *testing.T) {
	r := render(t, "")
	forOf := map[string]string{}
	for _, a := range r.Alerts() {
		forOf[a.Alert] = a.For
	}
	duration := func(s string) float64 {
		if s == "" {
			return 0
		}
		d, err := model.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(d).Seconds()
	}
	if len(r.Inhibitions) == 0 {
		t.Fatal("no inhibitions")
	}
	for _, in := range r.Inhibitions {
		for _, name := range append(slices.Clone(in.Sources), in.Targets...) {
			if _, ok := forOf[name]; !ok {
				t.Errorf("inhibition names %s, which is no alert of the pack", name)
			}
		}
		for _, s := range in.Sources {
			for _, tg := range in.Targets {
				if duration(forOf[s]) > duration(forOf[tg]) {
					t.Errorf("%s (for %s) silences %s (for %s), which would notify first", s, forOf[s], tg, forOf[tg])
				}
			}
		}
		if !slices.Contains(in.Equal, "cluster") {
			t.Errorf("inhibition %v would silence alerts of other clusters", in)
		}
	}
}

// docs/alertmanager.md shows the inhibition rules as shipped.
func TestAlertmanagerDocsShowTheRules(t *testing.T) {
	files, err := render(t, "").Files()
	if err != nil {
		t.Fatal(err)
	}
	rules := string(files["alerts/inhibit-rules.yaml"])
	rules = rules[strings.Index(rules, "inhibit_rules:"):]
	doc, err := os.ReadFile("../docs/alertmanager.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), rules) {
		t.Errorf("docs/alertmanager.md does not show alerts/inhibit-rules.yaml as rendered:\n%s", rules)
	}
}

// triage_url is there only when a base is configured, on the alerts that
// name a Service, a workload, a node or the control plane, and uses only
// labels the alert's own text already uses (which the promtool tests show
// it carries).
func TestTriageURLAnnotation(t *testing.T) {
	plain, err := Render("")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plain.Alerts() {
		if _, ok := a.Annotations["triage_url"]; ok {
			t.Errorf("%s has a triage_url without a triageURLBase", a.Alert)
		}
	}
	const base = "https://kube-triage.{{ $labels.cluster }}.example.com"
	r, err := Render(`{triageURLBase: "` + base + `/"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ServiceNoReadyEndpoints":    base + "/triage/service/{{ $labels.namespace }}/{{ $labels.service }}",
		"ContainerOOMKilled":         base + "/triage/workload/{{ $labels.namespace }}/{{ $labels.workload_kind }}/{{ $labels.workload }}",
		"KubeNodeShutdown":           base + "/triage/cluster",
		"KubeTriageCollectorFailing": "",
		"KubeProxyUnhealthy":         "",
	}
	labelRef := regexp.MustCompile(`\$labels\.(\w+)`)
	linked := 0
	for _, a := range r.Alerts() {
		u, ok := a.Annotations["triage_url"]
		if w, listed := want[a.Alert]; listed && u != w {
			t.Errorf("%s: triage_url %q, want %q", a.Alert, u, w)
		}
		if !ok {
			continue
		}
		linked++
		text := a.Annotations["summary"] + a.Annotations["description"]
		for _, m := range labelRef.FindAllStringSubmatch(strings.TrimPrefix(u, base), -1) {
			if !strings.Contains(text, "$labels."+m[1]) {
				t.Errorf("%s: triage_url uses $labels.%s, which its summary and description do not", a.Alert, m[1])
			}
		}
	}
	if linked < 18 {
		t.Errorf("only %d alerts link a triage page", linked)
	}
}
