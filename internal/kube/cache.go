package kube

import (
	"fmt"

	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// Cache is the read side of an informer's cache: what collectors read,
// and all that a cache spanning several namespaces offers (see
// Namespaced). A client-go cache.Indexer is one.
type Cache interface {
	List() []any
	ListKeys() []string
	GetByKey(key string) (item any, exists bool, err error)
	ByIndex(indexName, indexedValue string) ([]any, error)
	ListIndexFuncValues(indexName string) []string
}

// Get is the record of type T under key (namespace/name, or name), if the
// cache holds one.
func Get[T any](c Cache, key string) (*T, bool) {
	obj, ok, _ := c.GetByKey(key)
	r, isT := obj.(*T)
	return r, ok && isT
}

// All are the records of type T in the cache.
func All[T any](c Cache) []*T {
	return only[T](c.List())
}

// Indexed are the records of type T whose index has value. An index the
// cache lacks is a bug that would misjudge everything: it panics.
func Indexed[T any](c Cache, index, value string) []*T {
	objs, err := c.ByIndex(index, value)
	if err != nil {
		panic(fmt.Sprintf("kube: index %s: %v", index, err))
	}
	return only[T](objs)
}

// InNamespace are the records of type T in namespace ns (not pods: their
// caches have no namespace index; PodsIn).
func InNamespace[T any](c Cache, ns string) []*T {
	return Indexed[T](c, cache.NamespaceIndex, ns)
}

func only[T any](objs []any) []*T {
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		if r, ok := o.(*T); ok {
			out = append(out, r)
		}
	}
	return out
}

// PodCache reads a cache of pod records: what the triage walks ask of
// the collectors that keep one.
type PodCache struct{ Cache }

// Pod is a pod's record.
func (p PodCache) Pod(namespace, name string) (*record.Pod, bool) {
	return Get[record.Pod](p.Cache, namespace+"/"+name)
}

// PodsIn are the records of the pods of a namespace.
func (p PodCache) PodsIn(namespace string) []*record.Pod { return PodsIn(p.Cache, namespace) }

// PodsIn are the pod records of namespace ns. Pod caches have no index
// (an entry a pod, 50 bytes at 50,000 pods, kept for walks on demand): it
// reads every pod of the cache, so not for a path that runs per Service
// or per event.
func PodsIn(c Cache, ns string) []*record.Pod {
	var out []*record.Pod
	for _, obj := range c.List() {
		if p, ok := obj.(*record.Pod); ok && p.Namespace() == ns {
			out = append(out, p)
		}
	}
	return out
}
