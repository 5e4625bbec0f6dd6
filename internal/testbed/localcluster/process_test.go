package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestComponentThatExitsFailsFastWithItsLog(t *testing.T) {
	c := &component{
		name: "broken", bin: "/bin/sh", args: []string{"-c", "echo 'bind: address already in use'; exit 3"},
		log:   filepath.Join(t.TempDir(), "broken.log"),
		ready: func(context.Context) error { return errNotReady },
	}
	start := time.Now()
	err := c.start(context.Background(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "broken exited during start-up") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v; want the exit and the log tail", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s to notice the exit", time.Since(start))
	}
}

func TestComponentNotReadyTimesOutAndIsStopped(t *testing.T) {
	c := &component{
		name: "stuck", bin: "/bin/sh", args: []string{"-c", "echo still starting; sleep 60"},
		log:   filepath.Join(t.TempDir(), "stuck.log"),
		ready: func(context.Context) error { return errors.New("connection refused") },
	}
	err := c.start(context.Background(), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready after") || !strings.Contains(err.Error(), "still starting") {
		t.Fatalf("got %v", err)
	}
	if c.running() {
		t.Error("a component that never became ready was left running")
	}
}

// A component that exits by itself after it served is started again, as
// the kubelet restarts a static pod; one that is stopped stays down.
func TestComponentRestartsAfterCrashButNotAfterStop(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	c := &component{
		name: "crashy", bin: "/bin/sh",
		// Counts its starts, then exits soon after becoming "ready".
		args:  []string{"-c", "echo x >> " + starts + "; sleep 0.3; exit 1"},
		log:   filepath.Join(dir, "crashy.log"),
		ready: func(context.Context) error { return nil },
	}
	if err := c.start(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	countStarts := func() int {
		data, _ := os.ReadFile(starts)
		return strings.Count(string(data), "x")
	}
	testenv.WaitFor(t, "restarts after each crash", 10*time.Second, func() (bool, error) {
		n := countStarts()
		return n >= 3, fmt.Errorf("started %d times, want 3", n)
	})
	c.stop()
	time.Sleep(restartDelay + 500*time.Millisecond)
	n := countStarts()
	time.Sleep(restartDelay + 500*time.Millisecond)
	if countStarts() != n {
		t.Error("restarted after stop")
	}
}

// A component whose restarts fail (it exits during start-up, as the
// controller-manager does while the apiserver is down) keeps being
// restarted, with backoff, until a restart succeeds.
func TestFailedRestartsAreRetried(t *testing.T) {
	dir := t.TempDir()
	dependency, served, up := filepath.Join(dir, "dependency-up"), filepath.Join(dir, "served"), filepath.Join(dir, "up")
	c := &component{
		name: "needs-dep", bin: "/bin/sh",
		// Serves a moment the first time and exits; then exits at once
		// until its dependency is back, and serves.
		args: []string{"-c", "if [ -e " + served + " ] && [ ! -e " + dependency + " ]; then echo dependency down; exit 1; fi; " +
			"touch " + served + " " + up + "; sleep 0.3; [ -e " + dependency + " ] && sleep 60; rm " + up + "; exit 1"},
		log: filepath.Join(dir, "needs-dep.log"),
		ready: func(context.Context) error {
			if _, err := os.Stat(up); err != nil {
				return errNotReady
			}
			return nil
		},
	}
	if err := c.start(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	testenv.WaitFor(t, "repeated restart attempts", 20*time.Second, func() (bool, error) {
		if strings.Count(tail(c.log, 200), "restart failed") < 2 {
			return false, fmt.Errorf("log tail:\n%s", tail(c.log, 30))
		}
		return true, nil
	})
	if err := os.WriteFile(dependency, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "it to run again once its dependency was back", 20*time.Second, func() (bool, error) {
		if _, err := os.Stat(up); err != nil {
			return false, fmt.Errorf("not up: %w; log tail:\n%s", err, tail(c.log, 30))
		}
		if !c.running() {
			return false, fmt.Errorf("up but not running; log tail:\n%s", tail(c.log, 30))
		}
		return true, nil
	})
}
