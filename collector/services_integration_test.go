package collector

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster/clustertest"
)

// The services collector on the real control plane: pods run on simulated
// nodes, the real controller-manager builds the EndpointSlices, and each of
// the guide's cases gets its verdict.
func TestServicesOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := clustertest.Namespace(t, cluster, "svc-verdicts")
	deploy := func(name string, replicas int32, port corev1.ContainerPort) {
		t.Helper()
		labels := map[string]string{"app": name}
		_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.k8s.io/serve_hostname", Ports: []corev1.ContainerPort{port}}}},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	expose := func(name string, selector map[string]string, target intstr.IntOrString, headless bool) {
		t.Helper()
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "default", Port: 80, TargetPort: target}}},
		}
		if headless {
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}
		if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	http := corev1.ContainerPort{Name: "http", ContainerPort: 9376}
	deploy("hostnames", 3, http)
	expose("hostnames", map[string]string{"app": "hostnames"}, intstr.FromInt32(9376), false)
	expose("hostnames-typo", map[string]string{"app": "hostname"}, intstr.FromInt32(9376), false)
	expose("hostnames-headless", map[string]string{"app": "hostnames"}, intstr.FromString("http"), true)
	expose("wrong-port", map[string]string{"app": "hostnames"}, intstr.FromString("https"), false)
	deploy("never-ready", 2, http)
	expose("never-ready", map[string]string{"app": "never-ready"}, intstr.FromInt32(9376), false)

	kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	col, err := newServicesCollector(Deps{Logger: promslog.NewNopLogger(), Config: Config{Services: ServicesConfig{Interval: 200 * time.Millisecond}}, Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	kc.Informers.Start(ctx)
	go col.(Runner).Run(ctx)

	// The kubelet's readiness probe fails for never-ready's pods: kwok made
	// them Ready, the test takes it back, as the kubelet would.
	go func() {
		for ctx.Err() == nil {
			pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=never-ready"})
			if err == nil {
				for _, p := range pods.Items {
					for _, c := range p.Status.Conditions {
						if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
							_ = cluster.SetPodReady(ctx, ns, p.Name, false)
						}
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	want := map[string]string{
		"hostnames":          verdictOK,
		"hostnames-typo":     verdictSelectorMatchesNothing,
		"hostnames-headless": verdictOK,
		"wrong-port":         verdictPortMismatch,
		"never-ready":        verdictPodsNotReady,
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		g := scrapeOnce(t, col)
		var wrong []string
		for service, verdict := range want {
			if v, ok := sample(t, g, "kube_triage_service_verdict", map[string]string{"namespace": ns, "service": service, "verdict": verdict}); !ok || v != 1 {
				wrong = append(wrong, service+" is not "+verdict)
			}
		}
		ready, _ := sample(t, g, "kube_triage_service_endpoints", map[string]string{"namespace": ns, "service": "hostnames", "condition": "ready", "address_type": "IPv4"})
		notReady, _ := sample(t, g, "kube_triage_service_endpoints", map[string]string{"namespace": ns, "service": "never-ready", "condition": "not_ready", "address_type": "IPv4"})
		missing, _ := sample(t, g, "kube_triage_service_port_target_missing", map[string]string{"namespace": ns, "service": "wrong-port", "port": "default"})
		if len(wrong) == 0 && ready == 3 && notReady == 2 && missing == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s: %v; hostnames ready endpoints %v (want 3), never-ready not-ready endpoints %v (want 2), wrong-port missing %v (want 1)",
				wrong, ready, notReady, missing)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
