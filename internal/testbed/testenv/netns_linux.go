package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace the test created (ip netns add): its own
// interfaces, routes, ports and netfilter tables, as a node has. Traffic to
// the addresses the test gives it never leaves the namespaces the test
// made: nothing here touches the host namespace but its loopback, through
// the forwarders.
type Netns struct {
	Name string
	path string
}

// NeedNetns fails the test, saying what is missing, unless network
// namespaces can be made here: root, and the ip and nft commands (make
// test installs them from Debian packages; see hack/test.sh).
func NeedNetns(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and netfilter rules)")
	}
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, fmt.Sprintf("the %s command (Debian package %s)", cmd, map[string]string{"ip": "iproute2", "nft": "nftables"}[cmd]))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("this test runs real node components in network namespaces and needs %s; make test installs the packages when run as root", strings.Join(missing, ", "))
	}
}

// NewNetns creates a network namespace named after the test process and
// name, with its loopback up; the test's end deletes it.
func NewNetns(t testing.TB, name string) *Netns {
	t.Helper()
	NeedNetns(t)
	sweepNetnsOnce.Do(sweepNetns)
	n := &Netns{Name: fmt.Sprintf("%s%d-%s", netnsPrefix, os.Getpid(), name)}
	n.path = filepath.Join("/run/netns", n.Name)
	RunCmd(t, "ip", "netns", "add", n.Name) // fails if this process made one of that name already
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.Name).Run() })
	n.Exec(t, "ip", "link", "set", "lo", "up")
	return n
}

const netnsPrefix = "ktt"

var sweepNetnsOnce sync.Once

// sweepNetns deletes the namespaces of test processes that are gone (killed
// before their cleanup ran).
func sweepNetns() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		var pid int
		// This process has made none yet: one with its pid is a dead
		// process's (pids are reused).
		if _, err := fmt.Sscanf(e.Name(), netnsPrefix+"%d-", &pid); err != nil {
			continue
		}
		if pid == os.Getpid() {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// RunCmd runs a command and fails the test with its output if it fails.
func RunCmd(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command inside the namespace, failing the test if it fails.
func (n *Netns) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	return RunCmd(t, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Start runs a long-lived program inside the namespace (ip netns exec
// replaces itself with it: the process is the program).
func (n *Netns) Start(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	return start(t, name, "ip", env, append([]string{"netns", "exec", n.Name, bin}, args...)...)
}

// Do runs f on an OS thread that has entered the namespace: a socket f
// opens belongs to the namespace for its life, whichever thread uses it
// afterwards. The thread is never returned to the Go scheduler.
func (n *Netns) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with this goroutine
		fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("opening %s: %w", n.path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// ipLiteral fails unless addr's host is an IP address: a name would be
// resolved by the host (its own resolv.conf, outside the namespace).
func ipLiteral(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "" && net.ParseIP(host) == nil {
		return fmt.Errorf("%s: want an IP address, not a name", addr)
	}
	return nil
}

// Listen opens a TCP listener inside the namespace.
func (n *Netns) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	if err := ipLiteral(addr); err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	if err := n.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Dial opens a connection from inside the namespace.
func (n *Netns) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ipLiteral(addr); err != nil {
		return nil, err
	}
	var c net.Conn
	err := n.Do(func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
	return c, err
}

// HTTPClient is an HTTP client whose connections start inside the
// namespace (for testenv.Get).
func (n *Netns) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: n.Dial}}
}

// ForwardFromHost makes a program in the namespace reachable from the
// host's loopback: it returns the host address (127.0.0.1:port) whose TCP
// connections reach addr inside the namespace.
func (n *Netns) ForwardFromHost(t testing.TB, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go relayTCP(l, func(ctx context.Context) (net.Conn, error) { return n.Dial(ctx, "tcp", addr) })
	return l.Addr().String()
}

// ForwardToHost makes a server on the host's loopback reachable at the same
// address inside the namespace (a node reaching the control plane, a DNS
// server): TCP, and with udp also UDP, both relayed as they come.
func (n *Netns) ForwardToHost(t testing.TB, addr string, udp bool) {
	t.Helper()
	if host, _, err := net.SplitHostPort(addr); err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("forwarding %s into %s: only the host's loopback may be reached", addr, n.Name)
	}
	l := n.Listen(t, addr)
	go relayTCP(l, func(ctx context.Context) (net.Conn, error) { return (&net.Dialer{}).DialContext(ctx, "tcp", addr) })
	if !udp {
		return
	}
	var pc net.PacketConn
	if err := n.Do(func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go relayUDP(pc, addr)
}

// relayTCP copies each accepted connection to one dial opens, both ways,
// until the listener closes.
func relayTCP(l net.Listener, dial func(context.Context) (net.Conn, error)) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, err := dial(ctx)
			cancel()
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
			<-done // one side ended: close both, which ends the other copy
		}()
	}
}

// relayUDP relays each datagram from a client to target over a socket of
// its own and the answer back (one query, one answer, as DNS), until pc
// closes.
func relayUDP(pc net.PacketConn, target string) {
	for {
		buf := make([]byte, 64<<10)
		size, client, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		go func() {
			up, err := net.Dial("udp", target)
			if err != nil {
				return
			}
			defer up.Close()
			_ = up.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := up.Write(buf[:size]); err != nil {
				return
			}
			n, err := up.Read(buf)
			if err == nil {
				_, _ = pc.WriteTo(buf[:n], client)
			}
		}()
	}
}
