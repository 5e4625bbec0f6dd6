package promqlcheck

import (
	"slices"
	"testing"
)

func TestUnknownMetrics(t *testing.T) {
	got, err := UnknownMetrics(`sum by (service) (kube_triage_service_verdict{verdict="ok"}) / on() group_left up + kube_triage_nope`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"up", "kube_triage_nope"}) {
		t.Errorf("got %v", got)
	}
	if _, err := UnknownMetrics("sum(("); err == nil {
		t.Error("bad PromQL parsed")
	}
}
