package docs

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/registry"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// DocumentedMetric is one row of a metrics table in metrics.md.
type documentedMetric struct {
	typ, step string
	labels    []string
}

var backticked = regexp.MustCompile("`([^`]+)`")

// documentedMetrics parses the metric tables of metrics.md.
func documentedMetrics(t *testing.T) map[string]documentedMetric {
	t.Helper()
	docs := map[string]documentedMetric{}
	for i, line := range strings.Split(string(Metrics), "\n") {
		if !strings.HasPrefix(line, "| `"+collector.Namespace+"_") {
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) < 6 {
			t.Errorf("metrics.md:%d: want 5 columns (metric, type, labels, meaning, guide step): %s", i+1, line)
			continue
		}
		name := strings.Trim(strings.TrimSpace(cols[1]), "`")
		var labels []string
		for _, m := range backticked.FindAllStringSubmatch(cols[3], -1) {
			labels = append(labels, m[1])
		}
		if _, dup := docs[name]; dup {
			t.Errorf("metrics.md:%d: %s documented twice", i+1, name)
		}
		docs[name] = documentedMetric{typ: strings.TrimSpace(cols[2]), step: strings.TrimSpace(cols[5]), labels: labels}
	}
	return docs
}

// declaredMetrics is every metric family the code declares.
func declaredMetrics() []*collector.Metric { return registry.Metrics() }

// notDeclared are documented families that come from client_golang rather
// than a collector's table.
var notDeclared = []string{"kube_triage_build_info"}

func TestEveryDeclaredMetricIsDocumented(t *testing.T) {
	docs := documentedMetrics(t)
	for _, m := range declaredMetrics() {
		d, ok := docs[m.Name]
		if !ok {
			t.Errorf("%s is exported but not documented in docs/metrics.md", m.Name)
			continue
		}
		if d.typ != m.TypeName() {
			t.Errorf("%s: documented as %s, exported as %s", m.Name, d.typ, m.TypeName())
		}
		if !slices.Equal(sorted(d.labels), sorted(m.Labels)) {
			t.Errorf("%s: documented labels %v, exported labels %v", m.Name, d.labels, m.Labels)
		}
		if d.step != m.GuideStep {
			t.Errorf("%s: documented guide step %q, declared %q", m.Name, d.step, m.GuideStep)
		}
	}
}

func TestEveryDocumentedMetricExists(t *testing.T) {
	declared := map[string]bool{}
	for _, m := range declaredMetrics() {
		declared[m.Name] = true
	}
	for name := range documentedMetrics(t) {
		if !declared[name] && !slices.Contains(notDeclared, name) {
			t.Errorf("docs/metrics.md documents %s, which no collector exports", name)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// docs/development.md shows the example collector as it is compiled.
func TestDevelopmentGuideShowsTheExample(t *testing.T) {
	guide, err := os.ReadFile("development.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example/example.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), "```go\n"+string(example)+"```\n") {
		t.Error("development.md does not show docs/example/example.go as it is: copy it into the guide")
	}
}

// Every verdict and result a collector can export has a row of its own in
// a table of metrics.md ("| `value` | meaning |"), and every annotation the
// exporter reads is explained there.
func TestEveryVerdictAndAnnotationIsDocumented(t *testing.T) {
	rows := map[string]bool{}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\|")
	for _, line := range strings.Split(string(Metrics), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			rows[m[1]] = true
		}
	}
	var values []string
	for _, v := range guide.Verdicts() {
		values = append(values, string(v))
	}
	for _, v := range guide.BackendVerdictValues() {
		values = append(values, string(v))
	}
	for _, r := range guide.BackendResults {
		values = append(values, string(r))
	}
	for _, v := range values {
		if !rows[v] {
			t.Errorf("%s has no row in a table of metrics.md", v)
		}
	}
	for _, a := range []string{record.ServiceOptOutAnnotation, record.BackendsProbeAnnotation, record.BackendsPathAnnotation} {
		if !strings.Contains(string(Metrics), "`"+a+":") {
			t.Errorf("the annotation %s is not explained in metrics.md (as `%s: ...`)", a, a)
		}
	}
}
