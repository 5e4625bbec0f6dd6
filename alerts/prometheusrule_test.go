package alerts_test

import (
	"os"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

const prometheusRulePath = "../deploy/prometheusrule.yaml"

// deploy/prometheusrule.yaml (rendered from the mixin with the rule files,
// which mixin/ checks) decodes strictly with prometheus-operator's own
// types, and its groups load in Prometheus's rule parser with every rule of
// the rule files.
func TestPrometheusRuleLoads(t *testing.T) {
	got, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatal(err)
	}
	var pr monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(got, &pr); err != nil {
		t.Fatalf("%s: %v", prometheusRulePath, err)
	}
	if pr.Kind != "PrometheusRule" || pr.APIVersion != "monitoring.coreos.com/v1" || pr.Name == "" {
		t.Errorf("%s: kind %q, apiVersion %q, name %q", prometheusRulePath, pr.Kind, pr.APIVersion, pr.Name)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.LegacyValidation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	for _, err := range errs {
		t.Errorf("%s: %v", prometheusRulePath, err)
	}
	n := 0
	for _, g := range groups.Groups {
		n += len(g.Rules)
	}
	if want := len(alerts(t)); n != want {
		t.Errorf("%s has %d rules, the rule files %d", prometheusRulePath, n, want)
	}
}
