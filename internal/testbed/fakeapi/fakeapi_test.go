package fakeapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/clustergen"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// A client-go informer, asking for protobuf as the exporter's do, syncs
// every object served and then sees the events published; what is not
// served is recorded.
func TestInformerSyncsAndWatches(t *testing.T) {
	s := New(t)
	c := clustergen.Cluster{Pods: 1000, Nodes: 3, Services: 10, Namespaces: 2}
	s.Serve(t, "/api/v1/pods", &corev1.Pod{}, c.Pods, func(i int) runtime.Object { return c.Pod(i) })
	cfg := &rest.Config{Host: s.URL} // protobuf for built-in types: client-go's default
	client := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		t.Fatal("not synced")
	}
	if n := len(pods.GetStore().ListKeys()); n != c.Pods {
		t.Fatalf("informer has %d pods, want %d", n, c.Pods)
	}
	s.Publish(t, "/api/v1/pods", s.Encode(t, 10, func(i int) runtime.Object { return c.Restarted(i, 1, "5000") }))
	testenv.WaitFor(t, "the restarts in the cache", 30*time.Second, func() (bool, error) {
		for i := range 10 {
			p := c.Pod(i)
			obj, ok, _ := pods.GetStore().GetByKey(p.Namespace + "/" + p.Name)
			if !ok || obj.(*corev1.Pod).ResourceVersion != "5000" {
				return false, nil
			}
		}
		return true, nil
	})
	if _, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("a list of what is not served succeeded")
	}
	// A selector it would not apply is refused too.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/pods?watch=true&sendInitialEvents=true&labelSelector=app%3Dweb", nil)
	req.Header.Set("Accept", runtime.ContentTypeProtobuf)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a watch with a label selector: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	if got := s.Unexpected(); len(got) != 2 || !strings.HasPrefix(got[0], "GET /api/v1/pods?watch=true&sendInitialEvents=true&labelSelector") || !strings.HasPrefix(got[1], "GET /api/v1/services") {
		t.Errorf("unexpected requests %q, want the selector's watch and the services list", got)
	}
}
