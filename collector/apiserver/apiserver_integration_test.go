package apiserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// The apiserver collector against a real kube-apiserver and etcd: healthy,
// then etcd stopped (the apiserver answers, its etcd check fails), then
// the apiserver killed (nothing answers), each back to healthy.
func TestAPIServerOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	kc, err := kube.NewClient(cluster.Config, "local control plane", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCollector(Config{}, collector.Deps{
		Logger:   promslog.NewNopLogger(),
		Schedule: prober.Schedule{Interval: 300 * time.Millisecond, Timeout: 8 * time.Second},
		Kube:     kc,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)

	type want struct {
		reachable, readyzSuccess float64
		etcd                     float64 // -1: series must be absent
	}
	waitForState := func(what string, w want) {
		t.Helper()
		testenv.WaitFor(t, what, 90*time.Second, func() (bool, error) {
			g := scrapeOnce(t, c)
			reachable, _ := collectortest.Sample(t, g, "kube_triage_apiserver_reachable", nil)
			ready, _ := collectortest.Sample(t, g, "kube_triage_apiserver_probe_success", map[string]string{"endpoint": "readyz"})
			etcd, etcdPresent := collectortest.Sample(t, g, "kube_triage_apiserver_check_success", map[string]string{"endpoint": "readyz", "check": "etcd"})
			if !etcdPresent {
				etcd = -1
			}
			if reachable == w.reachable && ready == w.readyzSuccess && etcd == w.etcd {
				return true, nil
			}
			return false, fmt.Errorf("reachable=%v readyz=%v etcd check=%v, want %+v", reachable, ready, etcd, w)
		})
	}
	failures := func(reason string) float64 {
		v, _ := collectortest.Sample(t, scrapeOnce(t, c), "kube_triage_apiserver_probe_failures_total", map[string]string{"endpoint": "readyz", "reason": reason})
		return v
	}

	waitForState("healthy", want{reachable: 1, readyzSuccess: 1, etcd: 1})

	if err := cluster.StopComponent(localcluster.Etcd); err != nil {
		t.Fatal(err)
	}
	waitForState("etcd stopped", want{reachable: 1, readyzSuccess: 0, etcd: 0})
	if failures("check_failed") == 0 {
		t.Error("etcd stopped: no check_failed failure counted")
	}
	if failures("timeout") != 0 {
		t.Error("etcd stopped read as a timeout: the probe timeout is too short for the etcd checks")
	}
	if err := cluster.StartComponent(ctx, localcluster.Etcd); err != nil {
		t.Fatal(err)
	}
	waitForState("etcd back", want{reachable: 1, readyzSuccess: 1, etcd: 1})

	if err := cluster.KillComponent(localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	waitForState("apiserver killed", want{reachable: 0, readyzSuccess: 0, etcd: -1})
	if failures("connection") == 0 {
		t.Error("apiserver killed: no connection failure counted")
	}
	if err := cluster.StartComponent(ctx, localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	waitForState("apiserver back", want{reachable: 1, readyzSuccess: 1, etcd: 1})
}
