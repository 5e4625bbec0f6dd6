package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// The demo as a user runs it: it starts the control plane, the cases and the
// exporter, prints the URL and summaries that show every case, and on
// Ctrl-C stops everything and leaves nothing behind.
func TestDemoRunsAndCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local control plane; runs in make test, not under -short")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	exporter := testenv.Exporter(t)
	demo := filepath.Join(t.TempDir(), "kube-triage-demo")
	build := exec.Command("go", "build", "-o", demo, "./cmd/kube-triage-demo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()

	wants := []string{
		"kube-triage-exporter is running: http://" + listen + "/metrics",
		"hostnames-typo",
		"what kube-triage-exporter found:",
		"apiserver: reachable, every /livez and /readyz check passing",
		"collectors: 6 ok (apiserver, controlplane, dns, nodes, services, terminations), 0 failing",
		"control plane leaders: kube-controller-manager renewed",
		"node-c Lease",
		"terminations demo/oom-victim app: OOMKilled (exit 137 SIGKILL)",
		"dns: 10 of 10 lookups answer right",
		"services selector_matches_nothing: demo/hostnames-typo",
		"services pods_not_ready: demo/never-ready",
		"services port_mismatch: demo/wrong-port",
		exporter + " triage service demo/never-ready --kubeconfig=",
		"http://" + listen + "/triage/service/demo/never-ready",
		"services scaled_to_zero: demo/parked (Deployment parked at 0 replicas, no page)",
		"Local traffic policy: demo/local-only (internal) has a ready endpoint on 1 of",
	}
	// The demo runs until every line has shown up in its summaries (every
	// 15s; on a busy machine the first OOM kill comes late), then gets the
	// Ctrl-C a person would send; --for bounds it if they never do.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, demo, "--root="+root, "--exporter="+exporter, "--listen="+listen, "--for=4m")
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	missing := func() []string {
		var m []string
		for _, want := range wants {
			if !strings.Contains(out.String(), want) {
				m = append(m, want)
			}
		}
		return m
	}
	interrupted := false
	s := bufio.NewScanner(pipe)
	for s.Scan() {
		out.WriteString(s.Text() + "\n")
		if !interrupted && len(missing()) == 0 {
			interrupted = true
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range append(missing(), "Stopping the local control plane") {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if !interrupted {
		t.Errorf("the demo never showed every case; it stopped at --for")
	}
	// Nothing left: no process runs from the cluster directory named in the
	// output, and the directory is gone.
	m := regexp.MustCompile(`control plane ready in [0-9.]+s \(dir (\S+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no cluster directory in the output:\n%s", out.String())
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s left behind (%v)", m[1], err)
	}
	if ps, _ := exec.Command("pgrep", "-af", m[1]).Output(); len(bytes.TrimSpace(ps)) > 0 {
		t.Errorf("processes left running:\n%s", ps)
	}
}
