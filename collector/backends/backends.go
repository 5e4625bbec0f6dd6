// Package backends is the backends collector (cluster role): the "Debug
// Services" guide's "Are the Pods working?" step (`wget` each pod
// IP:port), done for real. It connects to every ready endpoint of the TCP
// ports of the Services in scope, from the pod network as their clients
// do, and judges each Service by what answered: a ready endpoint that
// refuses is its application, one that times out the network (or a
// NetworkPolicy). The connections are paced under a global rate; the
// endpoints are visited in turn, a batch per round, so that a pass covers
// them all however many there are.
package backends

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/netguard"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var metrics collector.Families

const step = "Are the Pods working? (`wget` each pod IP:port)"

var (
	portBackends = metrics.Gauge("service_port_backends", step,
		"Ready endpoints of the Service port by their last probe's result: "+guide.OrList(guide.BackendResults)+". answering is always there; the others only while some endpoint has them. Endpoints not probed yet are not counted.",
		"namespace", "service", "port", "result")
	backendVerdict = metrics.Gauge("service_backends_verdict", step,
		"1 for the Service's data-plane verdict from its endpoints' probes: "+guide.OrList(guide.BackendVerdictValues())+" (see docs/metrics.md); no series until one of its endpoints has been probed.",
		"namespace", "service", "verdict")
	servicesByVerdict = metrics.Gauge("backends_services", "-",
		"Services with a backend verdict, by verdict: the share still answering is the data plane's state, also while the apiserver is down (the probes go on from the endpoints last known).",
		"verdict")
	probesTotal = metrics.Counter("backends_probes_total", "-",
		"Probes of ready endpoints since the exporter started, by result.", "result")
	targetCount = metrics.Gauge("backends_targets", "-",
		"Ready endpoints of the TCP ports of the Services in scope: what a pass probes.")
	passSeconds = metrics.Gauge("backends_pass_seconds", "-",
		"How long a pass over every target takes at --collector.backends.rate: each endpoint is probed again this often (at least the interval).")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "backends",
	Help:      "Connect to every ready endpoint of the Services in scope (an HTTP GET where the port speaks HTTP) and judge whether they answer",
	DefaultOn: []collector.Role{collector.RoleCluster},
	Metrics:   &metrics,
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 2 * time.Second},
		What: "probes a batch of the ready endpoints (as many as --collector.backends.rate allows)", TimeoutHelp: "Timeout of each connection (and HTTP GET) to an endpoint."},
	Config: func() collector.Config { return &Config{} },
}

// Config configures the collector.
type Config struct {
	// Rate is the connections per second, all Services together.
	Rate float64
	// OptIn probes only the Services annotated
	// kube-triage.io/probe-backends: "true".
	OptIn bool
	// ExcludeNamespaces are namespaces whose Services are not probed.
	ExcludeNamespaces []string
	// only, if set, is the one Service (namespace/name) probed.
	only string
}

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.Value("collector.backends.rate", "Connections per second to the Services' endpoints, all together: each round probes rate x (interval - timeout) of them, in turn, so that a pass over N endpoints takes about N/rate seconds, in whole intervals (kube_triage_backends_pass_seconds).",
			"50", &c.Rate, parseRate),
		collector.Bool("collector.backends.opt-in", "Probe only the Services annotated "+record.BackendsProbeAnnotation+"=\"true\" (else every Service but those annotated \"false\").",
			false, &c.OptIn),
		collector.Strings("collector.backends.exclude-namespace", "A namespace whose Services are not probed (repeatable).", "NAMESPACE", &c.ExcludeNamespaces),
	}
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !validRate(r) {
		return 0, fmt.Errorf("want connections per second, a positive number: %q", s)
	}
	return r, nil
}

func validRate(r float64) bool { return r > 0 && !math.IsInf(r, 0) }

// Check wants a positive rate (a value the flag did not parse).
func (c *Config) Check(collector.Role) error {
	if !validRate(c.Rate) {
		return fmt.Errorf("--collector.backends.rate=%g: want connections per second, a positive number", c.Rate)
	}
	return nil
}

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newBackendsCollector(*c, d))
}

// Collector is what the framework runs of it.
func (c *backendsCollector) Collector() *collector.Collector {
	return &collector.Collector{Update: c.update, Probers: []collector.Prober{c.Runner}, ConfigProblems: c.configProblems, Source: c}
}

type backendsCollector struct {
	*prober.Runner[*pass]
	logger          *slog.Logger
	cfg             Config
	schedule        prober.Schedule
	services, slice kube.Cache
	dial            func(ctx context.Context, network, addr string) (net.Conn, error)
	// changes counts the caches' events; nil: not followed, the targets
	// are listed every round.
	changes *atomic.Uint64

	mu sync.Mutex
	// all are the targets as last listed, in order (nil: none yet), and
	// results the last probe of each (same index; none: not yet probed);
	// listedAt is the count of changes when they were listed. Only the
	// rounds (one at a time) list and probe.
	all      []target
	results  []result
	listedAt uint64
	cursor   target                          // the next target to probe
	counts   map[guide.BackendResult]float64 // probes since the start
	failing  map[string]guide.BackendVerdict // the Services failing at the last summary
}

// target is one ready endpoint of one Service port: 32 bytes (an address
// is 16 bytes, an IPv4 one mapped into IPv6, not netip's 24), for there are
// as many as the cluster has ready pods.
type target struct {
	*servicePort
	ip  [16]byte
	num uint16 // the port number
}

func newTarget(p *servicePort, a netip.AddrPort) target {
	return target{servicePort: p, ip: a.Addr().As16(), num: a.Port()}
}

// addr is the endpoint's address and port.
func (t target) addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(t.ip).Unmap(), t.num)
}

// servicePort is what the targets of one Service port share.
type servicePort struct {
	service string // namespace/name
	port    string
	// scheme is http or https for an HTTP GET of path; "" connects only.
	scheme, path string
}

// compare orders targets by Service, port and address: the order of a
// pass, and a Service's targets together.
func (t target) compare(u target) int {
	switch {
	case t.servicePort == u.servicePort: // of one listing's Service port (or both the zero cursor)
		return t.compareAddr(u)
	case t.servicePort == nil || u.servicePort == nil: // the zero cursor comes first
		return cmp.Compare(b2i(t.servicePort != nil), b2i(u.servicePort != nil))
	}
	return cmp.Or(strings.Compare(t.service, u.service), strings.Compare(t.port, u.port), t.compareAddr(u))
}

// compareAddr orders by address bytes (IPv4 ones, mapped, together) and
// port: an order, without making either address.
func (t target) compareAddr(u target) int {
	return cmp.Or(bytes.Compare(t.ip[:], u.ip[:]), cmp.Compare(t.num, u.num))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// result is a target's last probe: one per ready endpoint, so 16 bytes
// rather than the 56 of a guide.BackendResult, a string and a time.Time.
type result struct {
	err  *string // nil when it answered
	at   uint32  // Unix seconds
	kind uint8   // index in guide.BackendResults, plus one; 0: not probed
}

func newResult(r guide.BackendResult, err string, at time.Time) result {
	i := slices.Index(guide.BackendResults, r)
	if i < 0 { // none is: Classify's are all listed
		i = slices.Index(guide.BackendResults, guide.BackendError)
	}
	out := result{at: uint32(max(at.Unix(), 0)), kind: uint8(i + 1)}
	if err != "" {
		out.err = &err
	}
	return out
}

// errText is what the probe's error said; "" for none.
func (r result) errText() string {
	if r.err == nil {
		return ""
	}
	return *r.err
}

// outcome is what the probe found; "" for none.
func (r result) outcome() guide.BackendResult {
	if r.kind == 0 {
		return ""
	}
	return guide.BackendResults[r.kind-1]
}

func (r result) time() time.Time { return time.Unix(int64(r.at), 0) }

// pass is what a round leaves: every Service's counts from the last probe
// of each of its endpoints, whichever round it was in.
type pass struct {
	services map[string]*serviceState // by namespace/name
	targets  int
	probed   []probe // this round's
	duration time.Duration
	// seconds is how long a pass over every target takes.
	seconds float64
	// cutOff: the exporter reaches no endpoint (judge).
	cutOff bool
}

type probe struct {
	target
	result
}

// serviceState is one Service's ports' counts and its verdict.
type serviceState struct {
	namespace, name string
	ports           map[string]guide.BackendCounts
	verdict         guide.BackendVerdict
}

func newBackendsCollector(cfg Config, d collector.Deps) (*backendsCollector, error) {
	inf, err := d.Informers()
	if err != nil {
		return nil, err
	}
	services := inf.Records(kube.Services)
	slices, err := inf.RecordsIndexed(kube.EndpointSlices, kube.SlicesByService)
	if err != nil {
		return nil, err
	}
	c := newProber(d.Logger, cfg, d.Schedule, services.Cache(), slices.Cache())
	// Any change to a Service or an EndpointSlice lists the targets again;
	// a round without one reuses them (listing and keying 30,000 endpoints
	// is most of a round's bookkeeping).
	c.changes = &atomic.Uint64{}
	changed := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.changes.Add(1) },
		UpdateFunc: func(any, any) { c.changes.Add(1) },
		DeleteFunc: func(any) { c.changes.Add(1) },
	}
	for _, i := range []kube.Informer{services, slices} {
		if _, err := i.AddEventHandler(changed); err != nil {
			return nil, err
		}
	}
	c.Runner, err = c.runner([]cache.InformerSynced{services.HasSynced, slices.HasSynced})
	return c, err
}

// newProber builds the collector over caches of records (the EndpointSlices
// indexed by kube.SlicesByService); runner makes its prober.
func newProber(logger *slog.Logger, cfg Config, s prober.Schedule, services, slices kube.Cache) *backendsCollector {
	return &backendsCollector{
		logger: logger, cfg: cfg, schedule: s, services: services, slice: slices,
		dial:   guardedDial,
		counts: map[guide.BackendResult]float64{}, failing: map[string]guide.BackendVerdict{},
	}
}

func (c *backendsCollector) runner(synced []cache.InformerSynced) (*prober.Runner[*pass], error) {
	var reasons []string
	for _, r := range guide.BackendResults[1:] {
		reasons = append(reasons, string(r))
	}
	return prober.New(prober.Config[*pass]{
		Collector: "backends", Schedule: c.schedule, Logger: c.logger,
		Probe: c.probeBatch, Outcomes: outcomes, Synced: synced, Reasons: reasons,
		// One line when the failing Services change: a line per endpoint
		// would flood when a node or a policy takes many at once.
		Summary: c.summary,
	})
}

// inScope says whether the collector probes the Service's endpoints.
func (c *backendsCollector) inScope(svc *record.Service) bool {
	switch {
	case c.cfg.only != "" && c.cfg.only != svc.Namespace+"/"+svc.Name:
		return false
	case svc.Type == corev1.ServiceTypeExternalName, svc.ProbeBackends == "false",
		c.cfg.OptIn && svc.ProbeBackends != "true", slices.Contains(c.cfg.ExcludeNamespaces, svc.Namespace):
		return false
	}
	return true
}

// relist lists the targets again when a Service or EndpointSlice changed
// since they were last listed (always, without an event counter), keeping
// the last result of each that is still there. Only the rounds, one at a
// time, call it and write the targets: it reads them without c.mu and
// takes it only to swap the new ones in, so that a scrape does not wait
// for a listing.
func (c *backendsCollector) relist() {
	var n uint64
	if c.changes != nil {
		n = c.changes.Load() // before listing: a change while it lists, lists again next round
		if c.all != nil && n == c.listedAt {
			return
		}
	}
	all := c.listTargets()
	results := make([]result, len(all))
	// Both lists are in order: one walk finds the targets still there.
	for i, j := 0, 0; i < len(all) && j < len(c.all); {
		switch d := all[i].compare(c.all[j]); {
		case d < 0:
			i++
		case d > 0:
			j++
		default:
			results[i] = c.results[j]
			i, j = i+1, j+1
		}
	}
	if all == nil {
		all = []target{} // listed: none
	}
	c.mu.Lock()
	c.all, c.results, c.listedAt = all, results, n
	c.mu.Unlock()
}

// listTargets lists every ready endpoint of the TCP ports of the Services
// in scope, from the caches, in order. UDP and SCTP ports are not dialled:
// a UDP probe that gets no answer proves nothing (the DNS collector
// resolves through the DNS Service's endpoints; its TCP port is probed
// here).
func (c *backendsCollector) listTargets() []target {
	var out []target
	for _, svc := range kube.All[record.Service](c.services) {
		if !c.inScope(svc) {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		for _, sp := range svc.Ports {
			if sp.Protocol != corev1.ProtocolTCP && sp.Protocol != "" {
				continue
			}
			port := &servicePort{service: key, port: sp.Name}
			port.scheme, port.path = httpOf(sp.AppProtocol, svc.ProbePath)
			for _, s := range kube.Indexed[record.EndpointSlice](c.slice, kube.SliceServiceIndex, key) {
				i := slices.IndexFunc(s.Ports, func(p record.SlicePort) bool { return p.Name == sp.Name })
				if i < 0 || s.Ports[i].Port <= 0 || s.Ports[i].Port > math.MaxUint16 {
					continue
				}
				for _, a := range s.Addrs() {
					out = append(out, newTarget(port, netip.AddrPortFrom(a, uint16(s.Ports[i].Port))))
				}
			}
		}
	}
	slices.SortFunc(out, target.compare)
	// An address in two slices of a Service (during a handover) is one
	// target. Kept at its length: appending left up to a quarter unused.
	return slices.Clone(slices.CompactFunc(out, func(a, b target) bool { return a.compare(b) == 0 }))
}

// httpOf is how a port is probed: an HTTP GET where its appProtocol says
// http or https, or the Service names a path; else a connection only.
func httpOf(appProtocol, path string) (scheme, p string) {
	switch appProtocol {
	case "http", "https":
		scheme = appProtocol
	default:
		if path == "" {
			return "", ""
		}
		scheme = "http"
	}
	if path == "" || !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return scheme, path
}

// batch is how many targets a round probes: the rate over the part of the
// interval that leaves the last connection its timeout (at least half the
// interval).
func (c *backendsCollector) batch() int {
	over := max(c.schedule.Interval-c.schedule.Timeout, c.schedule.Interval/2)
	return max(1, int(c.cfg.Rate*over.Seconds()))
}

// retryShare bounds the endpoints that failed when last probed which a
// round probes again ahead of the rotation: a blip (a pod restarting
// between its readiness checks) then clears within a round or two instead
// of a whole pass, and a recovery is seen as soon.
const retryShare = 4 // a quarter of the batch

// probeBatch probes the endpoints that failed last time (up to a quarter
// of the batch), then the next ones in turn, at the rate and within the
// round's bound, and returns the pass as it stands.
func (c *backendsCollector) probeBatch(ctx context.Context) *pass {
	start := time.Now()
	n := c.batch()
	c.relist()
	all, results := c.all, c.results // this round alone writes them
	from, _ := slices.BinarySearchFunc(all, c.cursor, target.compare)
	// The failing ones first, from the cursor on: when more than the share
	// fail, each is retried in turn.
	var batch []int // indexes in all
	inBatch := map[int]bool{}
	for k := 0; k < len(all) && len(batch) < n/retryShare; k++ {
		i := (from + k) % len(all)
		if r := results[i]; r.outcome() != "" && r.outcome() != guide.BackendAnswering {
			batch = append(batch, i)
			inBatch[i] = true
		}
	}
	retries := len(batch)
	end := from // where the rotation stops: after the last target it took
	for k := 0; k < len(all) && len(batch) < n; k++ {
		if i := (from + k) % len(all); !inBatch[i] {
			batch = append(batch, i)
			end = (i + 1) % len(all)
		}
	}
	probed := make([]probe, len(batch))
	// At the rate, and done before the round's bound (the triage
	// command's single round is shorter than an interval).
	spread := time.Duration(float64(len(batch)) / c.cfg.Rate * float64(time.Second))
	if deadline, ok := ctx.Deadline(); ok {
		spread = max(0, min(spread, time.Until(deadline)-c.schedule.Timeout))
	}
	// Enough workers that connections timing out do not slow the rate.
	workers := int(math.Ceil(c.cfg.Rate*c.schedule.Timeout.Seconds())) + 1
	prober.Pace(ctx, len(batch), spread, workers, func(ctx context.Context, i int) {
		t := all[batch[i]]
		probed[i] = probe{t, c.probe(ctx, t)}
	})
	p := &pass{targets: len(all), duration: time.Since(start)}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The rotation goes on after the last target it dialled: one the
	// round's end left out comes first next time.
	next := retries
	for i, pr := range probed {
		if pr.result.outcome() == "" {
			continue // not dialled, or cut short: the round ended
		}
		results[batch[i]] = pr.result // the rounds alone list again: all and results are still c's
		c.counts[pr.result.outcome()]++
		p.probed = append(p.probed, pr)
		if i >= retries {
			next = i + 1
		}
	}
	switch {
	case next < len(batch):
		c.cursor = all[batch[next]]
	case len(all) > 0:
		c.cursor = all[end]
	}
	passes := math.Ceil(float64(len(all)) / float64(n-retries)) // retries take a quarter at most
	p.seconds = max(1, passes) * c.schedule.Interval.Seconds()
	p.services, p.cutOff = c.judge()
	return p
}

// judge counts each Service's ports from the last result of each of its
// endpoints; cutOff says that none of three or more answered or refused,
// in at least two Services: the exporter reaches no endpoint at all. c.mu
// is held.
func (c *backendsCollector) judge() (states map[string]*serviceState, cutOff bool) {
	out := map[string]*serviceState{}
	results, reached := 0, false
	for i, t := range c.all {
		r := c.results[i]
		if r.outcome() == "" {
			continue
		}
		s := out[t.service]
		if s == nil {
			ns, name, _ := strings.Cut(t.service, "/")
			s = &serviceState{namespace: ns, name: name, ports: map[string]guide.BackendCounts{}}
			out[t.service] = s
		}
		if s.ports[t.port] == nil {
			s.ports[t.port] = guide.BackendCounts{}
		}
		s.ports[t.port][r.outcome()]++
		results++
		reached = reached || (r.outcome() != guide.BackendTimeout && r.outcome() != guide.BackendUnreachable)
	}
	for key, s := range out {
		svc, _ := kube.Get[record.Service](c.services, key)
		reachable := svc != nil && svc.ProbeBackends == "true"
		s.verdict, _ = guide.JudgeBackends(slices.Collect(maps.Values(s.ports)), reachable)
	}
	return out, results >= 3 && len(out) >= 2 && !reached
}

// probe connects to one target (and sends its HTTP GET) under the
// timeout. A probe that the round's end cut short has no result.
func (c *backendsCollector) probe(round context.Context, t target) result {
	ctx, cancel := context.WithTimeout(round, c.schedule.Timeout)
	defer cancel()
	at := time.Now()
	var r result
	if t.scheme == "" {
		conn, err := c.dial(ctx, "tcp", t.addr().String())
		if err == nil {
			conn.Close()
		}
		r = newResult(Classify(err), errText(err), at)
	} else {
		status, connected, err := c.get(ctx, t)
		switch {
		case err == nil && status >= http.StatusInternalServerError:
			r = newResult(guide.BackendError, fmt.Sprintf("HTTP %d", status), at)
		case err != nil && connected:
			// Connected, then no answer in time or a broken one: the
			// application, not the network.
			r = newResult(guide.BackendError, err.Error(), at)
		default:
			r = newResult(Classify(err), errText(err), at)
		}
	}
	if round.Err() != nil {
		return result{}
	}
	return r
}

// get sends the target's HTTP GET on a connection of its own (no pooling:
// each probe is a new client, as the guide's wget) and returns the status,
// and whether the connection was made. The certificate of an https
// endpoint is not checked: it names the Service, not the pod's address.
func (c *backendsCollector) get(ctx context.Context, t target) (status int, connected bool, err error) {
	var dialled atomic.Bool // the transport dials on a goroutine of its own
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := c.dial(ctx, network, addr)
			dialled.Store(err == nil)
			return conn, err
		},
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a pod's address, not a name a certificate carries
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.scheme+"://"+t.addr().String()+t.path, nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("User-Agent", "kube-triage-exporter (backends)")
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return 0, dialled.Load(), err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, true, nil
}

// guardedDial dials addr (an IP and port) unless netguard refuses it.
func guardedDial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	if err := netguard.Check(ap.Addr()); err != nil {
		return nil, err
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// Classify is what a connection attempt's error says of the endpoint: a
// refused connection is the endpoint (nothing listens on the port),
// silence or no route the network; anything else (netguard's refusal
// among them) is an error.
func Classify(err error) guide.BackendResult {
	var netErr net.Error
	switch {
	case err == nil:
		return guide.BackendAnswering
	case errors.Is(err, syscall.ECONNREFUSED):
		return guide.BackendRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return guide.BackendUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return guide.BackendTimeout
	}
	return guide.BackendError
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// outcomes are a round's failed probes, one each, and the round itself,
// for /probes.
func outcomes(p *pass) []prober.Outcome {
	counts := map[guide.BackendResult]int{}
	for _, pr := range p.probed {
		counts[pr.result.outcome()]++
	}
	var summary []string
	for _, r := range guide.BackendResults {
		summary = append(summary, fmt.Sprintf("%s %d", r, counts[r]))
	}
	out := []prober.Outcome{{Target: "round", Duration: p.duration, Log: []string{fmt.Sprintf(
		"probed %d of %d ready endpoints in %s: %s; a pass takes %ss", len(p.probed), p.targets, p.duration.Round(time.Millisecond), strings.Join(summary, ", "), strconv.FormatFloat(p.seconds, 'f', -1, 64))}}}
	for _, pr := range p.probed {
		if pr.result.outcome() == guide.BackendAnswering {
			continue
		}
		what := "TCP connect " + pr.addr().String()
		if pr.scheme != "" {
			what = "GET " + pr.scheme + "://" + pr.addr().String() + pr.path
		}
		out = append(out, prober.Outcome{Target: pr.service + " port " + pr.port + " " + pr.addr().String(), Reason: string(pr.result.outcome()),
			Log: []string{what, "error: " + pr.errText()}})
	}
	return out
}

// summary logs the Services whose verdict turned to a failing one, or back,
// since the last line: nothing while they stay as they are.
func (c *backendsCollector) summary(p *pass) (string, []any) {
	failing := map[string]guide.BackendVerdict{}
	for key, s := range p.services {
		if s.verdict != guide.BackendsAnswer {
			failing[key] = s.verdict
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var changed []string
	for _, key := range slices.Sorted(maps.Keys(failing)) {
		if c.failing[key] != failing[key] {
			changed = append(changed, key+"="+string(failing[key]))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(c.failing)) {
		if _, ok := failing[key]; !ok {
			if _, exists := p.services[key]; exists {
				changed = append(changed, key+"="+string(guide.BackendsAnswer))
			}
		}
	}
	c.failing = failing
	if len(changed) == 0 {
		return "", nil
	}
	const shown = 10
	more := len(changed) - shown
	changed = changed[:min(len(changed), shown)]
	attrs := []any{"changed", strings.Join(changed, " "), "failing_services", len(failing), "targets", p.targets}
	if more > 0 {
		attrs = append(attrs, "more_changed", more)
	}
	return "backend verdicts changed", attrs
}

// configProblems: of every endpoint's last result (three at least, in two
// Services or more), none answered or refused: the exporter is cut off from
// the pod network (an egress NetworkPolicy around it, or it does not run
// in a pod), and its backend alerts say nothing.
func (c *backendsCollector) configProblems() []string {
	if p, ok, _ := c.Last(); ok && p.cutOff {
		return []string{"backends_cut_off"}
	}
	return nil
}

func (c *backendsCollector) update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	counts := maps.Clone(c.counts)
	c.mu.Unlock()
	for _, r := range guide.BackendResults {
		ch <- probesTotal.Value(counts[r], string(r))
	}
	p, ok, err := c.Last()
	if !ok { // none yet, or stale: kube_triage_probe_last_run_timestamp_seconds{collector="backends"} says so
		return err
	}
	ch <- targetCount.Value(float64(p.targets))
	ch <- passSeconds.Value(p.seconds)
	for _, s := range p.services {
		ch <- backendVerdict.Value(1, s.namespace, s.name, string(s.verdict))
		for port, counts := range s.ports {
			for _, r := range guide.BackendResults {
				if n := counts[r]; n > 0 || r == guide.BackendAnswering {
					ch <- portBackends.Value(float64(n), s.namespace, s.name, port, string(r))
				}
			}
		}
	}
	byVerdict := p.byVerdict()
	for _, v := range guide.BackendVerdictValues() {
		ch <- servicesByVerdict.Value(float64(byVerdict[v]), string(v))
	}
	return nil
}

// byVerdict counts the pass's Services by verdict.
func (p *pass) byVerdict() map[guide.BackendVerdict]int {
	out := map[guide.BackendVerdict]int{}
	for _, s := range p.services {
		out[s.verdict]++
	}
	return out
}

// Backends is what the Service walk's pods step reads: the Service's
// backend verdict and each probed endpoint's last result (sorted by port,
// then address); ok is false until one of its endpoints has been probed.
func (c *backendsCollector) Backends(namespace, name string) (verdict guide.BackendVerdict, endpoints []guide.BackendEndpoint, ok bool) {
	if _, ok, _ := c.Last(); !ok {
		return "", nil, false // none yet, or stale
	}
	key := namespace + "/" + name
	ports := map[string]guide.BackendCounts{}
	c.mu.Lock()
	// A Service's targets are together, in order.
	first, _ := slices.BinarySearchFunc(c.all, key, func(t target, key string) int { return strings.Compare(t.service, key) })
	for i := first; i < len(c.all) && c.all[i].service == key; i++ {
		t, r := c.all[i], c.results[i]
		if r.outcome() == "" {
			continue
		}
		endpoints = append(endpoints, guide.BackendEndpoint{Port: t.port, Addr: t.addr().String(), Result: r.outcome(), Err: r.errText(), At: r.time()})
		if ports[t.port] == nil {
			ports[t.port] = guide.BackendCounts{}
		}
		ports[t.port][r.outcome()]++
	}
	c.mu.Unlock()
	svc, _ := kube.Get[record.Service](c.services, namespace+"/"+name)
	// The verdict of the results listed, as judge gives it.
	verdict, ok = guide.JudgeBackends(slices.Collect(maps.Values(ports)), svc != nil && svc.ProbeBackends == "true")
	return verdict, endpoints, ok // in the targets' order: by port, then address
}

// BackendServices counts the Services with a backend verdict, by verdict:
// the cluster walk's "N of M probed Services still answer".
func (c *backendsCollector) BackendServices() (byVerdict map[guide.BackendVerdict]int, ok bool) {
	p, ok, _ := c.Last()
	if !ok {
		return nil, false
	}
	return p.byVerdict(), true
}

// ForService narrows the collector to one Service: the triage command's
// walk of it.
func (c *Config) ForService(namespace, name string) { c.only = namespace + "/" + name }
