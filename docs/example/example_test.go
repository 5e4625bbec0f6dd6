package example

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
)

// The example works through the framework as any collector does: its
// flag's default, its check, its probe and its gauge.
func TestExampleCollector(t *testing.T) {
	cfg := collector.DefaultConfig(Spec).(*Config)
	if cfg.Address != "127.0.0.1:10027" {
		t.Errorf("default address %q", cfg.Address)
	}
	if err := (&Config{Address: "no-port"}).Check(collector.RoleCluster); err == nil {
		t.Error("an address without a port passed the check")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for address, want := range map[string]float64{l.Addr().String(): 1, "127.0.0.1:1": 0} {
		cfg.Address = address
		c, err := cfg.New(collector.Deps{Logger: promslog.NewNopLogger(), Schedule: Spec.Probe.Schedule})
		if err != nil {
			t.Fatal(err)
		}
		c.Probers[0].ProbeOnce(context.Background(), time.Second)
		if v, ok := collectortest.Sample(t, collectortest.ScrapeOnce(t, "example", c), "kube_triage_example_reachable", nil); !ok || v != want {
			t.Errorf("%s: reachable %v (present %v), want %v", address, v, ok, want)
		}
	}
}
