package nodes

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
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
	col, err := newNodesCollector(collector.Deps{Role: collector.RoleCluster, Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	c := col
	c.now = func() time.Time { return now }
	collectortest.StartInformers(t, kc)
	collectortest.Golden(t, scrapeOnce(t, c), "nodes.prom", "kube_triage_node_condition", "kube_triage_node_lease_age_seconds", "kube_triage_node_unreachable_taint")

	// A Node deleted takes its series with it; the others stay.
	if err := cs.CoreV1().Nodes().Delete(context.Background(), "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var out string
	testenv.WaitFor(t, "node-b's series to go with it", 10*time.Second, func() (bool, error) {
		out = collectortest.Render(t, scrapeOnce(t, c))
		if strings.Contains(out, `node="node-b"`) {
			return false, fmt.Errorf("node-b's series outlived it:\n%s", out)
		}
		return true, nil
	})
	if !strings.Contains(out, `kube_triage_node_schedulable{node="node-a"} 1`) {
		t.Errorf("node-a lost its series:\n%s", out)
	}
}

func scrapeOnce(t *testing.T, c *nodesCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "nodes", c.Collector())
}
