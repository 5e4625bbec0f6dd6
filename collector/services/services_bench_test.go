package services

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// Scale of the benchmark: 10,000 Services, 20,000 EndpointSlices and
// 100,000 pods, in 100 namespaces.
const (
	benchNamespaces       = 100
	benchServicesPerNS    = 100
	benchPodsPerService   = 10
	benchSlicesPerService = 2
)

// benchPod is a pod as the API serves it: labels, owner, a container with
// ports, probes and resources, status with conditions, managedFields.
func benchPod(ns string, svc, i int) *corev1.Pod {
	name := fmt.Sprintf("svc-%d-7d9f8c6b5-%05d", svc, i)
	now := metav1.Now()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID(fmt.Sprintf("%s-%s-uid-0000-000000000000", ns, name)),
			ResourceVersion: "123456789", CreationTimestamp: now,
			// Seven labels, as Helm charts and kustomize leave them.
			Labels: map[string]string{"app": fmt.Sprintf("svc-%d", svc), "pod-template-hash": "7d9f8c6b5", "tier": "backend",
				"app.kubernetes.io/name": fmt.Sprintf("svc-%d", svc), "app.kubernetes.io/instance": fmt.Sprintf("svc-%d-prod", svc),
				"app.kubernetes.io/version": "1.4.2", "team": "payments"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-11-24T00:00:00Z", "prometheus.io/scrape": "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("svc-%d-7d9f8c6b5", svc), UID: "rs-uid", Controller: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", APIVersion: "v1", Time: &now,
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(strings.Repeat("x", 2048))}},
		},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("node-%d", i%50), ServiceAccountName: "default",
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/team/app:v1.2.3",
				Args:           []string{"--port=9376", "--log-level=info"},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 9376, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
				Env:            []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1.1", HostIP: "192.168.0.1", StartTime: &now,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "registry.example.com/team/app:v1.2.3",
				ImageID:     "registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				ContainerID: "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
		},
	}
}

func benchService(ns string, svc int) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", svc), Namespace: ns, UID: types.UID(fmt.Sprintf("%s-svc-%d", ns, svc)), ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": fmt.Sprintf("svc-%d", svc)}, ClusterIP: "10.96.0.1",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func benchSlice(ns string, svc, i int) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("svc-%d-%05d", svc, i), Namespace: ns, ResourceVersion: "1",
			Labels: map[string]string{discoveryv1.LabelServiceName: fmt.Sprintf("svc-%d", svc), discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](9376)}},
	}
	for e := range benchPodsPerService / benchSlicesPerService {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.244.%d.%d", svc%250, e)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To("node-1"),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("svc-%d-%d", svc, e)},
		})
	}
	return s
}

// newPodIndexer is a cache of pod records, without index as the informers'.
func newPodIndexer() cache.Indexer {
	return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
}

func newNamespaceIndexer(more ...cache.Indexers) cache.Indexer {
	indexers := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	for _, m := range more {
		maps.Copy(indexers, m)
	}
	return cache.NewIndexer(cache.MetaNamespaceKeyFunc, indexers)
}

// fill adds n objects, each transformed as the informer would, and returns
// the heap they hold per object.
func fill(b *testing.B, idx cache.Indexer, transform cache.TransformFunc, n int, make func(i int) any) float64 {
	b.Helper()
	before := testenv.HeapAlloc()
	for i := range n {
		obj, err := transform(make(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := idx.Add(obj); err != nil {
			b.Fatal(err)
		}
	}
	held := testenv.HeapAlloc() - before
	runtime.KeepAlive(idx) // measured above, so it must still be live there
	return float64(held) / float64(n)
}

func identity(obj any) (any, error) { return obj, nil }

// servicesFixture is a services collector over caches filled as the
// informers would fill them: services Services in namespaces namespaces,
// each with benchSlicesPerService EndpointSlices and benchPodsPerService
// pods, all judged.
type servicesFixture struct {
	c                            *servicesCollector
	pods                         cache.Indexer
	perPod, perService, perSlice float64 // heap per cached object
	judgeAll                     time.Duration
}

func newServicesFixture(b *testing.B, namespaces, services int) *servicesFixture {
	transform := kube.NewTransform()
	svcs, epSlices, pods := newNamespaceIndexer(servicesIndexers.services), newNamespaceIndexer(servicesIndexers.slices), newPodIndexer()
	ns := func(i int) string { return fmt.Sprintf("ns-%03d", i%namespaces) }
	f := &servicesFixture{pods: pods}
	f.perService = fill(b, svcs, transform, services, func(i int) any { return benchService(ns(i), i/namespaces) })
	f.perSlice = fill(b, epSlices, transform, services*benchSlicesPerService, func(i int) any {
		s := i / benchSlicesPerService
		return benchSlice(ns(s), s/namespaces, i%benchSlicesPerService)
	})
	f.perPod = fill(b, pods, transform, services*benchPodsPerService, func(i int) any {
		s := i / benchPodsPerService
		return benchPod(ns(s), s/namespaces, i%benchPodsPerService)
	})
	f.c = newServicesJudge(promslog.NewNopLogger(), Config{Interval: time.Second}, svcs, epSlices, pods)
	// The label sets, as the informer's Add events make them: counted in
	// the heap per pod.
	before := testenv.HeapAlloc()
	for _, obj := range pods.List() {
		f.c.labelSets.add(obj.(*record.Pod))
	}
	f.perPod += float64(testenv.HeapAlloc()-before) / float64(len(pods.ListKeys()))
	for _, k := range svcs.ListKeys() {
		f.c.dirty[k] = true
	}
	start := time.Now()
	f.c.judgeDirty()
	f.judgeAll = time.Since(start)
	return f
}

// cpuPerPodUpdate applies pod updates as a cluster's status churn makes
// them, through the collector's event handler: each flips one pod's
// readiness, or restarts a container (which changes nothing judged); a
// judging round follows every 100 updates, as Run would. It returns the
// process CPU per update.
func (f *servicesFixture) cpuPerPodUpdate(updates int) time.Duration {
	podKeys := f.pods.ListKeys()
	handler := f.c.podHandler()
	cpu := testenv.ProcessCPU()
	for i := range updates {
		obj, _, _ := f.pods.GetByKey(podKeys[i%len(podKeys)])
		old := obj.(*record.Pod)
		cur := *old
		cur.Containers = slices.Clone(old.Containers)
		if i%2 == 0 {
			cur.Ready = !old.Ready
		} else if len(cur.Containers) > 0 {
			cur.Containers[0].RestartCount++
		}
		_ = f.pods.Update(&cur)
		handler.OnUpdate(old, &cur)
		if i%100 == 99 {
			f.c.judgeDirty()
		}
	}
	f.c.judgeDirty()
	return (testenv.ProcessCPU() - cpu) / time.Duration(updates)
}

// BenchmarkServicesAtScale loads 10,000 Services, 20,000 EndpointSlices and
// 100,000 pods into the collector's caches as the informers would, in 100
// namespaces of 1,000 pods or 10 of 10,000, and reports the heap per cached
// object (with the full API object cached instead, for comparison), the
// time to judge every Service, the CPU per pod update (which must not grow
// with the namespace), and, per iteration, one scrape.
func BenchmarkServicesAtScale(b *testing.B) {
	for _, namespaces := range []int{benchNamespaces, benchNamespaces / 10} {
		b.Run(fmt.Sprintf("pods-per-namespace=%d", benchServicesPerNS*benchNamespaces*benchPodsPerService/namespaces), func(b *testing.B) {
			f := newServicesFixture(b, namespaces, benchNamespaces*benchServicesPerNS)
			// The same pods cached whole, as an informer without a transform would.
			fullPerPod := fill(b, newNamespaceIndexer(), identity, 5000, func(i int) any { return benchPod("full", i/benchPodsPerService, i%benchPodsPerService) })
			perUpdate := f.cpuPerPodUpdate(20_000)

			e := collectortest.Exporter(b, "services", f.c.Collector())
			var out bytes.Buffer
			if err := e.WriteMetrics(context.Background(), &out, expfmt.NewFormat(expfmt.TypeTextPlain), nil); err != nil {
				b.Fatal(err)
			}
			series := bytes.Count(out.Bytes(), []byte("\n")) - 2*bytes.Count(out.Bytes(), []byte("\n# TYPE"))
			b.ResetTimer()
			for range b.N {
				if err := e.WriteMetrics(context.Background(), io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain), nil); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: ResetTimer discards metrics reported before it.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(series), "ns/series")
			b.ReportMetric(perUpdate.Seconds(), "cpu-s/pod-update")
			b.ReportMetric(f.perPod, "B/pod")
			b.ReportMetric(fullPerPod, "B/full-pod")
			b.ReportMetric(f.perService, "B/service")
			b.ReportMetric(f.perSlice, "B/slice")
			b.ReportMetric(float64(f.judgeAll.Milliseconds()), "ms/judge-all")
			b.ReportMetric(float64(series), "series")
		})
	}
}

// BenchmarkConcurrentScrapes: 50 scrapers at once, each gzipped as
// Prometheus asks, of a 3,000-pod cluster's Services (300 Services); it
// reports each scrape's p50 and p99.
func BenchmarkConcurrentScrapes(b *testing.B) {
	f := newServicesFixture(b, 3, 300)
	e := collectortest.Exporter(b, "services", f.c.Collector())
	var all []time.Duration
	gzips := sync.Pool{New: func() any { // as the server keeps them
		gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return gz
	}}
	for range b.N {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				start := time.Now()
				gz := gzips.Get().(*gzip.Writer)
				gz.Reset(io.Discard)
				defer gzips.Put(gz)
				if err := e.WriteMetrics(context.Background(), gz, expfmt.NewFormat(expfmt.TypeOpenMetrics), nil); err != nil {
					b.Error(err)
				}
				_ = gz.Close()
				mu.Lock()
				all = append(all, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	slices.Sort(all)
	b.ReportMetric(all[len(all)/2].Seconds(), "p50-s")
	b.ReportMetric(all[len(all)*99/100].Seconds(), "p99-s")
}
