// Package services is the services collector (cluster role): it judges
// every Service as the "Debug Services" guide does (endpoints, the pods
// its selector matches and their readiness, targetPorts, a verdict),
// incrementally: a change costs what it touches. The verdict rule itself
// is internal/guide's.
package services

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

var metrics collector.Families

var (
	serviceInfo = metrics.Gauge("service_info", "Does the Service exist?",
		"Always 1 for each Service the exporter judges (every type but ExternalName).", "namespace", "service", "type", "headless")
	serviceExpectedEmpty = metrics.Gauge("service_expected_empty", "-",
		"1 if the Service carries the kube-triage.io/expected-empty=\"true\" annotation: it is empty on purpose and the alerts leave it alone.", "namespace", "service")
	serviceEndpoints = metrics.Gauge("service_endpoints", "Does the Service have any Endpoints?",
		"Endpoints of the Service in its EndpointSlices, by address family and condition (ready, serving, terminating, not_ready).", "namespace", "service", "address_type", "condition")
	serviceSelectedPods = metrics.Gauge("service_selected_pods", "Are the Pods working? (`kubectl get pods -l ...`)",
		"Pods (not finished) that the Service's selector matches.", "namespace", "service")
	serviceSelectedPodsReady = metrics.Gauge("service_selected_pods_ready", "Are the Pods working?",
		"Of the pods the selector matches, those that are Ready.", "namespace", "service")
	servicePortTargetMissing = metrics.Gauge("service_port_target_missing", "Is the Service defined correctly? (targetPort)",
		"1 for a Service port whose targetPort no selected pod's containers expose.", "namespace", "service", "port")
	serviceVerdict = metrics.Gauge("service_verdict", "The guide's decision tree",
		"1 for the Service's current verdict: "+guide.OrList(guide.Verdicts())+".", "namespace", "service", "verdict")
	servicePortEndpoints = metrics.Gauge("service_port_endpoints", "Does the Service have any Endpoints? (per port)",
		"Endpoints that serve the Service port (their EndpointSlice carries it), by condition (ready, serving, terminating); the larger address family's count in a dual-stack Service.", "namespace", "service", "port", "condition")
	servicePortPodsMissingTarget = metrics.Gauge("service_port_pods_missing_target", "Is the Service defined correctly? (targetPort, per pod)",
		"Selected pods that do not expose the port's targetPort: they are endpoints of the Service but serve none of this port's traffic.", "namespace", "service", "port")
	serviceScaledToZero = metrics.Gauge("service_scaled_to_zero", "Are the Pods working? (none on purpose)",
		"1 for each workload scaled to zero whose pod template the Service's selector matches, while it matches no pod (verdict scaled_to_zero).", "namespace", "service", "workload_kind", "workload")
	serviceSelectedWorkloads = metrics.Gauge("service_selected_workloads", "Are the Pods working? (which pods)",
		"Controllers (Deployment, StatefulSet, DaemonSet, Job...; bare pods count as one) whose pods the selector matches: more than one is a canary or a selector too wide.", "namespace", "service")
	serviceLocalEndpointNodes = metrics.Gauge("service_local_endpoint_nodes", "Is kube-proxy working? (Local traffic policy)",
		"For a Service whose external or internal traffic policy is Local: the nodes that have a ready endpoint of it. Traffic of that kind that reaches any other node is dropped there.", "namespace", "service", "traffic_policy")
	serviceReadyLost = metrics.Counter("service_ready_endpoints_lost_total", "Does the Service have any Endpoints? (over time)",
		"Times the Service's ready endpoints went from some to none, as judged since the exporter started: a Service that keeps losing all of them is flapping.", "namespace", "service")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "services",
	Help:      "Judge every Service as the Debug Services guide does: endpoints, selected pods, ports, a verdict",
	DefaultOn: []collector.Role{collector.RoleCluster},
	Metrics:   &metrics,
	Config:    func() collector.Config { return &Config{} },
}

// Config configures the collector.
type Config struct {
	// Interval is how often the Services that changed are judged again.
	Interval time.Duration
}

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.Duration("collector.services.interval", "How often the services collector judges again the Services whose own object, EndpointSlices, selected pods or workloads changed.",
			2*time.Second, &c.Interval),
	}
}

// Check wants a positive interval.
func (c *Config) Check(collector.Role) error {
	if c.Interval <= 0 {
		return errors.New("--collector.services.interval must be positive")
	}
	return nil
}

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newServicesCollector(*c, d))
}

// Collector is what the framework runs of it.
func (c *servicesCollector) Collector() *collector.Collector {
	// The walks read the judgements and the pod cache.
	source := struct {
		*servicesCollector
		kube.PodCache
	}{c, kube.PodCache{Cache: c.pods}}
	return &collector.Collector{Rendered: c.render, Run: c.run, Source: source}
}

// serviceResult is a Service's judgement, with the count the collector
// keeps beside it: the times ready endpoints went from some to none.
type serviceResult struct {
	guide.ServiceResult
	readyLost float64
}

type servicesCollector struct {
	logger                 *slog.Logger
	cfg                    Config
	services, slices, pods kube.Cache // the informers' caches of records, with servicesIndexers (the pods' has none: labelSets)
	// workloads are the informers of Deployments, StatefulSets and
	// ReplicaSets, for a selector that matches a workload scaled to zero.
	workloads []kube.Informer
	synced    func() bool

	labelSets *labelSets // the pods' label sets, for candidatePods
	// podsHandled says whether the pods' handler has been handed the
	// initial list, and the label sets hold it; nil: they do.
	podsHandled func() bool

	mu    sync.Mutex
	dirty map[string]bool // Services (namespace/name) to judge again

	// Kept by judgeDirty alone.
	results  map[string]*serviceResult // by namespace/name
	rendered *collector.Rendered
	builder  *collector.Builder
}

// Indexes of the caches, so that a change costs what it touches, not what
// exists: a pod's update finds the Services whose selectors can match it,
// and a Service's judgement its pods and EndpointSlices, without walking
// its namespace.
// The pods' cache has none: labelSets are what a Service's judgement reads.
const selectorIndex = "selector" // Services, by namespace/key=value of each selector pair

func labelPair(ns, key, value string) string { return ns + "/" + key + "=" + value }

// servicesIndexers are the indexes each cache of the collector needs (the
// EndpointSlices' is shared: kube.SlicesByService).
var servicesIndexers = struct{ services, slices cache.Indexers }{
	services: cache.Indexers{selectorIndex: func(obj any) ([]string, error) {
		svc, ok := obj.(*record.Service)
		if !ok {
			return nil, nil
		}
		out := make([]string, 0, len(svc.Selector))
		for k, v := range svc.Selector {
			out = append(out, labelPair(svc.Namespace, k, v))
		}
		return out, nil
	}},
	slices: kube.SlicesByService,
}

// labelSets are the distinct label sets of the pods (their labels but
// perPodLabels, in their namespace), each with its pods, and, for each
// label pair, the sets that have it: a Service's candidate pods are those
// of the sets its selector matches. The pods' event handler keeps them
// (podHandler), so that judging reads the pods as that handler has seen
// them, in the order of its dirty marks; the pods' cache has no index (an
// entry a pod cost 50 bytes, where a set's member costs a pointer). The
// sets are as many as the workloads' revisions.
type labelSets struct {
	mu     sync.Mutex
	sets   map[string]*labelSet // by appendSetKey's key
	byPair map[string]setList   // by labelPair
	byNS   map[string]setList   // by namespace: a selector of per-pod labels alone
	key    []byte               // the key looked up, reused (mu held)
}

type labelSet struct {
	key       string
	namespace string
	labels    record.Labels // but perPodLabels
	// pods, sorted by key: a slice (8 bytes a pod) where a map would cost
	// 30; an update or a deletion (whose record client-go decodes anew,
	// not the one the set holds) finds its pod by a binary search.
	pods []*record.Pod
}

// perPodLabels differ on every pod: left out of the label sets, the pods
// of one StatefulSet or indexed Job share one.
var perPodLabels = []string{"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-completion-index"}

// labelSetSep ends the namespace in a label set's key, and separates its
// labels: no namespace or label has it.
const labelSetSep = 0

// setPairs are the label pairs of labels but perPodLabels: a label set's.
func setPairs(labels record.Labels) iter.Seq2[string, string] {
	return func(yield func(k, v string) bool) {
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.Contains(perPodLabels, labels[i]) && !yield(labels[i], labels[i+1]) {
				return
			}
		}
	}
}

// appendSetKey appends the key of the label set of a pod of ns with
// labels: made for each event, into a buffer used again.
func appendSetKey(dst []byte, ns string, labels record.Labels) []byte {
	dst = append(dst, ns...)
	for k, v := range setPairs(labels) {
		dst = append(append(append(append(dst, labelSetSep), k...), labelSetSep), v...)
	}
	return dst
}

// setLabels are labels but perPodLabels (labels themselves without any).
func setLabels(labels record.Labels) record.Labels {
	var out record.Labels
	for k, v := range setPairs(labels) {
		out = append(out, k, v)
	}
	if len(out) == len(labels) {
		return labels // shared, not a copy
	}
	return out
}

func newLabelSets() *labelSets {
	return &labelSets{sets: map[string]*labelSet{}, byPair: map[string]setList{}, byNS: map[string]setList{}}
}

// add puts a pod in its set.
func (l *labelSets) add(p *record.Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(p)
}

// replace puts cur in old's place: an update of a pod (whose record is a
// new one), in the same set unless its labels changed.
func (l *labelSets) replace(old, cur *record.Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old.PodShape != nil && old.PodShape == cur.PodShape { // the same labels: the same set
		if s := l.setOf(old, false); s != nil {
			if i, ok := s.find(cur.Key()); ok {
				s.pods[i] = cur
				return
			}
		}
	}
	l.removeLocked(old)
	l.addLocked(cur)
}

// remove takes a pod out of its set; the last one takes the set.
func (l *labelSets) remove(p *record.Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(p)
}

// removeKey takes out the pod of key, whatever its labels: a deletion of
// which client-go kept no object (a tombstone without one). It returns
// the record taken, nil if none was.
func (l *labelSets) removeKey(key string) *record.Pod {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removeKeyLocked(key)
}

func (l *labelSets) removeKeyLocked(key string) *record.Pod {
	ns, _, _ := strings.Cut(key, "/")
	for _, s := range l.byNS[ns] {
		if m := l.take(s, key); m != nil {
			return m
		}
	}
	return nil
}

func (l *labelSets) addLocked(p *record.Pod) {
	if p.PodShape == nil {
		return
	}
	s := l.setOf(p, true)
	if i, ok := s.find(p.Key()); ok {
		s.pods[i] = p
	} else {
		s.pods = slices.Insert(s.pods, i, p)
	}
}

func (l *labelSets) removeLocked(p *record.Pod) {
	if p.PodShape == nil {
		return
	}
	if s := l.setOf(p, false); s == nil || l.take(s, p.Key()) == nil {
		// Not in the set of its labels (a deletion's record whose labels
		// differ from those last seen): wherever it is in its namespace.
		l.removeKeyLocked(p.Key())
	}
}

// setOf is the set of p's labels (l.mu held), made if create says so.
func (l *labelSets) setOf(p *record.Pod, create bool) *labelSet {
	ns := p.Namespace()
	l.key = appendSetKey(l.key[:0], ns, p.Labels)
	if s := l.sets[string(l.key)]; s != nil || !create {
		return s
	}
	s := &labelSet{key: string(l.key), namespace: ns, labels: setLabels(p.Labels)}
	l.sets[s.key] = s
	l.byNS[ns] = append(l.byNS[ns], s)
	for i := 0; i+1 < len(s.labels); i += 2 {
		pair := labelPair(ns, s.labels[i], s.labels[i+1])
		l.byPair[pair] = append(l.byPair[pair], s)
	}
	return s
}

// take removes the pod of key from s, and s with its last pod (l.mu
// held); it returns the record taken, nil if s has none of key.
func (l *labelSets) take(s *labelSet, key string) *record.Pod {
	i, ok := s.find(key)
	if !ok {
		return nil
	}
	m := s.pods[i]
	if s.pods = slices.Delete(s.pods, i, i+1); cap(s.pods) > 64 && len(s.pods) < cap(s.pods)/4 {
		s.pods = slices.Clone(s.pods) // a scale-down gives its room back
	}
	if len(s.pods) > 0 {
		return m
	}
	delete(l.sets, s.key)
	dropSet(l.byNS, s.namespace, s)
	for i := 0; i+1 < len(s.labels); i += 2 {
		pair := labelPair(s.namespace, s.labels[i], s.labels[i+1])
		dropSet(l.byPair, pair, s)
	}
	return m
}

// setList is label sets in no order: most label pairs (a workload's own
// labels) are of one set, a pointer where a map would cost 150 bytes;
// taking one out walks the list, as a set goes (a rollout).
type setList []*labelSet

// dropSet takes s out of the list m[key], and the list with its last set.
func dropSet(m map[string]setList, key string, s *labelSet) {
	l := m[key]
	i := slices.Index(l, s)
	if i < 0 {
		return
	}
	last := len(l) - 1
	l[i], l[last] = l[last], nil
	if last == 0 {
		delete(m, key)
		return
	}
	m[key] = l[:last]
}

// find is where the pod of key is, or would be, in the set.
func (s *labelSet) find(key string) (int, bool) {
	return slices.BinarySearchFunc(s.pods, key, func(m *record.Pod, k string) int { return strings.Compare(m.Key(), k) })
}

// matching are the pods of the sets of ns that selector matches, through
// its rarest pair of indexed labels, or for a selector without one (only
// perPodLabels) every set of ns: the pods' own labels are matched
// against the whole selector then.
func (l *labelSets) matching(ns string, selector map[string]string) (pods []*record.Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	best, found := l.byNS[ns], false
	indexed := make(map[string]string, len(selector))
	for k, v := range selector {
		if slices.Contains(perPodLabels, k) {
			continue
		}
		indexed[k] = v
		if sets := l.byPair[labelPair(ns, k, v)]; !found || len(sets) < len(best) {
			best, found = sets, true
		}
	}
	for _, s := range best {
		if guide.Matches(indexed, s.labels) {
			pods = append(pods, s.pods...)
		}
	}
	return pods
}

func newServicesCollector(cfg Config, d collector.Deps) (*servicesCollector, error) {
	inf, err := d.Informers()
	if err != nil {
		return nil, err
	}
	var services, epSlices, pods kube.Informer
	for _, ix := range []struct {
		i *kube.Informer
		r kube.Resource
		x cache.Indexers
	}{{&services, kube.Services, servicesIndexers.services}, {&epSlices, kube.EndpointSlices, servicesIndexers.slices}, {&pods, kube.Pods, nil}} {
		if *ix.i, err = inf.RecordsIndexed(ix.r, ix.x); err != nil {
			return nil, err
		}
	}
	// The workloads only tell scale to zero from a typo: a judgement need
	// not wait for them, and one that cannot sync (RBAC without apps)
	// leaves the verdicts as they were without it.
	workloads := []kube.Informer{inf.Records(kube.Deployments), inf.Records(kube.StatefulSets), inf.Records(kube.ReplicaSets)}
	c := newServicesJudge(d.Logger, cfg, services.Cache(), epSlices.Cache(), pods.Cache())
	c.synced = func() bool { return services.HasSynced() && epSlices.HasSynced() && pods.HasSynced() }
	c.workloads = workloads
	handlers := []struct {
		i kube.Informer
		h cache.ResourceEventHandler
	}{
		{services, c.handler(c.serviceChanged, nil)},
		{epSlices, c.handler(c.sliceChanged, nil)},
		{pods, c.podHandler()},
	}
	for _, w := range workloads {
		handlers = append(handlers, struct {
			i kube.Informer
			h cache.ResourceEventHandler
		}{w, c.handler(c.workloadChanged, workloadUnchanged)})
	}
	for _, h := range handlers {
		synced, err := h.i.AddEventHandler(h.h)
		if err != nil {
			return nil, err
		}
		if h.i == pods {
			c.podsHandled = synced
		}
	}
	return c, nil
}

// podUnchanged: restarts and other status churn change nothing a
// judgement reads.
func podUnchanged(old, cur any) bool {
	o, ok1 := old.(*record.Pod)
	n, ok2 := cur.(*record.Pod)
	return ok1 && ok2 && o.Phase() == n.Phase() && o.Ready == n.Ready && o.Terminating == n.Terminating && o.PodShape == n.PodShape
}

// workloadUnchanged: a status update.
func workloadUnchanged(old, cur any) bool {
	o, ok1 := old.(*record.Workload)
	n, ok2 := cur.(*record.Workload)
	return ok1 && ok2 && o.Replicas == n.Replicas && o.Owned == n.Owned && slices.Equal(o.Template, n.Template)
}

// podHandler keeps the label sets and marks dirty the Services a pod's
// change may concern (both states of an update), unless the update
// changes nothing judged.
func (c *servicesCollector) podHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*record.Pod); ok {
				c.labelSets.add(p)
			}
			c.podChanged(obj)
		},
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*record.Pod)
			n, ok2 := cur.(*record.Pod)
			if ok1 && ok2 {
				c.labelSets.replace(o, n)
			}
			if podUnchanged(old, cur) {
				return
			}
			c.podChanged(old)
			c.podChanged(cur)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				if obj = d.Obj; obj == nil { // client-go kept no object: the sets have one
					if p := c.labelSets.removeKey(d.Key); p != nil {
						c.podChanged(p)
					}
					return
				}
			}
			if p, ok := obj.(*record.Pod); ok {
				c.labelSets.remove(p)
				c.podChanged(p)
			}
		},
	}
}

// handler calls changed with each object an event concerns (both states of
// an update), unless same says the update changes nothing judged.
func (c *servicesCollector) handler(changed func(obj any), same func(old, cur any) bool) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: changed,
		UpdateFunc: func(old, cur any) {
			if same != nil && same(old, cur) {
				return
			}
			changed(old)
			changed(cur)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			changed(obj)
		},
	}
}

func (c *servicesCollector) serviceChanged(obj any) {
	if svc, ok := obj.(*record.Service); ok {
		c.markDirty(svc.Namespace + "/" + svc.Name)
	}
}

func (c *servicesCollector) sliceChanged(obj any) {
	if s, ok := obj.(*record.EndpointSlice); ok && s.Service != "" {
		c.markDirty(s.Namespace + "/" + s.Service)
	}
}

func (c *servicesCollector) podChanged(obj any) {
	if p, ok := obj.(*record.Pod); ok && p.PodShape != nil {
		c.markDirty(c.servicesMatching(p.Namespace(), p.Labels)...)
	}
}

func (c *servicesCollector) workloadChanged(obj any) {
	if w, ok := obj.(*record.Workload); ok {
		c.markDirty(c.servicesMatching(w.Namespace, w.Template)...)
	}
}

// servicesMatching names the Services of ns whose selector matches labels,
// through the selector index: the cost is in the labels, not the Services.
func (c *servicesCollector) servicesMatching(ns string, labels record.Labels) []string {
	var keys []string
	for i := 0; i+1 < len(labels); i += 2 {
		for _, svc := range kube.Indexed[record.Service](c.services, selectorIndex, labelPair(ns, labels[i], labels[i+1])) {
			if guide.Matches(svc.Selector, labels) {
				keys = append(keys, svc.Namespace+"/"+svc.Name)
			}
		}
	}
	return keys
}

// newServicesJudge builds the collector over caches of records that carry
// servicesIndexers; the caller marks Services dirty as the caches change, and keeps the label sets (podHandler).
func newServicesJudge(logger *slog.Logger, cfg Config, services, slices, pods kube.Cache) *servicesCollector {
	c := &servicesCollector{
		logger: logger, cfg: cfg,
		services: services, slices: slices, pods: pods,
		synced:    func() bool { return true },
		labelSets: newLabelSets(),
		dirty:     map[string]bool{},
		results:   map[string]*serviceResult{},
		rendered:  collector.NewRendered(metrics.All()...),
	}
	c.builder = c.rendered.Builder()
	return c
}

// markDirty notes Services (namespace/name) to judge in the next round.
func (c *servicesCollector) markDirty(keys ...string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		c.dirty[k] = true
	}
	c.mu.Unlock()
}

// run judges the Services that changed, once per interval, off the scrape
// path.
func (c *servicesCollector) run(ctx context.Context) {
	// The first round as soon as the caches and the label sets hold every
	// object (client-go looks every 100ms), not up to an interval later:
	// the first verdicts after a start or a restart come sooner.
	if !cache.WaitForCacheSync(ctx.Done(), c.judgeable) {
		return
	}
	c.judgeDirty()
	schedule.Tick(ctx, c.cfg.Interval, c.judgeDirty)
}

// judgeable: the caches have listed and the pods' handler has been handed
// their initial list.
func (c *servicesCollector) judgeable() bool {
	return c.synced() && (c.podsHandled == nil || c.podsHandled())
}

// render is the Services' samples, rendered as they are judged.
func (c *servicesCollector) render() *collector.Rendered { return c.rendered }

// judgeDirty judges again every Service changed since the last round, and
// renders those whose result changed.
func (c *servicesCollector) judgeDirty() {
	if !c.judgeable() {
		// Judging half a cache would report false verdicts; judging before
		// the label sets hold every pod would walk the cluster's for each
		// Service (candidatePods). The dirty Services wait.
		return
	}
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	for key := range dirty {
		r := c.judge(key)
		prev := c.results[key]
		if r == nil {
			if prev != nil {
				delete(c.results, key)
				c.rendered.Delete(key)
			}
			continue
		}
		countReadyLost(prev, r)
		if prev != nil && reflect.DeepEqual(prev, r) {
			continue
		}
		c.results[key] = r
		ns, _, _ := strings.Cut(key, "/")
		renderService(c.builder, ns, r)
		c.rendered.Set(key, c.builder)
	}
}

// countReadyLost carries a Service's count of ready endpoints lost from
// its last result, and counts a new loss: some ready endpoints before, none
// now, unless on purpose (scaled to zero). A Service judged for the first
// time starts at zero.
func countReadyLost(prev, r *serviceResult) {
	if prev == nil {
		return
	}
	r.readyLost = prev.readyLost
	if prev.Ready > 0 && r.Ready == 0 && r.Verdict != guide.VerdictScaledToZero {
		r.readyLost++
	}
}

// judge computes the result of one Service (namespace/name); nil if it is
// gone or not judged (ExternalName, a DNS alias: no endpoints).
func (c *servicesCollector) judge(key string) *serviceResult {
	svc, ok := kube.Get[record.Service](c.services, key)
	if !ok || svc.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	_, res := c.judgeNow(svc)
	r := serviceResult{ServiceResult: res}
	if r.Verdict == guide.VerdictSelectorMatchesNothing && slices.ContainsFunc(c.workloads, func(w kube.Informer) bool { return !w.HasSynced() }) {
		// Scale to zero is told from the workloads, not all listed yet;
		// no pod event will come for a Service that matches none.
		c.markDirty(key)
	}
	return &r
}

// judgeNow is the guide's judgement of svc from the caches as they are,
// with the pods it was judged from.
func (c *servicesCollector) judgeNow(svc *record.Service) ([]*record.Pod, guide.ServiceResult) {
	pods := c.candidatePods(svc)
	return pods, guide.JudgeService(svc, pods, kube.Indexed[record.EndpointSlice](c.slices, kube.SliceServiceIndex, svc.Namespace+"/"+svc.Name), c.workloadsIn(svc.Namespace))
}

// Service is what the Service walk reads: the Service's record, the pods
// its selector may match and its judgement now; found is false when there
// is no such Service. An ExternalName Service is not judged.
func (c *servicesCollector) Service(namespace, name string) (svc *record.Service, pods []*record.Pod, res guide.ServiceResult, found bool) {
	svc, found = kube.Get[record.Service](c.services, namespace+"/"+name)
	if !found || svc.Type == corev1.ServiceTypeExternalName {
		return svc, nil, res, found
	}
	pods, res = c.judgeNow(svc)
	return svc, pods, res, true
}

// workloadsIn lists, when called, the workloads of a namespace: a
// judgement reads them only for a selector that matches no pod, and only
// from the caches that have synced (a Service judged before then, that
// matches no pod, is judged again until they have: see judge).
func (c *servicesCollector) workloadsIn(ns string) func() []*record.Workload {
	return func() []*record.Workload {
		var out []*record.Workload
		for _, w := range c.workloads {
			if w.HasSynced() {
				out = append(out, kube.InNamespace[record.Workload](w.Cache(), ns)...)
			}
		}
		return out
	}
}

// candidatePods are the pods a Service's selector may match: those of the
// label sets that its indexed labels match, or, for a selector without
// one, every pod of its namespace.
func (c *servicesCollector) candidatePods(svc *record.Service) []*record.Pod {
	if len(svc.Selector) == 0 {
		return nil // judged by its endpoints alone
	}
	if c.podsHandled != nil && !c.podsHandled() {
		// The cache has listed, its handler not yet caught up: the label
		// sets would miss pods. Only a Service walk asks then (judging
		// waits: judgeDirty); this reads every pod of the cluster.
		return kube.PodsIn(c.pods, svc.Namespace)
	}
	return c.labelSets.matching(svc.Namespace, svc.Selector)
}

// renderService renders one Service's samples into b.
func renderService(b *collector.Builder, ns string, r *serviceResult) {
	b.Add(serviceInfo, 1, ns, r.Name, r.Type, strconv.FormatBool(r.Headless))
	b.Add(serviceExpectedEmpty, collector.BoolFloat(r.ExpectedEmpty), ns, r.Name)
	for _, at := range slices.Sorted(maps.Keys(r.Endpoints)) {
		ec := r.Endpoints[at]
		b.Add(serviceEndpoints, float64(ec.Ready), ns, r.Name, at, "ready")
		b.Add(serviceEndpoints, float64(ec.Serving), ns, r.Name, at, "serving")
		b.Add(serviceEndpoints, float64(ec.Terminating), ns, r.Name, at, "terminating")
		b.Add(serviceEndpoints, float64(ec.NotReady), ns, r.Name, at, "not_ready")
	}
	b.Add(serviceSelectedPods, float64(r.Selected), ns, r.Name)
	b.Add(serviceSelectedPodsReady, float64(r.SelectedReady), ns, r.Name)
	for _, p := range r.MissingPorts {
		b.Add(servicePortTargetMissing, 1, ns, r.Name, p)
	}
	seen := map[string]bool{} // two ports of one name: the API refuses them, a cache must not fail the scrape
	for _, p := range r.Ports {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		b.Add(servicePortEndpoints, float64(p.Ready), ns, r.Name, p.Name, "ready")
		b.Add(servicePortEndpoints, float64(p.Serving), ns, r.Name, p.Name, "serving")
		b.Add(servicePortEndpoints, float64(p.Terminating), ns, r.Name, p.Name, "terminating")
		b.Add(servicePortPodsMissingTarget, float64(p.PodsMissing), ns, r.Name, p.Name)
	}
	for _, w := range r.ScaledToZero {
		b.Add(serviceScaledToZero, 1, ns, r.Name, w.Kind, w.Name)
	}
	b.Add(serviceSelectedWorkloads, float64(r.SelectedWorkloads), ns, r.Name)
	for _, policy := range r.LocalPolicies {
		b.Add(serviceLocalEndpointNodes, float64(r.LocalNodes), ns, r.Name, policy)
	}
	b.Add(serviceReadyLost, r.readyLost, ns, r.Name)
	b.Add(serviceVerdict, 1, ns, r.Name, string(r.Verdict))
}
