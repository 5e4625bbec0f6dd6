package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// BenchmarkNodeAgentAt10kServices runs the node agent (its default
// collectors, no sweep) on the local control plane before and after
// 10,000 Services exist, and reports its Go heap in use each time: a node
// agent watches the Services it probes by name, so 5,000 agents are not
// 5,000 watches of every Service and its heap does not grow with them. For
// contrast, the same agent with the DNS sweep on, which watches them all.
func BenchmarkNodeAgentAt10kServices(b *testing.B) {
	cluster := clustertest.Shared(b)
	agentHeap := func(extra ...string) float64 {
		e := testenv.StartExporter(b, append(append(cluster.ExporterArgs(), "--role=node", "--node-name=node-a",
			"--collector.kubeproxy.url=http://127.0.0.1:1", "--collector.kubelet.url=http://127.0.0.1:1/healthz"), extra...)...)
		defer e.Stop()
		testenv.WaitFor(b, "the node agent ready", time.Minute, func() (bool, error) {
			code, _, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/readyz")
			return code == 200, err
		})
		// The smallest of a few readings: the heap in use between collections.
		heap := 0.0
		for i := range 5 {
			_, body, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/metrics")
			if err != nil {
				b.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes (\S+)$`).FindStringSubmatch(body)
			if m == nil {
				b.Fatalf("no go_memstats_heap_inuse_bytes in:\n%s", body)
			}
			v, _ := strconv.ParseFloat(m[1], 64)
			if i == 0 || v < heap {
				heap = v
			}
			time.Sleep(200 * time.Millisecond)
		}
		return heap
	}
	for range b.N {
		before := agentHeap()
		ns := clustertest.Namespace(b, cluster, "bench-services")
		createServices(b, cluster.Config, ns, 10_000)
		after := agentHeap()
		// For contrast, what watching every Service would cost: the sweep does.
		all := agentHeap("--collector.dns.sweep-interval=1h")
		b.ReportMetric(before, "heap-B/0-services")
		b.ReportMetric(after, "heap-B/10k-services")
		b.ReportMetric(all, "heap-B/10k-services-all-watched")
		if err := cluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// createServices creates n headless Services (no ClusterIP to allocate) in
// ns.
func createServices(b *testing.B, cfg *rest.Config, ns string, n int) {
	createMany(b, cfg, n, func(client kubernetes.Interface, i int) error {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%05d", i)},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": fmt.Sprintf("app-%d", i)},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		_, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
		return err
	})
}

// createMany calls create for 0..n-1, 20 at a time, with a client whose
// rate limit does not hold them up.
func createMany(b *testing.B, cfg *rest.Config, n int, create func(client kubernetes.Interface, i int) error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 2000, 2000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	for range 20 {
		wg.Go(func() {
			for i := range work {
				if err := create(client, i); err != nil {
					failed.Do(func() { b.Error(err) })
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkTriageServiceAt1000Pods walks, with the command, a Service whose
// selector matches the 1,000 pods of its namespace, 100 of them not ready
// (so the walk also fetches the conditions and events of the first five):
// the whole command, from start to report, reported as seconds per walk.
// The README's figure; the bound is 2 seconds.
func BenchmarkTriageServiceAt1000Pods(b *testing.B) {
	cluster := clustertest.Shared(b)
	ctx := context.Background()
	ns := clustertest.Namespace(b, cluster, "bench-triage")
	const pods, notReady = 1000, 100
	createMany(b, cluster.Config, pods, func(client kubernetes.Interface, i int) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-%04d", i), Labels: map[string]string{"app": "big", "shard": strconv.Itoa(i % 10)}},
			Spec: corev1.PodSpec{NodeName: cluster.Nodes[i%len(cluster.Nodes)], Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/serve_hostname",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9376}}}}}}
		_, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "big"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	testenv.WaitFor(b, "1,000 pods ready", 5*time.Minute, func() (bool, error) {
		list, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if localcluster.PodReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == pods, fmt.Errorf("%d of %d ready", ready, pods)
	})
	for i := range notReady {
		if err := cluster.SetPodReady(ctx, ns, fmt.Sprintf("big-%04d", i), false); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		r, code := walk(b, cluster, "service", ns+"/big")
		if code != 0 || r.Verdict != "ok" || !hasEvidence(r, fmt.Sprintf("%d of %d ready", pods-notReady, pods)) {
			var text strings.Builder
			_ = r.WriteText(&text)
			b.Fatalf("exit %d:\n%s", code, text.String())
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/walk")
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
}
