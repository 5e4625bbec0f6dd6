package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: {token: t}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("clusters: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	noContext := filepath.Join(dir, "nocontext")
	if err := os.WriteFile(noContext, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a cluster

	cfg, src, err := LoadConfig(good)
	if err != nil || cfg.Host != "https://127.0.0.1:6443" || src != "kubeconfig "+good {
		t.Errorf("explicit good file: %v %q %v", cfg, src, err)
	}
	for _, p := range []string{filepath.Join(dir, "missing"), bad, noContext} {
		if _, _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadConfig(%s): error %v should name the file", p, err)
		}
	}

	t.Setenv("KUBECONFIG", good)
	if cfg, _, err := LoadConfig(""); err != nil || cfg.Host != "https://127.0.0.1:6443" {
		t.Errorf("from $KUBECONFIG: %v %v", cfg, err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
	t.Setenv("HOME", dir)
	if _, _, err := LoadConfig(""); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("nothing anywhere: error %v should say to pass --kubeconfig", err)
	}
}

// The informers ask the apiserver for protobuf (JSON accepted, from one
// that speaks only that), for their lists and watches alike.
func TestInformersAskForProtobuf(t *testing.T) {
	accepts := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/pods" {
			select {
			case accepts <- r.Header.Get("Accept"):
			default:
			}
		}
		http.Error(w, "not here", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := NewClient(&rest.Config{Host: srv.URL}, "test", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	c.Informers.Records(Pods)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Informers.Start(ctx)
	select {
	case got := <-accepts:
		if !strings.HasPrefix(got, "application/vnd.kubernetes.protobuf") || !strings.Contains(got, "application/json") {
			t.Errorf("the pod informer asked for %q, want protobuf first, JSON accepted", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the pod informer sent no request")
	}
}
