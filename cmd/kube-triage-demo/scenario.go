package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
)

const (
	demoNamespace = "demo"
	// staleNode is the node whose kubelet "dies": its Lease stops renewing.
	staleNode = "node-c"
)

// scenario is the demo namespace: the guide's working Service and the ways
// a Service or a pod goes wrong.
type scenario struct {
	cluster *localcluster.Cluster
}

func deployment(name string, replicas int32, labels map[string]string, port int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: demoNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// Keep the demo's pods off the node that goes stale.
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpNotIn, Values: []string{staleNode}}},
						}}},
					}},
					Containers: []corev1.Container{{
						Name: name, Image: "registry.k8s.io/serve_hostname",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}},
					}},
				},
			},
		},
	}
}

func service(name string, selector map[string]string, targetPort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: demoNamespace},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{
			Name: "default", Port: 80, TargetPort: intstr.FromInt32(targetPort),
		}}},
	}
}

// setUp creates the demo's objects:
//   - hostnames: the guide's Deployment and Service, working;
//   - hostnames-typo: a Service whose selector matches no pod;
//   - never-ready: a Service whose pods never become ready;
//   - wrong-port: a Service whose targetPort names a port no pod has;
//   - parked: a Deployment scaled to zero and its Service, empty on purpose;
//   - local-only: a Service with internalTrafficPolicy Local whose one pod
//     runs on node-a: pods on the other nodes cannot reach it;
//   - oom-victim: a pod that keeps being OOM-killed;
//   - node-c: a node whose Lease stops being renewed.
func setUp(ctx context.Context, c *localcluster.Cluster) (*scenario, error) {
	if err := c.CreateNamespace(ctx, demoNamespace); err != nil {
		return nil, err
	}
	apps, core := c.Client.AppsV1().Deployments(demoNamespace), c.Client.CoreV1()
	hostnames := map[string]string{"app": "hostnames"}
	neverReady := map[string]string{"app": "never-ready"}
	parked := map[string]string{"app": "parked"}
	localOnly := map[string]string{"app": "local-only"}
	onNodeA := deployment("local-only", 1, localOnly, 9376)
	onNodeA.Spec.Template.Spec.Affinity = nil
	onNodeA.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "node-a"}
	for _, d := range []*appsv1.Deployment{
		deployment("hostnames", 3, hostnames, 9376),
		deployment("never-ready", 2, neverReady, 8080),
		deployment("parked", 0, parked, 9376),
		onNodeA,
	} {
		if _, err := apps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating deployment %s: %w", d.Name, err)
		}
	}
	wrongPort := service("wrong-port", hostnames, 0)
	wrongPort.Spec.Ports[0].TargetPort = intstr.FromString("https") // the pods name theirs "http"
	local := service("local-only", localOnly, 9376)
	local.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	for _, s := range []*corev1.Service{
		service("hostnames", hostnames, 9376),
		service("hostnames-typo", map[string]string{"app": "hostname"}, 9376),
		service("never-ready", neverReady, 8080),
		service("parked", parked, 9376),
		wrongPort,
		local,
	} {
		if _, err := core.Services(demoNamespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating service %s: %w", s.Name, err)
		}
	}
	oom := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "oom-victim", Namespace: demoNamespace, Labels: map[string]string{"app": "oom-victim"}},
		Spec: corev1.PodSpec{
			NodeName: "node-a",
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}},
			}},
		},
	}
	if _, err := core.Pods(demoNamespace).Create(ctx, oom, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating pod oom-victim: %w", err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := core.Pods(demoNamespace).Get(ctx, "oom-victim", metav1.GetOptions{})
		return err == nil && len(p.Status.ContainerStatuses) > 0, nil
	}); err != nil {
		return nil, fmt.Errorf("waiting for oom-victim to run: %w", err)
	}
	say("  hostnames        Deployment (3 pods) + Service: works, as in the guide")
	say("  hostnames-typo   Service whose selector (app=hostname) matches no pod")
	say("  never-ready      Deployment (2 pods) + Service: the pods never become ready")
	say("  wrong-port       Service over hostnames' pods whose targetPort \"https\" no container declares")
	say("  parked           Deployment scaled to 0 + Service: empty on purpose, verdict scaled_to_zero, no page")
	say("  local-only       Service with internalTrafficPolicy Local, its one pod on node-a: other nodes drop its traffic")
	say("  oom-victim       pod whose container is OOM-killed every 10s")
	if err := c.StopLeaseRenewal(staleNode); err != nil {
		return nil, err
	}
	say("  %-16s node whose kubelet stopped: its Lease goes stale (kube_triage_node_lease_age_seconds)", staleNode)
	return &scenario{cluster: c}, nil
}

// keepFailing plays the failures a kubelet would report: the never-ready
// pods stay not ready, and oom-victim dies of OOM every 10 seconds.
func (s *scenario) keepFailing(ctx context.Context) {
	restarts := int32(0)
	var lastOOM time.Time
	tick := time.NewTicker(time.Second) // un-ready new pods soon after kwok readies them
	defer tick.Stop()
	for {
		pods, err := s.cluster.Client.CoreV1().Pods(demoNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=never-ready"})
		if err == nil {
			for _, p := range pods.Items {
				if localcluster.PodReady(&p) {
					_ = s.cluster.SetPodReady(ctx, demoNamespace, p.Name, false)
				}
			}
		}
		if time.Since(lastOOM) >= 10*time.Second {
			lastOOM = time.Now()
			restarts++
			_ = s.cluster.SetContainerTerminated(ctx, demoNamespace, "oom-victim", localcluster.Termination{
				Container: "app", Reason: "OOMKilled", ExitCode: 137, Restarts: restarts,
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
