package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
	"github.com/kube-triage/kube-triage-exporter/mixin"
)

// runWalk runs `kube-triage-exporter triage ARGS -o json` and returns its
// report, exit code and standard error.
func runWalk(t testing.TB, args ...string) (report.Report, int, string) {
	t.Helper()
	cmd := exec.Command(testenv.Exporter(t), append(append([]string{"triage"}, args...), "-o", "json")...)
	cmd.Env = testenv.ChildEnv() // not "in a pod": nothing is dialled from the host's network namespace
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("triage %v: exit %d, not a JSON report: %v\nstdout:\n%s\nstderr:\n%s", args, code, err, stdout.String(), stderr.String())
	}
	return r, code, stderr.String()
}

// walk runs a walk against the local control plane.
func walk(t testing.TB, cluster *localcluster.Cluster, args ...string) (report.Report, int) {
	t.Helper()
	r, code, _ := runWalk(t, append(args, cluster.ExporterArgs()...)...)
	return r, code
}

// page reads a triage page of a running exporter as JSON.
func page(e *testenv.ExporterProcess, path string) (report.Report, error) {
	code, body, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+path+"?format=json")
	if err != nil {
		return report.Report{}, fmt.Errorf("GET %s: %w", path, err)
	}
	if code != http.StatusOK {
		return report.Report{}, fmt.Errorf("GET %s: %d %s", path, code, body)
	}
	var r report.Report
	return r, json.Unmarshal([]byte(body), &r)
}

// want checks a report's verdict and failing step, showing it whole when
// they are not what the case wants.
func want(r report.Report, verdict, failing string) error {
	if r.Verdict == verdict && r.FailingStep == failing {
		return nil
	}
	var b strings.Builder
	_ = r.WriteText(&b)
	return fmt.Errorf("want verdict %s failing at %q, got %s at %q:\n%s", verdict, failing, r.Verdict, r.FailingStep, b.String())
}

// The demo's broken Services and pod, walked by the command and by the
// page of a running exporter: each walk stops at the step that names the
// failure, the two agree, and the exit code says whether a step failed.
func TestTriageServicesAndPods(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx := context.Background()
	ns := clustertest.Namespace(t, cluster, "triage")
	core, apps := cluster.Client.CoreV1(), cluster.Client.AppsV1()
	deploy := func(name string, replicas int32) {
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/serve_hostname",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9376}}}},
				}}},
		}
		if _, err := apps.Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expose := func(name, app string, target intstr.IntOrString) {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app}, Ports: []corev1.ServicePort{{Name: "default", Port: 80, TargetPort: target}},
		}}
		if _, err := core.Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deploy("hostnames", 3)
	deploy("never-ready", 2)
	expose("hostnames", "hostnames", intstr.FromInt32(9376))
	expose("hostnames-typo", "hostname", intstr.FromInt32(9376))
	expose("never-ready", "never-ready", intstr.FromInt32(9376))
	expose("wrong-port", "hostnames", intstr.FromString("https"))
	oom := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "oom-victim"}, Spec: corev1.PodSpec{
		NodeName:   "node-a",
		Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53"}},
	}}
	if _, err := core.Pods(ns).Create(ctx, oom, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// kwok runs the pods and readies them; the kubelet's readiness probe
	// fails for never-ready's (the test takes Ready back), and oom-victim's
	// container is OOM-killed.
	testenv.WaitFor(t, "the pods running", time.Minute, func() (bool, error) {
		pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) < 6 {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 || !localcluster.PodReady(&p) {
				return false, nil
			}
		}
		return true, nil
	})
	pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=never-ready"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if err := cluster.SetPodReady(ctx, ns, p.Name, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.SetContainerTerminated(ctx, ns, "oom-victim", localcluster.Termination{
		Container: "app", Reason: "OOMKilled", ExitCode: 137, Restarts: 1, Message: "memory limit 16Mi",
	}); err != nil {
		t.Fatal(err)
	}
	e := testenv.StartExporter(t, cluster.ExporterArgs()...)
	defer e.Stop()
	// A second OOM kill once the exporter watches: the page's pod walk
	// lists the terminations it saw (the API keeps only the last).
	testenv.WaitFor(t, "the exporter ready", time.Minute, func() (bool, error) {
		code, _, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/readyz")
		return code == http.StatusOK, err
	})
	if err := cluster.SetContainerTerminated(ctx, ns, "oom-victim", localcluster.Termination{
		Container: "app", Reason: "OOMKilled", ExitCode: 137, Restarts: 2, Message: "memory limit 16Mi",
	}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the page's restart history", 30*time.Second, func() (bool, error) {
		p, err := page(e, "/triage/pod/"+ns+"/oom-victim")
		return err == nil && hasEvidence(p, "seen by the exporter") && hasEvidence(p, "app OOMKilled, exit code 137 (SIGKILL)"), err
	})

	cases := []struct {
		kind, name       string
		verdict, failing string
		evidence         string // a line some step must show
	}{
		{"service", "hostnames", "ok", "", "default -> 9376: exposed by 3 of 3 pods"},
		{"service", "hostnames-typo", "selector_matches_nothing", "selector", "app=hostname matches no running pod"},
		{"service", "never-ready", "pods_not_ready", "readiness", "condition Ready=False"},
		{"service", "wrong-port", "port_mismatch", "ports", "default -> https: exposed by 0 of 3 pods"},
		{"service", "absent", "not_found", "service", ""},
		{"pod", "oom-victim", "OOMKilled", "termination", "message: memory limit 16Mi"},
		{"pod", "absent", "not_found", "pod", ""},
	}
	for _, c := range cases {
		t.Run(c.kind+"/"+c.name, func(t *testing.T) {
			target := ns + "/" + c.name
			// The API is read as it is: the controllers may still be
			// publishing endpoints; wait for the walk to settle.
			var r report.Report
			var code int
			if err := testenv.Poll(30*time.Second, 200*time.Millisecond, func() (bool, error) {
				r, code = walk(t, cluster, c.kind, target)
				return want(r, c.verdict, c.failing) == nil, want(r, c.verdict, c.failing)
			}); err != nil {
				t.Fatal(err)
			}
			if wantCode := map[bool]int{true: 0, false: 1}[c.failing == ""]; code != wantCode {
				t.Errorf("exit code %d, want %d", code, wantCode)
			}
			if c.evidence != "" && !hasEvidence(r, c.evidence) {
				t.Errorf("no step shows %q", c.evidence)
			}
			if c.kind == "service" && c.verdict != "not_found" {
				if s := r.Step("dns"); s == nil || s.Status != report.Pass {
					t.Errorf("the DNS step did not pass: %+v", s)
				}
			}
			// The page of the running exporter walks its caches to the
			// same verdict and step.
			testenv.WaitFor(t, "the page's walk", 30*time.Second, func() (bool, error) {
				p, err := page(e, "/triage/"+c.kind+"/"+target)
				if err != nil {
					return false, err
				}
				return want(p, c.verdict, c.failing) == nil, want(p, c.verdict, c.failing)
			})
		})
	}
	checkTriageURLs(t, e, ns)
}

// The alerts' triage_url, with this exporter as the mixin's
// triageURLBase and the labels the alerts carry, opens the walk of what
// each alert names.
func checkTriageURLs(t *testing.T, e *testenv.ExporterProcess, ns string) {
	t.Helper()
	rendered, err := mixin.Render(`{triageURLBase: "http://` + e.Addr + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, a := range rendered.Alerts() {
		urls[a.Alert] = a.Annotations["triage_url"]
	}
	for _, c := range []struct {
		alert            string
		labels           map[string]string
		verdict, failing string
	}{
		{"ServiceNoReadyEndpoints", map[string]string{"namespace": ns, "service": "never-ready"}, "pods_not_ready", "readiness"},
		{"ServiceTargetPortMismatch", map[string]string{"namespace": ns, "service": "wrong-port"}, "port_mismatch", "ports"},
		{"ContainerOOMKilled", map[string]string{"namespace": ns, "workload_kind": "Pod", "workload": "oom-victim"}, "OOMKilled", "termination"},
	} {
		u := urls[c.alert]
		for k, v := range c.labels {
			u = strings.ReplaceAll(u, "{{ $labels."+k+" }}", v)
		}
		if !strings.HasPrefix(u, "http://"+e.Addr+"/triage/") || strings.Contains(u, "{{") {
			t.Fatalf("%s: triage_url %q", c.alert, urls[c.alert])
		}
		p, err := page(e, strings.TrimPrefix(u, "http://"+e.Addr))
		if err != nil {
			t.Fatalf("%s: %v", c.alert, err)
		}
		if err := want(p, c.verdict, c.failing); err != nil {
			t.Errorf("%s: %s: %v", c.alert, u, err)
		}
	}
}

// Without an apiserver the walks say so: a Service or pod walk is not
// made (exit 2, nothing judged from empty caches), the cluster walk names
// the apiserver down (exit 1).
func TestTriageWithoutAPIServer(t *testing.T) {
	dead := testenv.DeadKubeconfig(t)
	run := func(args ...string) (report.Report, int, string) {
		return runWalk(t, append(args, "--kubeconfig="+dead, "--list-timeout=1s", "--collector.apiserver.timeout=1s")...)
	}
	for _, args := range [][]string{{"service", "default/web"}, {"pod", "default/web-1"}} {
		r, code, stderr := run(args...)
		if code != 2 || r.Verdict != "unknown" || !strings.Contains(r.Incomplete, "did not list") {
			t.Errorf("%v: exit %d, verdict %s, incomplete %q", args, code, r.Verdict, r.Incomplete)
		}
		if stderr != "" {
			t.Errorf("%v: client-go's log on stderr:\n%s", args, stderr)
		}
	}
	r, code, _ := run("cluster")
	if err := want(r, "apiserver_down", "apiserver"); err != nil || code != 1 {
		t.Errorf("exit %d: %v", code, err)
	}
}

func hasEvidence(r report.Report, line string) bool {
	for _, s := range r.Steps {
		for _, e := range append([]string{s.Summary}, s.Evidence...) {
			if strings.Contains(e, line) {
				return true
			}
		}
	}
	return false
}

// The cluster walk: healthy, then a node whose kubelet stopped renewing
// its Lease, then etcd stopped under the apiserver. The command and the
// page of a running exporter name the same scenario.
func TestTriageCluster(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx := context.Background()
	e := testenv.StartExporter(t, append(cluster.ExporterArgs(), "--collector.apiserver.interval=1s", "--collector.dns.interval=1s")...)
	defer e.Stop()
	check := func(verdict, failing, evidence string) {
		t.Helper()
		var r report.Report
		var code int
		if err := testenv.Poll(60*time.Second, 500*time.Millisecond, func() (bool, error) {
			r, code = walk(t, cluster, "cluster")
			return want(r, verdict, failing) == nil, want(r, verdict, failing)
		}); err != nil {
			t.Fatal(err)
		}
		if wantCode := map[bool]int{true: 0, false: 1}[failing == ""]; code != wantCode {
			t.Errorf("exit code %d, want %d", code, wantCode)
		}
		if evidence != "" && !hasEvidence(r, evidence) {
			t.Errorf("no step shows %q", evidence)
		}
		testenv.WaitFor(t, "the page's walk", 60*time.Second, func() (bool, error) {
			p, err := page(e, "/triage/cluster")
			if err != nil {
				return false, err
			}
			return want(p, verdict, failing) == nil, want(p, verdict, failing)
		})
	}
	check("ok", "", "kubernetes.default.svc.cluster.local.: success [10.96.0.1], through the DNS Service")

	// A node that stops renewing its Lease: its last renewal five minutes
	// ago, as the Lease of a node shut down then reads.
	const node = "triage-gone"
	if err := cluster.AddNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cluster.Client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
		_ = cluster.Client.CoordinationV1().Leases("kube-node-lease").Delete(ctx, node, metav1.DeleteOptions{})
	}()
	if err := cluster.StopLeaseRenewal(node); err != nil {
		t.Fatal(err)
	}
	old := metav1.NewMicroTime(time.Now().Add(-5 * time.Minute)).UTC().Format("2006-01-02T15:04:05.000000Z")
	patch := fmt.Appendf(nil, `{"spec":{"renewTime":%q}}`, old)
	if _, err := cluster.Client.CoordinationV1().Leases("kube-node-lease").Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	check("node_down", "nodes", node+": Lease 5m")
	if err := cluster.Client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.CoordinationV1().Leases("kube-node-lease").Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// etcd stopped: the apiserver answers, its storage checks fail, and
	// nothing can be listed.
	if err := cluster.StopComponent(localcluster.Etcd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cluster.StartComponent(ctx, localcluster.Etcd); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, "the apiserver ready again", time.Minute, func() (bool, error) {
			body, err := cluster.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(ctx).Raw()
			return err == nil && strings.TrimSpace(string(body)) == "ok", err
		})
	}()
	check("etcd_storage_lost", "apiserver", "failing: etcd")
}
