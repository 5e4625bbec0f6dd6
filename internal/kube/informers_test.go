package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func services(f informers.SharedInformerFactory) cache.SharedIndexInformer {
	return f.Core().V1().Services().Informer()
}

func namespaces(f informers.SharedInformerFactory) cache.SharedIndexInformer {
	return f.Core().V1().Namespaces().Informer()
}

func TestInformersSyncAndTrim(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:          "default",
		Annotations:   map[string]string{lastApplied: `{"big":"json"}`, "keep": "me"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	inf := NewInformers(fake.NewClientset(ns))
	si := inf.Informer("namespaces", namespaces)
	if again := inf.Informer("namespaces", namespaces); again != si {
		t.Error("asking twice for the same resource gave two informers")
	}
	if got := inf.Pending(); len(got) != 1 || got[0] != "namespaces" {
		t.Errorf("before start: pending %v, want [namespaces]", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf.Start(ctx)
	testenv.WaitFor(t, "sync", 10*time.Second, func() (bool, error) {
		pending := inf.Pending()
		return len(pending) == 0, fmt.Errorf("pending %v", pending)
	})

	obj, ok, err := si.Cache().GetByKey("default")
	if err != nil || !ok {
		t.Fatalf("namespace not cached: %v", err)
	}
	cached := obj.(*corev1.Namespace)
	if len(cached.ManagedFields) != 0 {
		t.Error("managedFields kept in the cache")
	}
	if _, ok := cached.Annotations[lastApplied]; ok {
		t.Error("last-applied-configuration kept in the cache")
	}
	if cached.Annotations["keep"] != "me" {
		t.Error("other annotations must be kept")
	}
	if st := inf.Stats(); len(st) != 1 || !st[0].Synced || st[0].WatchErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A failing list is counted, keeps the informer unsynced, and is retried.
func TestInformersCountListErrors(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("apiserver unreachable")
	})
	inf := NewInformers(cs)
	inf.Informer("services", services)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf.Start(ctx)
	testenv.WaitFor(t, "a counted list error", 10*time.Second, func() (bool, error) {
		st := inf.Stats()[0]
		return st.WatchErrors >= 1, fmt.Errorf("stats %+v", st)
	})
	if st := inf.Stats()[0]; st.Synced {
		t.Errorf("synced despite failing lists: %+v", st)
	}
	if got := inf.Pending(); len(got) != 1 {
		t.Errorf("pending %v, want [services]", got)
	}
}

func TestTrimKeepsTombstones(t *testing.T) {
	in := newInterner()
	d := cache.DeletedFinalStateUnknown{Key: "a/b"}
	got, err := in.trim(d)
	if err != nil || got != d {
		t.Errorf("trim(tombstone) = %v, %v", got, err)
	}
	if got, err := in.trim("not an object"); err != nil || got != "not an object" {
		t.Errorf("trim(string) = %v, %v", got, err)
	}
}

func TestResourceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/nodes":                                                  "nodes",
		"/api/v1/namespaces/default/pods":                                "pods",
		"/api/v1/namespaces/default/pods/x/status":                       "pods",
		"/api/v1/namespaces":                                             "namespaces",
		"/api/v1/namespaces/kube-system":                                 "namespaces",
		"/apis/discovery.k8s.io/v1/endpointslices":                       "endpointslices",
		"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases": "leases",
		"/livez":   "other",
		"/version": "other",
		"/apis":    "other",
		"":         "other",
	} {
		if got := resourceOf(path); got != want {
			t.Errorf("resourceOf(%q) = %q, want %q", path, got, want)
		}
	}
}

// Pods of one controller share one shape, and pods their containers'
// names; a record keys like the object it came from, with no second copy
// of its key, and a namespace index of pod records is refused.
func TestPodRecords(t *testing.T) {
	in := newInterner()
	owner := []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-abc", Controller: ptr.To(true)}}
	pod := func(name string, labels map[string]string) *record.Pod {
		obj, err := in.trim(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: "u-" + types.UID(name), Labels: labels, OwnerReferences: owner},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}}},
			Status:     corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*record.Pod)
	}
	a := pod("web-abc-1", map[string]string{"pod-template-hash": "abc", "app": "web"})
	b := pod("web-abc-2", map[string]string{"app": "web", "pod-template-hash": "abc"})
	c := pod("web-abc-3", map[string]string{"app": "web", "pod-template-hash": "abc", "canary": "yes"})
	if a.PodShape != b.PodShape {
		t.Error("two pods of one ReplicaSet do not share their shape")
	}
	if a.PodShape == c.PodShape {
		t.Error("pods with different labels share a shape")
	}
	if a.Containers[0].Container != c.Containers[0].Container || a.Containers[0].Name != "app" || a.Containers[0].Type != "regular" {
		t.Errorf("pods' container %+v and %+v: want one shared copy of app, regular", a.Containers[0].Container, c.Containers[0].Container)
	}
	if want := (record.Labels{"app", "web", "pod-template-hash", "abc"}); !slices.Equal(a.Labels, want) {
		t.Errorf("labels %q, want %q sorted by key", a.Labels, want)
	}
	if v, ok := c.Labels.Get("canary"); !ok || v != "yes" {
		t.Errorf("Get(canary) = %q, %v", v, ok)
	}
	if _, ok := c.Labels.Get("missing"); ok {
		t.Error("Get found a label that is not set")
	}
	if a.OwnerKind != "ReplicaSet" || a.OwnerName != "web-abc" || len(a.Ports) != 1 || a.Containers[0].RestartCount != 3 {
		t.Errorf("record %+v, shape %+v", a, a.PodShape)
	}
	// The store's key is the record's own string, not a copy.
	if key, err := cache.MetaNamespaceKeyFunc(a); err != nil || key != "shop/web-abc-1" || unsafe.StringData(key) != unsafe.StringData(a.Key()) {
		t.Errorf("key %q, %v: want shop/web-abc-1, the record's own", key, err)
	}
	if a.Namespace() != "shop" || a.Name() != "web-abc-1" {
		t.Errorf("namespace %q, name %q", a.Namespace(), a.Name())
	}
	if _, err := NewInformers(fake.NewClientset()).RecordsIndexed(Pods, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}); err == nil {
		t.Error("pod records were given a namespace index, which would file every pod under \"\"")
	}
	cp := a.DeepCopyObject().(*record.Pod)
	cp.Containers[0].RestartCount = 9
	if a.Containers[0].RestartCount != 3 {
		t.Error("a copy shares its container statuses with the cached record")
	}
}
