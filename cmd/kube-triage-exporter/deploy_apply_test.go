package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// deploy/ as kustomize renders it is accepted by the real apiserver: a
// server-side dry-run apply, with prometheus-operator's CRDs installed (so
// the ServiceMonitor and PrometheusRule are checked against their schemas),
// succeeds for every object. A field the schemas do not know fails it.
func TestDeployAppliesToTheRealAPIServer(t *testing.T) {
	cluster := clustertest.Shared(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := bins.Ensure(root, t.Logf, "kubectl"); err != nil {
		t.Fatal(err)
	}
	kubectl := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bins.Dir(root), "kubectl"), append([]string{"--kubeconfig=" + cluster.Kubeconfig}, args...)...)
		cmd.Dir = root
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// The module proxy serves prometheus-operator's API types but not the
	// repository's CRD files: generate them from the types, as upstream does.
	crds := t.TempDir()
	gen := exec.Command("go", "tool", "-modfile=tools/crds/go.mod", "controller-gen", "crd:crdVersions=v1,maxDescLen=0",
		"paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1", "output:crd:dir="+crds)
	gen.Dir = root
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generating the CRDs: %v\n%s", err, out)
	}
	if out, err := kubectl(nil, "apply", "--server-side", "-f", filepath.Join(crds, "monitoring.coreos.com_servicemonitors.yaml"),
		"-f", filepath.Join(crds, "monitoring.coreos.com_prometheusrules.yaml")); err != nil {
		t.Fatalf("installing the CRDs: %v\n%s", err, out)
	}
	if out, err := kubectl(nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatalf("waiting for the CRDs: %v\n%s", err, out)
	}

	rendered, err := kubectl(nil, "kustomize", "deploy")
	if err != nil {
		t.Fatalf("kubectl kustomize deploy: %v\n%s", err, rendered)
	}
	// A dry run creates nothing, so the namespace the objects go to must
	// exist already.
	if err := cluster.CreateNamespace(t.Context(), "kube-triage"); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl([]byte(rendered), "apply", "--server-side", "--dry-run=server", "--field-manager=kube-triage-test", "-f", "-")
	if err != nil {
		t.Fatalf("server-side dry-run apply of deploy/: %v\n%s", err, out)
	}
	docs := strings.Count("\n"+rendered, "\nkind: ")
	if applied := strings.Count(out, "serverside-applied (server dry run)"); applied != docs {
		t.Errorf("%d of %d objects applied:\n%s", applied, docs, out)
	}
	for _, kind := range []string{"servicemonitor.monitoring.coreos.com/kube-triage-exporter", "prometheusrule.monitoring.coreos.com/kube-triage-exporter",
		"daemonset.apps/kube-triage-exporter-node", "deployment.apps/kube-triage-exporter"} {
		if !strings.Contains(out, kind) {
			t.Errorf("%s not applied:\n%s", kind, out)
		}
	}

	// The examples apply too, in an application namespace.
	if err := cluster.CreateNamespace(t.Context(), "shop"); err != nil {
		t.Fatal(err)
	}
	example := filepath.Join("deploy", "examples", "networkpolicy-allow-kube-triage.yaml")
	if out, err := kubectl(nil, "apply", "--server-side", "--dry-run=server", "--field-manager=kube-triage-test", "-n", "shop", "-f", example); err != nil ||
		!strings.Contains(out, "networkpolicy.networking.k8s.io/allow-kube-triage-exporter serverside-applied") {
		t.Errorf("server-side dry-run apply of %s: %v\n%s", example, err, out)
	}

	// The schemas are enforced: a misspelt field is refused.
	typo := strings.Replace(rendered, "honorLabels: true", "honourLabels: true", 1)
	if typo == rendered {
		t.Fatal("the ServiceMonitor no longer sets honorLabels; pick another field to misspell")
	}
	if out, err := kubectl([]byte(typo), "apply", "--server-side", "--dry-run=server", "--field-manager=kube-triage-test", "-f", "-"); err == nil || !strings.Contains(out, "honourLabels") {
		t.Errorf("a misspelt ServiceMonitor field was accepted (err %v):\n%s", err, out)
	}
}
