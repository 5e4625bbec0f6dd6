package dns

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// resolverPort is where a resolv.conf nameserver listens: resolv.conf has
// no port.
const resolverPort = "53"

// target is a server to ask.
type target struct{ server, kind, addr string }

// targets are the DNS Service, each of its ready endpoints and each
// nameserver of the resolv.conf.
func (c *dnsCollector) targets() (found bool, ts []target) {
	var serviceAddr, clusterIP string
	if svc, ok := kube.Get[record.Service](c.dnsService, c.svcNS+"/"+c.svcName); ok {
		clusterIP = svc.ClusterIP
		addr := c.cfg.ServiceAddress
		if addr == "" && svc.ClusterIP != "" && svc.ClusterIP != corev1.ClusterIPNone {
			addr = net.JoinHostPort(svc.ClusterIP, strconv.Itoa(int(dnsPort(svc.Ports))))
		}
		if addr != "" {
			found, serviceAddr = true, addr
			ts = append(ts, target{server: guide.ServerService, kind: guide.ServerService, addr: addr})
		}
	}
	if c.cfg.ServiceOnly {
		return found, ts
	}
	seen := map[string]bool{}
	for _, s := range kube.All[discoveryv1.EndpointSlice](c.slices) {
		port := int32(53)
		for _, p := range s.Ports {
			if p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolUDP) {
				port = *p.Port
				break
			}
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				server := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if seen[server] {
					continue
				}
				seen[server] = true
				t := target{server: server, kind: guide.ServerEndpoint, addr: server}
				if s.AddressType == discoveryv1.AddressTypeFQDN {
					t.addr = c.resolveFQDN(serviceAddr, a, port)
				}
				ts = append(ts, t)
			}
		}
	}
	for _, server := range c.resolvers(clusterIP) {
		ts = append(ts, target{server: server, kind: guide.ServerResolver, addr: server})
	}
	return found, ts
}

// maxNameservers is how many nameservers of a resolv.conf the resolver
// uses (glibc's MAXNS).
const maxNameservers = 3

// resolvers are the nameservers a pod's lookups go through, as host:port:
// none when the resolv.conf is not a cluster pod's (no svc.<domain> in its
// search list: a hostNetwork pod's node resolv.conf, a machine outside the
// cluster), the first three, each once, and not the DNS Service's
// ClusterIP (without a node-local cache the nameserver is the Service:
// probed already, or out of reach where --collector.dns.service-address
// stands in for it).
func (c *dnsCollector) resolvers(clusterIP string) []string {
	rc := c.cfg.ResolvConf
	if !slices.Contains(rc.Search, "svc."+strings.TrimSuffix(c.cfg.ClusterDomain, ".")) {
		return nil
	}
	var out []string
	for _, ns := range rc.Nameservers[:min(len(rc.Nameservers), maxNameservers)] {
		server := net.JoinHostPort(ns.String(), resolverPort)
		if ns.String() != clusterIP && !slices.Contains(out, server) {
			out = append(out, server)
		}
	}
	return out
}

// dnsServiceIP is the DNS Service's ClusterIP as the cache has it now.
func (c *dnsCollector) dnsServiceIP() string {
	if svc, ok := kube.Get[record.Service](c.dnsService, c.svcNS+"/"+c.svcName); ok {
		return svc.ClusterIP
	}
	return ""
}

// resolveFQDN turns an FQDN endpoint into an address to dial, resolved
// through the cluster DNS Service as a pod would; "" if it does not
// resolve there. It is never handed to the node's own resolver: a cluster
// name has no business there, and the probe of that endpoint fails.
func (c *dnsCollector) resolveFQDN(serviceAddr, host string, port int32) string {
	if serviceAddr == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.prober.Timeout)
	defer cancel()
	r := c.prober.Lookup(ctx, serviceAddr, dnsprobe.ResolvConf{}, host+".", dns.TypeA)
	if len(r.Addrs) == 0 {
		return ""
	}
	return net.JoinHostPort(r.Addrs[0].String(), strconv.Itoa(int(port)))
}

func dnsPort(ports []record.ServicePort) int32 {
	for _, p := range ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolUDP {
			return p.Port
		}
	}
	return 53
}
