package controlplane

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
)

// The scheduler's Lease was renewed 5s ago; the controller-manager's is
// absent (a managed control plane): present 0, and no age to alert on.
func TestControlplaneLeases(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	renewed := metav1.NewMicroTime(now.Add(-5 * time.Second))
	cs := fake.NewClientset(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-scheduler", Namespace: "kube-system"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("cp-1_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
			LeaseDurationSeconds: ptr.To[int32](15), RenewTime: &renewed, LeaseTransitions: ptr.To[int32](3)},
	}, &coordinationv1.Lease{ // another namespace's Lease of the same name is not the scheduler's
		ObjectMeta: metav1.ObjectMeta{Name: "kube-controller-manager", Namespace: "default"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("impostor"), RenewTime: &renewed},
	})
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	col, err := newControlplaneCollector(collector.Deps{Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	c := col
	c.now = func() time.Time { return now }
	collectortest.StartInformers(t, kc)
	collectortest.Golden(t, scrapeOnce(t, c), "controlplane.prom", "kube_triage_controlplane_leader_lease_present",
		"kube_triage_controlplane_leader_lease_age_seconds", "kube_triage_controlplane_leader_lease_duration_seconds",
		"kube_triage_controlplane_leader_transitions", "kube_triage_controlplane_leader_info")
}

func TestHolderHost(t *testing.T) {
	for in, want := range map[string]string{
		"cp-1_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0": "cp-1",
		"cp-1":                         "cp-1",
		"weird_name_not-a-uuid":        "weird_name_not-a-uuid",
		string(make([]byte, 300)):      string(make([]byte, 128)),
		strings.Repeat("a", 127) + "é": strings.Repeat("a", 127), // not cut through a character
		"bad\xffutf8":                  "badutf8",
	} {
		if got := holderHost(in); got != want {
			t.Errorf("holderHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func scrapeOnce(t *testing.T, c *controlplaneCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "controlplane", c.Collector())
}
