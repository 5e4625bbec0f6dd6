// Package report is the shape of a triage walk's answer (a report of
// steps, each with its status and evidence, then a verdict and the next
// thing to do) and its three renderings: aligned text for a terminal, JSON
// for tools, HTML for the page an alert links to. The walks are
// internal/triage's.
package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Status is a step's outcome.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	// Warn: worth a look, not a failure (a Service scaled to zero on
	// purpose, a stale answer the alerts ignore).
	Warn Status = "warn"
	// Skip: the step could not be taken from here or had nothing to look
	// at (not in the cluster network, an earlier step failed, the API did
	// not answer); its summary says which.
	Skip Status = "skip"
)

// Step is one question of the guide and what answered it.
type Step struct {
	// Name is the step's stable identifier (selector, readiness...).
	Name    string `json:"name"`
	Status  Status `json:"status"`
	Summary string `json:"summary"`
	// Evidence are the facts read, one per line.
	Evidence []string `json:"evidence,omitempty"`
}

// Report is one walk's answer.
type Report struct {
	Kind   string `json:"kind"`   // service, pod or cluster
	Target string `json:"target"` // namespace/name; "" for the cluster
	// Verdict is the walk's conclusion: a Service's verdict as the
	// services collector exports it, a pod's, or the cluster scenario.
	Verdict string `json:"verdict"`
	// FailingStep is the first failing step's name; "" when none fails.
	FailingStep string `json:"failing_step,omitempty"`
	// Incomplete says what the walk could not read (the API did not list
	// it); "" when it read all it needed.
	Incomplete string `json:"incomplete,omitempty"`
	// Next is what to do now; Runbook the runbook that goes on from there.
	Next    string `json:"next,omitempty"`
	Runbook string `json:"runbook,omitempty"`
	// Source says where the evidence came from: the API read now (the
	// command) or the exporter's caches and last probe results (the page).
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	Steps  []Step    `json:"steps"`
}

// Add appends a step and returns it for more evidence.
func (r *Report) Add(name string, status Status, summary string, evidence ...string) *Step {
	r.Steps = append(r.Steps, Step{Name: name, Status: status, Summary: summary, Evidence: evidence})
	return &r.Steps[len(r.Steps)-1]
}

// Step returns the named step, or nil.
func (r *Report) Step(name string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// Finish sets FailingStep from the steps; call it once every step is in.
func (r *Report) Finish() {
	r.FailingStep = ""
	for _, s := range r.Steps {
		if s.Status == Fail {
			r.FailingStep = s.Name
			return
		}
	}
}

// OK: no step failed.
func (r *Report) OK() bool { return r.FailingStep == "" }

// Title is the first line: the target, and OK, the failing step and the
// verdict, or what kept the walk from being made.
func (r *Report) Title() string {
	target := r.Kind
	if r.Target != "" {
		target += " " + r.Target
	}
	switch {
	case !r.OK():
		return fmt.Sprintf("%s: FAILED at %s: %s", target, r.FailingStep, r.Verdict)
	case r.Incomplete != "":
		return fmt.Sprintf("%s: INCOMPLETE: %s", target, r.Incomplete)
	}
	return fmt.Sprintf("%s: OK (%s)", target, r.Verdict)
}

// WriteText writes the report for a terminal: the summary line, one
// aligned line per step with its evidence indented under it, then the
// verdict and the next step.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.Title() + "\n\n")
	width := 0
	for _, s := range r.Steps {
		width = max(width, len(s.Name))
	}
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  %-4s  %-*s  %s\n", strings.ToUpper(string(s.Status)), width, s.Name, s.Summary)
		for _, e := range s.Evidence {
			fmt.Fprintf(&b, "  %-4s  %-*s    %s\n", "", width, "", e)
		}
	}
	fmt.Fprintf(&b, "\nverdict: %s\n", r.Verdict)
	if r.Next != "" {
		fmt.Fprintf(&b, "next:    %s\n", r.Next)
	}
	if r.Runbook != "" {
		fmt.Fprintf(&b, "runbook: %s\n", r.Runbook)
	}
	fmt.Fprintf(&b, "(%s, %s)\n", r.Source, r.Time.UTC().Format(time.RFC3339))
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteHTML writes the report as a page.
func (r *Report) WriteHTML(w io.Writer) error { return page.Execute(w, r) }

var page = template.Must(template.New("triage").Funcs(template.FuncMap{"upper": strings.ToUpper}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} - kube-triage-exporter</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td{border:1px solid #ccc;padding:4px;vertical-align:top}
.fail{background:#fdd}.warn{background:#ffd}.pass{background:#dfd}.skip{color:#777}ul{margin:0;padding-left:1.2em}</style></head>
<body><h1>{{.Title}}</h1>
<table>{{range .Steps}}<tr class="{{.Status}}"><td>{{upper (print .Status)}}</td><td>{{.Name}}</td><td>{{.Summary}}{{if .Evidence}}<ul>{{range .Evidence}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}</td></tr>
{{end}}</table>
<p><b>Verdict:</b> {{.Verdict}}</p>
{{if .Next}}<p><b>Next:</b> {{.Next}}</p>{{end}}
{{if .Runbook}}<p><b>Runbook:</b> <a href="{{.Runbook}}">{{.Runbook}}</a></p>{{end}}
<p><small>{{.Source}}, {{.Time.UTC.Format "2006-01-02 15:04:05Z"}}. The same walk as JSON: add ?format=json; the command <code>kube-triage-exporter triage</code> walks it against the API, with events and live lookups.</small></p>
</body></html>
`))
