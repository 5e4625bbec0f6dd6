package terminations

import (
	"context"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// On the real control plane: a Deployment's pod dies of OOM, of an error
// and of a SIGSEGV, several times between two looks, written into its
// status as the kubelet would; then a new exporter starts (its baseline is
// what it finds) and counts only what happens after. Exact values.
func TestTerminationsOnRealControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx := context.Background()
	ns := clustertest.Namespace(t, cluster, "terminations")
	labels := map[string]string{"app": "crashy"}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "crashy"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod string
	testenv.WaitFor(t, "the Deployment's pod to run", 60*time.Second, func() (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=crashy"})
		if err != nil {
			return false, err
		}
		if len(pods.Items) != 1 || len(pods.Items[0].Status.ContainerStatuses) != 1 {
			return false, fmt.Errorf("%d pods labelled app=crashy, want 1 with its container's status", len(pods.Items))
		}
		pod = pods.Items[0].Name
		return true, nil
	})

	var logs testenv.SyncBuffer
	start := func() (*terminationsCollector, context.CancelFunc) {
		kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		col, err := newTerminationsCollector(testTerminationsConfig, collector.Deps{Logger: promslog.New(&promslog.Config{Writer: &logs}), Kube: kc})
		if err != nil {
			t.Fatal(err)
		}
		return col, collectortest.StartInformers(t, kc)
	}
	die := func(restarts int32, reason string, code int32, message string) {
		t.Helper()
		if err := cluster.SetContainerTerminated(ctx, ns, pod, localcluster.Termination{Container: "app", Reason: reason, ExitCode: code, Restarts: restarts, Message: message}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(reason, code, signal string) terminationKey {
		return terminationKey{ns, "Deployment", "crashy", "app", "regular", reason, code, signal}
	}
	waitCounts := func(c *terminationsCollector, want map[terminationKey]float64) {
		t.Helper()
		testenv.WaitFor(t, "the counts", 30*time.Second, func() (bool, error) {
			counts := c.allCounts()
			ok := len(counts) == len(want)
			for k, v := range want {
				ok = ok && counts[k] == v
			}
			if !ok {
				return false, fmt.Errorf("counts %s, want %s", fmtCounts(counts), fmtCounts(want))
			}
			return true, nil
		})
	}

	first, stopFirst := start()
	die(1, "OOMKilled", 137, "")
	die(4, "OOMKilled", 137, "") // 3 more restarts before the exporter looks again
	die(5, "Error", 1, "")
	die(6, "Error", 139, "")
	counts := map[terminationKey]float64{
		key("OOMKilled", "137", "SIGKILL"): 4,
		key("Error", "1", ""):              1,
		key("Error", "139", "SIGSEGV"):     1,
	}
	waitCounts(first, counts)

	// The apiserver restarts: the watch breaks and reconnects, and what
	// the exporter sees again is not counted again; what happens after is.
	if err := cluster.StopComponent(localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	if err := cluster.StartComponent(ctx, localcluster.APIServer); err != nil {
		t.Fatal(err)
	}
	const lastWords = "panic: <nil map> & \"quotes\""
	die(7, "Error", 1, lastWords)
	counts[key("Error", "1", "")] = 2
	waitCounts(first, counts)
	// A late duplicate from the relist would land before a sentinel that
	// follows: the container now waits in CrashLoopBackOff, which counts no
	// termination. The informer hands the collector its events in order,
	// so once the sentinel is seen, so is anything the reconnection sent
	// before it.
	if err := cluster.SetContainerWaiting(ctx, ns, pod, "app", "CrashLoopBackOff"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the sentinel CrashLoopBackOff", 30*time.Second, func() (bool, error) {
		v, ok := collectortest.Sample(t, scrapeOnce(t, first), "kube_triage_workload_pods_waiting", map[string]string{"namespace": ns, "workload_kind": "Deployment", "workload": "crashy", "reason": "CrashLoopBackOff"})
		if !ok || v != 1 {
			return false, fmt.Errorf("crashy's pods waiting %v (present %v), want 1", v, ok)
		}
		return true, nil
	})
	if got := first.allCounts(); !maps.Equal(got, counts) {
		t.Errorf("after the apiserver restart: counts %s, want %s", fmtCounts(got), fmtCounts(counts))
	}

	// The last words go to the log and the page, never to /metrics.
	if !strings.Contains(logs.String(), `panic: <nil map> & \"quotes\"`) {
		t.Errorf("the termination message is not in the log:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	first.pages()["/terminations"].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/terminations", nil))
	if !strings.Contains(rec.Body.String(), html.EscapeString(lastWords)) {
		t.Errorf("the termination message is not on the page:\n%s", rec.Body.String())
	}
	if out := collectortest.Render(t, scrapeOnce(t, first)); strings.Contains(out, "nil map") {
		t.Error("the termination message reached /metrics")
	}
	stopFirst()

	// A new exporter: the 7 restarts it finds are its baseline.
	second, stopSecond := start()
	defer stopSecond()
	die(9, "OOMKilled", 137, "")
	waitCounts(second, map[terminationKey]float64{key("OOMKilled", "137", "SIGKILL"): 2})
}

func fmtCounts(m map[terminationKey]float64) string {
	s := ""
	for k, v := range m {
		s += k.reason + "/" + k.exitCode + "/" + k.signal + "=" + strconv.FormatFloat(v, 'g', -1, 64) + " "
	}
	return s
}
