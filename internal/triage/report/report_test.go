package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func sample() Report {
	r := Report{Kind: "service", Target: "demo/web", Verdict: "pods_not_ready", Source: "test", Time: time.Unix(0, 0)}
	r.Add("service", Pass, "type ClusterIP", "port http: 80/TCP -> targetPort 8080")
	r.Add("readiness", Fail, "none of the 2 pods is ready", "not ready: web-1", "not ready: web-2")
	r.Add("endpoints", Fail, "no ready endpoint")
	r.Add("connect", Skip, "not in a pod")
	r.Next = "read the events"
	r.Finish()
	return r
}

// The first failing step is the one the summary names; a report with
// none is OK.
func TestFinishNamesTheFirstFailingStep(t *testing.T) {
	r := sample()
	if r.OK() || r.FailingStep != "readiness" {
		t.Fatalf("failing step %q, OK %v", r.FailingStep, r.OK())
	}
	if got, want := r.Title(), "service demo/web: FAILED at readiness: pods_not_ready"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	r.Step("readiness").Status = Warn
	r.Step("endpoints").Status = Pass
	r.Finish()
	if !r.OK() || r.Title() != "service demo/web: OK (pods_not_ready)" {
		t.Errorf("after the fixes: %q", r.Title())
	}
}

// Text: the summary line first, then one line per step whose status and
// name columns line up, the evidence indented under its step.
func TestTextIsAligned(t *testing.T) {
	r := sample()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if lines[0] != r.Title() {
		t.Fatalf("first line %q", lines[0])
	}
	// Every summary starts in one column, every piece of evidence two
	// further in.
	col := -1
	for _, step := range r.Steps {
		for _, l := range lines {
			if i := strings.Index(l, step.Summary); i >= 0 && strings.Contains(l, " "+step.Name+" ") {
				if col >= 0 && i != col {
					t.Errorf("step %s's summary at column %d, others at %d:\n%s", step.Name, i, col, b.String())
				}
				col = i
			}
		}
	}
	for _, step := range r.Steps {
		for _, e := range step.Evidence {
			if !slices.Contains(lines, strings.Repeat(" ", col+2)+e) {
				t.Errorf("evidence %q not indented under its step:\n%s", e, b.String())
			}
		}
	}
	for _, want := range []string{"verdict: pods_not_ready", "next:    read the events"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}

// JSON and HTML carry the same report; HTML escapes what came from the
// cluster.
func TestJSONAndHTML(t *testing.T) {
	r := sample()
	r.Step("readiness").Evidence = append(r.Step("readiness").Evidence, "event: <script>")
	var j bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.FailingStep != "readiness" || len(back.Steps) != 4 || back.Steps[1].Status != Fail {
		t.Errorf("JSON round trip: %+v", back)
	}
	var h bytes.Buffer
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.String(), "<script>") || !strings.Contains(h.String(), "&lt;script&gt;") {
		t.Errorf("cluster text not escaped:\n%s", h.String())
	}
}
