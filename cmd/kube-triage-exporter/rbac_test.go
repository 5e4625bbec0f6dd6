package main

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// The RBAC in deploy/ is applied to the real apiserver, and the exporter
// runs in each role as exactly that role's ServiceAccount (the admin
// impersonating it): every informer syncs and no request is forbidden.
// The same identity is refused what it must not do.
func TestDeployRBACIsEnoughOnTheRealAPIServer(t *testing.T) {
	cluster := clustertest.Shared(t)
	ctx := context.Background()
	m := loadManifests(t)
	if err := cluster.CreateNamespace(ctx, m.namespace); err != nil {
		t.Fatal(err)
	}
	c := cluster.Client
	for _, sa := range m.serviceAccounts {
		sa.Namespace = m.namespace
		create(t, func() error {
			_, err := c.CoreV1().ServiceAccounts(m.namespace).Create(ctx, &sa, metav1.CreateOptions{})
			return err
		})
	}
	for _, r := range m.clusterRoles {
		create(t, func() error { _, err := c.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); return err })
	}
	for _, b := range m.bindings {
		create(t, func() error {
			_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{})
			return err
		})
	}

	for _, w := range m.workloads() {
		t.Run(w.name, func(t *testing.T) {
			sa := "system:serviceaccount:" + m.namespace + ":" + w.template.Spec.ServiceAccountName
			kubeconfig := impersonating(t, cluster, sa)
			args := append(cluster.ExporterArgsWith(kubeconfig), "--role="+string(w.role), "--node-name="+cluster.Nodes[0],
				"--collector.apiserver.interval=500ms", "--log.level=debug")
			e := testenv.StartExporter(t, args...)
			testenv.WaitFor(t, "/readyz 200 as "+sa, time.Minute, func() (bool, error) {
				code, _, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/readyz")
				return code == http.StatusOK, err
			})
			var body string
			testenv.WaitFor(t, "a verbose /readyz probe answered", 30*time.Second, func() (bool, error) {
				_, b, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/metrics")
				body = b
				return strings.Contains(b, `kube_triage_apiserver_probe_success{endpoint="readyz"} 1`), err
			})
			if bad := regexp.MustCompile(`kube_triage_kubernetes_watch_errors_total\{[^}]*\} [1-9]`).FindString(body); bad != "" {
				t.Errorf("list or watch errors as %s: %s", sa, bad)
			}
			if strings.Contains(body, `reason="auth"} 1`) {
				t.Errorf("apiserver probes refused as %s", sa)
			}
			if strings.Contains(strings.ToLower(e.Output.String()), "forbidden") {
				t.Errorf("forbidden requests as %s:\n%s", sa, e.Output.String())
			}

			// And no more: never Secrets, never a write; the node role reads no pods.
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			as := kubernetes.NewForConfigOrDie(cfg)
			refused := map[string]error{}
			_, refused["list secrets"] = as.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			_, refused["create pods"] = as.CoreV1().Pods(m.namespace).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
			refused["delete a Service"] = as.CoreV1().Services("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{})
			if w.role == "node" {
				_, refused["list pods"] = as.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			}
			for what, err := range refused {
				if !apierrors.IsForbidden(err) {
					t.Errorf("%s may %s (error %v); want forbidden", sa, what, err)
				}
			}
		})
	}
}

func create(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// impersonating writes a kubeconfig that acts as user through the
// cluster's admin credentials.
func impersonating(t *testing.T, cluster *localcluster.Cluster, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "impersonating.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
