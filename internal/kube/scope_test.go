package kube

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// requestLog records the list and watch requests a client sends: method,
// path and field selector.
type requestLog struct {
	mu       sync.Mutex
	requests []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		q := r.URL.Query()
		kind := "list"
		if q.Get("watch") == "true" || q.Get("watch") == "1" {
			kind = "watch"
		}
		entry := kind + " " + r.URL.Path
		if fs := q.Get("fieldSelector"); fs != "" {
			entry += "?fieldSelector=" + fs
		}
		l.mu.Lock()
		l.requests = append(l.requests, entry)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// distinct is the requests of the log for resource, each once.
func (l *requestLog) distinct(resource string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.requests {
		if strings.Contains(r, "/"+resource) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// --namespaces and --namespaces-exclude on a real apiserver: the informers
// list and watch only what is in scope (one list and watch per included
// namespace; one with a field selector when excluding), the merged cache
// reads as one, and events of every included namespace reach the handler.
func TestScopeOnRealAPIServer(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nss := []string{clustertest.Namespace(t, cluster, "scope"), clustertest.Namespace(t, cluster, "scope"), clustertest.Namespace(t, cluster, "scope")}
	create := func(ns, name string) {
		t.Helper()
		_, err := cluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range nss {
		create(ns, "svc")
	}
	start := func(scope Scope) (Informer, *requestLog) {
		t.Helper()
		log := &requestLog{}
		cfg := rest.CopyConfig(cluster.Config)
		cfg.Wrap(log.wrap)
		kc, err := NewClient(cfg, "local", 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		kc.Informers.SetScope(scope)
		services := kc.Informers.Namespaced("services", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return kc.Informers.TrimmedInformer(f, Services) // as the collectors ask for it
		})
		kc.Informers.Start(ctx)
		testenv.WaitFor(t, "the scoped informer's sync", 10*time.Second, func() (bool, error) { return services.HasSynced(), nil })
		return services, log
	}
	inScope := func(s Informer) []string {
		var out []string
		for _, k := range s.Cache().ListKeys() {
			if ns, _, _ := strings.Cut(k, "/"); slices.Contains(nss, ns) {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}

	// Two namespaces of three.
	included, log := start(Scope{Include: nss[:2]})
	if got, want := inScope(included), []string{nss[0] + "/svc", nss[1] + "/svc"}; !slices.Equal(got, want) {
		t.Errorf("included: cached %v, want %v", got, want)
	}
	if got, err := included.Cache().ByIndex(cache.NamespaceIndex, nss[1]); err != nil || len(got) != 1 {
		t.Errorf("by namespace %s: %v, %v", nss[1], got, err)
	}
	if _, ok, _ := included.Cache().GetByKey(nss[2] + "/svc"); ok {
		t.Errorf("%s/svc is cached though its namespace is not included", nss[2])
	}
	added := make(chan string, 10)
	if _, err := included.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if s, ok := obj.(*record.Service); ok {
			added <- s.Namespace + "/" + s.Name
		}
	}}); err != nil {
		t.Fatal(err)
	}
	create(nss[1], "later")
	testenv.WaitFor(t, "the new Service's event", 10*time.Second, func() (bool, error) {
		for {
			select {
			case k := <-added:
				if k == nss[1]+"/later" {
					return true, nil
				}
			default:
				return false, nil
			}
		}
	})
	requests := log.distinct("services")
	t.Logf("--namespaces=%s,%s: %d distinct list/watch requests for services: %v", nss[0], nss[1], len(requests), requests)
	for _, r := range requests {
		if !strings.Contains(r, "/namespaces/"+nss[0]+"/") && !strings.Contains(r, "/namespaces/"+nss[1]+"/") {
			t.Errorf("request %q is outside the included namespaces", r)
		}
	}
	for _, ns := range nss[:2] {
		if !slices.ContainsFunc(requests, func(r string) bool { return strings.HasPrefix(r, "watch /api/v1/namespaces/"+ns+"/services") }) {
			t.Errorf("no watch of namespace %s's services: %v", ns, requests)
		}
	}

	// Everything but one namespace: one cluster-wide watch, with a field
	// selector.
	excluded, log := start(Scope{Exclude: nss[2:]})
	if got, want := inScope(excluded), []string{nss[0] + "/svc", nss[1] + "/later", nss[1] + "/svc"}; !slices.Equal(got, want) {
		t.Errorf("excluding %s: cached %v, want %v", nss[2], got, want)
	}
	requests = log.distinct("services")
	t.Logf("--namespaces-exclude=%s: %d distinct list/watch requests for services: %v", nss[2], len(requests), requests)
	for _, r := range requests {
		if !strings.HasSuffix(r, "/api/v1/services?fieldSelector=metadata.namespace!="+nss[2]) {
			t.Errorf("request %q is not the cluster-wide one with the field selector", r)
		}
	}
}

// An informer over two namespaces listed apart answers every method for
// both: its cache lists, keys, gets and indexes the objects of each, it
// has synced only when both have, and a handler and an index added to it
// see both.
func TestInformerOverTwoNamespaces(t *testing.T) {
	svc := func(ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}}}
	}
	inf := NewInformers(fake.NewClientset(svc("one", "a"), svc("two", "b"), svc("three", "c")))
	inf.SetScope(Scope{Include: []string{"one", "two"}})
	services := inf.Records(Services)
	byName := func(obj any) ([]string, error) { return []string{obj.(*record.Service).Name}, nil }
	if err := services.AddIndexers(cache.Indexers{"name": byName}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var added []string
	if _, err := services.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		mu.Lock()
		defer mu.Unlock()
		added = append(added, obj.(*record.Service).Namespace)
	}}); err != nil {
		t.Fatal(err)
	}
	if services.HasSynced() {
		t.Error("synced before it started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf.Start(ctx)
	testenv.WaitFor(t, "both namespaces to sync", 10*time.Second, func() (bool, error) { return services.HasSynced(), nil })

	c := services.Cache()
	keys := c.ListKeys()
	sort.Strings(keys)
	if !slices.Equal(keys, []string{"one/a", "two/b"}) {
		t.Errorf("keys %v, want one/a and two/b", keys)
	}
	if n := len(c.List()); n != 2 {
		t.Errorf("List: %d objects, want 2", n)
	}
	for key, want := range map[string]bool{"one/a": true, "two/b": true, "three/c": false} {
		if _, ok, err := c.GetByKey(key); ok != want || err != nil {
			t.Errorf("GetByKey(%s) = %v, %v; want %v", key, ok, err, want)
		}
	}
	for _, name := range []string{"a", "b"} {
		if got := Indexed[record.Service](c, "name", name); len(got) != 1 {
			t.Errorf("by the added index, %s: %d objects, want 1", name, len(got))
		}
	}
	if got := InNamespace[record.Service](c, "two"); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("namespace two: %v", got)
	}
	testenv.WaitFor(t, "the handler to see both", 10*time.Second, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		got := slices.Sorted(slices.Values(added))
		return slices.Equal(got, []string{"one", "two"}), fmt.Errorf("added in %v", got)
	})
}
