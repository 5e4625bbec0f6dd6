package kube

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster/clustertest"
)

func TestMain(m *testing.M) { clustertest.Main(m) }

// Against a real apiserver: the informer syncs; when the apiserver dies its
// list/watch errors are counted and it keeps retrying with backoff; when
// the apiserver returns the cache follows new objects again.
func TestInformersSurviveAPIServerRestart(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kc, err := NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	nodes := kc.Informers.Informer("nodes", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Nodes().Informer()
	})
	kc.Informers.Start(ctx)
	waitUntil(t, "initial sync", func() bool { return len(kc.Informers.Pending()) == 0 })
	all, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(nodes.GetStore().ListKeys()); got != len(all.Items) {
		t.Fatalf("cached %d nodes, the apiserver has %d", got, len(all.Items))
	}

	if err := cluster.KillComponent(localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !slices.ContainsFunc(kc.RequestFailures(), func(rc ResourceCount) bool { return rc.Resource == "nodes" && rc.Count > 0 }) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed request to nodes counted while the apiserver was down: %v", kc.RequestFailures())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cluster.StartComponent(ctx, localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	added := fmt.Sprintf("node-after-restart-%d", time.Now().UnixNano())
	if err := cluster.AddNode(ctx, added); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(90 * time.Second) // the reflector's backoff caps at 30s
	for {
		if _, ok, _ := nodes.GetStore().GetByKey(added); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the informer did not reconnect and see a node added after the restart")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
