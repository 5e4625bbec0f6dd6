// Package testenv gives tests the real programs they run: the exporter binary
// built from this tree and promtool (hack/build-bins.sh). Nothing here is
// skipped: a missing program is built, and a build failure fails the test.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
)

// RepoRoot is the directory holding the main go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(data, []byte("module github.com/kube-triage/kube-triage-exporter\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no kube-triage-exporter go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Exporter builds cmd/kube-triage-exporter once per test process and returns
// the binary's path.
func Exporter(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "kte-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kube-triage-exporter")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/kube-triage-exporter")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the exporter: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Cleanup removes the binary Exporter built; call it from TestMain.
func Cleanup() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// Promtool runs promtool (the binary hack/build-bins.sh builds, on first
// use) with args and returns its combined output.
func Promtool(t testing.TB, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := bins.Ensure(root, t.Logf, "promtool"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bins.Dir(root), "promtool"), args...)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd.CombinedOutput()
}

// ProcessCPU is the CPU time (user and system) the process has used: for
// benchmarks that report CPU per operation.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUOf is the CPU time (user and system) process pid has used, from
// /proc/pid/stat (in clock ticks of 10ms), or 0 where /proc does not say.
func CPUOf(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command (field 2) is in parentheses and may hold spaces.
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest) // from field 3, the state
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Resident is process pid's resident memory (what a container's memory
// limit is measured against), all of it and the anonymous part (the heap,
// stacks, the runtime's own; the rest is the binary's pages), from
// /proc/pid/smaps_rollup; zeros where /proc does not say.
func Resident(pid int) (rss, anon int64) {
	rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	kb := func(field string) int64 {
		for line := range strings.Lines(string(rollup)) {
			if rest, ok := strings.CutPrefix(line, field+":"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				return n << 10
			}
		}
		return 0
	}
	return kb("Rss"), kb("Anonymous")
}

// LiveHeapPeak samples the live heap as the last garbage collection left
// it (runtime/metrics: no stop of the world) every 10ms, until the
// function it returns is called, which returns the largest seen.
func LiveHeapPeak() (stop func() uint64) {
	var peak uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(live)
			peak = max(peak, live[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak
	}
}

// HeapAlloc is the live heap after two garbage collections: what the
// objects reachable now hold, for a benchmark's bytes per object.
func HeapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
