//go:build linux

package backends

import (
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/nodenet"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// TestBackendsOnARealNetwork runs the cluster exporter in the pod network
// (a network namespace of the local control plane's nodenet, as its
// Deployment's pod) against backend pods with addresses of their own: one
// that serves, one whose port is closed (its readiness, as the API says it,
// still passes), and one behind a NetworkPolicy-like drop. The closed port
// reads as a refusal, the drop as a timeout; a Service whose only
// endpoint drops reads as no_access (it pages nobody), one with an
// answering endpoint beside it as unreachable.
func TestBackendsOnARealNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the local control plane and network namespaces")
	}
	c := clustertest.Shared(t)
	ns := clustertest.Namespace(t, c, "backends")
	w := nodenet.New(t, c)
	const port = 9376
	serving, closed, guarded := w.Pod(t, "be-serving"), w.Pod(t, "be-closed"), w.Pod(t, "be-guarded")
	serving.Serve(t, port)
	guarded.Serve(t, port)
	guarded.DropIncoming(t, port)
	w.ServiceOf(t, ns, "answers", "10.96.1.10", 80, port, serving)
	w.ServiceOf(t, ns, "refuses", "10.96.1.11", 80, port, serving, closed)
	w.ServiceOf(t, ns, "partly-dropped", "10.96.1.12", 80, port, serving, guarded)
	w.ServiceOf(t, ns, "dropped", "10.96.1.13", 80, port, guarded)

	e := w.Exporter(t, "--collector.backends.interval=1s", "--collector.backends.timeout=500ms", "--namespaces="+ns)
	wait := func(what, name string, labels map[string]string, want float64) {
		t.Helper()
		if name != "kube_triage_backends_services" {
			labels["namespace"] = ns
		}
		testenv.WaitFor(t, what, time.Minute, func() (bool, error) {
			v, found, err := testenv.Sample(e.Addr, name, labels)
			return found && v == want, err
		})
	}
	wait("the serving Service to answer", "kube_triage_service_backends_verdict", map[string]string{"service": "answers", "verdict": "answering"}, 1)
	wait("the closed port to be refused", "kube_triage_service_port_backends", map[string]string{"service": "refuses", "port": "http", "result": "refused"}, 1)
	wait("the refusing Service's verdict", "kube_triage_service_backends_verdict", map[string]string{"service": "refuses", "verdict": "not_answering"}, 1)
	wait("the dropped endpoint to time out", "kube_triage_service_port_backends", map[string]string{"service": "partly-dropped", "port": "http", "result": "timeout"}, 1)
	wait("the partly dropped Service's verdict", "kube_triage_service_backends_verdict", map[string]string{"service": "partly-dropped", "verdict": "unreachable"}, 1)
	wait("the Service behind a policy's verdict", "kube_triage_service_backends_verdict", map[string]string{"service": "dropped", "verdict": "no_access"}, 1)
	if v, found, err := testenv.Sample(e.Addr, "kube_triage_service_port_backends", map[string]string{"namespace": ns, "service": "partly-dropped", "result": "refused"}); err != nil || found {
		t.Errorf("a dropped endpoint reads as a refusal (%v, %v)", v, err)
	}
	wait("the answering Services' count", "kube_triage_backends_services", map[string]string{"verdict": "answering"}, 1)
}
