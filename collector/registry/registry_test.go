package registry

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/promslog"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
)

const module = "github.com/kube-triage/kube-triage-exporter/"

func TestSpecNamesAreUniqueAndMetricsPrefixed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range collector.FrameworkMetrics() {
		seen[m.Name] = true
	}
	names := map[string]bool{}
	for _, s := range Specs() {
		if names[s.Name] {
			t.Errorf("collector %q registered twice", s.Name)
		}
		names[s.Name] = true
		if s.Help == "" || strings.HasSuffix(s.Help, ".") {
			t.Errorf("collector %q: help must be set and end without a period (the flag help adds one)", s.Name)
		}
		for _, m := range s.Metrics.All() {
			if !strings.HasPrefix(m.Name, collector.Namespace+"_") {
				t.Errorf("metric %s lacks the %s_ prefix", m.Name, collector.Namespace)
			}
			if seen[m.Name] {
				t.Errorf("metric %s declared twice", m.Name)
			}
			seen[m.Name] = true
		}
	}
}

// Every collector that probes on a schedule (its Spec has probe defaults)
// hands the framework its prober, named after it; one that only reads
// caches has none, so exports no last run.
func TestProbingCollectorsHaveProbers(t *testing.T) {
	kc := &kube.Client{Config: &rest.Config{Host: "https://apiserver.invalid"}, Informers: kube.NewInformers(fake.NewClientset())}
	for _, s := range Specs() {
		cfg := collector.DefaultConfig(s)
		if err := cfg.Check(collector.RoleNode); err != nil && !strings.Contains(err.Error(), "resolv-conf") {
			t.Fatalf("%s: %v", s.Name, err)
		}
		d := collector.Deps{Logger: promslog.NewNopLogger(), Role: collector.RoleNode, NodeName: "n", Kube: kc}
		if s.Probe != nil {
			d.Schedule = s.Probe.Schedule
		}
		c, err := cfg.New(d)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		var probers []string
		for _, p := range c.Probers {
			probers = append(probers, p.Name())
		}
		if want := s.Probe != nil; want != slices.Contains(probers, s.Name) {
			t.Errorf("%s: probe defaults %v, probers %v", s.Name, want, probers)
		}
	}
}

// The house rules, as `go list -deps` shows them: a collector package
// imports the framework and never another collector; the framework
// imports no collector; the triage walks read collectors through their
// sources, never a collector package; the judgments import neither
// client-go nor client_golang.
func TestImportRules(t *testing.T) {
	collectors := map[string]bool{}
	for _, s := range Specs() {
		collectors[module+"collector/"+s.Name] = true
	}
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var all []string
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for {
			var p struct{ ImportPath string }
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			all = append(all, p.ImportPath)
		}
		return all
	}
	for c := range collectors {
		d := deps(strings.TrimPrefix(c, module))
		if !slices.Contains(d, module+"collector") {
			t.Errorf("%s does not import the framework", c)
		}
		for _, p := range d {
			if collectors[p] && p != c {
				t.Errorf("%s imports another collector, %s", c, p)
			}
		}
	}
	for _, pkg := range []string{"collector", "internal/triage", "internal/triage/report", "internal/guide", "internal/kube/record"} {
		for _, p := range deps(pkg) {
			if collectors[p] || p == module+"collector/registry" {
				t.Errorf("%s imports the collector %s", pkg, p)
			}
		}
	}
	for _, pkg := range []string{"internal/guide", "internal/kube/record"} {
		for _, p := range deps(pkg) {
			if strings.HasPrefix(p, "k8s.io/client-go") || strings.HasPrefix(p, "github.com/prometheus/client_golang") {
				t.Errorf("%s imports %s: the judgments import neither client-go nor client_golang", pkg, p)
			}
		}
	}
}
