package kube

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// Scope bounds the namespaced resources the informers list and watch
// (--namespaces, --namespaces-exclude): Include, if set, is the only
// namespaces; else Exclude are left out. The cluster's own objects that
// collectors read by name (the DNS Service, the control plane's and nodes'
// Leases) and the cluster-scoped ones (Nodes) are not bounded.
type Scope struct {
	Include, Exclude []string
}

// String says what the scope is, for the log.
func (s Scope) String() string {
	switch {
	case len(s.Include) > 0:
		return "namespaces " + strings.Join(s.Include, ",")
	case len(s.Exclude) > 0:
		return "all namespaces but " + strings.Join(s.Exclude, ",")
	}
	return "all namespaces"
}

// InScope reports whether the namespaced informers watch namespace ns.
func (i *Informers) InScope(ns string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.scope.Include) > 0 {
		return slices.Contains(i.scope.Include, ns)
	}
	return !slices.Contains(i.scope.Exclude, ns)
}

// SetScope bounds the informers Namespaced makes from now on; call it
// before any collector asks for one.
func (i *Informers) SetScope(s Scope) {
	i.mu.Lock()
	defer i.mu.Unlock()
	// A namespace listed twice would be watched twice, and every object
	// of it seen twice.
	i.scope = Scope{Include: dedup(s.Include), Exclude: dedup(s.Exclude)}
}

func dedup(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Namespaced returns the informer for a namespaced resource within the
// scope. With namespaces to include, each is listed and watched apart (the
// API has no "namespace in" selector) and the informer returned spans them;
// with namespaces to exclude, one list and watch leaves them out by a field
// selector; else one list and watch covers the cluster.
func (i *Informers) Namespaced(resource string, get func(informers.SharedInformerFactory) cache.SharedIndexInformer) Informer {
	i.mu.Lock()
	scope := i.scope
	i.mu.Unlock()
	switch {
	case len(scope.Include) > 0:
		return i.track(resource, func() []cache.SharedIndexInformer {
			var parts []cache.SharedIndexInformer
			for _, ns := range scope.Include {
				parts = append(parts, get(i.factoryFor("namespace "+ns, factoryScope{namespace: ns}, informers.WithNamespace(ns))))
			}
			return parts
		})
	case len(scope.Exclude) > 0:
		var sel []string
		for _, ns := range scope.Exclude {
			sel = append(sel, "metadata.namespace!="+ns)
		}
		selector := strings.Join(sel, ",")
		tweak := func(o *metav1.ListOptions) { o.FieldSelector = selector }
		return i.Informer(resource, func(informers.SharedInformerFactory) cache.SharedIndexInformer {
			return get(i.factoryFor("excluding", factoryScope{tweak: tweak}, informers.WithTweakListOptions(tweak)))
		})
	}
	return i.Informer(resource, get)
}

// Records returns the informer whose cache holds r's records: within the
// scope for a namespaced resource, of the whole cluster for Nodes.
func (i *Informers) Records(r Resource) Informer {
	get := func(f informers.SharedInformerFactory) cache.SharedIndexInformer { return i.TrimmedInformer(f, r) }
	if !r.namespaced {
		return i.Informer(r.name, get)
	}
	return i.Namespaced(r.name, get)
}

// RecordsIndexed is Records(r) with the named index added, once however
// many collectors ask for it: collectors that read the same caches share
// their indexes (the same name must mean the same function).
func (i *Informers) RecordsIndexed(r Resource, indexers cache.Indexers) (Informer, error) {
	inf := i.Records(r)
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.indexed == nil {
		i.indexed = map[[2]string]bool{}
	}
	todo := cache.Indexers{}
	for name, fn := range indexers {
		if r.nameIsKey && name == cache.NamespaceIndex {
			return nil, fmt.Errorf("kube: %s records have no namespace index: they hand client-go no namespace", r.name)
		}
		if _, own := r.indexers[name]; !own && !i.indexed[[2]string{r.name, name}] { // every cache of r has its own
			todo[name] = fn
		}
	}
	if len(todo) == 0 {
		return inf, nil
	}
	if err := inf.AddIndexers(todo); err != nil {
		return nil, err
	}
	for name := range todo {
		i.indexed[[2]string{r.name, name}] = true
	}
	return inf, nil
}

// SliceServiceIndex indexes EndpointSlice records by the namespace/name of
// their Service (SlicesByService).
const SliceServiceIndex = "service"

// SlicesByService is the index of EndpointSlice records by Service.
var SlicesByService = cache.Indexers{SliceServiceIndex: func(obj any) ([]string, error) {
	if s, ok := obj.(*record.EndpointSlice); ok && s.Service != "" {
		return []string{s.Namespace + "/" + s.Service}, nil
	}
	return nil, nil
}}

// factoryFor returns (once per key) a factory of the informers' transform
// with opts. track holds i.mu while its parts are made.
func (i *Informers) factoryFor(key string, scope factoryScope, opts ...informers.SharedInformerOption) informers.SharedInformerFactory {
	if f, ok := i.scoped[key]; ok {
		return f
	}
	f := informers.NewSharedInformerFactoryWithOptions(i.client, 0, append(opts, informers.WithTransform(i.transform))...)
	i.factoryScopes[f] = scope
	i.scoped[key] = f
	i.extra = append(i.extra, f)
	return f
}

// multiCache reads the caches of several namespaces as one: each method
// asks every part. An object is in exactly one part.
type multiCache []cache.Indexer

func (m multiCache) List() []any {
	var out []any
	for _, p := range m {
		out = append(out, p.List()...)
	}
	return out
}

func (m multiCache) ListKeys() []string {
	var out []string
	for _, p := range m {
		out = append(out, p.ListKeys()...)
	}
	return out
}

func (m multiCache) GetByKey(key string) (any, bool, error) {
	for _, p := range m {
		if item, ok, err := p.GetByKey(key); ok || err != nil {
			return item, ok, err
		}
	}
	return nil, false, nil
}

func (m multiCache) ListIndexFuncValues(indexName string) []string {
	var out []string
	for _, p := range m {
		out = append(out, p.ListIndexFuncValues(indexName)...)
	}
	return out
}

func (m multiCache) ByIndex(indexName, value string) ([]any, error) {
	var out []any
	for _, p := range m {
		items, err := p.ByIndex(indexName, value)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}
