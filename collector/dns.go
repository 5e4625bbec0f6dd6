package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// DNSConfig configures the dns collector; its schedule comes from
// --collector.dns.{interval,timeout} (the timeout is per query, and each
// query is tried at most twice).
type DNSConfig struct {
	// Service is the cluster DNS Service, namespace/name.
	Service string
	// ServiceAddress, if set, is where to reach the Service (host:port)
	// instead of its ClusterIP and port: for an exporter outside the
	// cluster network.
	ServiceAddress string
	// ResolvConf is the search list and ndots short names are expanded
	// with; each of its nameservers is probed too (server_kind resolver),
	// as the path a pod's lookups take.
	ResolvConf dnsprobe.ResolvConf
	// ClusterDomain is the domain of Service names (cluster.local).
	ClusterDomain string
	// Names are probed besides kubernetes.default and its qualified forms.
	Names []string
	// SweepInterval, if set, resolves every Service's FQDN once per
	// interval through the DNS Service, paced evenly (no bursts).
	SweepInterval time.Duration
	// ServiceOnly probes the DNS Service's address alone, not its pods:
	// for the triage command outside the cluster network, where pod IPs
	// do not route.
	ServiceOnly bool
}

// DNS probe results, for the result label.
const (
	dnsSuccess     = "success"
	dnsWrongAnswer = "wrong_answer"
	dnsNXDomain    = "nxdomain"
	dnsServFail    = "servfail"
	dnsRefused     = "refused"
	dnsOtherRcode  = "other_rcode"
	dnsNoAnswer    = "no_answer" // NOERROR without an address for every candidate
	dnsTimeout     = "timeout"
	dnsError       = "error"
	// dnsStaleAnswer: the name of a Service that no longer exists still
	// resolves (a cache, a stuck CoreDNS watch).
	dnsStaleAnswer = "stale_answer"
)

var dnsResults = []string{dnsSuccess, dnsWrongAnswer, dnsStaleAnswer, dnsNXDomain, dnsServFail, dnsRefused, dnsOtherRcode, dnsNoAnswer, dnsTimeout, dnsError}

// The kinds of server probed: the cluster DNS Service, each of its ready
// endpoints, and each nameserver of the resolv.conf (the node-local cache
// where one runs).
var dnsServerKinds = []string{"service", "endpoint", "resolver"}

// resolverPort is where a resolv.conf nameserver listens: resolv.conf has
// no port.
const resolverPort = "53"

// sweepWorkers bounds the sweep's lookups in flight: enough that a slow
// answer does not cap the rate, few enough to be gentle on CoreDNS.
const sweepWorkers = 32

var (
	dnsProbeSuccess = newMetric("dns_probe_success", prometheus.GaugeValue,
		"1 if the last lookup of the name through the server returned an address, and the expected one when the name is a Service's.", "server", "server_kind", "name")
	dnsProbeLastResult = newMetric("dns_probe_result", prometheus.GaugeValue,
		"1 for the result of the last lookup of the name through the server (one series per server and name): success, wrong_answer, stale_answer, nxdomain, servfail, refused, other_rcode, no_answer, timeout, error.", "server", "server_kind", "name", "result")
	dnsProbeDuration = newMetric("dns_probe_duration_seconds", prometheus.GaugeValue,
		"How long the last lookup took, search-list queries included.", "server", "server_kind", "name")
	dnsProbeLatency = newHistogram("dns_probe_latency_seconds",
		"Latency of every lookup (search-list queries included), by kind of server.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "server_kind")
	dnsProbeSuffix = newMetric("dns_probe_answered_suffix", prometheus.GaugeValue,
		"1 for the search-list suffix that answered the last lookup of a short name (\"\" when the name answered as it is).", "server", "server_kind", "name", "suffix")
	dnsProbeQueries = newMetric("dns_probe_queries", prometheus.GaugeValue,
		"Queries the last lookup took through the search list (and retries).", "server", "server_kind", "name")
	dnsProbeNXDomains = newMetric("dns_probe_nxdomains", prometheus.GaugeValue,
		"NXDOMAIN answers on the way in the last lookup: the cost of the search list.", "server", "server_kind", "name")
	dnsProbeAnswerMatches = newMetric("dns_probe_answer_matches", prometheus.GaugeValue,
		"1 if every address answered is the Service's ClusterIP (a headless Service's ready endpoints), 0 otherwise; absent when there is nothing to compare.", "server", "server_kind", "name")
	dnsProbes = newMetric("dns_probes_total", prometheus.CounterValue,
		"Lookups by kind of server and result: success, wrong_answer, stale_answer, nxdomain, servfail, refused, other_rcode, no_answer, timeout, error.", "server_kind", "result")
	dnsEndpoints = newMetric("dns_endpoints", prometheus.GaugeValue,
		"Ready endpoints of the cluster DNS Service that are probed directly.")
	dnsServiceFound = newMetric("dns_service_found", prometheus.GaugeValue,
		"1 if the cluster DNS Service exists (and has a ClusterIP or an address given by flag).")
	dnsSweepLookups = newMetric("dns_sweep_lookups_total", prometheus.CounterValue,
		"Lookups of Service FQDNs by the sweep, by result.", "result")
	dnsSweepFailing = newMetric("dns_sweep_failing", prometheus.GaugeValue,
		"1 for each Service whose FQDN failed in the last complete sweep, with the result; no series for the Services that resolve.", "namespace", "service", "result")
	dnsSweepServices = newMetric("dns_sweep_services", prometheus.GaugeValue,
		"Services resolved in the last complete sweep.")
	dnsSweepDuration = newMetric("dns_sweep_duration_seconds", prometheus.GaugeValue,
		"How long the last complete sweep took; it is paced to last about the sweep interval.")
)

var dnsSpec = Spec{
	Name:      "dns",
	Help:      "Resolve kubernetes.default and chosen names through the cluster DNS Service, each DNS pod and each resolv.conf nameserver, as a pod's resolver would",
	DefaultOn: []Role{RoleCluster, RoleNode},
	Metrics: []*Metric{dnsProbeSuccess, dnsProbeLastResult, dnsProbeDuration, dnsProbeLatency, dnsProbeSuffix, dnsProbeQueries, dnsProbeNXDomains, dnsProbeAnswerMatches,
		dnsProbes, dnsEndpoints, dnsServiceFound,
		dnsSweepLookups, dnsSweepFailing, dnsSweepServices, dnsSweepDuration},
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 15 * time.Second, Timeout: 2 * time.Second},
		What: "resolves every name through every server", TimeoutHelp: "Timeout of each DNS query (each is tried at most twice)."},
	New: newDNSCollector,
}

type dnsCollector struct {
	*prober.Runner[*dnsRound]
	logger  *slog.Logger
	cfg     DNSConfig
	prober  dnsprobe.Prober // traces its queries, for the history
	sweeper dnsprobe.Prober // does not: it makes thousands
	svcNS   string
	svcName string
	// dnsService holds the DNS Service's record (watched by name).
	// resources are the informers the probes read, as kube.Informers
	// names them.
	resources  []string
	dnsService cache.Indexer
	services   cache.Indexer // records of the Services in scope, for the sweep (nil without it)
	slices     cache.Indexer // the DNS Service's EndpointSlices, whole
	// servicesSynced reports whether the DNS Service's informer has
	// completed its initial list: before, its absence proves nothing.
	servicesSynced func() bool
	// synced are all the caches the probes read.
	synced []cache.InformerSynced
	// headless holds, for each chosen name of a Service, that Service's
	// EndpointSlices (whole): a headless Service must answer its ready
	// endpoints' addresses.
	headless map[string]cache.Indexer
	// named holds the Services of the probed names (default/kubernetes and
	// each chosen name's), watched by name: their answers are checked
	// whatever --namespaces bounds.
	named map[string]cache.Indexer

	latency *prometheus.HistogramVec

	mu          sync.Mutex
	counts      map[[2]string]float64 // by server kind and result
	sweepCounts map[string]float64    // by result
	lastSweep   *dnsSweep
	// problems are the configuration problems the last round found, so
	// that each is logged once, when it appears.
	problems []string
}

type dnsSweep struct {
	services int
	duration time.Duration
	failing  []sweptService
}

type sweptService struct{ namespace, name, result string }

type dnsRound struct {
	serviceFound bool
	endpoints    int
	probes       []dnsProbeResult
}

type dnsProbeResult struct {
	server, kind, name string
	result             string
	matches            *bool
	r                  dnsprobe.Result
	note               string // why the answer is wrong, for the history
}

func newDNSCollector(d Deps) (Collector, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	cfg := d.Config.DNS
	ns, name, ok := strings.Cut(cfg.Service, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("service %q is not namespace/name", cfg.Service)
	}
	if cfg.ServiceAddress != "" {
		if _, _, err := net.SplitHostPort(cfg.ServiceAddress); err != nil {
			return nil, fmt.Errorf("service address %q: %w", cfg.ServiceAddress, err)
		}
	}
	inf := d.Kube.Informers
	// The DNS Service and the probed names' Services are watched by name;
	// every Service in scope only for the sweep, so that without it a node
	// agent's watches and heap do not grow with the cluster's Services.
	dnsService := inf.ServiceNamed(ns, name)
	c := &dnsCollector{
		logger:         d.Logger,
		cfg:            cfg,
		prober:         dnsprobe.Prober{Timeout: d.Schedule.Timeout, Trace: true},
		sweeper:        dnsprobe.Prober{Timeout: d.Schedule.Timeout},
		svcNS:          ns,
		svcName:        name,
		dnsService:     dnsService.GetIndexer(),
		servicesSynced: dnsService.HasSynced,
		counts:         map[[2]string]float64{},
		sweepCounts:    map[string]float64{},
		latency:        dnsProbeLatency.newHistogramVec(),
	}
	dnsSlices := inf.EndpointSlicesOf(ns, name)
	c.slices = dnsSlices.GetIndexer()
	kubernetes := inf.ServiceNamed("default", "kubernetes")
	c.synced = []cache.InformerSynced{dnsService.HasSynced, dnsSlices.HasSynced, kubernetes.HasSynced}
	c.resources = []string{"services/" + ns + "/" + name, "endpointslices/" + ns + "/" + name, "services/default/kubernetes"}
	if cfg.SweepInterval > 0 {
		services := inf.Namespaced("services", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
			return inf.TrimmedInformer(f, kube.Services)
		})
		c.services = services.GetIndexer()
		c.synced = append(c.synced, services.HasSynced)
	}
	c.headless = map[string]cache.Indexer{}
	c.named = map[string]cache.Indexer{"default/kubernetes": kubernetes.GetIndexer()}
	for _, name := range cfg.Names {
		if ns, svc, ok := c.serviceOf(name); ok {
			eps, svcInf := inf.EndpointSlicesOf(ns, svc), inf.ServiceNamed(ns, svc)
			c.headless[ns+"/"+svc] = eps.GetIndexer()
			c.named[ns+"/"+svc] = svcInf.GetIndexer()
			c.synced = append(c.synced, eps.HasSynced, svcInf.HasSynced)
			c.resources = append(c.resources, "endpointslices/"+ns+"/"+svc, "services/"+ns+"/"+svc)
		}
	}
	var err error
	c.Runner, err = prober.New(prober.Config[*dnsRound]{
		Collector: "dns", Schedule: d.Schedule, Logger: d.Logger,
		Probe: c.probeAll, Outcomes: c.outcomes, Synced: c.synced,
		Reasons: dnsResults[1:], // all but success
	})
	return c, err
}

// Run probes on the schedule and, with a sweep interval, sweeps every
// Service's name, once the caches have synced.
func (c *dnsCollector) Run(ctx context.Context) {
	if c.cfg.SweepInterval > 0 {
		go func() {
			if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
				return
			}
			for ctx.Err() == nil {
				if s := c.sweep(ctx); s != nil {
					c.mu.Lock()
					c.lastSweep = s
					c.mu.Unlock()
				}
			}
		}()
	}
	c.Runner.Run(ctx)
}

// Configuration problems, for the problem label of
// kube_triage_config_problem.
const (
	// The Service named by --collector.dns.service does not exist: nothing
	// is probed.
	dnsServiceNotFound = "service_not_found"
	// It exists without a ClusterIP (headless) and no
	// --collector.dns.service-address says where to reach it: only its
	// endpoints are probed, not the Service pods resolve through.
	dnsServiceNoAddress = "service_no_address"
)

// ConfigProblems says what in the configuration leaves the collector
// nothing, or not what it was told, to probe, as the informers see it now.
func (c *dnsCollector) ConfigProblems() []string {
	if !c.servicesSynced() {
		return nil // a Service not listed yet is not a missing one
	}
	obj, ok, _ := c.dnsService.GetByKey(c.svcNS + "/" + c.svcName)
	if !ok {
		return []string{dnsServiceNotFound}
	}
	if svc, ok := obj.(*record.Service); ok && c.cfg.ServiceAddress == "" && (svc.ClusterIP == "" || svc.ClusterIP == corev1.ClusterIPNone) {
		return []string{dnsServiceNoAddress}
	}
	return nil
}

// checkConfig logs each configuration problem once, when it appears, and
// its end.
func (c *dnsCollector) checkConfig() {
	problems := c.ConfigProblems()
	c.mu.Lock()
	previous := c.problems
	c.problems = problems
	c.mu.Unlock()
	for _, p := range problems {
		if slices.Contains(previous, p) {
			continue
		}
		switch p {
		case dnsServiceNotFound:
			c.logger.Warn("the DNS Service does not exist: nothing to probe; check --collector.dns.service", "service", c.cfg.Service, "problem", p)
		case dnsServiceNoAddress:
			c.logger.Warn("the DNS Service has no ClusterIP: only its endpoints are probed; pass --collector.dns.service-address", "service", c.cfg.Service, "problem", p)
		}
	}
	for _, p := range previous {
		if !slices.Contains(problems, p) {
			c.logger.Info("DNS configuration problem resolved", "service", c.cfg.Service, "problem", p)
		}
	}
}

// sweep resolves every Service's FQDN through the DNS Service once, paced
// evenly over SweepInterval (prober.Pace); it returns nil if ctx ended
// first. Headless and ExternalName Services are left out (their answers
// are not a ClusterIP).
func (c *dnsCollector) sweep(ctx context.Context) *dnsSweep {
	start := time.Now()
	found, targets := c.targets()
	var services []*record.Service
	for _, obj := range c.services.List() {
		if svc, ok := obj.(*record.Service); ok && svc.Type != corev1.ServiceTypeExternalName && svc.ClusterIP != corev1.ClusterIPNone && svc.ClusterIP != "" {
			services = append(services, svc)
		}
	}
	if !found || len(services) == 0 {
		select { // nothing to sweep yet: look again in an interval
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.SweepInterval):
			return &dnsSweep{duration: time.Since(start)}
		}
	}
	server := targets[0] // the Service comes first
	s := &dnsSweep{services: len(services)}
	var mu sync.Mutex
	complete := prober.Pace(ctx, len(services), c.cfg.SweepInterval, sweepWorkers, func(ctx context.Context, i int) {
		svc := services[i]
		p := c.probe(ctx, c.sweeper, server, svc.Name+"."+svc.Namespace+".svc."+c.cfg.ClusterDomain+".")
		if _, exists, _ := c.services.GetByKey(svc.Namespace + "/" + svc.Name); !exists || p.result == dnsStaleAnswer {
			return // deleted since the sweep began: neither a success nor a failure
		}
		c.mu.Lock()
		c.sweepCounts[p.result]++
		c.mu.Unlock()
		if p.result != dnsSuccess {
			mu.Lock()
			s.failing = append(s.failing, sweptService{svc.Namespace, svc.Name, p.result})
			mu.Unlock()
		}
	})
	if !complete {
		return nil
	}
	slices.SortFunc(s.failing, func(a, b sweptService) int {
		return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	s.duration = time.Since(start)
	// One line per sweep: with DNS down, a line per Service would flood.
	c.logger.Info("dns sweep finished", "services", s.services, "failing", len(s.failing), "duration_seconds", s.duration.Seconds())
	return s
}

// target is a server to ask.
type target struct{ server, kind, addr string }

// targets are the DNS Service, each of its ready endpoints and each
// nameserver of the resolv.conf.
func (c *dnsCollector) targets() (found bool, ts []target) {
	var serviceAddr, clusterIP string
	if obj, ok, _ := c.dnsService.GetByKey(c.svcNS + "/" + c.svcName); ok {
		svc := obj.(*record.Service)
		clusterIP = svc.ClusterIP
		addr := c.cfg.ServiceAddress
		if addr == "" && svc.ClusterIP != "" && svc.ClusterIP != corev1.ClusterIPNone {
			addr = net.JoinHostPort(svc.ClusterIP, strconv.Itoa(int(dnsPort(svc.Ports))))
		}
		if addr != "" {
			found, serviceAddr = true, addr
			ts = append(ts, target{server: "service", kind: "service", addr: addr})
		}
	}
	if c.cfg.ServiceOnly {
		return found, ts
	}
	seen := map[string]bool{}
	for _, obj := range c.slices.List() {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
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
				t := target{server: server, kind: "endpoint", addr: server}
				if s.AddressType == discoveryv1.AddressTypeFQDN {
					t.addr = c.resolveFQDN(serviceAddr, a, port)
				}
				ts = append(ts, t)
			}
		}
	}
	for _, server := range c.resolvers(clusterIP) {
		ts = append(ts, target{server: server, kind: "resolver", addr: server})
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
	if obj, ok, _ := c.dnsService.GetByKey(c.svcNS + "/" + c.svcName); ok {
		return obj.(*record.Service).ClusterIP
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
		if ns, found := strings.CutSuffix(c.cfg.ResolvConf.Search[0], ".svc."+strings.TrimSuffix(c.cfg.ClusterDomain, ".")); found && !strings.Contains(ns, ".") {
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
	obj, ok, _ := services.GetByKey(ns + "/" + svcName)
	if !ok { // Run waits for the caches: not found is gone
		return expectation{gone: answered == svcName+"."+ns+".svc."+strings.TrimSuffix(c.cfg.ClusterDomain, ".")+"."}
	}
	svc := obj.(*record.Service)
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
	for _, o := range eps.List() {
		s, ok := o.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
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

// probeAll asks every server for every name, side by side per server.
func (c *dnsCollector) probeAll(ctx context.Context) *dnsRound {
	c.checkConfig()
	found, targets := c.targets()
	names := c.names()
	results := make([]dnsProbeResult, len(targets)*len(names))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			for j, name := range names {
				results[i*len(names)+j] = c.probe(ctx, c.prober, t, name)
			}
		})
	}
	wg.Wait()
	round := &dnsRound{serviceFound: found, probes: results}
	for _, t := range targets {
		if t.kind == "endpoint" {
			round.endpoints++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range round.probes {
		c.counts[[2]string{p.kind, p.result}]++
	}
	return round
}

// outcomes are a round's lookups, for the log and the history.
func (c *dnsCollector) outcomes(round *dnsRound) []prober.Outcome {
	out := make([]prober.Outcome, 0, len(round.probes))
	for _, p := range round.probes {
		target := p.name + " @" + p.server // "kubernetes.default @service"
		if p.server != p.kind {
			target += " (" + p.kind + ")" // "kubernetes.default @169.254.20.10:53 (resolver)"
		}
		o := prober.Outcome{Target: target, Duration: p.r.Duration, Log: slices.Clone(p.r.Log)}
		if p.r.Err != nil {
			o.Log = append(o.Log, "error: "+p.r.Err.Error())
		}
		if p.result != dnsSuccess {
			o.Reason = p.result
			o.Attrs = []any{"server", p.server, "server_kind", p.kind, "name", p.name,
				"rcode", dns.RcodeToString[p.r.Rcode], "addrs", fmt.Sprint(p.r.Addrs), "err", p.r.Err}
		}
		if p.note != "" {
			o.Log = append(o.Log, p.note)
		}
		out = append(out, o)
	}
	return out
}

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
		p.result = dnsTimeout
	case r.Err != nil:
		p.result = dnsError
	case r.Rcode == dns.RcodeNameError:
		p.result = dnsNXDomain
	case r.Rcode == dns.RcodeServerFailure:
		p.result = dnsServFail
	case r.Rcode == dns.RcodeRefused:
		p.result = dnsRefused
	case r.Rcode != dns.RcodeSuccess:
		p.result = dnsOtherRcode
	case len(r.Addrs) == 0:
		p.result = dnsNoAnswer
	default:
		p.result = dnsSuccess
		switch e := c.expected(name, r.Answered); {
		case e.gone:
			p.result = dnsStaleAnswer
			p.note = "the Service does not exist: any address is stale"
		case len(e.want) > 0:
			// Right when every address answered is one it should be.
			m := !slices.ContainsFunc(r.Addrs, func(a netip.Addr) bool { return !slices.Contains(e.want, a) })
			p.matches = &m
			if !m {
				p.result = dnsWrongAnswer
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

func (c *dnsCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := dnsServerKinds
	if len(c.resolvers(c.dnsServiceIP())) == 0 {
		kinds = kinds[:2] // no resolver is probed: no counters for one
	}
	for _, kind := range kinds {
		for _, res := range dnsResults {
			ch <- dnsProbes.value(c.counts[[2]string{kind, res}], kind, res)
		}
	}
	c.latency.Collect(ch)
	if c.cfg.SweepInterval > 0 {
		for _, res := range dnsResults {
			ch <- dnsSweepLookups.value(c.sweepCounts[res], res)
		}
		if s := c.lastSweep; s != nil {
			ch <- dnsSweepServices.value(float64(s.services))
			ch <- dnsSweepDuration.value(s.duration.Seconds())
			for _, f := range s.failing {
				ch <- dnsSweepFailing.value(1, f.namespace, f.name, f.result)
			}
		}
	}
	last, ok, err := c.Last()
	if !ok { // no gauges before the first round rather than false zeros, nor once stale
		return err
	}
	ch <- dnsServiceFound.value(boolFloat(last.serviceFound))
	ch <- dnsEndpoints.value(float64(last.endpoints))
	for _, p := range last.probes {
		ch <- dnsProbeSuccess.value(boolFloat(p.result == dnsSuccess), p.server, p.kind, p.name)
		ch <- dnsProbeLastResult.value(1, p.server, p.kind, p.name, p.result)
		if p.r.Answered != "" && !strings.HasSuffix(p.name, ".") {
			suffix := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(p.r.Answered, "."), p.name), ".")
			ch <- dnsProbeSuffix.value(1, p.server, p.kind, p.name, strings.TrimPrefix(suffix, "."))
		}
		ch <- dnsProbeDuration.value(p.r.Duration.Seconds(), p.server, p.kind, p.name)
		ch <- dnsProbeQueries.value(float64(p.r.Queries), p.server, p.kind, p.name)
		ch <- dnsProbeNXDomains.value(float64(p.r.NXDomains), p.server, p.kind, p.name)
		if p.matches != nil {
			ch <- dnsProbeAnswerMatches.value(boolFloat(*p.matches), p.server, p.kind, p.name)
		}
	}
	return nil
}
