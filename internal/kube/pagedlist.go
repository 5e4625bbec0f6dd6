package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// listPageSize is the page of an initial list: client-go's own.
const listPageSize = 500

// RecordList is a list of records, as TrimmedList returns it to a
// reflector in place of the API's list of full objects.
type RecordList struct {
	metav1.ListMeta
	Items []runtime.Object
}

func (l *RecordList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (l *RecordList) DeepCopyObject() runtime.Object {
	c := *l
	c.Items = slices.Clone(l.Items)
	return &c
}

// TrimmedList lists in pages and turns each page's objects into records
// as the page arrives. A reflector gathers every page of an initial list
// before it stores any, so without this all the full objects of a large
// list are alive at once (8 times the steady heap at 150,000 pods); with
// it, one page is. A streaming watch-list (WatchListClient, apiservers
// 1.34+) does not list at all and needs none of this.
//
// The initial list, at resourceVersion "0", is asked at "" instead: the
// watch cache ignores the page size at "0" and answers every object in one
// response; at "" the apiserver pages (from its watch cache since 1.33's
// snapshots, else from etcd, as client-go's pager does whenever the cache
// cannot serve). A relist at a given resourceVersion is asked unpaged, as
// the reflector asks it (so that the watch cache can serve it). A
// continue token that expires (a list slower than etcd's compaction)
// restarts the list unpaged rather than failing it.
func TrimmedList(list func(context.Context, metav1.ListOptions) (runtime.Object, error), transform cache.TransformFunc) func(context.Context, metav1.ListOptions) (runtime.Object, error) {
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		o.Limit, o.Continue = 0, ""
		switch o.ResourceVersion {
		case "0":
			o.ResourceVersion = ""
			fallthrough
		case "":
			o.Limit = listPageSize
		}
		out := &RecordList{}
		for {
			page, err := list(ctx, o)
			if apierrors.IsResourceExpired(err) && o.Continue != "" {
				out.Items = nil
				o.Limit, o.Continue, o.ResourceVersion = 0, "", ""
				continue
			}
			if err != nil {
				return nil, err
			}
			items, err := meta.ExtractList(page)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				rec, err := transform(it)
				if err != nil {
					return nil, err
				}
				obj, ok := rec.(runtime.Object)
				if !ok {
					return nil, fmt.Errorf("transform made %T of %T, not an object", rec, it)
				}
				out.Items = append(out.Items, obj)
			}
			lm, err := meta.ListAccessor(page)
			if err != nil {
				return nil, err
			}
			out.ResourceVersion = lm.GetResourceVersion()
			if lm.GetContinue() == "" {
				return out, nil
			}
			// The next page: the token carries the list's resourceVersion.
			o.Continue, o.ResourceVersion = lm.GetContinue(), ""
		}
	}
}

// factoryScope is what a factory's informers list: a namespace ("" for
// all) and how list options are tweaked (a field selector).
type factoryScope struct {
	namespace string
	tweak     func(*metav1.ListOptions)
}

// lister is what a typed client offers for one resource.
type lister[L runtime.Object] interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}

// Resource is an API resource whose informer TrimmedInformer builds.
type Resource struct {
	name       string // as the informer metrics name it
	namespaced bool
	obj        runtime.Object
	client     func(cs kubernetes.Interface, namespace string) (listFunc, watchFunc)
	indexers   cache.Indexers // those every cache of it has
	nameIsKey  bool           // its records hand client-go their key as their name (keyedByName)
}

type (
	listFunc  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watchFunc func(context.Context, metav1.ListOptions) (watch.Interface, error)
)

func resource[L runtime.Object](name string, namespaced bool, obj runtime.Object, get func(cs kubernetes.Interface, namespace string) lister[L]) Resource {
	return Resource{name: name, namespaced: namespaced, obj: obj, client: func(cs kubernetes.Interface, namespace string) (listFunc, watchFunc) {
		l := get(cs, namespace)
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return l.List(ctx, o) }, l.Watch
	}, indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}}
}

// keyedByName is r, whose records hand client-go their whole key as their
// name (record.Pod.GetObjectMeta): no namespace index, which would file
// every record under "", and none may be added (RecordsIndexed).
func (r Resource) keyedByName() Resource {
	r.indexers, r.nameIsKey = nil, true
	return r
}

// The resources whose objects become records: the large lists.
var (
	// Pods have no index: an entry each would cost 50 bytes a pod; the
	// services collector keeps their label sets itself, and walks on
	// demand read them all (PodsIn).
	Pods = resource("pods", true, &corev1.Pod{}, func(cs kubernetes.Interface, ns string) lister[*corev1.PodList] { return cs.CoreV1().Pods(ns) }).
		keyedByName()
	Services       = resource("services", true, &corev1.Service{}, func(cs kubernetes.Interface, ns string) lister[*corev1.ServiceList] { return cs.CoreV1().Services(ns) })
	EndpointSlices = resource("endpointslices", true, &discoveryv1.EndpointSlice{}, func(cs kubernetes.Interface, ns string) lister[*discoveryv1.EndpointSliceList] {
		return cs.DiscoveryV1().EndpointSlices(ns)
	})
	Deployments = resource("deployments", true, &appsv1.Deployment{}, func(cs kubernetes.Interface, ns string) lister[*appsv1.DeploymentList] {
		return cs.AppsV1().Deployments(ns)
	})
	StatefulSets = resource("statefulsets", true, &appsv1.StatefulSet{}, func(cs kubernetes.Interface, ns string) lister[*appsv1.StatefulSetList] {
		return cs.AppsV1().StatefulSets(ns)
	})
	ReplicaSets = resource("replicasets", true, &appsv1.ReplicaSet{}, func(cs kubernetes.Interface, ns string) lister[*appsv1.ReplicaSetList] {
		return cs.AppsV1().ReplicaSets(ns)
	})
	// Nodes are cluster-scoped: the namespace is ignored.
	Nodes = resource("nodes", false, &corev1.Node{}, func(cs kubernetes.Interface, _ string) lister[*corev1.NodeList] { return cs.CoreV1().Nodes() })
)

// TrimmedInformer is the factory's informer of r, whose initial list is
// turned into records page by page (TrimmedList). Call it from the get
// function of Informer or Namespaced.
func (i *Informers) TrimmedInformer(f informers.SharedInformerFactory, r Resource) cache.SharedIndexInformer {
	scope := i.factoryScopes[f] // read under i.mu: Informer holds it while get runs
	return f.InformerFor(r.obj, func(cs kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		list, watchFn := r.client(cs, scope.namespace)
		tweak := func(o *metav1.ListOptions) {
			if scope.tweak != nil {
				scope.tweak(o)
			}
		}
		lw := &cache.ListWatch{
			ListWithContextFunc: TrimmedList(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				tweak(&o)
				return list(ctx, o)
			}, i.transform),
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				tweak(&o)
				return watchFn(ctx, o)
			},
		}
		// As the generated informers do: a client that cannot stream a
		// watch-list (a fake one) is listed.
		return cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, cs), r.obj, resync, maps.Clone(r.indexers))
	})
}
