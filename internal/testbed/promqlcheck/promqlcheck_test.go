package promqlcheck

import (
	"slices"
	"testing"
)

func TestUnknownMetrics(t *testing.T) {
	got, err := UnknownMetrics(`sum by (service) (kube_triage_service_verdict{verdict="ok"}) / on() group_left up + kube_triage_nope + node_load1 + level:recorded:sum + {__name__=~"kube_triage_(service_info|service_verdict)"} + {__name__=~"kube_triage_(service_info|nothing)"} + {__name__=~"kube_triage_service_.*"} + {__name__=~"kube_triage_nothing_.*"}`,
		"level:recorded:sum")
	if err != nil {
		t.Fatal(err)
	}
	// up is Prometheus's own; a recorded name given is known; each name of
	// an alternation must be exported, and a pattern must match one.
	if want := []string{"kube_triage_nope", "node_load1", "kube_triage_nothing", `__name__=~"kube_triage_nothing_.*"`}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := UnknownMetrics("sum(("); err == nil {
		t.Error("bad PromQL parsed")
	}
}
