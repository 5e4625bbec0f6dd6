package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/childproc"
)

// component is one process of the local cluster.
type component struct {
	name  string
	bin   string
	args  []string
	log   string                          // path of its combined output
	ready func(ctx context.Context) error // nil once it serves

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
	ended int           // counts stop and kill calls
}

// restartDelay is how long a component that exits by itself stays down
// before it is started again, as the kubelet restarts a static pod. The
// controller-manager and the scheduler exit when they lose their leader
// Lease (for instance while the apiserver is down); a real cluster brings
// them back, and so does this one.
const restartDelay = time.Second

// maxRestartDelay caps the backoff between failed restarts.
const maxRestartDelay = 8 * time.Second

// start launches the component and waits until it is ready. A process that
// exits or does not become ready within timeout is an error carrying the
// tail of its log.
func (c *component) start(ctx context.Context, timeout time.Duration) error {
	logFile, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n==== %s starting %s %s\n", time.Now().Format(time.RFC3339Nano), c.bin, strings.Join(c.args, " "))

	cmd := exec.Command(c.bin, c.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := childproc.Start(cmd); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	done := make(chan struct{})
	var serving atomic.Bool // reached readiness: from then on, an exit is a crash
	go func() {
		_ = cmd.Wait()
		close(done)
		if serving.Load() {
			c.restartAfterCrash(cmd)
		}
	}()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-done:
			return fmt.Errorf("%s exited during start-up (%s); log tail:\n%s", c.name, cmd.ProcessState, tail(c.log, 20))
		default:
		}
		if lastErr = c.ready(ctx); lastErr == nil {
			serving.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			c.stop()
			return fmt.Errorf("%s not ready after %s (last check: %w); log tail:\n%s", c.name, timeout, lastErr, tail(c.log, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restartAfterCrash starts the component again if cmd exited while it was
// still the component's process: stop and kill clear that first, so what
// they end stays down. A restart that fails (the controller-manager exits
// at once while the apiserver is down) is retried with backoff, as the
// kubelet does, until one succeeds or the component is stopped.
func (c *component) restartAfterCrash(cmd *exec.Cmd) {
	c.mu.Lock()
	crashed, ended := c.cmd == cmd, c.ended
	c.mu.Unlock()
	if !crashed {
		return
	}
	appendLog(c.log, fmt.Sprintf("==== %s exited by itself (%s); restarting in %s", c.name, cmd.ProcessState, restartDelay))
	for delay := restartDelay; ; delay = min(2*delay, maxRestartDelay) {
		time.Sleep(delay)
		c.mu.Lock()
		stopped := c.ended != ended
		c.mu.Unlock()
		if stopped || c.running() { // stopped, or started again by someone else
			return
		}
		err := c.start(context.Background(), startTimeout)
		if err == nil {
			break
		}
		c.mu.Lock()
		ended = c.ended // start's own clean-up of a failed attempt is not a stop
		c.mu.Unlock()
		appendLog(c.log, fmt.Sprintf("==== restart failed, retrying in %s: %v", min(2*delay, maxRestartDelay), err))
	}
	c.mu.Lock()
	stoppedMeanwhile := c.ended != ended
	c.mu.Unlock()
	if stoppedMeanwhile { // stopped while it was restarting: stay stopped
		c.end(0)
	}
}

func appendLog(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "\n%s %s\n", time.Now().Format(time.RFC3339Nano), line)
}

// stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (c *component) stop() { c.end(5 * time.Second) }

// kill ends the process at once, as a crash or a power cut would.
func (c *component) kill() { c.end(0) }

// end sends SIGTERM and waits up to grace, then SIGKILL; with no grace it
// sends SIGKILL alone.
func (c *component) end(grace time.Duration) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.ended++
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	if grace > 0 {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func (c *component) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

var errNotReady = errors.New("not ready")
