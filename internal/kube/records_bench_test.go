package kube

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

const benchPods = 150_000

// apiPod is a pod as the API serves it, about 6 KB in memory.
func apiPod(i int) corev1.Pod {
	now := metav1.Now()
	name := fmt.Sprintf("web-%d-7d9f8c6b5-%05d", i/10, i%10)
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: fmt.Sprintf("ns-%03d", i%100), UID: types.UID(fmt.Sprintf("uid-%08d-0000-0000-0000-000000000000", i)),
			ResourceVersion: "123456", CreationTimestamp: now,
			Labels:          map[string]string{"app": fmt.Sprintf("web-%d", i/10), "pod-template-hash": "7d9f8c6b5"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-11-24T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("web-%d-7d9f8c6b5", i/10), UID: "rs", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("node-%d", i%500),
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/team/app:v1.2.3", Args: []string{"--port=9376"},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 9376}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
				Env:            []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1.1", HostIP: "192.168.0.1", StartTime: &now,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 2, Image: "registry.example.com/team/app:v1.2.3",
				ImageID:              "registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				ContainerID:          "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: now}}}},
		},
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkPodInformerMemory fills an informer with 150,000 pods through
// the records transform, as the exporter does at start, and reports:
//   - B/pod and MiB-steady: the live heap per cached pod once filled;
//   - peak-live/steady: the largest live heap (as the garbage collector
//     marks it at the end of each cycle) while filling, against steady
//     state: what the exporter must hold at once;
//   - peak-heap/steady: the largest heap including garbage not yet
//     collected, which GOGC and GOMEMLIMIT govern.
//
// Three ways the initial state can come:
//   - list-untrimmed: pages of 500 (client-go's pager), which the
//     reflector gathers whole before it stores them, so every full object
//     is alive at once (what a plain informer does);
//   - list: the same pages, each turned into records as it arrives
//     (TrimmedList, what the exporter's pods informer does);
//   - watchlist: a streaming watch (the WatchListClient feature, on by
//     default since client-go 0.35), one object at a time, each
//     transformed as it arrives.
func BenchmarkPodInformerMemory(b *testing.B) {
	for _, mode := range []string{"list-untrimmed", "list", "watchlist"} {
		b.Run(mode, func(b *testing.B) {
			// The environment variable is read once per process: set the gate.
			clientfeaturestesting.SetFeatureDuringTest(b, clientfeatures.WatchListClient, mode == "watchlist")
			for range b.N {
				fillPodInformer(b, mode == "list")
			}
		})
	}
}

func fillPodInformer(b *testing.B, trimPages bool) {
	base := heap()
	var peakHeap, peakLive atomic.Uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // sample the heap while the informer fills
		defer close(stopped)
		var m runtime.MemStats
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			runtime.ReadMemStats(&m)
			peakHeap.Store(max(peakHeap.Load(), m.HeapAlloc))
			metrics.Read(live)
			peakLive.Store(max(peakLive.Load(), live[0].Value.Uint64()))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(_ context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			start := 0
			if o.Continue != "" {
				_, _ = fmt.Sscan(o.Continue, &start)
			}
			limit := int(o.Limit)
			if limit == 0 {
				limit = benchPods
			}
			list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
			for i := start; i < min(start+limit, benchPods); i++ {
				list.Items = append(list.Items, apiPod(i))
			}
			if start+limit < benchPods {
				list.Continue = fmt.Sprint(start + limit)
			}
			return list, nil
		},
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w := watch.NewFakeWithChanSize(100, false)
			if o.SendInitialEvents != nil && *o.SendInitialEvents {
				go func() {
					for i := range benchPods {
						p := apiPod(i)
						w.Add(&p)
					}
					w.Action(watch.Bookmark, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1",
						Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
				}()
			}
			return w, nil
		},
	}
	in := newInterner()
	if trimPages {
		lw.ListWithContextFunc = TrimmedList(lw.ListWithContextFunc, in.trim)
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = inf.SetTransform(in.trim)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	// Every 10ms, not WaitFor's 50ms: the wait is part of the time measured.
	if err := testenv.Poll(2*time.Minute, 10*time.Millisecond, func() (bool, error) { return inf.HasSynced(), nil }); err != nil {
		b.Fatalf("informer did not sync: %v", err)
	}
	close(stop)
	<-stopped
	steady := heap()
	if n := len(inf.GetStore().ListKeys()); n != benchPods {
		b.Fatalf("cached %d pods", n)
	}
	held := float64(steady - base)
	b.ReportMetric(held/benchPods, "B/pod")
	b.ReportMetric(held/(1<<20), "MiB-steady")
	b.ReportMetric(float64(peakLive.Load()-base)/held, "peak-live/steady")
	b.ReportMetric(float64(peakHeap.Load()-base)/held, "peak-heap/steady")
	runtime.KeepAlive(inf)
}
