// Package clustertest shares one local control plane among the tests of a
// package: the first test that asks starts it, and Main stops it after the
// last, or when the run is interrupted.
package clustertest

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

var (
	mu       sync.Mutex
	shared   *localcluster.Cluster
	startErr error
	started  bool
)

// Shared returns the package's cluster, starting it on first use. Under
// -short it skips the test: `make test` never runs with -short.
func Shared(t testing.TB) *localcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a local control plane; runs in make test, not under -short")
	}
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		root, err := testenv.RepoRoot()
		if err != nil {
			startErr = err
		} else {
			shared, startErr = localcluster.Start(context.Background(), localcluster.Options{Root: root, Logf: log.Printf})
		}
	}
	if startErr != nil {
		t.Fatalf("starting the local control plane: %v", startErr)
	}
	return shared
}

func stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		shared.Stop()
	}
}

// Main runs the tests and then stops the shared cluster. On SIGINT or
// SIGTERM it stops the cluster before exiting, so an interrupted run leaves
// no processes and no directories behind.
func Main(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		log.Printf("clustertest: %s: stopping the local control plane", s)
		stop()
		os.Exit(1)
	}()
	code := m.Run()
	stop()
	testenv.Cleanup()
	os.Exit(code)
}

var namespaces atomic.Int64

// Namespace creates a namespace of its own for the test (prefix and a
// number), so that tests sharing the cluster, or run again with -count,
// never see each other's objects.
func Namespace(t testing.TB, c *localcluster.Cluster, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, namespaces.Add(1))
	if err := c.CreateNamespace(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return name
}
