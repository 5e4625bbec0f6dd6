// Package promqlcheck checks PromQL that ships with the exporter (alert
// rules, dashboard queries) against the metrics the exporter exports.
package promqlcheck

import (
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/kube-triage/kube-triage-exporter/collector"
)

// UnknownMetrics parses expr and returns the metric names it selects that
// no collector (nor the framework) exports.
func UnknownMetrics(expr string) ([]string, error) {
	names, err := MetricNames(expr)
	if err != nil {
		return nil, err
	}
	exported := map[string]bool{}
	for _, m := range collector.FrameworkMetrics() {
		exported[m.Name] = true
	}
	for _, s := range collector.Specs() {
		for _, m := range s.Metrics {
			exported[m.Name] = true
		}
	}
	var unknown []string
	for _, n := range names {
		if !exported[n] {
			unknown = append(unknown, n)
		}
	}
	return unknown, nil
}

// MetricNames parses expr and returns the metric names it selects, in
// order of appearance.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, vs := range parser.ExtractSelectors(e) {
		for _, m := range vs {
			if m.Name == "__name__" {
				names = append(names, m.Value)
			}
		}
	}
	return names, nil
}
