package collector

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
)

// ServicesConfig configures the services collector.
type ServicesConfig struct {
	// Interval is how often namespaces that changed are judged again.
	Interval time.Duration
}

// Verdicts, in the order the "Debug Services" guide rules them out.
const (
	verdictOK                     = "ok"
	verdictNoSelector             = "no_selector"
	verdictSelectorMatchesNothing = "selector_matches_nothing"
	verdictPodsNotReady           = "pods_not_ready"
	verdictPortMismatch           = "port_mismatch"
	verdictNoEndpoints            = "no_endpoints"
)

var (
	serviceInfo = newMetric("service_info", prometheus.GaugeValue,
		"Always 1 for each Service the exporter judges (every type but ExternalName).", "namespace", "service", "type", "headless")
	serviceExpectedEmpty = newMetric("service_expected_empty", prometheus.GaugeValue,
		"1 if the Service carries the kube-triage.io/expected-empty=\"true\" annotation: it is empty on purpose and the alerts leave it alone.", "namespace", "service")
	serviceEndpoints = newMetric("service_endpoints", prometheus.GaugeValue,
		"Endpoints of the Service in its EndpointSlices, by address family and condition (ready, serving, terminating, not_ready).", "namespace", "service", "address_type", "condition")
	serviceSelectedPods = newMetric("service_selected_pods", prometheus.GaugeValue,
		"Pods (not finished) that the Service's selector matches.", "namespace", "service")
	serviceSelectedPodsReady = newMetric("service_selected_pods_ready", prometheus.GaugeValue,
		"Of the pods the selector matches, those that are Ready.", "namespace", "service")
	servicePortTargetMissing = newMetric("service_port_target_missing", prometheus.GaugeValue,
		"1 for a Service port whose targetPort no selected pod's containers expose.", "namespace", "service", "port")
	serviceVerdict = newMetric("service_verdict", prometheus.GaugeValue,
		"1 for the Service's current verdict: ok, no_selector, selector_matches_nothing, pods_not_ready, port_mismatch or no_endpoints.", "namespace", "service", "verdict")
)

var servicesSpec = Spec{
	Name:      "services",
	Help:      "Judge every Service as the Debug Services guide does: endpoints, selected pods, ports, a verdict",
	DefaultOn: []Role{RoleCluster},
	Metrics: []*Metric{serviceInfo, serviceExpectedEmpty, serviceEndpoints, serviceSelectedPods,
		serviceSelectedPodsReady, servicePortTargetMissing, serviceVerdict},
	New: newServicesCollector,
}

// serviceResult is what the collector concluded about one Service.
type serviceResult struct {
	name, typ     string
	headless      bool
	expectedEmpty bool
	endpoints     map[string]endpointCounts // by address type
	selected      int
	selectedReady int
	missingPorts  []string
	verdict       string
}

type endpointCounts struct{ ready, serving, terminating, notReady int32 }

type servicesCollector struct {
	logger                 *slog.Logger
	cfg                    ServicesConfig
	services, slices, pods cache.Indexer // the informers' caches of records
	synced                 func() bool

	mu      sync.Mutex
	dirty   map[string]bool // namespaces to judge again
	results map[string][]serviceResult
}

func newServicesCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	if d.Config.Services.Interval <= 0 {
		return nil, errors.New("interval must be positive")
	}
	inf := d.Kube.Informers
	informers := []cache.SharedIndexInformer{
		inf.Informer("services", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().Services().Informer()
		}),
		inf.Informer("endpointslices", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Discovery().V1().EndpointSlices().Informer()
		}),
		inf.Informer("pods", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().Pods().Informer()
		}),
	}
	c := newServicesJudge(d.Logger, d.Config.Services, informers[0].GetIndexer(), informers[1].GetIndexer(), informers[2].GetIndexer())
	c.synced = func() bool {
		return informers[0].HasSynced() && informers[1].HasSynced() && informers[2].HasSynced()
	}
	for _, i := range informers {
		if _, err := i.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.markDirty,
			UpdateFunc: func(_, obj any) { c.markDirty(obj) },
			DeleteFunc: c.markDirty,
		}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newServicesJudge builds the collector over caches of records; the caller
// marks namespaces dirty as the caches change.
func newServicesJudge(logger *slog.Logger, cfg ServicesConfig, services, slices, pods cache.Indexer) *servicesCollector {
	return &servicesCollector{
		logger: logger, cfg: cfg,
		services: services, slices: slices, pods: pods,
		synced:  func() bool { return true },
		dirty:   map[string]bool{},
		results: map[string][]serviceResult{},
	}
}

// markDirty notes the namespace of a changed object; the next round judges
// its Services again.
func (c *servicesCollector) markDirty(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	ns, _, err := cache.SplitMetaNamespaceKey(keyOf(obj))
	if err != nil {
		return
	}
	c.mu.Lock()
	c.dirty[ns] = true
	c.mu.Unlock()
}

func keyOf(obj any) string {
	k, _ := cache.MetaNamespaceKeyFunc(obj)
	return k
}

// Run judges the namespaces that changed, once per interval, off the scrape
// path: matching selectors against pods is the costly part.
func (c *servicesCollector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.judgeDirty()
	}
}

// judgeDirty judges again every namespace changed since the last round.
func (c *servicesCollector) judgeDirty() {
	if !c.synced() {
		return // judging half a cache would report false verdicts
	}
	c.mu.Lock()
	dirty := c.dirty
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	for ns := range dirty {
		results := c.judgeNamespace(ns)
		c.mu.Lock()
		if len(results) == 0 {
			delete(c.results, ns)
		} else {
			c.results[ns] = results
		}
		c.mu.Unlock()
	}
}

func byNamespace[T any](i cache.Indexer, ns string) []*T {
	objs, _ := i.ByIndex(cache.NamespaceIndex, ns)
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		if r, ok := o.(*T); ok {
			out = append(out, r)
		}
	}
	return out
}

// judgeNamespace computes the results for every Service of a namespace.
func (c *servicesCollector) judgeNamespace(ns string) []serviceResult {
	services := byNamespace[kube.Service](c.services, ns)
	if len(services) == 0 {
		return nil
	}
	pods := byNamespace[kube.Pod](c.pods, ns)
	slicesByService := map[string][]*kube.EndpointSlice{}
	for _, s := range byNamespace[kube.EndpointSlice](c.slices, ns) {
		if s.Service != "" {
			slicesByService[s.Service] = append(slicesByService[s.Service], s)
		}
	}
	var results []serviceResult
	for _, svc := range services {
		if svc.Type == corev1.ServiceTypeExternalName {
			continue // a DNS alias: no endpoints, nothing to judge
		}
		results = append(results, judgeService(svc, pods, slicesByService[svc.Name]))
	}
	slices.SortFunc(results, func(a, b serviceResult) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return results
}

// judgeService follows the guide: does the Service have endpoints; if not,
// does its selector match pods; are they ready; does the targetPort exist.
func judgeService(svc *kube.Service, pods []*kube.Pod, epSlices []*kube.EndpointSlice) serviceResult {
	typ := string(svc.Type)
	if typ == "" {
		typ = string(corev1.ServiceTypeClusterIP)
	}
	r := serviceResult{
		name:          svc.Name,
		typ:           typ,
		headless:      svc.ClusterIP == corev1.ClusterIPNone,
		expectedEmpty: svc.ExpectedEmpty,
		endpoints:     map[string]endpointCounts{},
	}
	var ready int32
	for _, s := range epSlices {
		at := string(s.AddressType)
		ec := r.endpoints[at]
		ec.ready += s.Ready
		ec.serving += s.Serving
		ec.terminating += s.Terminating
		ec.notReady += s.NotReady
		r.endpoints[at] = ec
		ready += s.Ready
	}

	if len(svc.Selector) == 0 {
		// Endpoints are managed by hand or by another controller: judge
		// them alone.
		r.verdict = verdictNoSelector
		if ready == 0 {
			r.verdict = verdictNoEndpoints
		}
		return r
	}
	var selected []*kube.Pod
	for _, p := range pods {
		if p.Phase == corev1.PodSucceeded || p.Phase == corev1.PodFailed {
			continue // finished pods are never endpoints
		}
		if matches(svc.Selector, p.Labels) {
			selected = append(selected, p)
			if p.Ready {
				r.selectedReady++
			}
		}
	}
	r.selected = len(selected)
	r.missingPorts = missingTargetPorts(svc.Ports, selected)

	switch {
	case r.selected == 0:
		r.verdict = verdictSelectorMatchesNothing
	case r.selectedReady == 0 && !svc.PublishNotReadyAddresses:
		// (A Service that publishes not-ready addresses serves through
		// them: it is judged by its endpoints alone.)
		r.verdict = verdictPodsNotReady
	case len(r.missingPorts) > 0:
		r.verdict = verdictPortMismatch
	case ready == 0:
		r.verdict = verdictNoEndpoints
	default:
		r.verdict = verdictOK
	}
	return r
}

func matches(selector map[string]string, labels kube.Labels) bool {
	for k, v := range selector {
		if got, ok := labels.Get(k); !ok || got != v {
			return false
		}
	}
	return true
}

// missingTargetPorts names the Service ports whose targetPort no selected
// pod exposes. A named targetPort must match a named container port, or
// the Service has no endpoint port at all. A numeric one is only judged
// when the pods declare ports: declaring them is optional, and traffic
// reaches an undeclared port all the same.
func missingTargetPorts(ports []kube.ServicePort, pods []*kube.Pod) []string {
	if len(pods) == 0 {
		return nil
	}
	declares := slices.ContainsFunc(pods, func(p *kube.Pod) bool { return len(p.Ports) > 0 })
	var missing []string
	seen := map[string]bool{}
	for _, sp := range ports {
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port) // unset targetPort defaults to port
		}
		if target.Type == intstr.Int && !declares {
			continue
		}
		protocol := sp.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		exposed := slices.ContainsFunc(pods, func(p *kube.Pod) bool {
			return slices.ContainsFunc(p.Ports, func(cp kube.ContainerPort) bool {
				cpProtocol := cp.Protocol
				if cpProtocol == "" {
					cpProtocol = corev1.ProtocolTCP
				}
				if cpProtocol != protocol {
					return false
				}
				if target.Type == intstr.String {
					return cp.Name == target.StrVal
				}
				return cp.Port == target.IntVal
			})
		})
		name := sp.Name
		if name == "" {
			name = strconv.Itoa(int(sp.Port))
		}
		if !exposed && !seen[name] {
			seen[name] = true
			missing = append(missing, name)
		}
	}
	return missing
}

func (c *servicesCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	// Copy the (immutable) per-namespace results under the lock and send
	// without it, so that a long scrape holds up neither the informers'
	// handlers nor other scrapes.
	c.mu.Lock()
	results := maps.Clone(c.results)
	c.mu.Unlock()
	for _, ns := range slices.Sorted(maps.Keys(results)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, r := range results[ns] {
			ch <- serviceInfo.value(1, ns, r.name, r.typ, strconv.FormatBool(r.headless))
			ch <- serviceExpectedEmpty.value(boolFloat(r.expectedEmpty), ns, r.name)
			for at, ec := range r.endpoints {
				ch <- serviceEndpoints.value(float64(ec.ready), ns, r.name, at, "ready")
				ch <- serviceEndpoints.value(float64(ec.serving), ns, r.name, at, "serving")
				ch <- serviceEndpoints.value(float64(ec.terminating), ns, r.name, at, "terminating")
				ch <- serviceEndpoints.value(float64(ec.notReady), ns, r.name, at, "not_ready")
			}
			ch <- serviceSelectedPods.value(float64(r.selected), ns, r.name)
			ch <- serviceSelectedPodsReady.value(float64(r.selectedReady), ns, r.name)
			for _, p := range r.missingPorts {
				ch <- servicePortTargetMissing.value(1, ns, r.name, p)
			}
			ch <- serviceVerdict.value(1, ns, r.name, r.verdict)
		}
	}
	return nil
}
