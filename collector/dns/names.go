package dns

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// names are the control case in its three forms and the chosen names.
func (c *dnsCollector) names() []string {
	d := c.cfg.ClusterDomain
	return append([]string{"kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + d + "."}, c.cfg.Names...)
}

// serviceOf names the Service a name is of: svc.ns, svc.ns.svc or
// svc.ns.svc.<domain>[.], or a bare svc when the resolv.conf is a pod's
// (its first search domain <ns>.svc.<domain> names the namespace a short
// name resolves in); ok is false for any other name.
func (c *dnsCollector) serviceOf(name string) (namespace, service string, ok bool) {
	n := strings.TrimSuffix(name, ".")
	n = strings.TrimSuffix(n, ".svc."+c.cfg.ClusterDomain)
	n = strings.TrimSuffix(n, ".svc")
	parts := strings.Split(n, ".")
	if len(parts) == 1 && !strings.HasSuffix(name, ".") && len(c.cfg.ResolvConf.Search) > 0 {
		if ns, found := strings.CutSuffix(c.cfg.ResolvConf.Search[0], ".svc."+c.cfg.Domain()); found && !strings.Contains(ns, ".") {
			return ns, parts[0], true
		}
	}
	if len(parts) != 2 {
		return "", "", false
	}
	return parts[1], parts[0], true
}

// expectation is what a name's answer is checked against.
type expectation struct {
	want []netip.Addr // the addresses it must resolve to; none: not checked
	// gone: the name is a Service's that does not exist (its cache has
	// synced), so any address answered is stale.
	gone bool
}

// expected is what a Service's name must resolve to: its ClusterIP, or for
// a headless Service the addresses of its ready endpoints; nothing for a
// name that is not a Service's or with nothing to compare. answered is
// the name that answered (after the search list): an answer for a Service
// that does not exist is stale only when it is a Service's name
// (<svc>.<ns>.svc.<domain>.), not example.com.
func (c *dnsCollector) expected(name, answered string) expectation {
	ns, svcName, ok := c.serviceOf(name)
	if !ok {
		return expectation{}
	}
	services, ok := c.named[ns+"/"+svcName]
	if !ok {
		services = c.services // a swept name
	}
	if services == nil {
		return expectation{}
	}
	svc, ok := kube.Get[record.Service](services, ns+"/"+svcName)
	if !ok { // the prober waits for the caches: not found is gone
		return expectation{gone: answered == svcName+"."+ns+".svc."+c.cfg.Domain()+"."}
	}
	if svc.ClusterIP != corev1.ClusterIPNone {
		if ip, err := netip.ParseAddr(svc.ClusterIP); err == nil {
			return expectation{want: []netip.Addr{ip}}
		}
		return expectation{}
	}
	eps, ok := c.headless[ns+"/"+svcName]
	if !ok {
		return expectation{}
	}
	var want []netip.Addr
	for _, s := range kube.All[discoveryv1.EndpointSlice](eps) {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					want = append(want, ip)
				}
			}
		}
	}
	return expectation{want: want}
}
