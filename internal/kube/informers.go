package kube

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// Informers wraps the one shared informer factory of the process. Collectors
// ask it for the informers they need before Start; it counts each informer's
// list/watch failures and knows whether its initial list has completed.
// What it returns is an Informer: the part of an informer collectors use,
// over every namespace the scope includes.
type Informers struct {
	factory   informers.SharedInformerFactory
	transform cache.TransformFunc // the factory's: API objects to records
	client    kubernetes.Interface

	mu      sync.Mutex
	tracked map[string]*tracked
	extra   []informers.SharedInformerFactory // narrow and scoped factories
	scope   Scope
	scoped  map[string]informers.SharedInformerFactory // by namespace, or "excluding"
	// factoryScopes says what each scoped factory lists, for informers
	// built by hand (PodInformer).
	factoryScopes map[informers.SharedInformerFactory]factoryScope
	// indexed are the indexes added by RecordsIndexed, by resource and
	// index name.
	indexed map[[2]string]bool
}

type tracked struct {
	informer    *informer
	watchErrors atomic.Uint64
}

// Informer is what a collector uses of an informer: its cache, whether
// its initial list has completed, event handlers and indexes. When the
// scope lists several namespaces apart, every method spans them all.
type Informer interface {
	Cache() Cache
	HasSynced() bool
	// AddEventHandler adds h; synced reports, once the informer has
	// synced, whether h has been handed every object of the initial list
	// (a handler's own state lags the cache until then).
	AddEventHandler(h cache.ResourceEventHandler) (synced func() bool, err error)
	AddIndexers(cache.Indexers) error
}

// informer is an Informer over the informers of one resource in one or
// several namespaces (its parts); each object is in exactly one part.
type informer struct {
	parts []cache.SharedIndexInformer
}

func (in *informer) Cache() Cache {
	if len(in.parts) == 1 {
		return in.parts[0].GetIndexer()
	}
	var c multiCache
	for _, p := range in.parts {
		c = append(c, p.GetIndexer())
	}
	return c
}

func (in *informer) HasSynced() bool {
	return !slices.ContainsFunc(in.parts, func(p cache.SharedIndexInformer) bool { return !p.HasSynced() })
}

func (in *informer) AddEventHandler(h cache.ResourceEventHandler) (func() bool, error) {
	var regs []cache.ResourceEventHandlerRegistration
	for _, p := range in.parts {
		reg, err := p.AddEventHandler(h)
		if err != nil {
			return nil, err
		}
		regs = append(regs, reg)
	}
	return func() bool {
		for _, r := range regs {
			if !r.HasSynced() {
				return false
			}
		}
		return true
	}, nil
}

func (in *informer) AddIndexers(indexers cache.Indexers) error {
	for _, p := range in.parts {
		if err := p.AddIndexers(indexers); err != nil {
			return err
		}
	}
	return nil
}

// Stat is one informer's state, for the framework's metrics and /readyz.
type Stat struct {
	Resource    string
	Synced      bool
	WatchErrors uint64
}

// NewInformers creates the factory. Informers never resync: collectors read
// the caches and need no periodic replay of every object. And they must
// not: records keep no resourceVersion, so client-go takes every update
// of one for a resync and hands it only to the handlers that are due one;
// without a resync period every handler always is, and gets every update.
func NewInformers(cs kubernetes.Interface) *Informers {
	in := newInterner()
	return &Informers{
		factory:   informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(in.trim)),
		transform: in.trim,
		client:    cs,
		tracked:   map[string]*tracked{},
		scoped:    map[string]informers.SharedInformerFactory{},

		factoryScopes: map[informers.SharedInformerFactory]factoryScope{},
	}
}

// Informer returns the informer for resource, creating it with get on first
// use. resource names it in metrics (e.g. "services").
func (i *Informers) Informer(resource string, get func(informers.SharedInformerFactory) cache.SharedIndexInformer) Informer {
	return i.track(resource, func() []cache.SharedIndexInformer { return []cache.SharedIndexInformer{get(i.factory)} })
}

// track returns the informer for resource, made of the parts parts makes
// on first use (i.mu held while it runs).
func (i *Informers) track(resource string, parts func() []cache.SharedIndexInformer) Informer {
	i.mu.Lock()
	defer i.mu.Unlock()
	if t, ok := i.tracked[resource]; ok {
		return t.informer
	}
	t := &tracked{informer: &informer{parts: parts()}}
	for _, p := range t.informer.parts {
		// The default handler logs; ours also counts, and client-go still
		// retries with backoff after it returns.
		_ = p.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			t.watchErrors.Add(1)
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
	}
	i.tracked[resource] = t
	return t.informer
}

// Start runs every informer asked for so far. It does not wait for them to
// sync: /readyz reports that.
func (i *Informers) Start(ctx context.Context) {
	i.factory.Start(ctx.Done())
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, f := range i.extra {
		f.Start(ctx.Done())
	}
}

// Stats reports every informer's state, sorted by resource.
func (i *Informers) Stats() []Stat {
	i.mu.Lock()
	defer i.mu.Unlock()
	stats := make([]Stat, 0, len(i.tracked))
	for name, t := range i.tracked {
		stats = append(stats, Stat{Resource: name, Synced: t.informer.HasSynced(), WatchErrors: t.watchErrors.Load()})
	}
	sort.Slice(stats, func(a, b int) bool { return stats[a].Resource < stats[b].Resource })
	return stats
}

// Pending lists the resources whose initial list has not completed.
func (i *Informers) Pending() []string {
	var pending []string
	for _, s := range i.Stats() {
		if !s.Synced {
			pending = append(pending, s.Resource)
		}
	}
	return pending
}

// lastApplied is kubectl's copy of the whole object; no collector reads it.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trim is the factory's transform: Pods, Services, EndpointSlices, Leases,
// Nodes and workloads become their records (records.go); any other object keeps its fields but loses
// what no collector reads. It runs before an object enters a cache, so the
// full object is garbage as soon as it is decoded.
func (in *interner) trim(obj any) (any, error) {
	switch o := obj.(type) {
	case cache.DeletedFinalStateUnknown:
		return o, nil // holds a record already
	case *record.Pod, *record.Service, *record.EndpointSlice, *record.Lease, *record.Node, *record.Workload:
		return o, nil // trimmed already, page by page (TrimmedList)
	case *corev1.Pod:
		return in.pod(o), nil
	case *corev1.Service:
		return in.service(o), nil
	case *discoveryv1.EndpointSlice:
		return in.endpointSlice(o), nil
	case *coordinationv1.Lease:
		return in.lease(o), nil
	case *corev1.Node:
		return in.node(o), nil
	case *appsv1.Deployment:
		return in.workload("Deployment", o.ObjectMeta, o.Spec.Replicas, o.Spec.Template.Labels), nil
	case *appsv1.StatefulSet:
		return in.workload("StatefulSet", o.ObjectMeta, o.Spec.Replicas, o.Spec.Template.Labels), nil
	case *appsv1.ReplicaSet:
		return in.workload("ReplicaSet", o.ObjectMeta, o.Spec.Replicas, o.Spec.Template.Labels), nil
	}
	return stripMetadata(obj)
}

// stripMetadata drops the metadata no collector reads.
func stripMetadata(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil //nolint:nilerr // not an object with metadata: keep it as is
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a[lastApplied] != "" {
		delete(a, lastApplied)
	}
	return obj, nil
}

// NewTransform returns the transform the informers use, with its own
// string table: for benchmarks and tools that build record caches by hand.
func NewTransform() cache.TransformFunc {
	in := newInterner()
	return in.trim
}

// EndpointSlicesOf returns an informer over the EndpointSlices of one
// Service, kept whole (addresses included), from a factory of its own
// limited to that namespace and label: the DNS collector needs the
// addresses of the cluster DNS pods, and no other slice.
func (i *Informers) EndpointSlicesOf(namespace, service string) Informer {
	return i.narrow("endpointslices/"+namespace+"/"+service, stripMetadata,
		func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Discovery().V1().EndpointSlices().Informer()
		},
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + service
		}))
}

// ServiceNamed returns an informer over one Service, as a record, by name:
// a collector that needs one Service (the cluster DNS Service) needs neither
// a watch of every Service nor any --namespaces bound.
func (i *Informers) ServiceNamed(namespace, name string) Informer {
	return i.narrow("services/"+namespace+"/"+name, i.transform,
		func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Core().V1().Services().Informer()
		},
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "metadata.name=" + name
		}))
}

// LeasesIn returns an informer over the Leases of one namespace, as
// records: kube-system holds the control plane's leader Leases,
// kube-node-lease the nodes' heartbeats. Watching those two namespaces
// needs no cluster-wide permission.
func (i *Informers) LeasesIn(namespace string) Informer {
	return i.narrow("leases/"+namespace, i.transform,
		func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return f.Coordination().V1().Leases().Informer()
		},
		informers.WithNamespace(namespace))
}

// narrow makes (once) the informer for resource from a factory of its own,
// limited by opts (a namespace, a label selector).
func (i *Informers) narrow(resource string, transform cache.TransformFunc, get func(informers.SharedInformerFactory) cache.SharedIndexInformer, opts ...informers.SharedInformerOption) Informer {
	return i.track(resource, func() []cache.SharedIndexInformer {
		f := informers.NewSharedInformerFactoryWithOptions(i.client, 0, append(opts, informers.WithTransform(transform))...)
		i.extra = append(i.extra, f) // track holds i.mu while calling this
		return []cache.SharedIndexInformer{get(f)}
	})
}
