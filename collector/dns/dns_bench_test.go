package dns

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// The sweep at 333 and 3,333 lookups a second (1,000 and 10,000 Services
// in 3s), beside a bare loop of the same lookups back to back: the rate it
// holds, its CPU per lookup against the bare loop's (both count the
// in-process DNS server's), and how evenly the queries arrive at the
// server (the busiest 100ms against the mean).
func BenchmarkDNSSweep(b *testing.B) {
	for _, rate := range []int{333, 3333} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			const over = 3 * time.Second
			n := rate * int(over/time.Second)
			var objs []runtime.Object
			answers := map[string]dns.RR{}
			for i := range n {
				name, ip := fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
				objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app"}, Spec: corev1.ServiceSpec{ClusterIP: ip}})
				answers[name+".app.svc.cluster.local."], _ = dns.NewRR(name + ".app.svc.cluster.local. 5 IN A " + ip)
			}
			answers["kube-dns.kube-system.svc.cluster.local."], _ = dns.NewRR("kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10")
			var mu sync.Mutex
			var arrivals []time.Time
			server := testenv.DNSServer(b, "127.0.0.1", func(w dns.ResponseWriter, q *dns.Msg) {
				mu.Lock()
				arrivals = append(arrivals, time.Now())
				mu.Unlock()
				m := new(dns.Msg)
				m.SetReply(q)
				if rr, ok := answers[q.Question[0].Name]; ok {
					m.Answer = []dns.RR{rr}
				}
				_ = w.WriteMsg(m)
			})
			objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10"}})
			c := newTestDNSCollector(b, server, objs...)
			c.cfg.SweepInterval = over
			ctx := context.Background()

			for b.Loop() {
				bare := cpuTime(func() {
					for i := range n {
						c.sweeper.Lookup(ctx, server, dnsprobe.ResolvConf{}, fmt.Sprintf("svc-%d.app.svc.cluster.local.", i), dns.TypeA)
					}
				})
				mu.Lock()
				arrivals = arrivals[:0]
				mu.Unlock()
				var s *dnsSweep
				swept := cpuTime(func() { s = c.sweepAll(ctx) })
				if s == nil || s.services != n+1 || len(s.failing) != 0 {
					b.Fatalf("sweep: %+v", s)
				}
				mu.Lock()
				peak := peakBucketRatio(arrivals, 100*time.Millisecond)
				mu.Unlock()
				b.ReportMetric(float64(s.services)/s.duration.Seconds(), "lookups/s")
				b.ReportMetric(swept.Seconds()*1e6/float64(s.services), "cpu-µs/lookup")
				b.ReportMetric(bare.Seconds()*1e6/float64(n), "bare-cpu-µs/lookup")
				b.ReportMetric((swept.Seconds()/float64(s.services))/(bare.Seconds()/float64(n)), "cpu-ratio")
				b.ReportMetric(peak, "peak-100ms/mean")
			}
		})
	}
}

// cpuTime is the process's CPU time (user and system) that fn takes.
func cpuTime(fn func()) time.Duration {
	before := testenv.ProcessCPU()
	fn()
	return testenv.ProcessCPU() - before
}

// peakBucketRatio is the busiest bucket's count against the mean over the
// buckets the times span (the last, partial one left out).
func peakBucketRatio(times []time.Time, bucket time.Duration) float64 {
	if len(times) < 2 {
		return 0
	}
	times = slices.Clone(times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	counts := make([]int, int(times[len(times)-1].Sub(times[0])/bucket))
	if len(counts) == 0 {
		return 1
	}
	total := 0
	for _, t := range times {
		if i := int(t.Sub(times[0]) / bucket); i < len(counts) {
			counts[i]++
			total++
		}
	}
	return float64(slices.Max(counts)) / (float64(total) / float64(len(counts)))
}
