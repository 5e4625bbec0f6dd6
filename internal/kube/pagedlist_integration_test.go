package kube

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// With watch-list off (an apiserver before 1.34), a trimmed informer lists
// a real apiserver in pages of 500, each turned into records, and caches
// every object.
func TestTrimmedInformerPagesOnRealAPIServer(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := clustertest.Namespace(t, cluster, "paged")
	const n = 1100
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 10 {
		wg.Go(func() {
			for i := range work {
				if _, err := admin.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%04d", i)},
					Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()

	var pages, continued atomic.Int64
	cfg = rest.CopyConfig(cluster.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			if strings.HasSuffix(r.URL.Path, "/namespaces/"+ns+"/services") && q.Get("watch") == "" {
				pages.Add(1)
				if q.Get("limit") != "500" {
					t.Errorf("a list without limit=500: %s", r.URL)
				}
				if q.Get("continue") != "" {
					continued.Add(1)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	kc, err := NewClient(cfg, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	kc.Informers.SetScope(Scope{Include: []string{ns}})
	services := kc.Informers.Namespaced("services", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return kc.Informers.TrimmedInformer(f, Services)
	})
	kc.Informers.Start(ctx)
	testenv.WaitFor(t, "the paged informer's sync", 10*time.Second, func() (bool, error) { return services.HasSynced(), nil })
	objs := services.Cache().List()
	if len(objs) != n {
		t.Errorf("cached %d Services, want %d", len(objs), n)
	}
	for _, o := range objs {
		if _, ok := o.(*record.Service); !ok {
			t.Fatalf("cached a %T, want a *Service record", o)
		}
	}
	if pages.Load() != 3 || continued.Load() != 2 {
		t.Errorf("%d list requests, %d of them continued; want 3 pages of 500", pages.Load(), continued.Load())
	}
}
