package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
)

// addFlags registers flags with kingpin as each one's kind says.
func addFlags(a *kingpin.Application, flags ...collector.Flag) {
	for _, fl := range flags {
		c := a.Flag(fl.Name, fl.Help).Envar(fl.Envar)
		if fl.Default != "" || fl.Kind == collector.ValueFlag {
			c.Default(fl.Default)
		}
		switch {
		case fl.PlaceHolder != "":
			c.PlaceHolder(fl.PlaceHolder)
		case fl.Kind == collector.StringFlag && fl.Default != "":
			c.PlaceHolder(strconv.Quote(fl.Default)) // as kingpin shows its own strings
		}
		if fl.IsSet != nil {
			c.IsSetByUser(fl.IsSet)
		}
		c.SetValue(&flagValue{fl})
	}
}

// flagValue is a collector.Flag as kingpin sets it; a parse error names
// the flag, which kingpin's own typed flags do not.
type flagValue struct{ f collector.Flag }

func (v *flagValue) Set(s string) error {
	if err := v.f.Set(s); err != nil {
		return fmt.Errorf("--%s=%s: %w", v.f.Name, s, err)
	}
	return nil
}

func (v *flagValue) String() string     { return v.f.Default }
func (v *flagValue) IsBoolFlag() bool   { return v.f.Kind == collector.BoolFlag }
func (v *flagValue) IsCumulative() bool { return v.f.Kind == collector.RepeatedFlag }

func parseFloat32(s string) (float32, error) {
	f, err := strconv.ParseFloat(s, 32)
	return float32(f), err
}

// parseNamespaces reads a comma-separated list of namespace names.
func parseNamespaces(s string) ([]string, error) {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		if ns = strings.TrimSpace(ns); ns == "" {
			continue
		}
		if !kube.IsNamespace(ns) {
			return nil, fmt.Errorf("%q is not a namespace name", ns)
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

func parseRole(s string) (string, error) {
	var names []string
	for _, r := range collector.Roles {
		if s == string(r) {
			return s, nil
		}
		names = append(names, string(r))
	}
	return "", fmt.Errorf("must be one of %s", strings.Join(names, ", "))
}
