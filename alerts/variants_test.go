package alerts_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// The promtool tests in tests/ feed each scenario's series as Prometheus
// stores them with a scrape config that adds nothing but job and instance:
// the cluster exporter is job kube-triage-exporter, each node agent job
// kube-triage-exporter-node, and every target exports its
// kube_triage_exporter_info. The same scenarios must page the same way as
// other users see them, so every test file also runs transformed:
//
//   - operator: the target labels prometheus-operator's ServiceMonitor
//     adds (namespace, service, pod, container, endpoint) and the pod's node
//     on every series, as a relabeling commonly does; the cluster exporter
//     runs on node-a. The exporter's own labels win (honor_labels).
//   - replicas: the cluster exporter runs twice (another instance on
//     another node, started a scrape later), reporting the same series.
//     Each alert still fires once.
//   - fleet: all of that, with a cluster label on every series, as one ruler
//     sees a cluster of a fleet. Every alert carries the label and names the
//     cluster in its summary.
//
// Cross-cluster cases (one cluster down, another fine) are written out in
// tests/fleet.test.yaml.

const (
	clusterJob = "kube-triage-exporter"
	nodeJob    = "kube-triage-exporter-node"
)

// replicaSensitive files count exporters in their alerts' values (and
// test replicas explicitly); the replica transforms leave them out.
// fleet.test.yaml has its clusters already.
var (
	replicaSensitive = map[string]bool{"exporter.test.yaml": true, "fleet.test.yaml": true}
	ownClusters      = map[string]bool{"fleet.test.yaml": true}
)

type variant struct {
	name      string
	operator  bool
	replicas  bool
	cluster   string
	skipFiles map[string]bool
}

var variants = []variant{
	{name: "as written"},
	{name: "operator", operator: true},
	{name: "replicas", operator: true, replicas: true, skipFiles: replicaSensitive},
	{name: "fleet", operator: true, replicas: true, cluster: "a", skipFiles: replicaSensitive},
	{name: "fleet, one replica", operator: true, cluster: "a", skipFiles: ownClusters},
}

// targetNode is the node a target runs on: a node agent's own (from its
// kube_triage_exporter_info), node-a for the cluster exporter and node-b for
// its replica.
func targetNodes(series []map[string]any) map[string]string {
	nodes := map[string]string{}
	for _, s := range series {
		ls, err := parser.NewParser(parser.Options{}).ParseMetric(s["series"].(string))
		if err != nil {
			continue
		}
		if ls.Get(model.MetricNameLabel) == "kube_triage_exporter_info" && ls.Get("role") == "node" {
			nodes[ls.Get("instance")] = ls.Get("node")
		}
	}
	return nodes
}

func (v variant) apply(file string, doc map[string]any) error {
	tests, _ := doc["tests"].([]any)
	var kept []any
	for _, tg := range tests {
		group := tg.(map[string]any)
		// A test of what one cluster per Prometheus sees (no cluster label
		// anywhere) has no fleet form.
		if name, _ := group["name"].(string); v.cluster != "" && strings.HasPrefix(name, "one cluster only:") {
			continue
		}
		kept = append(kept, group)
		var series []map[string]any
		for _, s := range group["input_series"].([]any) {
			series = append(series, s.(map[string]any))
		}
		nodes := targetNodes(series)
		var out []any
		for _, s := range series {
			ls, err := parser.NewParser(parser.Options{}).ParseMetric(s["series"].(string))
			if err != nil {
				return fmt.Errorf("%s: %w", s["series"], err)
			}
			copies := []labels.Labels{ls}
			if v.replicas && ls.Get("job") == clusterJob {
				b := labels.NewBuilder(ls)
				b.Set("instance", ls.Get("instance")+"-replica")
				copies = append(copies, b.Labels())
			}
			for i, c := range copies {
				b := labels.NewBuilder(c)
				inst, job := c.Get("instance"), c.Get("job")
				setIfAbsent := func(name, value string) {
					if c.Get(name) == "" && value != "" {
						b.Set(name, value)
					}
				}
				if v.operator && job != "" {
					setIfAbsent("namespace", "kube-triage")
					setIfAbsent("service", job)
					setIfAbsent("pod", strings.ReplaceAll(strings.ReplaceAll(inst, ":", "-"), ".", "-"))
					setIfAbsent("container", "exporter")
					setIfAbsent("endpoint", "metrics")
					node := nodes[inst]
					if job == clusterJob {
						node = "node-a"
						if strings.HasSuffix(inst, "-replica") {
							node = "node-b"
						}
					}
					setIfAbsent("node", node)
				}
				if v.cluster != "" {
					b.Set("cluster", v.cluster)
				}
				ns := map[string]any{}
				for k, val := range s {
					ns[k] = val
				}
				ns["series"] = b.Labels().String()
				if i > 0 {
					// The replica started a scrape later.
					values, err := expandValues(fmt.Sprint(s["values"]))
					if err != nil {
						return fmt.Errorf("%s: %w", s["series"], err)
					}
					values[0] = "_"
					ns["values"] = strings.Join(values, " ")
				}
				out = append(out, ns)
			}
		}
		group["input_series"] = out
		if v.cluster == "" {
			continue
		}
		for _, at := range group["alert_rule_test"].([]any) {
			exp, _ := at.(map[string]any)["exp_alerts"].([]any)
			for _, e := range exp {
				e := e.(map[string]any)
				l, _ := e["exp_labels"].(map[string]any)
				if l == nil {
					l = map[string]any{}
				}
				l["cluster"] = v.cluster
				e["exp_labels"] = l
				if a, ok := e["exp_annotations"].(map[string]any); ok {
					if s, ok := a["summary"].(string); ok {
						a["summary"] = v.cluster + ": " + s
					}
				}
			}
		}
	}
	doc["tests"] = kept
	// The rule files are found from the copy's new place.
	var rules []any
	for _, r := range doc["rule_files"].([]any) {
		abs, err := filepath.Abs(filepath.Join(filepath.Dir(file), r.(string)))
		if err != nil {
			return err
		}
		rules = append(rules, abs)
	}
	doc["rule_files"] = rules
	return nil
}

// Every promtool test passes as written and as each other scrape config or
// fleet sees the same scenario.
func TestPromtoolTestRulesInEveryVariant(t *testing.T) {
	if testing.Short() {
		t.Skip("builds promtool; runs in make test, not under -short")
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for _, f := range testFiles(t) {
				if v.skipFiles[filepath.Base(f)] {
					continue
				}
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var doc map[string]any
				if err := yaml.Unmarshal(raw, &doc); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if err := v.apply(f, doc); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				out, err := yaml.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, filepath.Base(f))
				if err := os.WriteFile(p, out, 0o600); err != nil {
					t.Fatal(err)
				}
				files = append(files, p)
			}
			promtool(t, append([]string{"test", "rules"}, files...)...)
		})
	}
}

// expandValues spells out promtool's series notation ("1 2x3 0+5x2 _x1
// stale") one sample per element.
func expandValues(notation string) ([]string, error) {
	var out []string
	for _, tok := range strings.Fields(notation) {
		m := valueToken.FindStringSubmatch(tok)
		if m == nil {
			return nil, fmt.Errorf("cannot read %q", tok)
		}
		base, sign, step, times := m[1], m[2], m[3], m[4]
		n := 1
		if times != "" {
			x, err := strconv.Atoi(times)
			if err != nil {
				return nil, err
			}
			n = x + 1
		}
		if base == "_" || base == "stale" {
			for range n {
				out = append(out, base)
			}
			continue
		}
		v, err := strconv.ParseFloat(base, 64)
		if err != nil {
			return nil, err
		}
		d := 0.0
		if step != "" {
			if d, err = strconv.ParseFloat(step, 64); err != nil {
				return nil, err
			}
			if sign == "-" {
				d = -d
			}
		}
		for i := range n {
			out = append(out, strconv.FormatFloat(v+float64(i)*d, 'g', -1, 64))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no values")
	}
	return out, nil
}

var valueToken = regexp.MustCompile(`^(_|stale|[-+]?[0-9.]+(?:e[-+]?[0-9]+)?)(?:([-+])([0-9.]+))?(?:x([0-9]+))?$`)

func TestExpandValues(t *testing.T) {
	got, err := expandValues("1 2x2 0+5x2 10-1x1 _x1 stale")
	if err != nil {
		t.Fatal(err)
	}
	if want := "1 2 2 2 0 5 10 10 9 _ _ stale"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	if _, err := expandValues("1 x"); err == nil {
		t.Error("read a bad token")
	}
}
