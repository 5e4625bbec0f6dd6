package collector

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
)

// node-a is healthy; node-b's kubelet stopped renewing its Lease 90s ago,
// the node controller marked it Unknown and tainted it, and
// node-problem-detector reports a kernel deadlock; node-c has no Lease.
func TestNodesConditionsLeasesTaints(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	lease := func(node string, age time.Duration) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: "kube-node-lease"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-age)))}}
	}
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status}
	}
	cs := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue), cond(corev1.NodeMemoryPressure, corev1.ConditionFalse)}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b"},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionUnknown), cond("KernelDeadlock", corev1.ConditionTrue)}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-c"}},
		lease("node-a", 3*time.Second), lease("node-b", 90*time.Second),
		lease("node-gone", time.Hour), // a Lease whose node was deleted: not reported
	)
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	col, err := newNodesCollector(Deps{Role: RoleCluster, Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	c := col.(*nodesCollector)
	c.now = func() time.Time { return now }
	startInformers(t, kc)
	golden(t, scrapeOnce(t, c), "nodes.prom", "kube_triage_node_condition", "kube_triage_node_lease_age_seconds", "kube_triage_node_unreachable_taint")

	// A Node deleted takes its series with it; the others stay.
	if err := cs.CoreV1().Nodes().Delete(context.Background(), "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := render(t, scrapeOnce(t, c))
		if !strings.Contains(out, `node="node-b"`) {
			if !strings.Contains(out, `kube_triage_node_schedulable{node="node-a"} 1`) {
				t.Errorf("node-a lost its series:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-b's series outlived it:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newTestKubeletProber(t *testing.T, url string, timeout time.Duration) *kubeletProber {
	t.Helper()
	col, err := newNodesCollector(Deps{Role: RoleNode, Logger: promslog.NewNopLogger(),
		Config: Config{Nodes: NodesConfig{Interval: time.Hour, Timeout: timeout, KubeletURL: url, KubeletInsecureTLS: true}},
		Kube:   &kube.Client{Config: &rest.Config{Host: "https://apiserver.invalid", BearerToken: "agent-token"}}})
	if err != nil {
		t.Fatal(err)
	}
	return col.(*kubeletProber)
}

// The node agent asks its kubelet with its own token, over TLS it does not
// verify; a healthy, a failing, a slow and an absent kubelet each read as
// what they are, and a slow one never holds the probe past its timeout.
func TestKubeletProbe(t *testing.T) {
	var gotAuth string
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok"))
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("[-]syncloop failed: reason withheld"))
		case "/slow":
			time.Sleep(2 * time.Second)
		}
	}))
	defer kubelet.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	for _, tc := range []struct {
		name, url                string
		reachable, success, code float64
	}{
		{"healthy", kubelet.URL + "/healthz", 1, 1, 200},
		{"failing", kubelet.URL + "/broken", 1, 0, 500},
		{"slow", kubelet.URL + "/slow", 0, 0, 0},
		{"down", "https://" + closed.Addr().String() + "/healthz", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestKubeletProber(t, tc.url, 300*time.Millisecond)
			start := time.Now()
			a := c.probe(context.Background())
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("probe took %s, beyond its 300ms timeout", took)
			}
			c.last = &a
			g := scrapeOnce(t, c)
			for name, want := range map[string]float64{"kube_triage_kubelet_reachable": tc.reachable,
				"kube_triage_kubelet_probe_success": tc.success, "kube_triage_kubelet_probe_http_status_code": tc.code} {
				if v, ok := sample(t, g, name, nil); !ok || v != want {
					t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
				}
			}
		})
	}
	if gotAuth != "Bearer agent-token" {
		t.Errorf("the kubelet was asked with Authorization %q, want the agent's token", gotAuth)
	}
}

func TestKubeletURLMustBeHTTP(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:10250", "ftp://x/healthz"} {
		_, err := newNodesCollector(Deps{Role: RoleNode, Config: Config{Nodes: NodesConfig{Interval: time.Second, Timeout: time.Second, KubeletURL: u}},
			Kube: &kube.Client{Config: &rest.Config{Host: "https://a"}}})
		if err == nil || !strings.Contains(err.Error(), "kubelet URL") {
			t.Errorf("URL %q: error %v, want one naming the kubelet URL", u, err)
		}
	}
}
