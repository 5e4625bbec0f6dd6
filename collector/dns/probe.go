package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"

	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
)

// probe resolves name through t and judges the answer: its result and, for
// a Service's name, whether it is the address it must be.
func (c *dnsCollector) probe(ctx context.Context, through dnsprobe.Prober, t target, name string) dnsProbeResult {
	var r dnsprobe.Result
	if t.addr == "" {
		r.Err = fmt.Errorf("the endpoint's name %s does not resolve through the DNS Service", t.server)
	} else {
		r = through.Lookup(ctx, t.addr, c.cfg.ResolvConf, name, dns.TypeA)
	}
	c.latency.WithLabelValues(t.kind).Observe(r.Duration.Seconds())
	p := dnsProbeResult{server: t.server, kind: t.kind, name: name, r: r}
	switch {
	case r.Err != nil && isDNSTimeout(r.Err):
		p.result = guide.DNSTimeout
	case r.Err != nil:
		p.result = guide.DNSError
	case r.Rcode == dns.RcodeNameError:
		p.result = guide.DNSNXDomain
	case r.Rcode == dns.RcodeServerFailure:
		p.result = guide.DNSServFail
	case r.Rcode == dns.RcodeRefused:
		p.result = guide.DNSRefused
	case r.Rcode != dns.RcodeSuccess:
		p.result = guide.DNSOtherRcode
	case len(r.Addrs) == 0:
		p.result = guide.DNSNoAnswer
	default:
		p.result = guide.DNSSuccess
		switch e := c.expected(name, r.Answered); {
		case e.gone:
			p.result = guide.DNSStaleAnswer
			p.note = "the Service does not exist: any address is stale"
		case len(e.want) > 0:
			// Right when every address answered is one it should be.
			m := !slices.ContainsFunc(r.Addrs, func(a netip.Addr) bool { return !slices.Contains(e.want, a) })
			p.matches = &m
			if !m {
				p.result = guide.DNSWrongAnswer
				p.note = fmt.Sprintf("expected %v", e.want)
			}
		}
	}
	return p
}

func isDNSTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
