package services

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
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
		createDeployment(ctx, t, cluster, ns, name, replicas, map[string]string{"app": name}, port)
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

	col := runServicesCollector(ctx, t, cluster)

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
		"hostnames":          string(guide.VerdictOK),
		"hostnames-typo":     string(guide.VerdictSelectorMatchesNothing),
		"hostnames-headless": string(guide.VerdictOK),
		"wrong-port":         string(guide.VerdictPortMismatch),
		"never-ready":        string(guide.VerdictPodsNotReady),
	}
	testenv.WaitFor(t, "each Service's verdict and endpoint counts", 90*time.Second, func() (bool, error) {
		g := scrapeOnce(t, col)
		var wrong []string
		for service, verdict := range want {
			if v, ok := collectortest.Sample(t, g, "kube_triage_service_verdict", map[string]string{"namespace": ns, "service": service, "verdict": verdict}); !ok || v != 1 {
				wrong = append(wrong, service+" is not "+verdict)
			}
		}
		ready, _ := collectortest.Sample(t, g, "kube_triage_service_endpoints", map[string]string{"namespace": ns, "service": "hostnames", "condition": "ready", "address_type": "IPv4"})
		notReady, _ := collectortest.Sample(t, g, "kube_triage_service_endpoints", map[string]string{"namespace": ns, "service": "never-ready", "condition": "not_ready", "address_type": "IPv4"})
		missing, _ := collectortest.Sample(t, g, "kube_triage_service_port_target_missing", map[string]string{"namespace": ns, "service": "wrong-port", "port": "default"})
		if len(wrong) == 0 && ready == 3 && notReady == 2 && missing == 1 {
			return true, nil
		}
		return false, fmt.Errorf("%v; hostnames ready endpoints %v (want 3), never-ready not-ready endpoints %v (want 2), wrong-port missing %v (want 1)",
			wrong, ready, notReady, missing)
	})
}

// Scale to zero and per-port truth on the real control plane: a Deployment
// scaled from 2 to 0 and back is scaled_to_zero, then ok, and never a
// selector that matches nothing; a named targetPort exposed by some of the
// ready pods is served by those (ok, the others counted as missing it),
// then, once only unready pods expose it, the port has no ready endpoint;
// a Local internal traffic policy counts the nodes with a ready endpoint.
func TestServicesScaleToZeroAndPortsOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := clustertest.Namespace(t, cluster, "svc-ports")
	deploy := func(name string, replicas int32, labels map[string]string, ports ...corev1.ContainerPort) {
		t.Helper()
		createDeployment(ctx, t, cluster, ns, name, replicas, labels, ports...)
	}
	expose := func(s *corev1.Service) {
		t.Helper()
		if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	http := corev1.ContainerPort{Name: "http", ContainerPort: 9376}
	admin := corev1.ContainerPort{Name: "admin", ContainerPort: 9000}
	deploy("parkable", 2, map[string]string{"app": "parkable"}, http)
	expose(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "parkable"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "parkable"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})
	deploy("full", 2, map[string]string{"app": "mixed", "track": "full"}, http, admin)
	deploy("lite", 2, map[string]string{"app": "mixed", "track": "lite"}, http)
	expose(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "mixed"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "mixed"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "admin", Port: 9000, TargetPort: intstr.FromString("admin")}}}})
	expose(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lite-local"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"track": "lite"},
		InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
		Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})

	col := runServicesCollector(ctx, t, cluster)

	verdict := func(service string) string {
		for _, v := range []string{string(guide.VerdictOK), string(guide.VerdictSelectorMatchesNothing), string(guide.VerdictScaledToZero), string(guide.VerdictPodsNotReady), string(guide.VerdictPortMismatch), string(guide.VerdictNoEndpoints), string(guide.VerdictPortNoEndpoints)} {
			if x, ok := collectortest.Sample(t, scrapeOnce(t, col), "kube_triage_service_verdict", map[string]string{"namespace": ns, "service": service, "verdict": v}); ok && x == 1 {
				return v
			}
		}
		return "(none)"
	}
	value := func(metric string, labels map[string]string) float64 {
		labels["namespace"] = ns
		v, _ := collectortest.Sample(t, scrapeOnce(t, col), metric, labels)
		return v
	}
	// seen records every verdict parkable had, while waiting, and
	// longestNothing the longest run of selector_matches_nothing: the pods
	// and the workloads come through separate watches, so for a moment
	// around a scale from zero the pods may be gone or not yet there while
	// the Deployment wants some. A moment does not page (the alert waits
	// minutes); a run that lasts would.
	seen := map[string]bool{}
	var nothingSince time.Time
	var longestNothing time.Duration
	// cond gets the verdict of parkable just read and recorded: reading
	// it again there could see one that seen missed.
	waitFor := func(what string, cond func(parkable string) bool) {
		t.Helper()
		testenv.WaitFor(t, what, 90*time.Second, func() (bool, error) {
			parkable := verdict("parkable")
			seen[parkable] = true
			switch {
			case parkable != string(guide.VerdictSelectorMatchesNothing):
				nothingSince = time.Time{}
			case nothingSince.IsZero():
				nothingSince = time.Now()
			default:
				longestNothing = max(longestNothing, time.Since(nothingSince))
			}
			if cond(parkable) {
				return true, nil
			}
			return false, fmt.Errorf("parkable %s, mixed %s", parkable, verdict("mixed"))
		})
	}
	scale := func(replicas int32) {
		t.Helper()
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "parkable", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Spec.Replicas = ptr.To(replicas)
		if _, err := cluster.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	waitFor("parkable ok", func(parkable string) bool { return parkable == string(guide.VerdictOK) })
	waitFor("mixed ok with the admin port served by the full pods only", func(string) bool {
		return verdict("mixed") == string(guide.VerdictOK) &&
			value("kube_triage_service_port_endpoints", map[string]string{"service": "mixed", "port": "admin", "condition": "ready"}) == 2 &&
			value("kube_triage_service_port_endpoints", map[string]string{"service": "mixed", "port": "http", "condition": "ready"}) == 4 &&
			value("kube_triage_service_port_pods_missing_target", map[string]string{"service": "mixed", "port": "admin"}) == 2 &&
			value("kube_triage_service_selected_workloads", map[string]string{"service": "mixed"}) == 2
	})

	scale(0)
	clear(seen)
	waitFor("parkable scaled_to_zero, naming its Deployment", func(parkable string) bool {
		return parkable == string(guide.VerdictScaledToZero) &&
			value("kube_triage_service_scaled_to_zero", map[string]string{"service": "parkable", "workload_kind": "Deployment", "workload": "parkable"}) == 1
	})
	scale(2)
	waitFor("parkable ok again", func(parkable string) bool { return parkable == string(guide.VerdictOK) })
	if longestNothing > 5*time.Second {
		t.Errorf("parkable was selector_matches_nothing for %s on its way to zero and back (verdicts seen: %v)", longestNothing, seen)
	}
	if !seen[string(guide.VerdictScaledToZero)] || !seen[string(guide.VerdictOK)] {
		t.Errorf("verdicts seen on the way to zero and back: %v", seen)
	}

	// The readiness probes of the full pods fail: only unready pods expose
	// the admin port now.
	go func() {
		for ctx.Err() == nil {
			pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "track=full"})
			if err == nil {
				for _, p := range pods.Items {
					_ = cluster.SetPodReady(ctx, ns, p.Name, false)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	waitFor("mixed port_no_endpoints", func(string) bool {
		return verdict("mixed") == string(guide.VerdictPortNoEndpoints) &&
			value("kube_triage_service_port_endpoints", map[string]string{"service": "mixed", "port": "admin", "condition": "ready"}) == 0
	})

	// The Local policy: as many nodes as the lite pods run on.
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "track=lite"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range pods.Items {
		nodes[p.Spec.NodeName] = true
	}
	waitFor("lite-local's nodes counted", func(string) bool {
		return value("kube_triage_service_local_endpoint_nodes", map[string]string{"service": "lite-local", "traffic_policy": "internal"}) == float64(len(nodes))
	})
}

// runServicesCollector runs the services collector on the cluster, judging
// every 200ms, until ctx ends.
func runServicesCollector(ctx context.Context, t *testing.T, cluster *localcluster.Cluster) *servicesCollector {
	t.Helper()
	kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	col, err := newServicesCollector(Config{Interval: 200 * time.Millisecond}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	kc.Informers.Start(ctx)
	go col.run(ctx)
	return col
}

// createDeployment creates a Deployment of the serve_hostname image with
// the container ports given.
func createDeployment(ctx context.Context, t *testing.T, cluster *localcluster.Cluster, ns, name string, replicas int32, labels map[string]string, ports ...corev1.ContainerPort) {
	t.Helper()
	_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/serve_hostname", Ports: ports}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
