package guide

import (
	"fmt"
	"strings"
	"time"
)

// Values are the guide's values as the mixin reads them, from
// mixin/lib/guide.json: its defaults for the runbook base URL and the
// thresholds that the walks share with the alerts, which verdicts and
// reasons raise which alert, and each alert's walk as a triage_url path.
func Values() map[string]any {
	type pair struct {
		Value string `json:"value"`
		Alert string `json:"alert"`
	}
	verdicts := []pair{}
	for _, v := range ServiceVerdicts {
		verdicts = append(verdicts, pair{string(v.Verdict), v.Alert})
	}
	backendVerdicts := []pair{}
	for _, v := range BackendVerdicts {
		backendVerdicts = append(backendVerdicts, pair{string(v.Verdict), v.Alert})
	}
	reasons := func(rs []Reason) []pair {
		out := []pair{}
		for _, r := range rs {
			out = append(out, pair{r.Reason, r.Alert})
		}
		return out
	}
	walks := map[string]string{}
	for _, aw := range AlertWalks {
		walks[aw.Alert] = aw.Walk.Template()
	}
	return map[string]any{
		"runbookURLBase":        RunbookBase,
		"nodeLeaseStaleSeconds": int(NodeLeaseStale / time.Second),
		"recentDeath":           PromDuration(RecentDeath),
		"serviceVerdicts":       verdicts,
		"backendVerdicts":       backendVerdicts,
		"waitingReasons":        reasons(WaitingReasons),
		"terminationReasons":    reasons(TerminationReasons),
		"alertWalks":            walks,
	}
}

// Template is the walk's path as an alert annotation template: each
// {label} becomes {{ $labels.label }}.
func (w Walk) Template() string {
	segs := w.Segments()
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			segs[i] = "{{ $labels." + strings.TrimSuffix(name, "}") + " }}"
		}
	}
	return strings.Join(segs, "/")
}

// PromDuration writes d as Prometheus does: 15m, 1h, 40s.
func PromDuration(d time.Duration) string {
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d >= u.d && d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.unit)
		}
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
