package collector

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/localcluster/clustertest"
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
	deadline := time.Now().Add(60 * time.Second)
	for pod == "" {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=crashy"})
		if err == nil && len(pods.Items) == 1 && len(pods.Items[0].Status.ContainerStatuses) == 1 {
			pod = pods.Items[0].Name
		}
		if time.Now().After(deadline) {
			t.Fatal("the Deployment's pod never ran")
		}
		time.Sleep(100 * time.Millisecond)
	}

	var logs lockedBuffer
	start := func() (*terminationsCollector, context.CancelFunc) {
		kc, err := kube.NewClient(cluster.Config, "local", 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		col, err := newTerminationsCollector(Deps{Logger: promslog.New(&promslog.Config{Writer: &logs}), Kube: kc, Config: testTerminationsConfig})
		if err != nil {
			t.Fatal(err)
		}
		return col.(*terminationsCollector), startInformers(t, kc)
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
		deadline := time.Now().Add(30 * time.Second)
		for {
			counts := c.allCounts()
			ok := len(counts) == len(want)
			for k, v := range want {
				ok = ok && counts[k] == v
			}
			got := fmtCounts(counts)
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("counts %s, want %s", got, fmtCounts(want))
			}
			time.Sleep(100 * time.Millisecond)
		}
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
	time.Sleep(time.Second) // a late duplicate from the relist would land now
	waitCounts(first, counts)

	// The last words go to the log and the page, never to /metrics.
	if !strings.Contains(logs.String(), `panic: <nil map> & \"quotes\"`) {
		t.Errorf("the termination message is not in the log:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	first.Pages()["/terminations"].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/terminations", nil))
	if !strings.Contains(rec.Body.String(), html.EscapeString(lastWords)) {
		t.Errorf("the termination message is not on the page:\n%s", rec.Body.String())
	}
	if out := render(t, scrapeOnce(t, first)); strings.Contains(out, "nil map") {
		t.Error("the termination message reached /metrics")
	}
	stopFirst()

	// A new exporter: the 7 restarts it finds are its baseline.
	second, stopSecond := start()
	defer stopSecond()
	die(9, "OOMKilled", 137, "")
	waitCounts(second, map[terminationKey]float64{key("OOMKilled", "137", "SIGKILL"): 2})
}

// lockedBuffer is a log destination that tests read while the collector
// writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func fmtCounts(m map[terminationKey]float64) string {
	s := ""
	for k, v := range m {
		s += k.reason + "/" + k.exitCode + "/" + k.signal + "=" + ftoa(v) + " "
	}
	return s
}
