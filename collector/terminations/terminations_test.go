package terminations

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func term(reason string, code int32, finished int64) *record.Termination {
	return &record.Termination{Reason: reason, ExitCode: code, FinishedAt: finished}
}

func TestDeaths(t *testing.T) {
	running := func(restarts int32, last *record.Termination) record.ContainerStatus {
		return record.NewContainerStatus(&record.Container{Name: "app", Type: "regular"}, restarts, "", nil, last)
	}
	exited := func(restarts int32, now, last *record.Termination) record.ContainerStatus {
		return record.NewContainerStatus(&record.Container{Name: "app", Type: "regular"}, restarts, "", now, last)
	}
	oom := term("OOMKilled", 137, 100)
	cases := []struct {
		name       string
		prev, cur  record.ContainerStatus
		seen       bool
		wantN      int32
		wantReason string
	}{
		{"no change", running(2, oom), running(2, oom), true, 0, ""},
		{"three restarts between two updates count three", running(2, oom), running(5, term("OOMKilled", 137, 200)), true, 3, "OOMKilled"},
		{"exit seen as the current state", running(0, nil), exited(0, term("Error", 1, 50), nil), true, 1, "Error"},
		{"then the restart of that same run does not count again", exited(0, term("Error", 1, 50), nil), running(1, term("Error", 1, 50)), true, 0, ""},
		{"a restart after a counted exit, plus one more", exited(0, term("Error", 1, 50), nil), running(2, term("Error", 1, 60)), true, 1, "Error"},
		{"a container new to us counts nothing", record.ContainerStatus{}, running(7, oom), false, 0, ""},
		{"a restart count that went back counts nothing", running(5, oom), running(0, nil), true, 0, ""},
		{"a restart without a last state", running(0, nil), running(1, nil), true, 1, "Unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n int32
			reason := ""
			for _, d := range deaths(tc.prev, tc.cur, tc.seen) {
				n += d.n
				reason = d.term.Reason
			}
			if n != tc.wantN || reason != tc.wantReason {
				t.Errorf("got %d %q, want %d %q", n, reason, tc.wantN, tc.wantReason)
			}
		})
	}
}

func TestWorkloadOf(t *testing.T) {
	for _, tc := range []struct {
		pod        record.Pod
		kind, name string
	}{
		{*record.NewPod("", "web-7d9f8c6b5-abcde", &record.PodShape{Labels: record.Labels{"pod-template-hash", "7d9f8c6b5"}, OwnerKind: "ReplicaSet", OwnerName: "web-7d9f8c6b5"}), "Deployment", "web"},
		{*record.NewPod("", "rs-x", &record.PodShape{OwnerKind: "ReplicaSet", OwnerName: "standalone"}), "ReplicaSet", "standalone"},
		{*record.NewPod("", "db-0", &record.PodShape{OwnerKind: "StatefulSet", OwnerName: "db"}), "StatefulSet", "db"},
		{*record.NewPod("", "debug", &record.PodShape{}), "Pod", "debug"},
	} {
		if kind, name := (&terminationsCollector{}).WorkloadOf(&tc.pod); kind != tc.kind || name != tc.name {
			t.Errorf("%s: %s/%s, want %s/%s", tc.pod.Name(), kind, name, tc.kind, tc.name)
		}
	}
}

// Through the informer: restarts that happen while the exporter watches
// count, with the exact number; what happened before it started does not;
// an update that changes nothing counts nothing.
func TestTerminationsThroughInformer(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f8c6b5-abcde", Namespace: "shop", Labels: map[string]string{"pod-template-hash": "7d9f8c6b5"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-7d9f8c6b5", Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 4, // before the exporter started: not counted
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
		}}},
	}
	cs := fake.NewClientset(p)
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	col, err := newTerminationsCollector(testTerminationsConfig, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	c := col

	update := func(restarts int32, reason string, code int32, message string) {
		t.Helper()
		p.Status.ContainerStatuses[0].RestartCount = restarts
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
			Reason: reason, ExitCode: code, Message: message, FinishedAt: metav1.NewTime(time.Now())}
		if _, err := cs.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(reason, code, signal string) float64 {
		return c.allCounts()[terminationKey{"shop", "Deployment", "web", "app", "regular", reason, code, signal}]
	}
	waitCount := func(reason, code, signal string, want float64) {
		t.Helper()
		testenv.WaitFor(t, reason+"/"+code+"/"+signal+" counted", 5*time.Second, func() (bool, error) {
			if got := count(reason, code, signal); got != want {
				return false, fmt.Errorf("%s/%s/%s: count %v, want %v", reason, code, signal, got, want)
			}
			return true, nil
		})
	}
	update(7, "OOMKilled", 137, "out of memory: the message goes to the log, not to a label")
	waitCount("OOMKilled", "137", "SIGKILL", 3)
	update(8, "Error", 139, "")
	waitCount("Error", "139", "SIGSEGV", 1)
	if _, err := cs.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err) // the same status again
	}
	// Then a sentinel: another pod, whose container waits in
	// CrashLoopBackOff. The informer hands the collector its events in
	// order, so once the sentinel is seen the update before it has been
	// handled, and whatever it would have counted is counted.
	sentinel := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sentinel", Namespace: "shop"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}}
	if _, err := cs.CoreV1().Pods("shop").Create(context.Background(), sentinel, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the sentinel pod's CrashLoopBackOff", 5*time.Second, func() (bool, error) {
		v, ok := collectortest.Sample(t, scrapeOnce(t, c), "kube_triage_workload_pods_waiting", map[string]string{"namespace": "shop", "workload_kind": "Pod", "workload": "sentinel", "reason": "CrashLoopBackOff"})
		if !ok || v != 1 {
			return false, fmt.Errorf("sentinel pods waiting %v (present %v), want 1", v, ok)
		}
		return true, nil
	})
	if got := count("Error", "1", ""); got != 0 {
		t.Errorf("restarts from before the exporter started were counted: %v", got)
	}
	for _, want := range []struct {
		reason, code, signal string
		n                    float64
	}{{"OOMKilled", "137", "SIGKILL", 3}, {"Error", "139", "SIGSEGV", 1}} {
		if got := count(want.reason, want.code, want.signal); got != want.n {
			t.Errorf("after an update that changed nothing: %s/%s/%s count %v, want %v", want.reason, want.code, want.signal, got, want.n)
		}
	}
	collectortest.Golden(t, scrapeOnce(t, c), "terminations.prom", "kube_triage_container_terminations_total")
	if v, ok := collectortest.Sample(t, scrapeOnce(t, c), "kube_triage_container_last_termination_timestamp_seconds", map[string]string{"workload": "web", "container": "app"}); !ok || time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last termination timestamp %v (present %v), want about now", v, ok)
	}
}

// Pods waiting in CrashLoopBackOff or ImagePullBackOff are counted per
// workload, each pod once per reason, and forgotten when they recover or go.
func TestWaitingPodsPerWorkload(t *testing.T) {
	c := newTerminations(promslog.NewNopLogger(), testTerminationsConfig, cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}))
	pod := func(name string, waiting ...string) *record.Pod {
		p := record.NewPod("shop", name, &record.PodShape{Labels: record.Labels{"pod-template-hash", "abc"}, OwnerKind: "ReplicaSet", OwnerName: "web-abc"})
		for i, w := range waiting {
			p.Containers = append(p.Containers, record.NewContainerStatus(&record.Container{Name: "c" + strconv.Itoa(i), Type: "regular"}, 0, w, nil, nil))
		}
		return p
	}
	c.trackWaiting(pod("web-1", "CrashLoopBackOff", "CrashLoopBackOff"), false)
	c.trackWaiting(pod("web-2", "CrashLoopBackOff", "ContainerCreating"), false)
	c.trackWaiting(pod("web-3", "ImagePullBackOff"), false)
	c.trackWaiting(pod("web-3", ""), false) // recovered
	c.trackWaiting(pod("web-4", "ImagePullBackOff"), false)
	c.trackWaiting(pod("web-4", "ImagePullBackOff"), true) // deleted
	want := `
# HELP kube_triage_workload_pods_waiting Pods of the workload with a container waiting for that reason now: CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError, CreateContainerError, InvalidImageName.
# TYPE kube_triage_workload_pods_waiting gauge
kube_triage_workload_pods_waiting{namespace="shop",reason="CrashLoopBackOff",workload="web",workload_kind="Deployment"} 2
`
	if err := testutil.GatherAndCompare(scrapeOnce(t, c), strings.NewReader(want), "kube_triage_workload_pods_waiting"); err != nil {
		t.Error(err)
	}
}

// The page shows the recent terminations newest first, bounded, with
// messages escaped and cut at 4 KiB; the message is never a label.
func TestRecentTerminationsPage(t *testing.T) {
	c := newTerminations(promslog.NewNopLogger(), testTerminationsConfig, cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}))
	p := record.NewPod("shop", "web-1", &record.PodShape{})
	for i := range recentLimit + 5 {
		c.add(terminationKey{"shop", "Pod", "web-1", "app", "regular", "Error", "1", ""}, 1, p, &record.Termination{Message: "run " + strconv.Itoa(i)})
	}
	evil := "<script>alert(1)</script>\x00\xff" + strings.Repeat("x", 5000)
	c.add(terminationKey{"shop", "Pod", "web-1", "app", "regular", "OOMKilled", "137", "SIGKILL"}, 1, p, &record.Termination{Message: evil})

	rec := httptest.NewRecorder()
	c.pages()["/terminations"].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/terminations", nil))
	body := rec.Body.String()
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Error("message not escaped")
	}
	if n := strings.Count(body, "<tr><td>"); n != recentLimit {
		t.Errorf("%d rows, want the %d most recent", n, recentLimit)
	}
	if strings.Index(body, "OOMKilled") > strings.Index(body, "run 204") || strings.Contains(body, "run 5<") || !strings.Contains(body, "run 6<") {
		t.Error("not newest first, or not the most recent ones")
	}
	if strings.Count(body, "x") > 4200 {
		t.Error("message not cut at 4 KiB")
	}
	out := collectortest.Render(t, scrapeOnce(t, c), "kube_triage_container_terminations_total")
	if strings.Contains(out, "script") || strings.Contains(out, "run ") {
		t.Error("a message reached the metrics")
	}
}

// A Job's pods are counted under the CronJob that created the Job.
func TestWorkloadOfCronJob(t *testing.T) {
	kc := &kube.Client{Informers: kube.NewInformers(fake.NewClientset(&batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: "nightly-29000000", Namespace: "batch",
		OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "nightly", Controller: ptr.To(true)}},
	}}))}
	col, err := newTerminationsCollector(testTerminationsConfig, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	c := col
	for _, tc := range []struct{ job, kind, name string }{
		{"nightly-29000000", "CronJob", "nightly"},
		{"one-off", "Job", "one-off"}, // not (or no longer) known: the Job itself
	} {
		p := record.NewPod("batch", tc.job+"-x", &record.PodShape{OwnerKind: "Job", OwnerName: tc.job})
		if kind, name := c.WorkloadOf(p); kind != tc.kind || name != tc.name {
			t.Errorf("%s: %s/%s, want %s/%s", tc.job, kind, name, tc.kind, tc.name)
		}
	}
}

var testTerminationsConfig = Config{Retention: time.Hour}

// Churn: thousands of short-lived Jobs and bare pods, each with a
// termination, come and go. Their series stay while they have pods and for
// the retention after the last one went, then end, and the collector's
// memory returns to what it held before; a workload that still has pods,
// or gets one back within the retention, keeps its series.
func TestTerminationSeriesEndAfterRetention(t *testing.T) {
	pods := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	c := newTerminations(promslog.NewNopLogger(), testTerminationsConfig, pods)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	pod := func(name, ownerKind, owner string) *record.Pod {
		p := record.NewPod("batch", name, &record.PodShape{OwnerKind: ownerKind, OwnerName: owner})
		p.Containers = []record.ContainerStatus{record.NewContainerStatus(record.NewContainer("main", "regular"), 0, "", nil, nil)}
		return p
	}
	// A pod runs, its container exits (a termination), then it is deleted
	// (or, with keep, stays).
	run := func(p *record.Pod, keep bool) {
		if err := pods.Add(p); err != nil {
			t.Fatal(err)
		}
		done := *p
		done.Containers = []record.ContainerStatus{record.NewContainerStatus(&record.Container{Name: "main", Type: "regular"}, 0, "", term("Error", 1, now.Unix()), nil)}
		c.observe(p, &done)
		if !keep {
			if err := pods.Delete(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	series := func() int {
		n, err := testutil.GatherAndCount(scrapeOnce(t, c), "kube_triage_container_terminations_total", "kube_triage_container_last_termination_timestamp_seconds")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	run(pod("api-1", "StatefulSet", "api"), true) // a long-lived workload
	run(pod("comeback-1", "Job", "comeback"), false)
	c.expire()
	baseSeries := series()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc

	const churn = 5000
	for i := range churn {
		if i%2 == 0 {
			run(pod("job-"+strconv.Itoa(i)+"-x7k2p", "Job", "job-"+strconv.Itoa(i)), false)
		} else {
			run(pod("bare-"+strconv.Itoa(i), "", ""), false)
		}
	}
	if got := series(); got != baseSeries+2*churn {
		t.Fatalf("%d series after the churn, want %d", got, baseSeries+2*churn)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	churnHeap := ms.HeapAlloc

	c.expire() // the churned workloads have no pod: their clock starts
	now = now.Add(c.retention - time.Second)
	run(pod("comeback-2", "Job", "comeback"), true) // back within the retention
	c.expire()
	if got := series(); got != baseSeries+2*churn {
		t.Fatalf("%d series before the retention ended, want %d", got, baseSeries+2*churn)
	}
	now = now.Add(2 * time.Second)
	c.expire()
	if got := series(); got != baseSeries {
		t.Errorf("%d series after the retention, want the %d of the workloads that have pods", got, baseSeries)
	}
	for _, w := range []string{"api", "comeback"} {
		if !strings.Contains(collectortest.Render(t, scrapeOnce(t, c), "kube_triage_container_terminations_total"), `workload="`+w+`"`) {
			t.Errorf("workload %s lost its series though it has pods", w)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap: %d before the churn, %d with it, %d after the retention", baseHeap, churnHeap, ms.HeapAlloc)
	if grown := int64(ms.HeapAlloc) - int64(baseHeap); grown > int64(churnHeap-baseHeap)/10 {
		t.Errorf("the heap kept %d bytes of the churn's %d after the retention", grown, churnHeap-baseHeap)
	}
}

// allCounts is every workload's termination counts, in one map.
func (c *terminationsCollector) allCounts() map[terminationKey]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[terminationKey]float64{}
	for _, w := range c.workloads {
		maps.Copy(out, w.counts)
	}
	return out
}

func scrapeOnce(t *testing.T, c *terminationsCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "terminations", c.Collector())
}
