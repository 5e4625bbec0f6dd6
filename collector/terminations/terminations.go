// Package terminations is the terminations collector (cluster role): it
// counts every container termination by workload, reason, exit code and
// signal, from restart counts, so that restarts between scrapes are not
// lost; counts the pods stuck waiting per workload; and serves the recent
// terminations with their messages on /terminations.
package terminations

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

var metrics collector.Families

var terminationsTotal = metrics.Counter("container_terminations_total", "Determine the Reason for Pod Failure",
	"Container terminations seen since the exporter started, by workload (the pod's owner, a ReplicaSet resolved to its Deployment, or the bare pod), container, container type (init, regular, ephemeral; pod for a pod-level eviction), reason, exit code and signal.",
	"namespace", "workload_kind", "workload", "container", "container_type", "reason", "exit_code", "signal")

var (
	lastTermination = metrics.Gauge("container_last_termination_timestamp_seconds", "Determine the Reason for Pod Failure",
		"Unix time of the last termination seen of the workload's container (when it finished).",
		"namespace", "workload_kind", "workload", "container")
	podsWaiting = metrics.Gauge("workload_pods_waiting", "Debug Pods: Pending / Waiting",
		"Pods of the workload with a container waiting for that reason now: "+guide.List(guide.StuckReasons())+".",
		"namespace", "workload_kind", "workload", "reason")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "terminations",
	Help:      "Count every container termination by workload, reason, exit code and signal, from restart counts, so restarts between scrapes are not lost",
	DefaultOn: []collector.Role{collector.RoleCluster},
	Metrics:   &metrics,
	Config:    func() collector.Config { return &Config{} },
}

// Config configures the collector.
type Config struct {
	// Retention is how long a workload's series outlive its last pod.
	Retention time.Duration
}

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.Duration("collector.terminations.retention", "How long a workload's termination series outlive its last pod; then they end (increase() over a range that reaches back before that still sees them).",
			time.Hour, &c.Retention),
	}
}

// Check wants a positive retention.
func (c *Config) Check(collector.Role) error {
	if c.Retention <= 0 {
		return errors.New("--collector.terminations.retention must be positive")
	}
	return nil
}

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newTerminationsCollector(*c, d))
}

// Collector is what the framework runs of it.
func (c *terminationsCollector) Collector() *collector.Collector {
	// The walks read the recent terminations and the pod cache.
	source := struct {
		*terminationsCollector
		kube.PodCache
	}{c, kube.PodCache{Cache: c.pods}}
	return &collector.Collector{Rendered: c.render, Run: c.run, Pages: c.pages(), Source: source}
}

// terminationKey is one counter series.
type terminationKey struct {
	namespace, workloadKind, workload, container, containerType, reason, exitCode, signal string
}

type terminationsCollector struct {
	logger    *slog.Logger
	retention time.Duration
	jobs      kube.Cache // Jobs, to resolve a Job to its CronJob; nil in tests
	pods      kube.Cache // the pods, to tell a workload that still has some
	now       func() time.Time

	mu        sync.Mutex
	workloads map[workloadID]*workloadSeries
	stuck     map[string][]waitingKey // by pod namespace/name: its stuck reasons now
	recent    []guide.SeenTermination // oldest first, at most recentLimit
	// goneSince is when each workload with series was first seen without
	// a pod; its series are removed once that is older than retention.
	goneSince map[workloadID]time.Time
	rendered  *collector.Rendered // a workload's samples, rendered as they change
	builder   *collector.Builder
}

// workloadSeries is what the collector counts of one workload.
type workloadSeries struct {
	counts  map[terminationKey]float64
	last    map[string]float64 // by container: when its last termination finished
	waiting map[string]int     // by stuck reason: pods waiting for it now
}

type workloadID struct{ namespace, kind, name string }

func (id workloadID) key() string { return id.namespace + "/" + id.kind + "/" + id.name }

type waitingKey struct {
	workload workloadID
	reason   string
}

// recentLimit bounds the recent terminations kept for the page.
const recentLimit = 200

func newTerminationsCollector(cfg Config, d collector.Deps) (*terminationsCollector, error) {
	inf, err := d.Informers()
	if err != nil {
		return nil, err
	}
	pods := inf.Records(kube.Pods)
	c := newTerminations(d.Logger, cfg, pods.Cache())
	c.jobs = inf.Namespaced("jobs", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Batch().V1().Jobs().Informer()
	}).Cache()
	// Only updates count: an Add is a pod seen for the first time (at start
	// or after it was created), whose past restarts happened before we
	// watched. A relist after a broken watch comes as updates from the
	// cached state, so what happened meanwhile is counted once.
	_, err = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*record.Pod); ok {
				c.trackWaiting(p, false)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*record.Pod)
			n, ok2 := newObj.(*record.Pod)
			if ok1 && ok2 {
				c.observe(o, n)
				c.trackWaiting(n, false)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*record.Pod); ok {
				c.trackWaiting(p, true)
			}
		},
	})
	return c, err
}

// newTerminations builds the collector over a cache of pod records; the
// caller feeds it the pods' updates.
func newTerminations(logger *slog.Logger, cfg Config, pods kube.Cache) *terminationsCollector {
	c := &terminationsCollector{logger: logger, retention: cfg.Retention, pods: pods, now: time.Now,
		workloads: map[workloadID]*workloadSeries{}, stuck: map[string][]waitingKey{},
		goneSince: map[workloadID]time.Time{}, rendered: collector.NewRendered(metrics.All()...)}
	c.builder = c.rendered.Builder()
	return c
}

// render is the workloads' samples, rendered as they change.
func (c *terminationsCollector) render() *collector.Rendered { return c.rendered }

// series returns the workload's series, made on first use. c.mu held.
func (c *terminationsCollector) series(id workloadID) *workloadSeries {
	w := c.workloads[id]
	if w == nil {
		w = &workloadSeries{counts: map[terminationKey]float64{}, last: map[string]float64{}, waiting: map[string]int{}}
		c.workloads[id] = w
	}
	return w
}

// renderWorkload renders a workload's samples again, or forgets it when it
// has none. c.mu held.
func (c *terminationsCollector) renderWorkload(id workloadID) {
	w := c.workloads[id]
	if w == nil || len(w.counts)+len(w.last)+len(w.waiting) == 0 {
		delete(c.workloads, id)
		delete(c.goneSince, id)
		c.rendered.Delete(id.key())
		return
	}
	for k, v := range w.counts {
		c.builder.Add(terminationsTotal, v, k.namespace, k.workloadKind, k.workload, k.container, k.containerType, k.reason, k.exitCode, k.signal)
	}
	for container, v := range w.last {
		c.builder.Add(lastTermination, v, id.namespace, id.kind, id.name, container)
	}
	for reason, n := range w.waiting {
		c.builder.Add(podsWaiting, float64(n), id.namespace, id.kind, id.name, reason)
	}
	c.rendered.Set(id.key(), c.builder)
}

// run removes, now and then, the series of workloads gone for longer than
// the retention.
func (c *terminationsCollector) run(ctx context.Context) {
	schedule.Tick(ctx, min(time.Minute, c.retention/4), c.expire)
}

// expire ends the series of every workload that has had no pod for longer
// than the retention: a cluster that runs Jobs, Argo or Tekton workflows
// names new workloads all day, and each one's counters would otherwise
// stay forever. A workload that gets a pod again keeps its series.
func (c *terminationsCollector) expire() {
	// The pods are listed under the lock, so that a workload that gets a
	// pod and a termination meanwhile is not taken for gone (tens of
	// milliseconds a minute at 150,000 pods).
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[workloadID]bool{}
	for _, p := range kube.All[record.Pod](c.pods) {
		kind, name := c.WorkloadOf(p)
		live[workloadID{p.Namespace(), kind, name}] = true
	}
	now := c.now()
	expired := 0
	for id := range c.workloads {
		if live[id] {
			delete(c.goneSince, id)
			continue
		}
		since, ok := c.goneSince[id]
		if !ok {
			c.goneSince[id] = now
			continue
		}
		if now.Sub(since) >= c.retention {
			delete(c.goneSince, id)
			delete(c.workloads, id)
			c.rendered.Delete(id.key())
			expired++
		}
	}
	if expired > 0 {
		c.logger.Debug("termination series expired", "workloads", expired)
	}
}

// trackWaiting keeps, for each pod, the stuck reasons its containers wait
// for now (each reason once per pod), and each workload's count of pods
// waiting for each.
func (c *terminationsCollector) trackWaiting(p *record.Pod, deleted bool) {
	var keys []waitingKey
	if !deleted {
		kind, workload := c.WorkloadOf(p)
		for _, cs := range p.Containers {
			k := waitingKey{workloadID{p.Namespace(), kind, workload}, cs.Waiting()}
			if guide.Stuck(cs.Waiting()) && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	id := p.Key()
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.stuck[id]
	if slices.Equal(before, keys) {
		return // most updates: nothing stuck before or now
	}
	if len(keys) == 0 {
		delete(c.stuck, id)
	} else {
		c.stuck[id] = keys
	}
	changed := map[workloadID]bool{}
	for _, k := range before {
		w := c.series(k.workload)
		if w.waiting[k.reason]--; w.waiting[k.reason] <= 0 {
			delete(w.waiting, k.reason)
		}
		changed[k.workload] = true
	}
	for _, k := range keys {
		c.series(k.workload).waiting[k.reason]++
		changed[k.workload] = true
	}
	for w := range changed {
		c.renderWorkload(w)
	}
}

// observe counts the terminations between two states of a pod.
func (c *terminationsCollector) observe(old, cur *record.Pod) {
	kind, workload := c.WorkloadOf(cur)
	if cur.Reason() == "Evicted" && old.Reason() != "Evicted" {
		c.add(terminationKey{cur.Namespace(), kind, workload, "", "pod", "Evicted", "", ""}, 1, cur, nil)
	}
	for _, cs := range cur.Containers {
		var prev record.ContainerStatus
		i := slices.IndexFunc(old.Containers, func(o record.ContainerStatus) bool { return o.Name == cs.Name && o.Type == cs.Type })
		if i >= 0 {
			prev = old.Containers[i]
		}
		for _, t := range deaths(prev, cs, i >= 0) {
			c.add(terminationKey{cur.Namespace(), kind, workload, cs.Name, cs.Type, guide.ReasonLabel(t.term.Reason), guide.ExitCodeLabel(t.term.ExitCode), guide.SignalLabel(t.term)}, float64(t.n), cur, t.term)
		}
	}
}

type death struct {
	n    int32
	term *record.Termination
}

// deaths are the runs of a container that ended between two of its
// statuses. The kubelet first shows a run's end as the current state
// (terminated); when it restarts the container, restartCount grows and the
// same end moves to lastState. Each run is counted once, by its end time:
//   - every restart counts (N restarts between two updates count N, with
//     the reason of the last, the only one the API still shows);
//   - a terminated state that is new counts too (a container that does not
//     restart, or has not yet);
//   - but the first restart after a terminated state we saw is the restart
//     of that run, already counted.
func deaths(prev, cur record.ContainerStatus, seen bool) []death {
	var out []death
	restarts := cur.RestartCount
	if seen {
		restarts -= prev.RestartCount
	}
	if !seen || restarts < 0 {
		restarts = 0 // a container new to us, or a count that went back (recreated)
	}
	if restarts > 0 && seen && prev.Terminated() != nil {
		restarts-- // that run's end was counted when it was the current state
	}
	if restarts > 0 {
		term := cur.LastTerminated()
		if term == nil {
			term = &record.Termination{Reason: "Unknown"}
		}
		out = append(out, death{restarts, term})
	}
	if cur.Terminated() != nil && seen && (prev.Terminated() == nil || prev.Terminated().FinishedAt != cur.Terminated().FinishedAt) {
		out = append(out, death{1, cur.Terminated()})
	}
	return out
}

// WorkloadOf names a pod's workload (record.Pod.Workload), with a Job
// resolved to the CronJob that owns it.
func (c *terminationsCollector) WorkloadOf(p *record.Pod) (kind, name string) {
	kind, name = p.Workload()
	if kind == "Job" && c.jobs != nil {
		if job, ok := kube.Get[batchv1.Job](c.jobs, p.Namespace()+"/"+name); ok {
			if ref := metav1.GetControllerOf(job); ref != nil && ref.Kind == "CronJob" {
				return "CronJob", ref.Name
			}
		}
	}
	return kind, name
}

func (c *terminationsCollector) add(k terminationKey, n float64, p *record.Pod, t *record.Termination) {
	entry := guide.SeenTermination{Time: time.Now(), Namespace: k.namespace, Pod: p.Name(), Workload: k.workloadKind + "/" + k.workload,
		Container: k.container, Reason: k.reason, ExitCode: k.exitCode, Signal: k.signal, Count: n}
	if t != nil {
		entry.Message = guide.CleanMessage(t.Message)
	}
	c.mu.Lock()
	c.recent = append(c.recent, entry)
	if len(c.recent) > recentLimit {
		c.recent = slices.Delete(c.recent, 0, len(c.recent)-recentLimit)
	}
	id := workloadID{k.namespace, k.workloadKind, k.workload}
	w := c.series(id)
	w.counts[k] += n
	if k.container != "" && t != nil && t.FinishedAt > 0 {
		w.last[k.container] = max(w.last[k.container], float64(t.FinishedAt))
	}
	c.renderWorkload(id)
	c.mu.Unlock()
	attrs := []any{"namespace", k.namespace, "pod", p.Name, "workload_kind", k.workloadKind, "workload", k.workload,
		"container", k.container, "container_type", k.containerType, "reason", k.reason, "exit_code", k.exitCode,
		"signal", k.signal, "count", n}
	if t != nil && t.Message != "" {
		attrs = append(attrs, "message", t.Message) // never a label: it goes to the log
	}
	c.logger.Info("container terminated", attrs...)
}

// pages serves the recent terminations, newest first, with their messages:
// what a person reads in the guide's "Determine the Reason for Pod Failure".
func (c *terminationsCollector) pages() map[string]http.Handler {
	return map[string]http.Handler{"/terminations": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		recent := slices.Clone(c.recent)
		c.mu.Unlock()
		slices.Reverse(recent)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := recentPage.Execute(w, recent); err != nil {
			c.logger.Warn("rendering /terminations", "err", err)
		}
	})}
}

var recentPage = template.Must(template.New("terminations").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Recent terminations - kube-triage-exporter</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top;text-align:left}pre{margin:0;white-space:pre-wrap;max-width:60em}</style></head>
<body><h1>Recent container terminations</h1>
<p>The last {{len .}} terminations seen (at most ` + strconv.Itoa(recentLimit) + `), newest first. The message is what the container wrote to its termination log.</p>
<table><tr><th>Seen</th><th>Namespace</th><th>Pod</th><th>Workload</th><th>Container</th><th>Reason</th><th>Exit code</th><th>Signal</th><th>Count</th><th>Message</th></tr>
{{range .}}<tr><td>{{.Time.UTC.Format "2006-01-02 15:04:05Z"}}</td><td>{{.Namespace}}</td><td>{{.Pod}}</td><td>{{.Workload}}</td><td>{{.Container}}</td><td>{{.Reason}}</td><td>{{.ExitCode}}</td><td>{{.Signal}}</td><td>{{.Count}}</td><td><pre>{{.Message}}</pre></td></tr>
{{end}}</table></body></html>
`))

// maxHistory bounds the terminations RecentOf returns.
const maxHistory = 10

// RecentOf are the pod's terminations this exporter saw, newest first, at
// most maxHistory (what the pod walk shows: the API keeps only each
// container's last).
func (c *terminationsCollector) RecentOf(namespace, pod string) []guide.SeenTermination {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []guide.SeenTermination
	for i := len(c.recent) - 1; i >= 0 && len(out) < maxHistory; i-- {
		if t := c.recent[i]; t.Namespace == namespace && t.Pod == pod {
			out = append(out, t)
		}
	}
	return out
}
