// Package kubeproxy is the kubeproxy collector (node role): it probes its
// own node's kube-proxy (/livez, /healthz, the proxy mode), opens TCP
// connections to chosen Service VIPs through the node's rules, and counts
// the ready endpoints on the node of Services with a Local traffic
// policy.
package kubeproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/healthprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var metrics collector.Families

var (
	health = healthprobe.NewMetrics(&metrics, "kubeproxy", "kube-proxy's health server",
		"/healthz also fails while the node is being drained (since Kubernetes 1.28); /livez does not.",
		healthprobe.Steps{Reachable: "Debug Services: is kube-proxy running?", Success: "Debug Services: is kube-proxy running?",
			Status: "Debug Services: is kube-proxy running?", Duration: "-"}, "endpoint")
	updateAge = metrics.Gauge("kubeproxy_last_update_age_seconds", "Debug Services: is kube-proxy writing iptables rules?",
		"Seconds between kube-proxy's last programming of the node's rules and its current time, from /livez (0 while it is healthy: kube-proxy then reports now).")
	nodeEligible = metrics.Gauge("kubeproxy_node_eligible", "-",
		"1 if kube-proxy's /healthz says the node is eligible for load-balancer traffic, 0 while it is being drained or deleted.")
	info = metrics.Gauge("kubeproxy_info", "Debug Services: is kube-proxy running in iptables or ipvs mode?",
		"1, with kube-proxy's proxy mode (iptables, ipvs, nftables, kernelspace) from /proxyMode on its metrics server, when that answers.", "proxy_mode")
	vipReachable = metrics.Gauge("kubeproxy_service_vip_reachable", "Debug Services: does the Service work by IP?",
		"1 if a TCP connection from this node to the Service address succeeded in the last round, else 0.", "target")
	vipDuration = metrics.Gauge("kubeproxy_service_vip_connect_duration_seconds", "Debug Services: does the Service work by IP?",
		"How long the last TCP connection attempt to the Service address took.", "target")
	localEndpoints = metrics.Gauge("kubeproxy_local_endpoints", "Is kube-proxy working? (Local traffic policy, from the node)",
		"Ready endpoints on this node of a Service named by --collector.kubeproxy.local-service: 0 means this node drops the Service's Local traffic (internalTrafficPolicy Local: its pods' connections; externalTrafficPolicy Local: clients that reach it).", "namespace", "service")
)

// Spec registers the collector.
var Spec = collector.Spec{
	Name:      "kubeproxy",
	Help:      "Probe this node's kube-proxy (/livez, /healthz, proxy mode) and open TCP connections to chosen Service VIPs through its rules",
	DefaultOn: []collector.Role{collector.RoleNode},
	Metrics:   &metrics,
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 3 * time.Second},
		What: "probes kube-proxy and the Service VIPs", TimeoutHelp: "Timeout of each kube-proxy probe and VIP connection."},
	Config: func() collector.Config { return &Config{} },
}

// Config configures the collector.
type Config struct {
	// HealthURL is kube-proxy's health server (it serves /healthz and /livez).
	HealthURL string
	// MetricsURL is kube-proxy's metrics server, which serves /proxyMode;
	// "" skips it.
	MetricsURL string
	// VIPs are Service addresses (host:port) to open a TCP connection to:
	// the proof that this node's kube-proxy has programmed their rules.
	VIPs []string
	// LocalServices are Services (namespace/name) with a Local traffic
	// policy: this node routes their Local traffic only to a ready endpoint
	// on itself, so the agent counts those.
	LocalServices []string
}

// Flags are the collector's flags.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{
		collector.String("collector.kubeproxy.url", "kube-proxy's health server (--healthz-bind-address) as this node agent reaches it; the DaemonSet passes http://$(HOST_IP):10256.",
			"http://127.0.0.1:10256", &c.HealthURL),
		collector.String("collector.kubeproxy.metrics-url", "kube-proxy's metrics server (--metrics-bind-address, loopback by default, which the DaemonSet's hostNetwork pod reaches), for its proxy mode; empty skips it.",
			"http://127.0.0.1:10249", &c.MetricsURL),
		collector.Strings("collector.kubeproxy.local-service", "A Service (namespace/name) with a Local traffic policy whose ready endpoints on this node to count (repeatable): 0 means this node drops its Local traffic. Watches only that Service's EndpointSlices.",
			"NAMESPACE/NAME", &c.LocalServices),
		collector.Strings("collector.kubeproxy.vip", "A Service address host:port to open a TCP connection to through this node's kube-proxy rules (repeatable). Default in a pod: the kubernetes Service ($KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT).",
			"HOST:PORT", &c.VIPs),
	}
}

// Check wants http URLs, host:port VIPs and namespace/name Services; in a
// pod without a VIP given, it connects to the kubernetes Service: it
// always has endpoints, so a failure is this node's rules, not an empty
// Service.
func (c *Config) Check(collector.Role) error {
	for _, f := range []struct{ flag, url string }{{"url", c.HealthURL}, {"metrics-url", c.MetricsURL}} {
		if p, err := url.Parse(f.url); (f.url != "" || f.flag == "url") && (err != nil || p.Scheme != "http" || p.Host == "") {
			return fmt.Errorf("--collector.kubeproxy.%s: kube-proxy URL %q: want http://host:port", f.flag, f.url)
		}
	}
	if len(c.VIPs) == 0 {
		if host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"); host != "" && port != "" {
			c.VIPs = []string{net.JoinHostPort(host, port)}
		}
	}
	for _, v := range c.VIPs {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("--collector.kubeproxy.vip=%q: want host:port", v)
		}
	}
	for _, s := range c.LocalServices {
		if _, _, ok := kube.SplitName(s); !ok {
			return fmt.Errorf("--collector.kubeproxy.local-service=%q: want namespace/name", s)
		}
	}
	return nil
}

// New builds the collector.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	return collector.Built(newKubeproxyCollector(*c, d))
}

// Collector is what the framework runs of it.
func (c *kubeproxyCollector) Collector() *collector.Collector {
	out := &collector.Collector{Update: c.update, Probers: []collector.Prober{c.Runner}}
	if len(c.local) > 0 {
		out.ConfigProblems = c.configProblems
	}
	return out
}

var endpoints = []string{"livez", "healthz"}

type kubeproxyCollector struct {
	*prober.Runner[*kubeproxyRound]
	cfg     Config
	timeout time.Duration
	client  *http.Client
	node    string
	// local are, for each LocalServices entry, the Service (by name) and
	// its EndpointSlices (whole).
	local map[[2]string]localService
}

type kubeproxyRound struct {
	answers   map[string]healthprobe.Answer
	health    map[string]proxyHealth // parsed answers, by endpoint
	proxyMode string
	vips      []vipResult
}

// proxyHealth is what kube-proxy's /healthz and /livez answer.
type proxyHealth struct {
	LastUpdated  time.Time `json:"lastUpdated"`
	CurrentTime  time.Time `json:"currentTime"`
	NodeEligible *bool     `json:"nodeEligible"`
}

type vipResult struct {
	target   string
	err      error
	duration time.Duration
}

func newKubeproxyCollector(cfg Config, d collector.Deps) (*kubeproxyCollector, error) {
	c := &kubeproxyCollector{cfg: cfg, timeout: d.Schedule.Timeout, client: &http.Client{}, node: d.NodeName, local: map[[2]string]localService{}}
	for _, s := range cfg.LocalServices {
		ns, name, _ := kube.SplitName(s)
		inf, err := d.Informers()
		if err != nil {
			return nil, fmt.Errorf("local services: %w", err)
		}
		c.local[[2]string{ns, name}] = localService{inf.ServiceNamed(ns, name), inf.EndpointSlicesOf(ns, name)}
	}
	var err error
	c.Runner, err = prober.New(prober.Config[*kubeproxyRound]{
		Collector: "kubeproxy", Schedule: d.Schedule, Logger: d.Logger,
		Probe: c.probeAll, Outcomes: c.outcomes, Reasons: healthprobe.Reasons,
	})
	return c, err
}

type localService struct{ service, slices kube.Informer }

// exists says whether the Service is known to exist: its informer has
// listed it.
func (l localService) exists(ns, name string) (exists, known bool) {
	if !l.service.HasSynced() || !l.slices.HasSynced() {
		return false, false
	}
	_, ok, _ := l.service.Cache().GetByKey(ns + "/" + name)
	return ok, true
}

// localServiceNotFound: a --collector.kubeproxy.local-service names no
// Service.
const localServiceNotFound = "local_service_not_found"

// configProblems says when a local Service named by the flags does not
// exist: its count would read as a node that drops its traffic.
func (c *kubeproxyCollector) configProblems() []string {
	for key, l := range c.local {
		if exists, known := l.exists(key[0], key[1]); known && !exists {
			return []string{localServiceNotFound}
		}
	}
	return nil
}

// localEndpoints counts the ready endpoints on this node in slices.
func (c *kubeproxyCollector) localEndpoints(slices kube.Cache) int {
	n := 0
	for _, s := range kube.All[discoveryv1.EndpointSlice](slices) {
		for _, ep := range s.Endpoints {
			if ep.NodeName != nil && *ep.NodeName == c.node && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				n++
			}
		}
	}
	return n
}

// probeAll probes the endpoints, the proxy mode and the VIPs side by side,
// each under the timeout.
func (c *kubeproxyCollector) probeAll(ctx context.Context) *kubeproxyRound {
	r := &kubeproxyRound{answers: map[string]healthprobe.Answer{}, health: map[string]proxyHealth{}, vips: make([]vipResult, len(c.cfg.VIPs))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		wg.Go(func() {
			a := healthprobe.Check(ctx, c.client, c.healthURL(ep), c.timeout)
			var h proxyHealth
			parsed := a.Status != 0 && json.Unmarshal(a.Body, &h) == nil
			mu.Lock()
			defer mu.Unlock()
			r.answers[ep] = a
			if parsed {
				r.health[ep] = h
			}
		})
	}
	if c.cfg.MetricsURL != "" {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			a := healthprobe.Get(pctx, c.client, strings.TrimSuffix(c.cfg.MetricsURL, "/")+"/proxyMode")
			if mode := strings.TrimSpace(string(a.Body)); a.Status == http.StatusOK && proxyModeValue.MatchString(mode) {
				mu.Lock()
				r.proxyMode = mode
				mu.Unlock()
			}
		})
	}
	for i, target := range c.cfg.VIPs {
		wg.Go(func() {
			start := time.Now()
			dctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", target)
			if err == nil {
				conn.Close()
			}
			r.vips[i] = vipResult{target: target, err: err, duration: time.Since(start)}
		})
	}
	wg.Wait()
	return r
}

func (c *kubeproxyCollector) healthURL(endpoint string) string {
	return strings.TrimSuffix(c.cfg.HealthURL, "/") + "/" + endpoint
}

func (c *kubeproxyCollector) outcomes(r *kubeproxyRound) []prober.Outcome {
	var out []prober.Outcome
	for _, ep := range endpoints {
		if a := r.answers[ep]; ep != "livez" || a.Status != http.StatusNotFound { // as in update
			out = append(out, a.Outcome(ep, c.healthURL(ep)))
		}
	}
	for _, v := range r.vips {
		o := prober.Outcome{Target: "vip " + v.target, Duration: v.duration, Log: []string{"TCP connect " + v.target}}
		if v.err != nil {
			o.Reason = healthprobe.TransportReason(v.err)
			o.Log = append(o.Log, "error: "+v.err.Error())
			o.Attrs = []any{"err", v.err}
		} else {
			o.Log = append(o.Log, fmt.Sprintf("connected after %s", v.duration.Round(time.Millisecond)))
		}
		out = append(out, o)
	}
	return out
}

// proxyModeValue bounds what /proxyMode may put in a label.
var proxyModeValue = regexp.MustCompile(`^[a-z]{1,32}$`)

func (c *kubeproxyCollector) update(_ context.Context, ch chan<- prometheus.Metric) error {
	// Read from the caches, apart from the probe rounds; nothing until the
	// caches have their first list, nor for a Service that does not exist
	// (configProblems says so): neither is a node without endpoints.
	for key, l := range c.local {
		if exists, _ := l.exists(key[0], key[1]); exists {
			ch <- localEndpoints.Value(float64(c.localEndpoints(l.slices.Cache())), key[0], key[1])
		}
	}
	r, ok, err := c.Last()
	if !ok { // no gauges before the first round rather than false zeros, nor once stale
		return err
	}
	reachable := false
	for _, ep := range endpoints {
		a := r.answers[ep]
		reachable = reachable || a.Status != 0
		if ep == "livez" && a.Status == http.StatusNotFound {
			continue // kube-proxy before 1.28 has no /livez: no series rather than a false failure
		}
		health.Send(ch, a, ep)
	}
	ch <- health.Reachable.Value(collector.BoolFloat(reachable))
	if h, ok := r.health["livez"]; ok && !h.LastUpdated.IsZero() && !h.CurrentTime.IsZero() {
		ch <- updateAge.Value(max(0, h.CurrentTime.Sub(h.LastUpdated).Seconds()))
	}
	if h, ok := r.health["healthz"]; ok && h.NodeEligible != nil {
		ch <- nodeEligible.Value(collector.BoolFloat(*h.NodeEligible))
	}
	if r.proxyMode != "" {
		ch <- info.Value(1, r.proxyMode)
	}
	for _, v := range r.vips {
		ch <- vipReachable.Value(collector.BoolFloat(v.err == nil), v.target)
		ch <- vipDuration.Value(v.duration.Seconds(), v.target)
	}
	return nil
}
