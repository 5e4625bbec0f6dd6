package testenv

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// An exporter that would dial pod IPs never starts in the host's network
// namespace.
func TestHostUnsafe(t *testing.T) {
	const exporter = "/repo/bin/kube-triage-exporter"
	for _, c := range []struct {
		bin    string
		args   []string
		unsafe bool
	}{
		{exporter, []string{"--kubeconfig=k"}, true},
		{exporter, []string{"--kubeconfig=k", "--no-collector.backends"}, false},
		{exporter, []string{"--no-collector.backends", "--collector.backends"}, true},
		{exporter, []string{"--collector.backends=false"}, false},
		{exporter, []string{"--role=node"}, false},
		{exporter, []string{"--role=node", "--role=cluster"}, true},
		{exporter, []string{"triage", "service", "a/b"}, false},
		{"/usr/bin/prometheus", []string{"--config.file=x"}, false},
	} {
		if got := HostUnsafe(c.bin, c.args) != ""; got != c.unsafe {
			t.Errorf("HostUnsafe(%s %v) = %v, want %v", c.bin, c.args, got, c.unsafe)
		}
	}
}

// A refusing address refuses, and no listener can take its port.
func TestRefusingAddr(t *testing.T) {
	addr := RefusingAddr(t)
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Errorf("dialling %s: %v, want connection refused", addr, err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Errorf("a listener took %s", addr)
	}
}
