package testenv

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// DNSServer starts a real DNS server on ip (UDP and TCP on one port, as a
// resolver expects) that answers with handle, and returns its host:port.
// It is shut down when the test ends.
func DNSServer(t testing.TB, ip string, handle dns.HandlerFunc) string {
	t.Helper()
	pc, l := listenUDPAndTCP(t, ip)
	return serveDNS(t, pc, l, handle)
}

// DNSServerAt is DNSServer on a given host:port, such as a resolv.conf
// nameserver's (port 53: it needs root).
func DNSServerAt(t testing.TB, addr string, handle dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	return serveDNS(t, pc, l, handle)
}

func serveDNS(t testing.TB, pc net.PacketConn, l net.Listener, handle dns.HandlerFunc) string {
	udp := &dns.Server{PacketConn: pc, Handler: handle}
	tcp := &dns.Server{Listener: l, Handler: handle}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return pc.LocalAddr().String()
}

// listenUDPAndTCP binds one free port on ip for both UDP and TCP. The
// kernel picks a UDP port free for UDP only; the same TCP port may be in
// use (by an outgoing connection, say), so it tries again with another.
func listenUDPAndTCP(t testing.TB, ip string) (net.PacketConn, net.Listener) {
	t.Helper()
	var lastErr error
	for range 50 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
		lastErr = err
	}
	t.Fatalf("no port free for both UDP and TCP on %s: %v", ip, lastErr)
	return nil, nil
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago: a
// DNS server that is gone.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
