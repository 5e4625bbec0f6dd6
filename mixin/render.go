// Package mixin renders the monitoring mixin in this directory (the one
// source of the alert rules, recording rules, dashboards and Alertmanager
// inhibition rules) into the files the project ships: alerts/*.rules.yaml,
// alerts/inhibit-rules.yaml, dashboards/*.json and
// deploy/prometheusrule.yaml. `make generate` writes them; a test fails when
// they and the mixin disagree.
package mixin

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/google/go-jsonnet"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
)

//go:embed *.libsonnet */*.libsonnet
var sources embed.FS

// embedImporter resolves imports relative to the importing file, as
// jsonnet's file importer does, in the embedded sources. jsonnet wants the
// same Contents each time a file is imported.
type embedImporter map[string]jsonnet.Contents

func (imp embedImporter) Import(from, imported string) (jsonnet.Contents, string, error) {
	p := path.Join(path.Dir(from), imported)
	if c, ok := imp[p]; ok {
		return c, p, nil
	}
	b, err := fs.ReadFile(sources, p)
	if p == GuidePath {
		// From the Go package itself, not the file: the render always
		// reads the judgments the exporter makes.
		b, err = GuideJSON()
	}
	if err != nil {
		return jsonnet.Contents{}, "", err
	}
	imp[p] = jsonnet.MakeContents(string(b))
	return imp[p], p, nil
}

// GuidePath is the mixin's copy of internal/guide's values, for those who
// render the mixin without Go (jsonnet-bundler); Files writes it.
const GuidePath = "lib/guide.json"

// GuideJSON is internal/guide's values as the mixin reads them.
func GuideJSON() ([]byte, error) {
	b, err := json.MarshalIndent(guide.Values(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Rendered is the mixin evaluated with one configuration.
type Rendered struct {
	// RuleGroups are the recording groups then the alerting groups, in the
	// mixin's order.
	RuleGroups []RuleGroup
	// Dashboards maps a file name (cluster.json) to the dashboard.
	Dashboards map[string]json.RawMessage
	// Inhibitions are the inhibition rules as data.
	Inhibitions []Inhibition
	// AlertmanagerConfig is {inhibit_rules: [...]}.
	AlertmanagerConfig json.RawMessage
}

// RuleGroup is a Prometheus rule group; Raw is the group as rendered.
type RuleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
	Raw   json.RawMessage
}

// Rule is the part of a rule the tests read.
type Rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Inhibition says that the source alerts silence the target alerts when
// the Equal labels match.
type Inhibition struct {
	Sources []string `json:"sources"`
	Targets []string `json:"targets"`
	Equal   []string `json:"equal"`
}

// Render evaluates the mixin with config, a jsonnet object merged into
// _config (for example `{clusterLabel: "k8s_cluster"}`); "" keeps the
// defaults.
func Render(config string) (*Rendered, error) {
	if strings.TrimSpace(config) == "" {
		config = "{}"
	}
	vm := jsonnet.MakeVM()
	vm.Importer(embedImporter{})
	out, err := vm.EvaluateAnonymousSnippet("render.jsonnet", `
local m = (import 'mixin.libsonnet') + { _config+:: `+config+` };
{
  groups: m.prometheusRules.groups + m.prometheusAlerts.groups,
  dashboards: m.grafanaDashboards,
  inhibitions: m.inhibitions,
  alertmanager: m.alertmanagerConfig,
}`)
	if err != nil {
		return nil, fmt.Errorf("evaluating the mixin: %w", err)
	}
	var raw struct {
		Groups       []json.RawMessage          `json:"groups"`
		Dashboards   map[string]json.RawMessage `json:"dashboards"`
		Inhibitions  []Inhibition               `json:"inhibitions"`
		Alertmanager json.RawMessage            `json:"alertmanager"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, err
	}
	r := &Rendered{Dashboards: raw.Dashboards, Inhibitions: raw.Inhibitions, AlertmanagerConfig: raw.Alertmanager}
	for _, g := range raw.Groups {
		var rg RuleGroup
		if err := json.Unmarshal(g, &rg); err != nil {
			return nil, err
		}
		rg.Raw = g
		r.RuleGroups = append(r.RuleGroups, rg)
	}
	return r, nil
}

// Alerts are the alerting rules of every group.
func (r *Rendered) Alerts() []Rule {
	var out []Rule
	for _, g := range r.RuleGroups {
		for _, rule := range g.Rules {
			if rule.Alert != "" {
				out = append(out, rule)
			}
		}
	}
	return out
}

// generated heads every file written from the mixin.
const generated = "Generated from mixin/ by `make generate`: edit the mixin, not this file."

// RuleFileName is the file in alerts/ that holds a group:
// kube-triage-cluster is cluster.rules.yaml.
func RuleFileName(group string) string {
	return strings.TrimPrefix(group, "kube-triage-") + ".rules.yaml"
}

// Files are the shipped files, by path from the repository's root.
func (r *Rendered) Files() (map[string][]byte, error) {
	files := map[string][]byte{}
	var all []any
	for _, g := range r.RuleGroups {
		var v any
		if err := json.Unmarshal(g.Raw, &v); err != nil {
			return nil, err
		}
		all = append(all, v)
		doc := map[string]any{"groups": []any{v}}
		b, err := yamlFile("Prometheus rules: group "+g.Name+". "+generated, doc)
		if err != nil {
			return nil, err
		}
		files[path.Join("alerts", RuleFileName(g.Name))] = b
	}

	var am any
	if err := json.Unmarshal(r.AlertmanagerConfig, &am); err != nil {
		return nil, err
	}
	b, err := yamlFile("Alertmanager inhibition rules: paste them under inhibit_rules in alertmanager.yml\n(docs/alertmanager.md). "+generated, am)
	if err != nil {
		return nil, err
	}
	files["alerts/inhibit-rules.yaml"] = b

	b, err = yamlFile("Every rule group as one PrometheusRule, for prometheus-operator. "+generated, map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata": map[string]any{
			"name":   "kube-triage-exporter",
			"labels": map[string]any{"app.kubernetes.io/name": "kube-triage-exporter"},
		},
		"spec": map[string]any{"groups": all},
	})
	if err != nil {
		return nil, err
	}
	files["deploy/prometheusrule.yaml"] = b

	if files[path.Join("mixin", GuidePath)], err = GuideJSON(); err != nil {
		return nil, err
	}

	names := make([]string, 0, len(r.Dashboards))
	for n := range r.Dashboards {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var buf bytes.Buffer
		if err := json.Indent(&buf, r.Dashboards[n], "", "  "); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", n, err)
		}
		buf.WriteByte('\n')
		files[path.Join("dashboards", n)] = buf.Bytes()
	}
	return files, nil
}
