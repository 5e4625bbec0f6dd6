package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kube-triage/kube-triage-exporter/collector/registry"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/clustergen"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/fakeapi"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// BenchmarkClusterRole runs the cluster role in this process, as the
// command does (run), with the issue's flags (--no-collector.dns
// --no-collector.apiserver: every other default collector, the backends
// prober dialling the pods' loopback addresses among them), over a fake API
// that serves clustergen.Issue31 (50,000 pods) in protobuf. It reports:
//   - heap-B/pod: the live heap beyond that of the same cluster without its
//     pods, per pod (every collector's state, the informers' caches, the
//     triage stores);
//   - sync-peak-live/steady: the largest live heap (as each garbage
//     collection left it) while the role syncs, beyond the same base, over
//     the steady one;
//   - rss/live-heap: the exporter binary's resident memory over its live
//     heap, in a process of its own over the same fake API, once the
//     initial lists' garbage was returned (without the backends collector,
//     which a process in the host's network namespace must not run);
//     anon-rss/live-heap: its anonymous part (the rest is the binary's
//     pages, about 40 MiB whatever the cluster);
//   - s/full-data and sync-cpu-s/10k-pods: from start until /metrics judges
//     every pod, and the process CPU that took beyond the same start
//     without the pods (the fake API's share is a copy of encoded bytes),
//     per 10,000 pods;
//   - cpu-us/pod-update: the CPU per container restart that a watch
//     delivers, 20,000 in a burst, until /metrics counts them all, beyond
//     what the process uses idle;
//   - scrape-us and scrape-gzip-us: a scrape's median of 100 over HTTP, as
//     the client sees it, in text, and in OpenMetrics with gzip as
//     Prometheus asks (read into a buffer used again, as Prometheus
//     does); and the series.
func BenchmarkClusterRole(b *testing.B) {
	full := clustergen.Issue31
	empty := full
	empty.Pods = 0
	baseAPI, fullAPI := serveCluster(b, empty), serveCluster(b, full)
	const updates = 20_000
	restarts := fullAPI.Encode(b, updates, func(k int) runtime.Object {
		return full.Restarted(k%full.Pods, k/full.Pods+1, fmt.Sprint(10_000_000+k))
	})
	for range b.N {
		base, _, baseSyncCPU := startClusterRole(b, baseAPI, empty)
		baseHeap := testenv.HeapAlloc()
		base.stop()

		peak := testenv.LiveHeapPeak()
		e, toFullData, syncCPU := startClusterRole(b, fullAPI, full)
		syncPeak := peak()
		heap := testenv.HeapAlloc()

		plain, gzipped, series := e.scrapes(b, 100)

		// The CPU the process uses meanwhile (judging rounds, the backends
		// prober, the waits' scrapes) is taken out, at the rate of an
		// equal idle window before.
		cpu, start := testenv.ProcessCPU(), time.Now()
		time.Sleep(2 * time.Second)
		idleRate := float64(testenv.ProcessCPU()-cpu) / float64(time.Since(start))
		before := e.terminations(b)
		cpu, start = testenv.ProcessCPU(), time.Now()
		fullAPI.Publish(b, "/api/v1/pods", restarts)
		if err := testenv.Poll(5*time.Minute, 100*time.Millisecond, func() (bool, error) { return e.terminations(b) >= before+updates, nil }); err != nil {
			b.Fatalf("%d of %d restarts counted: %v", int(e.terminations(b)-before), updates, err)
		}
		burst := time.Since(start)
		perUpdate := (float64(testenv.ProcessCPU()-cpu) - idleRate*float64(burst)) / updates
		e.stop()

		rss, anon := residentOverLiveHeap(b, fullAPI, full)
		if u := slices.Concat(baseAPI.Unexpected(), fullAPI.Unexpected()); len(u) > 0 {
			b.Fatalf("the exporter asked the fake API for what it does not serve (serve it in serveCluster):\n%s", strings.Join(u, "\n"))
		}
		b.ReportMetric(float64(heap-baseHeap)/float64(full.Pods), "heap-B/pod")
		b.ReportMetric(float64(int64(syncPeak)-baseHeap)/float64(heap-baseHeap), "sync-peak-live/steady")
		b.ReportMetric(rss, "rss/live-heap")
		b.ReportMetric(anon, "anon-rss/live-heap")
		b.ReportMetric(toFullData.Seconds(), "s/full-data")
		b.ReportMetric((syncCPU-baseSyncCPU).Seconds()/(float64(full.Pods)/10_000), "sync-cpu-s/10k-pods")
		b.ReportMetric(perUpdate/1e3, "cpu-us/pod-update")
		b.ReportMetric(float64(plain.Microseconds()), "scrape-us")
		b.ReportMetric(float64(gzipped.Microseconds()), "scrape-gzip-us")
		b.ReportMetric(float64(series), "series")
	}
}

// residentOverLiveHeap runs the exporter binary over api and returns its
// resident memory, all of it and the anonymous part, over its live heap
// (half the next GC's goal, as the issue measured it), once it has every
// pod of c and has handed the initial lists' garbage back.
func residentOverLiveHeap(b *testing.B, api *fakeapi.Server, c clustergen.Cluster) (rss, anon float64) {
	e := testenv.StartExporter(b, "--kubeconfig="+api.Kubeconfig(b), "--role=cluster", "--no-collector.dns", "--no-collector.apiserver", "--no-collector.backends")
	defer e.Stop()
	var sums map[string]float64
	testenv.WaitFor(b, "the exporter with every pod, its initial lists' garbage returned", 5*time.Minute, func() (bool, error) {
		if !strings.Contains(e.Output.String(), "initial lists done") {
			return false, nil
		}
		sums, _ = (&clusterRole{url: "http://" + e.Addr}).samples(b, "kube_triage_service_selected_pods", "go_memstats_next_gc_bytes")
		return sums["kube_triage_service_selected_pods"] == float64(c.Pods), nil
	})
	live := sums["go_memstats_next_gc_bytes"] / 2
	// The largest of the residence right then and after 20 scrapes, 100ms
	// apart: the heap grows again after it was handed back.
	var r, a int64
	for i := range 21 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
			(&clusterRole{url: "http://" + e.Addr}).samples(b)
		}
		ri, ai := testenv.Resident(e.Cmd.Process.Pid)
		r, a = max(r, ri), max(a, ai)
	}
	if r == 0 || live <= 0 {
		b.Fatalf("no resident memory (%d) or next GC goal (%v) read", r, sums["go_memstats_next_gc_bytes"])
	}
	return float64(r) / live, float64(a) / live
}

// serveCluster is a fake API serving c: what the cluster role watches.
func serveCluster(b *testing.B, c clustergen.Cluster) *fakeapi.Server {
	s := fakeapi.New(b)
	now := time.Now()
	var slices []*discoveryv1.EndpointSlice // a few hundred
	for svc := range c.Services {
		slices = append(slices, c.Slices(svc)...)
	}
	s.Serve(b, "/api/v1/pods", &corev1.Pod{}, c.Pods, func(i int) runtime.Object { return c.Pod(i) })
	s.Serve(b, "/api/v1/services", &corev1.Service{}, c.Services, func(i int) runtime.Object { return c.Service(i) })
	s.Serve(b, "/apis/discovery.k8s.io/v1/endpointslices", &discoveryv1.EndpointSlice{}, len(slices), func(i int) runtime.Object { return slices[i] })
	s.Serve(b, "/api/v1/nodes", &corev1.Node{}, c.Nodes, func(i int) runtime.Object { return c.Node(i) })
	s.Serve(b, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", &coordinationv1.Lease{}, c.Nodes,
		func(i int) runtime.Object { return c.Lease(i, now) })
	components := []string{"kube-scheduler", "kube-controller-manager"}
	s.Serve(b, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", &coordinationv1.Lease{}, len(components),
		func(i int) runtime.Object { return clustergen.ControlPlaneLease(components[i], now) })
	// Every namespace's, for kube-state-metrics (BenchmarkAgainstKubeStateMetrics).
	s.Serve(b, "/apis/coordination.k8s.io/v1/leases", &coordinationv1.Lease{}, c.Nodes+len(components), func(i int) runtime.Object {
		if i < c.Nodes {
			return c.Lease(i, now)
		}
		return clustergen.ControlPlaneLease(components[i-c.Nodes], now)
	})
	s.Serve(b, "/apis/apps/v1/deployments", &appsv1.Deployment{}, c.Services, func(i int) runtime.Object { return c.Deployment(i) })
	s.Serve(b, "/apis/apps/v1/replicasets", &appsv1.ReplicaSet{}, c.Services, func(i int) runtime.Object { return c.ReplicaSet(i) })
	s.Serve(b, "/apis/apps/v1/statefulsets", &appsv1.StatefulSet{}, 0, nil)
	s.Serve(b, "/apis/batch/v1/jobs", &batchv1.Job{}, 0, nil)
	return s
}

// clusterRole is the cluster role running in this process.
type clusterRole struct {
	url  string
	stop func()
}

// startClusterRole runs the command's serve over api until the benchmark
// ends or stop. It returns once /metrics has judged every Service and
// counted every pod of c, with how long that took from the start and the
// process CPU meanwhile, and the initial lists' garbage was handed back.
func startClusterRole(b *testing.B, api *fakeapi.Server, c clustergen.Cluster) (e *clusterRole, toFullData, syncCPU time.Duration) {
	b.Helper()
	cpu, start := testenv.ProcessCPU(), time.Now()
	f := newFlags(registry.Specs())
	if _, err := f.app.Parse([]string{"--kubeconfig=" + api.Kubeconfig(b), "--role=cluster", "--no-collector.dns", "--no-collector.apiserver",
		"--web.listen-address=127.0.0.1:0"}); err != nil {
		b.Fatal(err)
	}
	if err := f.validate(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, f, logs) }()
	var once sync.Once
	e = &clusterRole{stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		})
	}}
	b.Cleanup(e.stop)
	listening := regexp.MustCompile(`msg="Listening on" address=(\S+)`)
	testenv.WaitFor(b, "the exporter listening", time.Minute, func() (bool, error) {
		select {
		case err := <-done:
			b.Fatalf("the exporter stopped: %v\n%s", err, logs.String())
		default:
		}
		m := listening.FindStringSubmatch(logs.String())
		if m != nil {
			e.url = "http://" + m[1]
		}
		return m != nil, nil
	})
	// Every 100ms, not WaitFor's 50ms: each look is a scrape, in the CPU measured.
	if err := testenv.Poll(5*time.Minute, 100*time.Millisecond, func() (bool, error) {
		sums, counts := e.samples(b, "kube_triage_service_verdict", "kube_triage_service_selected_pods")
		return counts["kube_triage_service_verdict"] == c.Services && sums["kube_triage_service_selected_pods"] == float64(c.Pods), nil
	}); err != nil {
		b.Fatalf("every Service judged and every pod counted: %v", err)
	}
	toFullData, syncCPU = time.Since(start), testenv.ProcessCPU()-cpu
	// The heap and the scrapes are measured in the steady state: after the
	// initial lists' garbage was returned (serve.go's afterSync).
	testenv.WaitFor(b, "the initial lists' garbage returned", time.Minute, func() (bool, error) {
		return strings.Contains(logs.String(), "initial lists done"), nil
	})
	return e, toFullData, syncCPU
}

// samples scrapes /metrics and sums the samples of each family named,
// reading the text line by line (the waits of the benchmark are scrapes,
// and their CPU is in what it measures).
func (e *clusterRole) samples(b *testing.B, names ...string) (sums map[string]float64, counts map[string]int) {
	sums, counts, err := readSamples(e.url+"/metrics", names...)
	if err != nil {
		b.Fatal(err)
	}
	return sums, counts
}

// readSamples scrapes url and sums, and counts, the samples of each family
// named.
func readSamples(url string, names ...string) (sums map[string]float64, counts map[string]int, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	sums, counts = map[string]float64{}, map[string]int{}
	for line := range bytes.Lines(body) {
		for _, name := range names {
			rest, ok := bytes.CutPrefix(line, []byte(name))
			if !ok || len(rest) == 0 || (rest[0] != '{' && rest[0] != ' ') {
				continue
			}
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(rest[bytes.LastIndexByte(rest, ' ')+1:])), 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", line, err)
			}
			sums[name] += v
			counts[name]++
		}
	}
	return sums, counts, nil
}

// terminations is the sum of the container terminations counted.
func (e *clusterRole) terminations(b *testing.B) float64 {
	sums, _ := e.samples(b, "kube_triage_container_terminations_total")
	return sums["kube_triage_container_terminations_total"]
}

// scrapes times n scrapes in text and n in gzipped OpenMetrics, each
// after 20 not timed, and returns each one's median and the series in the
// text. The first scrapes after the initial lists' heap was handed back
// take 3 to 4 times longer (the heap grows again).
func (e *clusterRole) scrapes(b *testing.B, n int) (plain, gzipped time.Duration, series int) {
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// Read into a buffer used again, as Prometheus' scrape loop reads
	// (from a pool, sized by the last scrape).
	var buf bytes.Buffer
	scrape := func(header http.Header) (time.Duration, []byte) {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
		req.Header = header
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("scrape: %d %v", resp.StatusCode, err)
		}
		return time.Since(start), buf.Bytes()
	}
	median := func(header http.Header) (time.Duration, []byte) {
		var times []time.Duration
		var body []byte
		for range 20 {
			scrape(header)
		}
		for range n {
			var d time.Duration
			d, body = scrape(header)
			times = append(times, d)
		}
		slices.Sort(times)
		return times[len(times)/2], bytes.Clone(body) // the buffer is read into again
	}
	plain, text := median(http.Header{"Accept": {"text/plain; version=0.0.4"}})
	gzipped, _ = median(http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}, "Accept-Encoding": {"gzip"}})
	for line := range bytes.Lines(text) {
		if len(line) > 0 && line[0] != '#' {
			series++
		}
	}
	return plain, gzipped, series
}
