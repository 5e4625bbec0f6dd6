// Package dns is the dns collector (both roles): it resolves
// kubernetes.default and chosen names through the cluster DNS Service,
// each DNS pod and each resolv.conf nameserver, as a pod's resolver would,
// and checks each answer against the Service it names. With
// --collector.dns.sweep-interval it also resolves every Service's FQDN,
// paced evenly, as a prober of its own (dns_sweep).
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var metrics collector.Families

var (
	probeSuccess = metrics.Gauge("dns_probe_success", "Does the Service work by DNS name? (`nslookup hostnames`)",
		"1 if the last lookup of the name through the server returned an address, and the expected one when the name is a Service's.", "server", "server_kind", "name")
	probeResult = metrics.Gauge("dns_probe_result", "Does the Service work by DNS name?",
		"1 for the result of the last lookup of the name through the server (one series per server and name): "+guide.List(guide.DNSResults)+".", "server", "server_kind", "name", "result")
	probeDuration = metrics.Gauge("dns_probe_duration_seconds", "-",
		"How long the last lookup took, search-list queries included.", "server", "server_kind", "name")
	probeLatency = metrics.Histogram("dns_probe_latency_seconds", "-",
		"Latency of every lookup (search-list queries included), by kind of server.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "server_kind")
	probeSuffix = metrics.Gauge("dns_probe_answered_suffix", "Check /etc/resolv.conf (search)",
		"1 for the search-list suffix that answered the last lookup of a short name (\"\" when the name answered as it is).", "server", "server_kind", "name", "suffix")
	probeQueries = metrics.Gauge("dns_probe_queries", "Check /etc/resolv.conf (search, ndots)",
		"Queries the last lookup took through the search list (and retries).", "server", "server_kind", "name")
	probeNXDomains = metrics.Gauge("dns_probe_nxdomains", "Check /etc/resolv.conf",
		"NXDOMAIN answers on the way in the last lookup: the cost of the search list.", "server", "server_kind", "name")
	probeAnswerMatches = metrics.Gauge("dns_probe_answer_matches", "Does the answer match the ClusterIP?",
		"1 if every address answered is the Service's ClusterIP (a headless Service's ready endpoints), 0 otherwise; absent when there is nothing to compare.", "server", "server_kind", "name")
	probes = metrics.Counter("dns_probes_total", "Does any DNS work?",
		"Lookups by kind of server and result: "+guide.List(guide.DNSResults)+".", "server_kind", "result")
	endpointsProbed = metrics.Gauge("dns_endpoints", "Are the DNS pods running?",
		"Ready endpoints of the cluster DNS Service that are probed directly.")
	serviceFound = metrics.Gauge("dns_service_found", "Is the DNS service up?",
		"1 if the cluster DNS Service exists (and has a ClusterIP or an address given by flag).")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "dns",
	Help:      "Resolve kubernetes.default and chosen names through the cluster DNS Service, each DNS pod and each resolv.conf nameserver, as a pod's resolver would",
	DefaultOn: []collector.Role{collector.RoleCluster, collector.RoleNode},
	Metrics:   &metrics,
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 15 * time.Second, Timeout: 2 * time.Second},
		What: "resolves every name through every server", TimeoutHelp: "Timeout of each DNS query (each is tried at most twice)."},
	Config: func() collector.Config { return &Config{} },
}

// Config configures the collector; its schedule comes from
// --collector.dns.{interval,timeout} (the timeout is per query, and each
// query is tried at most twice).
type Config struct {
	// Service is the cluster DNS Service, namespace/name.
	Service string
	// ServiceAddress, if set, is where to reach the Service (host:port)
	// instead of its ClusterIP and port: for an exporter outside the
	// cluster network.
	ServiceAddress string
	// ResolvConfPath is the resolv.conf Check reads into ResolvConf;
	// Resolvers, whether its nameservers are probed too.
	ResolvConfPath string
	Resolvers      bool
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

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.String("collector.dns.service", "The cluster DNS Service, namespace/name; its endpoints are probed one by one as well.",
			"kube-system/kube-dns", &c.Service),
		withPlaceHolder(collector.String("collector.dns.service-address", "Reach the DNS Service at this host:port instead of its ClusterIP (for an exporter outside the cluster network).",
			"", &c.ServiceAddress), "HOST:PORT"),
		collector.String("collector.dns.resolv-conf", "resolv.conf whose search list and ndots expand short names, as in a pod. In a pod, its own.",
			"/etc/resolv.conf", &c.ResolvConfPath),
		collector.Bool("collector.dns.resolvers", "Also resolve the names through each nameserver of --collector.dns.resolv-conf (the first three, port 53), as server_kind=\"resolver\": the node-local DNS cache a pod's lookups go through. Only when that file is a cluster pod's (svc.<cluster domain> in its search list).",
			true, &c.Resolvers),
		collector.String("collector.dns.cluster-domain", "The cluster's DNS domain.", "cluster.local", &c.ClusterDomain),
		collector.Strings("collector.dns.name", "A name to resolve besides kubernetes.default (repeatable), e.g. hostnames.default; names of Services are checked against their ClusterIP.",
			"NAME", &c.Names),
		collector.Duration("collector.dns.sweep-interval", "If set, resolve every Service's FQDN through the DNS Service once per this interval, paced evenly; 0 turns the sweep off. Only the sweep watches every Service (leave it off on node agents).",
			0, &c.SweepInterval),
	}
}

func withPlaceHolder(f collector.Flag, placeHolder string) collector.Flag {
	f.PlaceHolder = placeHolder
	return f
}

// Check reads the resolv.conf and wants domain names, a namespace/name
// Service and a host:port address.
func (c *Config) Check(collector.Role) error {
	rc, err := dnsprobe.ReadResolvConf(c.ResolvConfPath)
	if err != nil {
		return fmt.Errorf("--collector.dns.resolv-conf: %w", err)
	}
	if !c.Resolvers {
		rc.Nameservers = nil
	}
	c.ResolvConf = rc
	for _, n := range c.Names {
		if !dnsprobe.IsDomainName(n) {
			return fmt.Errorf("--collector.dns.name=%q is not a domain name", n)
		}
	}
	if _, _, ok := kube.SplitName(c.Service); !ok {
		return fmt.Errorf("--collector.dns.service=%q: want namespace/name", c.Service)
	}
	if c.ServiceAddress != "" {
		if _, _, err := net.SplitHostPort(c.ServiceAddress); err != nil {
			return fmt.Errorf("--collector.dns.service-address=%q: %w", c.ServiceAddress, err)
		}
	}
	return nil
}

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newDNSCollector(*c, d))
}

// Domain is the cluster's DNS domain, without a trailing dot.
func (c *Config) Domain() string { return strings.TrimSuffix(c.ClusterDomain, ".") }

// ForWalk narrows the configuration to what a triage walk asks: the names
// given, resolved with a pod's search list, no sweep; outside the
// cluster network (inPod false) through the DNS Service's address alone,
// which is reachable only when --collector.dns.service-address names one.
// It reports whether DNS can be asked from here.
func (c *Config) ForWalk(names []string, rc dnsprobe.ResolvConf, inPod bool) bool {
	c.Names, c.ResolvConf, c.SweepInterval, c.ServiceOnly = names, rc, 0, !inPod
	return inPod || c.ServiceAddress != ""
}

type dnsCollector struct {
	*prober.Runner[*dnsRound]
	sweep   *prober.Runner[*dnsSweep] // nil without a sweep interval
	logger  *slog.Logger
	cfg     Config
	prober  dnsprobe.Prober // traces its queries, for the history
	sweeper dnsprobe.Prober // does not: it makes thousands
	svcNS   string
	svcName string
	// resources are the informers the probes read, as kube.Informers
	// names them.
	resources  []string
	dnsService kube.Cache // the DNS Service's record (watched by name)
	services   kube.Cache // records of the Services in scope, for the sweep (nil without it)
	slices     kube.Cache // the DNS Service's EndpointSlices, whole
	// servicesSynced reports whether the DNS Service's informer has
	// completed its initial list: before, its absence proves nothing.
	servicesSynced func() bool
	// headless holds, for each chosen name of a Service, that Service's
	// EndpointSlices (whole): a headless Service must answer its ready
	// endpoints' addresses.
	headless map[string]kube.Cache
	// named holds the Services of the probed names (default/kubernetes and
	// each chosen name's), watched by name: their answers are checked
	// whatever --namespaces bounds.
	named map[string]kube.Cache

	latency *prometheus.HistogramVec

	mu     sync.Mutex
	counts map[[2]string]float64 // by server kind and result
	// problems are the configuration problems the last round found, so
	// that each is logged once, when it appears.
	problems    []string
	sweepCounts map[guide.DNSResult]float64
}

type dnsRound struct {
	serviceFound bool
	endpoints    int
	probes       []dnsProbeResult
}

type dnsProbeResult struct {
	server, kind, name string
	result             guide.DNSResult
	matches            *bool
	r                  dnsprobe.Result
	note               string // why the answer is wrong, for the history
}

func newDNSCollector(cfg Config, d collector.Deps) (*dnsCollector, error) {
	inf, err := d.Informers()
	if err != nil {
		return nil, err
	}
	ns, name, _ := strings.Cut(cfg.Service, "/")
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
		dnsService:     dnsService.Cache(),
		servicesSynced: dnsService.HasSynced,
		counts:         map[[2]string]float64{},
		sweepCounts:    map[guide.DNSResult]float64{},
		latency:        probeLatency.HistogramVec(),
	}
	dnsSlices := inf.EndpointSlicesOf(ns, name)
	c.slices = dnsSlices.Cache()
	kubernetes := inf.ServiceNamed("default", "kubernetes")
	synced := []cache.InformerSynced{dnsService.HasSynced, dnsSlices.HasSynced, kubernetes.HasSynced}
	c.resources = []string{"services/" + ns + "/" + name, "endpointslices/" + ns + "/" + name, "services/default/kubernetes"}
	c.headless = map[string]kube.Cache{}
	c.named = map[string]kube.Cache{"default/kubernetes": kubernetes.Cache()}
	for _, name := range cfg.Names {
		if ns, svc, ok := c.serviceOf(name); ok {
			eps, svcInf := inf.EndpointSlicesOf(ns, svc), inf.ServiceNamed(ns, svc)
			c.headless[ns+"/"+svc] = eps.Cache()
			c.named[ns+"/"+svc] = svcInf.Cache()
			synced = append(synced, eps.HasSynced, svcInf.HasSynced)
			c.resources = append(c.resources, "endpointslices/"+ns+"/"+svc, "services/"+ns+"/"+svc)
		}
	}
	var sweepSynced []cache.InformerSynced
	if cfg.SweepInterval > 0 {
		services := inf.Records(kube.Services)
		c.services = services.Cache()
		sweepSynced = append(slices.Clone(synced), services.HasSynced)
	}
	c.Runner, err = prober.New(prober.Config[*dnsRound]{
		Collector: "dns", Schedule: d.Schedule, Logger: d.Logger,
		Probe: c.probeAll, Outcomes: c.outcomes, Synced: synced,
		Reasons: reasons(),
	})
	if err != nil {
		return nil, err
	}
	if cfg.SweepInterval > 0 {
		c.sweep, err = c.newSweep(d, sweepSynced)
	}
	return c, err
}

// reasons are the results a lookup fails with: all but success.
func reasons() []string {
	var out []string
	for _, r := range guide.DNSResults[1:] {
		out = append(out, string(r))
	}
	return out
}

// Collector is what the framework runs of it.
func (c *dnsCollector) Collector() *collector.Collector {
	out := &collector.Collector{Update: c.update, Probers: []collector.Prober{c.Runner}, ConfigProblems: c.configProblems, Source: source{c}}
	if c.sweep != nil {
		out.Probers = append(out.Probers, c.sweep)
	}
	return out
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
		if t.kind == guide.ServerEndpoint {
			round.endpoints++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range round.probes {
		c.counts[[2]string{p.kind, string(p.result)}]++
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
		if p.result != guide.DNSSuccess {
			o.Reason = string(p.result)
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

func (c *dnsCollector) update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	kinds := guide.ServerKinds
	if len(c.resolvers(c.dnsServiceIP())) == 0 {
		kinds = kinds[:2] // no resolver is probed: no counters for one
	}
	for _, kind := range kinds {
		for _, res := range guide.DNSResults {
			ch <- probes.Value(c.counts[[2]string{kind, string(res)}], kind, string(res))
		}
	}
	c.mu.Unlock()
	c.latency.Collect(ch)
	if c.sweep != nil {
		c.sweepUpdate(ch)
	}
	last, ok, err := c.Last()
	if !ok { // no gauges before the first round rather than false zeros, nor once stale
		return err
	}
	ch <- serviceFound.Value(collector.BoolFloat(last.serviceFound))
	ch <- endpointsProbed.Value(float64(last.endpoints))
	for _, p := range last.probes {
		ch <- probeSuccess.Value(collector.BoolFloat(p.result == guide.DNSSuccess), p.server, p.kind, p.name)
		ch <- probeResult.Value(1, p.server, p.kind, p.name, string(p.result))
		if p.r.Answered != "" && !strings.HasSuffix(p.name, ".") {
			suffix := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(p.r.Answered, "."), p.name), ".")
			ch <- probeSuffix.Value(1, p.server, p.kind, p.name, strings.TrimPrefix(suffix, "."))
		}
		ch <- probeDuration.Value(p.r.Duration.Seconds(), p.server, p.kind, p.name)
		ch <- probeQueries.Value(float64(p.r.Queries), p.server, p.kind, p.name)
		ch <- probeNXDomains.Value(float64(p.r.NXDomains), p.server, p.kind, p.name)
		if p.matches != nil {
			ch <- probeAnswerMatches.Value(collector.BoolFloat(*p.matches), p.server, p.kind, p.name)
		}
	}
	return nil
}

// source is what the triage walks read: the last round's lookups.
type source struct{ c *dnsCollector }

// DNSLookups is the last round, while it is current: whether the DNS
// Service was found, and every lookup.
func (s source) DNSLookups() (found bool, lookups []guide.Lookup, err error) {
	last, ok, err := s.c.Last()
	if !ok {
		if err == nil {
			err = errors.New("no round has finished yet")
		}
		return false, nil, err
	}
	for _, p := range last.probes {
		lookups = append(lookups, guide.Lookup{Server: p.server, Kind: p.kind, Name: p.name, Result: p.result,
			Addrs: p.r.Addrs, Answered: p.r.Answered, Note: p.note, Err: p.r.Err})
	}
	return last.serviceFound, lookups, nil
}

// DNSService is the cluster DNS Service the collector asks, namespace/name.
func (s source) DNSService() string { return s.c.cfg.Service }

// DNSResources are the informers the lookups are judged from.
func (s source) DNSResources() []string { return s.c.resources }

// ServiceOf names the Service a probed name is of (see serviceOf).
func (s source) ServiceOf(name string) (namespace, service string, ok bool) {
	return s.c.serviceOf(name)
}
