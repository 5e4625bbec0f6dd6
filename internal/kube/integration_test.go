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

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
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
	testenv.WaitFor(t, "initial sync", 10*time.Second, func() (bool, error) {
		pending := kc.Informers.Pending()
		return len(pending) == 0, fmt.Errorf("pending %v", pending)
	})
	all, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(nodes.Cache().ListKeys()); got != len(all.Items) {
		t.Fatalf("cached %d nodes, the apiserver has %d", got, len(all.Items))
	}

	if err := cluster.KillComponent(localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "a failed request to nodes counted while the apiserver is down", 60*time.Second, func() (bool, error) {
		failures := kc.RequestFailures()
		if !slices.ContainsFunc(failures, func(rc ResourceCount) bool { return rc.Resource == "nodes" && rc.Count > 0 }) {
			return false, fmt.Errorf("request failures %v", failures)
		}
		return true, nil
	})
	if err := cluster.StartComponent(ctx, localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	added := fmt.Sprintf("node-after-restart-%d", time.Now().UnixNano())
	if err := cluster.AddNode(ctx, added); err != nil {
		t.Fatal(err)
	}
	// 90s: the reflector's backoff caps at 30s.
	testenv.WaitFor(t, "the informer to reconnect and see a node added after the restart", 90*time.Second, func() (bool, error) {
		_, ok, err := nodes.Cache().GetByKey(added)
		return ok, err
	})
}
