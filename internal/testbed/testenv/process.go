package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/childproc"
)

// Process is a program a test runs in the background: its combined
// output is kept, and it is killed when the test ends (its output logged
// if the test failed).
type Process struct {
	Cmd    *exec.Cmd
	Output *SyncBuffer
	Done   chan struct{} // closed when the process has exited
	Exit   error         // its exit status, once Done is closed
}

// Start runs bin with args for the rest of the test, in the host's
// network namespace; it refuses an exporter whose collectors would dial
// pod IPs or ClusterIPs there (HostUnsafe).
func Start(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	if why := HostUnsafe(bin, args); why != "" {
		t.Fatalf("refusing to start %s in the host's network namespace: %s", name, why)
	}
	return start(t, name, bin, env, args...)
}

// HostUnsafe says why an exporter's command line must not run in the
// host's network namespace, "" if it may: in a cluster exporter the
// backends collector dials the endpoints' pod IPs, which route out of this
// machine there (10.x goes to its default route). Such an exporter runs in
// a network namespace the test made (Netns.Start), or with
// --no-collector.backends, as localcluster's ExporterArgs give it.
func HostUnsafe(bin string, args []string) string {
	if filepath.Base(bin) != "kube-triage-exporter" || (len(args) > 0 && args[0] == "triage") {
		return ""
	}
	role, backends := "cluster", true
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--role="):
			role = strings.TrimPrefix(a, "--role=")
		case a == "--collector.backends", a == "--collector.backends=true":
			backends = true
		case a == "--no-collector.backends", a == "--collector.backends=false":
			backends = false
		}
	}
	if role == "cluster" && backends {
		return "its backends collector would dial pod IPs, which route out of this machine here; pass --no-collector.backends or run it in a network namespace"
	}
	return ""
}

// ChildEnv is the environment of a program a test runs: this process's,
// with extra added, and without KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT, which would tell the exporter it runs in a pod
// (where pod IPs and ClusterIPs route) when the tests themselves run in
// one.
func ChildEnv(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KUBERNETES_SERVICE_") })
	return append(env, extra...)
}

func start(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Output: &SyncBuffer{}, Done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Output, p.Output
	p.Cmd.Env = ChildEnv(env...)
	if err := childproc.Start(p.Cmd); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.Exit = p.Cmd.Wait()
		close(p.Done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.Output.String())
		}
	})
	return p
}

// Stop kills the process and waits for it; safe to call more than once.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Kill()
	<-p.Done
}

// ExporterProcess is a running kube-triage-exporter.
type ExporterProcess struct {
	*Process
	Addr string // host:port it serves on
}

// StartExporter runs the exporter built from this tree on a free loopback
// port, with KUBECONFIG unset so that only args choose the cluster.
func StartExporter(t testing.TB, args ...string) *ExporterProcess {
	t.Helper()
	addr := FreeAddr(t)
	p := Start(t, "exporter", Exporter(t), []string{"KUBECONFIG=/nonexistent"}, append([]string{"--web.listen-address=" + addr}, args...)...)
	return &ExporterProcess{Process: p, Addr: addr}
}

// SyncBuffer is a bytes.Buffer safe for a process to write while a test
// reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RefusingAddr is a loopback TCP address that refuses connections for the
// rest of the test: a socket bound to it that does not listen. Unlike a
// port freed after use, no other listener of a test running beside can
// take it meanwhile.
func RefusingAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitFor polls cond every 50ms until it holds, or fails the test after
// timeout naming what it waited for and the last error.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	if ok, lastErr := poll(timeout, 50*time.Millisecond, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
	}
}

// Poll is WaitFor for a wait that must not fail the test (its caller
// records the outcome, or checks more first) or that needs its own
// period: it calls cond every period until it holds and returns nil, or
// returns an error carrying cond's last error once timeout has passed.
func Poll(timeout, period time.Duration, cond func() (bool, error)) error {
	if ok, lastErr := poll(timeout, period, cond); !ok {
		if lastErr == nil {
			return fmt.Errorf("timed out after %s", timeout)
		}
		return fmt.Errorf("timed out after %s: last error: %w", timeout, lastErr)
	}
	return nil
}

// poll calls cond at once, then every period, until it holds or the
// deadline has passed; the last call is made at the deadline, so cond is
// always called at least once. It returns cond's last error.
func poll(timeout, period time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, err
		}
		time.Sleep(min(period, left))
	}
}

// Get GETs url and returns the status and body.
func Get(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// DeadKubeconfig writes a kubeconfig whose server is a loopback port where
// nothing listens: an apiserver that is down or out of reach.
func DeadKubeconfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dead.kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
contexts:
- name: dead
  context: {cluster: dead, user: u}
current-context: dead
users:
- name: u
  user: {token: not-a-real-token}
`, FreeAddr(t))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Sample reads one series' value from an exporter's /metrics at addr:
// the sample of the family name whose labels include labels.
func Sample(addr, name string, labels map[string]string) (value float64, found bool, err error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, false, fmt.Errorf("parsing %s/metrics: %w", addr, err)
	}
	family, ok := families[name]
	if !ok {
		return 0, false, nil
	}
	for _, m := range family.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		if labelsInclude(have, labels) {
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true, nil
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true, nil
			default:
				return m.GetUntyped().GetValue(), true, nil
			}
		}
	}
	return 0, false, nil
}

func labelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
