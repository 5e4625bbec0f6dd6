// Package promqlcheck checks PromQL that ships with the exporter (alert
// rules, dashboard queries) against the metrics the exporter exports.
package promqlcheck

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp/syntax"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/kube-triage/kube-triage-exporter/collector/registry"
)

// UnknownMetrics parses expr and returns the metric names it selects that
// no collector (nor the framework) exports, other than Prometheus's own up
// and the names of recording rules given.
func UnknownMetrics(expr string, recorded ...string) ([]string, error) {
	names, err := MetricNames(expr)
	if err != nil {
		return nil, err
	}
	exported := map[string]bool{"up": true}
	for _, r := range recorded {
		exported[r] = true
	}
	for _, m := range registry.Metrics() {
		exported[m.Name] = true
	}
	var unknown []string
	for _, n := range names {
		if !exported[n] {
			unknown = append(unknown, n)
		}
	}
	// A selector by a regular expression on the name must match a metric
	// the exporter exports.
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	for _, vs := range parser.ExtractSelectors(e) {
		for _, m := range vs {
			if m.Name != model.MetricNameLabel || m.Type != labels.MatchRegexp {
				continue
			}
			names, finite := expand(m.Value)
			if !finite { // a pattern: it must match something exported
				if !slices.ContainsFunc(slices.Collect(maps.Keys(exported)), m.Matches) {
					unknown = append(unknown, m.String())
				}
				continue
			}
			for _, n := range names { // an alternation of names: each must exist
				if !exported[n] {
					unknown = append(unknown, n)
				}
			}
		}
	}
	return unknown, nil
}

// MetricNames parses expr and returns the metric names it selects by name
// (not by a regular expression), in order of appearance.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, vs := range parser.ExtractSelectors(e) {
		for _, m := range vs {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	return names, nil
}

// expand lists the strings a regular expression matches when they are
// finitely many (literals, concatenations, alternations, groups), as in
// kube_triage_(service_info|node_condition); finite is false otherwise.
func expand(pattern string) (all []string, finite bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false
	}
	var walk func(*syntax.Regexp) ([]string, bool)
	walk = func(re *syntax.Regexp) ([]string, bool) {
		switch re.Op {
		case syntax.OpLiteral:
			return []string{string(re.Rune)}, true
		case syntax.OpEmptyMatch:
			return []string{""}, true
		case syntax.OpCapture:
			return walk(re.Sub[0])
		case syntax.OpAlternate:
			var out []string
			for _, sub := range re.Sub {
				s, ok := walk(sub)
				if !ok {
					return nil, false
				}
				out = append(out, s...)
			}
			return out, true
		case syntax.OpConcat:
			out := []string{""}
			for _, sub := range re.Sub {
				s, ok := walk(sub)
				if !ok {
					return nil, false
				}
				var next []string
				for _, prefix := range out {
					for _, suffix := range s {
						next = append(next, prefix+suffix)
					}
				}
				out = next
			}
			return out, true
		}
		return nil, false
	}
	return walk(re)
}

// LoadRules parses every rule file (*.rules.yaml) in dir with Prometheus's
// own loader and returns their rules, in file and group order.
func LoadRules(dir string) ([]rulefmt.Rule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.rules.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files (*.rules.yaml) in %s", dir)
	}
	var rules []rulefmt.Rule
	var problems []error
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.LegacyValidation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
		for _, err := range errs {
			problems = append(problems, fmt.Errorf("%s: %w", f, err))
		}
		if groups == nil {
			continue
		}
		for _, g := range groups.Groups {
			rules = append(rules, g.Rules...)
		}
	}
	return rules, errors.Join(problems...)
}
