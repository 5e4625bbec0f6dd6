package server

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// ProbesPath serves the probe history, as blackbox_exporter's landing page
// and /logs do: the latest result of every probe, the recent ones, and
// each result's log.
const ProbesPath = "/probes"

var probesPage = template.Must(template.New("probes").Funcs(template.FuncMap{
	"ago": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"ms":  func(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64) },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>kube-triage-exporter probes</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.failed{background:#fdd}</style>
</head><body>
<h1>Probes</h1>
{{define "rows"}}<table><tr><th>Collector</th><th>Target</th><th>Result</th><th>When</th><th>Took (ms)</th><th>Log</th></tr>
{{range .}}<tr{{if .Failed}} class="failed"{{end}}><td>{{.Collector}}</td><td>{{.Target}}</td><td>{{if .Failed}}{{.Reason}}{{else}}success{{end}}</td><td>{{ago .At}} ago</td><td>{{ms .Duration}}</td><td><a href="?id={{.ID}}&amp;debug=true">log</a></td></tr>
{{end}}</table>{{end}}
<h2>Latest result of each probe</h2>
{{template "rows" .Latest}}
<h2>Recent results, newest first</h2>
<p>Up to {{.Limit}} successes and {{.Limit}} failures per collector are kept: a failure stays here after later successes.</p>
{{template "rows" .Recent}}
</body></html>
`))

// probesHandler serves the page, or with ?id= one result's log as text.
func probesHandler(histories []*prober.History) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idText := r.URL.Query().Get("id"); idText != "" {
			id, err := strconv.ParseUint(idText, 10, 64)
			if err != nil {
				http.Error(w, "id: not a number", http.StatusBadRequest)
				return
			}
			for _, h := range histories {
				if res, ok := h.Get(id); ok {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					fmt.Fprint(w, resultLog(res))
					return
				}
			}
			http.Error(w, "no such result: it was pushed out of the history, or the exporter restarted", http.StatusNotFound)
			return
		}
		data := struct {
			Latest, Recent []prober.Result
			Limit          int
		}{Latest: latestResults(histories), Limit: prober.DefaultHistoryLimit}
		for _, h := range histories {
			data.Recent = append(data.Recent, h.Results()...)
		}
		slices.SortFunc(data.Recent, func(a, b prober.Result) int { return b.At.Compare(a.At) })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := probesPage.Execute(w, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// latestResults are the latest result of every probe of every collector,
// failures first.
func latestResults(histories []*prober.History) []prober.Result {
	var latest []prober.Result
	for _, h := range histories {
		latest = append(latest, h.Latest()...)
	}
	prober.FailuresFirst(latest)
	return latest
}

// resultLog is one result as text: what was probed, how it ended, and
// what the probe did.
func resultLog(r prober.Result) string {
	var b strings.Builder
	result := "success"
	if r.Failed() {
		result = "failed: " + r.Reason
	}
	fmt.Fprintf(&b, "collector: %s\ntarget: %s\nresult: %s\nat: %s\nduration: %s\n\n", r.Collector, r.Target, result,
		r.At.UTC().Format(time.RFC3339Nano), r.Duration)
	for _, line := range r.Log {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// maxLandingFailures bounds the failing probes the landing page lists: a
// DNS sweep with CoreDNS down fails once per Service.
const maxLandingFailures = 50

// landingSummary is the landing page's view of the probes: how many there
// are, and the ones failing now (the first maxLandingFailures).
func landingSummary(histories []*prober.History) template.HTML {
	latest := latestResults(histories)
	var b strings.Builder
	failing := 0
	for _, r := range latest {
		if r.Failed() {
			failing++
		}
	}
	fmt.Fprintf(&b, "<h2>Probes</h2><p>%d probes, %d failing in their last result (<a href=\"%s\">all results and logs</a>).</p>", len(latest), failing, ProbesPath)
	if failing > 0 {
		b.WriteString("<ul>")
		for _, r := range latest[:min(failing, maxLandingFailures)] {
			fmt.Fprintf(&b, `<li>%s %s: %s (<a href="%s?id=%d&amp;debug=true">log</a>)</li>`,
				template.HTMLEscapeString(r.Collector), template.HTMLEscapeString(r.Target), template.HTMLEscapeString(r.Reason), ProbesPath, r.ID)
		}
		if failing > maxLandingFailures {
			fmt.Fprintf(&b, `<li>and %d more on <a href="%s">%s</a></li>`, failing-maxLandingFailures, ProbesPath, ProbesPath)
		}
		b.WriteString("</ul>")
	}
	return template.HTML(b.String())
}
