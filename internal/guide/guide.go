// Package guide holds what the Kubernetes debugging guides judge, in one
// place for the collectors, the triage walks and the alert pack: the
// Service verdicts and their rule, termination and waiting reasons, the
// cluster's thresholds, and where each verdict leads (its alert, its
// runbook, the next step). It imports neither client-go nor client_golang:
// the mixin reads the same values from mixin/lib/guide.json, which
// `make generate` writes from Values (a test fails when they differ).
package guide

import (
	"strings"
)

// RunbookBase is where the runbook links point (the mixin's
// runbookURLBase default): <base><AlertName>.md.
const RunbookBase = "https://github.com/kube-triage/kube-triage-exporter/blob/main/docs/runbooks/"

// Runbook is the URL of an alert's runbook; "" for no alert.
func Runbook(alert string) string {
	if alert == "" {
		return ""
	}
	return RunbookBase + alert + ".md"
}

// List joins values as the help texts list them: "a, b, c".
func List[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// OrList joins values as a sentence does: "a, b or c".
func OrList[T ~string](values []T) string {
	if len(values) < 2 {
		return List(values)
	}
	return List(values[:len(values)-1]) + " or " + string(values[len(values)-1])
}
