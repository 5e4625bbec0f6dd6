package localcluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestMain(m *testing.M) { clustertest.Main(m) }

// poll waits for cond with testenv.WaitFor, passing it a context that ends
// with the timeout, so that a request that hangs ends the wait too.
func poll(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	testenv.WaitFor(t, what, timeout, func() (bool, error) { return cond(ctx) })
}

// The chain is real: the scheduler places the pods on simulated nodes, kwok
// runs them, the real controller-manager builds EndpointSlices from the
// ready pods, and the real CoreDNS answers the Service's name with its
// ClusterIP.
func TestChainIsReal(t *testing.T) {
	c := clustertest.Shared(t)
	ctx := context.Background()
	ns := clustertest.Namespace(t, c, "chain")
	labels := map[string]string{"app": "hostnames"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hostnames", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "hostnames", Image: "registry.k8s.io/serve_hostname",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9376}},
				}}},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hostnames", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
			Name: "default", Port: 80, TargetPort: intstr.FromInt32(9376),
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	poll(t, "3 ready endpoints from the EndpointSlice controller", 60*time.Second, func(ctx context.Context) (bool, error) {
		slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=hostnames"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, s := range slices.Items {
			if s.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" {
				continue
			}
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready && ep.NodeName != nil && strings.HasPrefix(*ep.NodeName, "node-") {
					ready++
				}
			}
		}
		return ready == 3, fmt.Errorf("%d ready endpoints on simulated nodes", ready)
	})

	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, c.DNSAddr)
	}}
	var addrs []string
	fqdn := "hostnames." + ns + ".svc.cluster.local."
	poll(t, "CoreDNS to answer "+fqdn, 30*time.Second, func(ctx context.Context) (bool, error) {
		addrs, err = resolver.LookupHost(ctx, fqdn)
		return err == nil, err
	})
	if len(addrs) != 1 || addrs[0] != svc.Spec.ClusterIP {
		t.Errorf("%s = %v, want [%s]", fqdn, addrs, svc.Spec.ClusterIP)
	}
	_, err = resolver.LookupHost(ctx, "nosuchservice."+ns+".svc.cluster.local.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("a missing Service resolved or failed oddly: %v", err)
	}
}

// The harness can take etcd away and give it back: the apiserver stays up
// and says its etcd check fails, as in the "storage lost" scenario.
func TestStopAndRestartEtcd(t *testing.T) {
	c := clustertest.Shared(t)
	ctx := context.Background()
	// A failing /readyz is an error whose text carries the verbose body.
	readyz := func(ctx context.Context) string {
		body, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").Param("verbose", "").Do(ctx).Raw()
		if err != nil {
			return err.Error()
		}
		return string(body)
	}
	if err := c.StopComponent(localcluster.Etcd); err != nil {
		t.Fatal(err)
	}
	poll(t, "the apiserver to report [-]etcd", 60*time.Second, func(ctx context.Context) (bool, error) {
		body := readyz(ctx)
		return strings.Contains(body, "[-]etcd "), fmt.Errorf("/readyz says:\n%s", body)
	})
	if err := c.StartComponent(ctx, localcluster.Etcd); err != nil {
		t.Fatal(err)
	}
	poll(t, "the apiserver to report [+]etcd ok", 60*time.Second, func(ctx context.Context) (bool, error) {
		body := readyz(ctx)
		return strings.Contains(body, "[+]etcd ok"), fmt.Errorf("/readyz says:\n%s", body)
	})
}

// A node whose Lease renewal stops keeps its last renewTime.
func TestStopLeaseRenewal(t *testing.T) {
	c := clustertest.Shared(t)
	ctx := context.Background()
	node := c.Nodes[len(c.Nodes)-1]
	renewTime := func(ctx context.Context) time.Time {
		l, err := c.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, node, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return time.Time{}
		}
		return l.Spec.RenewTime.Time
	}
	poll(t, "a node Lease", 30*time.Second, func(ctx context.Context) (bool, error) { return !renewTime(ctx).IsZero(), nil })
	if err := c.StopLeaseRenewal(node); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let a renewal already under way land
	stopped := renewTime(ctx)
	time.Sleep(15 * time.Second) // kwok renews every 10s for a 40s Lease
	if got := renewTime(ctx); !got.Equal(stopped) {
		t.Errorf("Lease renewed at %s after renewal stopped at %s", got, stopped)
	}
	if err := c.ResumeLeaseRenewal(ctx, node); err != nil {
		t.Fatal(err)
	}
	poll(t, "renewal to resume", 30*time.Second, func(ctx context.Context) (bool, error) { return renewTime(ctx).After(stopped), nil })
}

// A node that comes back reports its running pods ready again, as a
// kubelet does; a pod whose container is not running stays not ready.
func TestResumeLeaseRenewalReportsPodsReady(t *testing.T) {
	c := clustertest.Shared(t)
	ctx := context.Background()
	ns := clustertest.Namespace(t, c, "resume")
	node := c.Nodes[0]
	for _, name := range []string{"running", "looping"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, name+" ready", time.Minute, func(ctx context.Context) (bool, error) { return ready(ctx, c, ns, name), nil })
	}
	if err := c.SetContainerWaiting(ctx, ns, "looping", "app", "CrashLoopBackOff"); err != nil {
		t.Fatal(err)
	}
	if err := c.StopLeaseRenewal(node); err != nil {
		t.Fatal(err)
	}
	// What the node controller does to the pods of a node that stopped
	// reporting.
	for _, name := range []string{"running", "looping"} {
		if err := c.SetPodReady(ctx, ns, name, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ResumeLeaseRenewal(ctx, node); err != nil {
		t.Fatal(err)
	}
	if !ready(ctx, c, ns, "running") {
		t.Error("the running pod is not ready after its node came back")
	}
	if ready(ctx, c, ns, "looping") {
		t.Error("the crash-looping pod was reported ready")
	}
}

func ready(ctx context.Context, c *localcluster.Cluster, ns, name string) bool {
	p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	return err == nil && localcluster.PodReady(p)
}

// A node that comes back (its kubelet stand-in started again after the
// node controller marked it not Ready) keeps its addresses, as a kubelet's
// node does: kube-proxy exits when its Node's IPs change.
func TestNodeKeepsItsAddressesWhenItComesBack(t *testing.T) {
	c := clustertest.Shared(t)
	ctx := context.Background()
	const node = "node-returning"
	if err := c.AddNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the shared cluster's other tests count its nodes
		_ = c.StopLeaseRenewal(node)
		_ = c.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{})
	})
	nodeIPs := func(ctx context.Context) ([]string, bool) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return nil, false
		}
		var ips []string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ips = append(ips, a.Address)
			}
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return ips, cond.Status == corev1.ConditionTrue
			}
		}
		return ips, false
	}
	poll(t, "the node Ready with an InternalIP", 30*time.Second, func(ctx context.Context) (bool, error) {
		ips, ready := nodeIPs(ctx)
		return ready && len(ips) == 1, fmt.Errorf("InternalIPs %v", ips)
	})
	if err := c.StopLeaseRenewal(node); err != nil {
		t.Fatal(err)
	}
	// The node controller marks it Unknown once its grace period is over.
	testenv.WaitFor(t, "the node controller to mark the node not Ready", 2*time.Minute, func() (bool, error) {
		_, ready := nodeIPs(ctx)
		return !ready, nil
	})
	if err := c.ResumeLeaseRenewal(ctx, node); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the node Ready again", 30*time.Second, func() (bool, error) {
		_, ready := nodeIPs(ctx)
		return ready, nil
	})
	if ips, _ := nodeIPs(ctx); len(ips) != 1 || ips[0] != "127.0.0.1" {
		t.Errorf("InternalIPs after the node came back: %v, want [127.0.0.1]", ips)
	}
}
