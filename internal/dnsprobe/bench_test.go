package dnsprobe

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The cost of one probe query against a DNS server on loopback, side by
// side with a plain miekg/dns exchange loop: the prober's own overhead is
// the difference (compare the ratio; machines are noisy).
func BenchmarkProbeQuery(b *testing.B) {
	server := benchServer(b)
	p := Prober{Timeout: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := p.Lookup(ctx, server, ResolvConf{}, "kubernetes.default.svc.cluster.local.", dns.TypeA)
		if len(r.Addrs) != 1 {
			b.Fatalf("lookup failed: %+v", r)
		}
	}
}

func BenchmarkPlainExchange(b *testing.B) {
	server := benchServer(b)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	b.ReportAllocs()
	for b.Loop() {
		q := new(dns.Msg)
		q.SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeA)
		m, _, err := c.Exchange(q, server)
		if err != nil || len(m.Answer) != 1 {
			b.Fatalf("exchange failed: %v", err)
		}
	}
}

// A short name through a pod's search list: the second suffix answers,
// so every probe costs two queries.
func BenchmarkProbeShortName(b *testing.B) {
	server := benchServer(b)
	p := Prober{Timeout: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := p.Lookup(ctx, server, podResolvConf, "kubernetes.default", dns.TypeA)
		if len(r.Addrs) != 1 {
			b.Fatalf("lookup failed: %+v", r)
		}
	}
}

func benchServer(b *testing.B) string {
	b.Helper()
	return fakeDNS(b, clusterDNS)
}
