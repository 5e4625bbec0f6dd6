package kube

import (
	"slices"
	"testing"

	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// A namespace's pods are all of its, whichever labels they have (per-pod
// ones, none, no shape), and none of a namespace whose name begins with
// its.
func TestPodsIn(t *testing.T) {
	c := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	add := func(ns, name string, shape *record.PodShape) {
		if err := c.Add(record.NewPod(ns, name, shape)); err != nil {
			t.Fatal(err)
		}
	}
	web := &record.PodShape{Labels: record.Labels{"app", "web"}}
	add("a", "web-1", web)
	add("a", "web-2", web)
	add("a", "db-0", &record.PodShape{Labels: record.Labels{"app", "db", "statefulset.kubernetes.io/pod-name", "db-0"}})
	add("a", "db-1", &record.PodShape{Labels: record.Labels{"app", "db", "statefulset.kubernetes.io/pod-name", "db-1"}})
	add("a", "bare", &record.PodShape{})
	add("a", "no-shape", nil)
	add("ab", "web-1", web)
	var names []string
	for _, p := range PodsIn(c, "a") {
		names = append(names, p.Name())
	}
	slices.Sort(names)
	if want := []string{"bare", "db-0", "db-1", "no-shape", "web-1", "web-2"}; !slices.Equal(names, want) {
		t.Errorf("pods of a: %v, want %v", names, want)
	}
	if got := PodsIn(c, "ab"); len(got) != 1 || got[0].Namespace() != "ab" {
		t.Errorf("pods of ab: %v", got)
	}
}
