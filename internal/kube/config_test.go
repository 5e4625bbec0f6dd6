package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
