// Package bins builds (once, with hack/build-bins.sh) the real binaries the
// tests and the demo run: the control plane, kube-proxy, Prometheus,
// Alertmanager, promtool, kubectl.
package bins

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/filelock"
)

// Dir is where hack/build-bins.sh puts the binaries.
func Dir(root string) string { return filepath.Join(root, ".cache", "bin") }

// Ensure runs hack/build-bins.sh for names: it builds what is
// missing or out of date and returns at once when all are cached. A file
// lock keeps concurrent test packages from building the same binary twice.
func Ensure(root string, logf func(string, ...any), names ...string) error {
	if err := os.MkdirAll(Dir(root), 0o755); err != nil {
		return err
	}
	unlock, err := filelock.Lock(filepath.Join(Dir(root), ".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	begin := time.Now()
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "hack", "build-bins.sh")}, names...)...)
	cmd.Dir = root
	// Stream the script's lines: a first build takes many minutes.
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	var lines []string
	s := bufio.NewScanner(out)
	for s.Scan() {
		lines = append(lines, s.Text())
		logf("build-bins: %s", s.Text())
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", strings.Join(names, ", "), err, strings.Join(lines, "\n"))
	}
	logf("bins: binaries ready in %.1fs", time.Since(begin).Seconds())
	return nil
}

// Missing are those of names not built yet: what a first run compiles.
func Missing(root string, names ...string) []string {
	var out []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(Dir(root), n)); err != nil {
			out = append(out, n)
		}
	}
	return out
}
