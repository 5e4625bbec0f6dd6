package kube

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
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
// API has no "namespace in" selector) and the informer returned merges
// them; with namespaces to exclude, one list and watch leaves them out by
// a field selector; else one list and watch covers the cluster.
func (i *Informers) Namespaced(resource string, get func(informers.SharedInformerFactory) cache.SharedIndexInformer) cache.SharedIndexInformer {
	i.mu.Lock()
	scope := i.scope
	i.mu.Unlock()
	switch {
	case len(scope.Include) > 0:
		return i.Informer(resource, func(informers.SharedInformerFactory) cache.SharedIndexInformer {
			var parts []cache.SharedIndexInformer
			for _, ns := range scope.Include {
				parts = append(parts, get(i.factoryFor("namespace "+ns, factoryScope{namespace: ns}, informers.WithNamespace(ns))))
			}
			if len(parts) == 1 {
				return parts[0]
			}
			return newMultiInformer(parts)
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

// factoryFor returns (once per key) a factory of the informers' transform
// with opts. Informer holds i.mu while its get runs.
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

// multiInformer is the informers of one resource in several namespaces,
// seen as one: its indexer, its sync, its event handlers (however added),
// its indexers and the watch error handler span them all. The embedded
// first part answers the rest (resync periods, transform, stop state),
// which the factory and the collectors do not ask of it.
type multiInformer struct {
	cache.SharedIndexInformer
	parts   []cache.SharedIndexInformer
	indexer multiIndexer
}

func newMultiInformer(parts []cache.SharedIndexInformer) *multiInformer {
	m := &multiInformer{SharedIndexInformer: parts[0], parts: parts}
	for _, p := range parts {
		m.indexer.parts = append(m.indexer.parts, p.GetIndexer())
	}
	m.indexer.Indexer = parts[0].GetIndexer()
	return m
}

func (m *multiInformer) GetIndexer() cache.Indexer { return m.indexer }
func (m *multiInformer) GetStore() cache.Store     { return m.indexer }

func (m *multiInformer) HasSynced() bool {
	return !slices.ContainsFunc(m.parts, func(p cache.SharedIndexInformer) bool { return !p.HasSynced() })
}

func (m *multiInformer) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return m.addToAll(func(p cache.SharedIndexInformer) (cache.ResourceEventHandlerRegistration, error) {
		return p.AddEventHandler(h)
	})
}

func (m *multiInformer) AddEventHandlerWithResyncPeriod(h cache.ResourceEventHandler, resync time.Duration) (cache.ResourceEventHandlerRegistration, error) {
	return m.addToAll(func(p cache.SharedIndexInformer) (cache.ResourceEventHandlerRegistration, error) {
		return p.AddEventHandlerWithResyncPeriod(h, resync)
	})
}

func (m *multiInformer) AddEventHandlerWithOptions(h cache.ResourceEventHandler, opts cache.HandlerOptions) (cache.ResourceEventHandlerRegistration, error) {
	return m.addToAll(func(p cache.SharedIndexInformer) (cache.ResourceEventHandlerRegistration, error) {
		return p.AddEventHandlerWithOptions(h, opts)
	})
}

func (m *multiInformer) addToAll(add func(cache.SharedIndexInformer) (cache.ResourceEventHandlerRegistration, error)) (cache.ResourceEventHandlerRegistration, error) {
	var regs multiRegistration
	for _, p := range m.parts {
		r, err := add(p)
		if err != nil {
			return nil, err
		}
		regs = append(regs, r)
	}
	return regs, nil
}

// RemoveEventHandler takes a registration AddEventHandler returned.
func (m *multiInformer) RemoveEventHandler(r cache.ResourceEventHandlerRegistration) error {
	regs, ok := r.(multiRegistration)
	if !ok || len(regs) != len(m.parts) {
		return fmt.Errorf("not a registration of this informer")
	}
	for i, p := range m.parts {
		if err := p.RemoveEventHandler(regs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *multiInformer) AddIndexers(indexers cache.Indexers) error {
	for _, p := range m.parts {
		if err := p.AddIndexers(indexers); err != nil {
			return err
		}
	}
	return nil
}

func (m *multiInformer) SetWatchErrorHandlerWithContext(h cache.WatchErrorHandlerWithContext) error {
	for _, p := range m.parts {
		if err := p.SetWatchErrorHandlerWithContext(h); err != nil {
			return err
		}
	}
	return nil
}

// multiRegistration has synced when every part's has.
type multiRegistration []cache.ResourceEventHandlerRegistration

func (r multiRegistration) HasSynced() bool {
	return !slices.ContainsFunc(r, func(p cache.ResourceEventHandlerRegistration) bool { return !p.HasSynced() })
}

// HasSyncedChecker is the first part's: nothing here waits on it.
func (r multiRegistration) HasSyncedChecker() cache.DoneChecker { return r[0].HasSyncedChecker() }

// multiIndexer reads the caches of several namespaces as one. Objects of
// one namespace are in exactly one part. Writes go to the first part: only
// the informers write, each to its own cache.
type multiIndexer struct {
	cache.Indexer
	parts []cache.Indexer
}

func (m multiIndexer) List() []any {
	var out []any
	for _, p := range m.parts {
		out = append(out, p.List()...)
	}
	return out
}

func (m multiIndexer) ListKeys() []string {
	var out []string
	for _, p := range m.parts {
		out = append(out, p.ListKeys()...)
	}
	return out
}

func (m multiIndexer) Get(obj any) (any, bool, error) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return nil, false, err
	}
	return m.GetByKey(key)
}

func (m multiIndexer) GetByKey(key string) (any, bool, error) {
	for _, p := range m.parts {
		if item, ok, err := p.GetByKey(key); ok || err != nil {
			return item, ok, err
		}
	}
	return nil, false, nil
}

func (m multiIndexer) Index(indexName string, obj any) ([]any, error) {
	var out []any
	for _, p := range m.parts {
		items, err := p.Index(indexName, obj)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", indexName, err)
		}
		out = append(out, items...)
	}
	return out, nil
}

func (m multiIndexer) IndexKeys(indexName, value string) ([]string, error) {
	var out []string
	for _, p := range m.parts {
		keys, err := p.IndexKeys(indexName, value)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
	}
	return out, nil
}

func (m multiIndexer) ListIndexFuncValues(indexName string) []string {
	var out []string
	for _, p := range m.parts {
		out = append(out, p.ListIndexFuncValues(indexName)...)
	}
	return out
}

func (m multiIndexer) ByIndex(indexName, value string) ([]any, error) {
	var out []any
	for _, p := range m.parts {
		items, err := p.ByIndex(indexName, value)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}
