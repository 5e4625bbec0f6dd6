package localcluster

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
