package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/clustergen"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// kubeStateMetricsAllowlist is what kube-state-metrics exports of the same
// facts: pods' phase, readiness and containers' restarts and reasons,
// Services and their EndpointSlices, Nodes' conditions, Leases.
var kubeStateMetricsAllowlist = []string{
	"kube_pod_info", "kube_pod_owner", "kube_pod_status_phase", "kube_pod_status_ready", "kube_pod_status_reason",
	"kube_pod_container_info", "kube_pod_container_status_restarts_total", "kube_pod_container_status_waiting_reason",
	"kube_pod_container_status_last_terminated_reason", "kube_pod_container_status_last_terminated_exitcode",
	"kube_service_info", "kube_service_spec_type", "kube_endpointslice_info", "kube_endpointslice_endpoints",
	"kube_node_status_condition", "kube_lease_owner", "kube_lease_renew_time",
}

// BenchmarkAgainstKubeStateMetrics runs the exporter binary (its cluster
// role with the issue's flags, and without the backends collector, which
// must not run in the host's network namespace) and kube-state-metrics
// (built from its module; the resources and families that show the same
// facts), one after the other, each alone with the same fake API serving
// clustergen.Issue31, and reports each one's figures and their ratio
// (kube-state-metrics' over the exporter's): the time to full data in
// /metrics and the process's CPU until then, its resident memory then, the
// CPU per container restart over a burst of 20,000, and a scrape. Both are
// asked for /metrics once a second while they sync and under the burst.
func BenchmarkAgainstKubeStateMetrics(b *testing.B) {
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	if err := bins.Ensure(root, b.Logf, "kube-state-metrics"); err != nil {
		b.Fatal(err)
	}
	testenv.Exporter(b) // built now, not in the time to full data
	c := clustergen.Issue31
	api := serveCluster(b, c)
	const updates = 20_000
	restarts := api.Encode(b, updates, func(k int) runtime.Object {
		return c.Restarted(k%c.Pods, 1, fmt.Sprint(10_000_000+k))
	})
	subjects := []struct {
		name string
		// start returns its /metrics URL and process id.
		start func() (url string, pid int)
		// pods and restarts read /metrics: the pods it shows, and the
		// container restarts it counts.
		pods, restarts func(url string) float64
	}{{
		name: "exporter",
		start: func() (string, int) {
			e := testenv.StartExporter(b, "--kubeconfig="+api.Kubeconfig(b), "--role=cluster", "--no-collector.dns", "--no-collector.apiserver", "--no-collector.backends")
			b.Cleanup(e.Stop)
			return "http://" + e.Addr + "/metrics", e.Cmd.Process.Pid
		},
		pods: func(url string) float64 {
			return sumOf(url, "kube_triage_service_selected_pods")
		},
		restarts: func(url string) float64 {
			return sumOf(url, "kube_triage_container_terminations_total")
		},
	}, {
		name: "kube-state-metrics",
		start: func() (string, int) {
			addr, telemetry := testenv.FreeAddr(b), testenv.FreeAddr(b)
			host, port, _ := strings.Cut(addr, ":")
			_, tport, _ := strings.Cut(telemetry, ":")
			p := testenv.Start(b, "kube-state-metrics", filepath.Join(bins.Dir(root), "kube-state-metrics"), nil,
				"--kubeconfig="+api.Kubeconfig(b), "--host="+host, "--port="+port, "--telemetry-host="+host, "--telemetry-port="+tport,
				"--resources=pods,services,endpointslices,nodes,leases", "--metric-allowlist="+strings.Join(kubeStateMetricsAllowlist, ","))
			b.Cleanup(p.Stop)
			return "http://" + addr + "/metrics", p.Cmd.Process.Pid
		},
		pods: func(url string) float64 {
			return countOf(url, "kube_pod_info")
		},
		restarts: func(url string) float64 {
			return sumOf(url, "kube_pod_container_status_restarts_total")
		},
	}}
	type figures struct{ fullData, syncCPU, rss, perRestart, scrape float64 }
	for range b.N {
		var got []figures
		for _, s := range subjects {
			start := time.Now()
			url, pid := s.start()
			var f figures
			wait(b, s.name+" showing every pod", func() bool { return s.pods(url) >= float64(c.Pods) })
			f.fullData, f.syncCPU = time.Since(start).Seconds(), testenv.CPUOf(pid).Seconds()
			rss, _ := testenv.Resident(pid)
			f.rss = float64(rss) / (1 << 20)
			var scrapes []time.Duration
			for range 10 {
				begin := time.Now()
				s.pods(url)
				scrapes = append(scrapes, time.Since(begin))
			}
			slices.Sort(scrapes)
			f.scrape = scrapes[len(scrapes)/2].Seconds() * 1e3
			before, cpu := s.restarts(url), testenv.CPUOf(pid)
			api.Publish(b, "/api/v1/pods", restarts)
			wait(b, s.name+" counting every restart", func() bool { return s.restarts(url) >= before+updates })
			f.perRestart = (testenv.CPUOf(pid) - cpu).Seconds() * 1e6 / updates
			if f.syncCPU == 0 || f.rss == 0 {
				b.Fatalf("%s: no CPU or resident memory read from /proc", s.name)
			}
			got = append(got, f)
		}
		if u := api.Unexpected(); len(u) > 0 {
			b.Fatalf("asked the fake API for what it does not serve:\n%s", strings.Join(u, "\n"))
		}
		ours, ksm := got[0], got[1]
		for _, r := range []struct {
			unit       string
			ours, ksms float64
		}{
			{"s/full-data", ours.fullData, ksm.fullData}, {"sync-cpu-s", ours.syncCPU, ksm.syncCPU},
			{"rss-MiB", ours.rss, ksm.rss}, {"cpu-us/restart", ours.perRestart, ksm.perRestart}, {"scrape-ms", ours.scrape, ksm.scrape},
		} {
			b.ReportMetric(r.ours, r.unit)
			b.ReportMetric(r.ksms, "ksm-"+r.unit)
			b.ReportMetric(r.ksms/r.ours, "ksm/ours-"+r.unit)
		}
	}
}

// wait polls cond once a second, for at most 10 minutes.
func wait(b *testing.B, what string, cond func() bool) {
	if err := testenv.Poll(10*time.Minute, time.Second, func() (bool, error) { return cond(), nil }); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
}

// sumOf and countOf scrape url and sum, or count, the samples of family:
// 0 while the process does not answer yet.
func sumOf(url, family string) float64 {
	sums, _, _ := readSamples(url, family)
	return sums[family]
}

func countOf(url, family string) float64 {
	_, counts, _ := readSamples(url, family)
	return float64(counts[family])
}
