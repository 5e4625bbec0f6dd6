package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// KubeProxyConfig configures the kubeproxy collector; its schedule comes
// from --collector.kubeproxy.{interval,timeout}.
type KubeProxyConfig struct {
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

var (
	kubeproxyHealth = newHealthMetrics("kubeproxy", "kube-proxy's health server",
		"/healthz also fails while the node is being drained (since Kubernetes 1.28); /livez does not.", "endpoint")
	kubeproxyUpdateAge = newMetric("kubeproxy_last_update_age_seconds", prometheus.GaugeValue,
		"Seconds between kube-proxy's last programming of the node's rules and its current time, from /livez (0 while it is healthy: kube-proxy then reports now).")
	kubeproxyNodeEligible = newMetric("kubeproxy_node_eligible", prometheus.GaugeValue,
		"1 if kube-proxy's /healthz says the node is eligible for load-balancer traffic, 0 while it is being drained or deleted.")
	kubeproxyInfo = newMetric("kubeproxy_info", prometheus.GaugeValue,
		"1, with kube-proxy's proxy mode (iptables, ipvs, nftables, kernelspace) from /proxyMode on its metrics server, when that answers.", "proxy_mode")
	kubeproxyVIPReachable = newMetric("kubeproxy_service_vip_reachable", prometheus.GaugeValue,
		"1 if a TCP connection from this node to the Service address succeeded in the last round, else 0.", "target")
	kubeproxyVIPDuration = newMetric("kubeproxy_service_vip_connect_duration_seconds", prometheus.GaugeValue,
		"How long the last TCP connection attempt to the Service address took.", "target")
	kubeproxyLocalEndpoints = newMetric("kubeproxy_local_endpoints", prometheus.GaugeValue,
		"Ready endpoints on this node of a Service named by --collector.kubeproxy.local-service: 0 means this node drops the Service's Local traffic (internalTrafficPolicy Local: its pods' connections; externalTrafficPolicy Local: clients that reach it).", "namespace", "service")
)

var kubeproxySpec = Spec{
	Name:      "kubeproxy",
	Help:      "Probe this node's kube-proxy (/livez, /healthz, proxy mode) and open TCP connections to chosen Service VIPs through its rules",
	DefaultOn: []Role{RoleNode},
	Metrics: append(kubeproxyHealth.all(), kubeproxyUpdateAge, kubeproxyNodeEligible, kubeproxyInfo, kubeproxyVIPReachable, kubeproxyVIPDuration,
		kubeproxyLocalEndpoints),
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: 3 * time.Second},
		What: "probes kube-proxy and the Service VIPs", TimeoutHelp: "Timeout of each kube-proxy probe and VIP connection."},
	New: newKubeproxyCollector,
}

var kubeproxyEndpoints = []string{"livez", "healthz"}

type kubeproxyCollector struct {
	*prober.Runner[*kubeproxyRound]
	cfg     KubeProxyConfig
	timeout time.Duration
	client  *http.Client
	node    string
	// local are, for each LocalServices entry, the Service (by name) and
	// its EndpointSlices (whole).
	local map[[2]string]localService
}

type kubeproxyRound struct {
	answers   map[string]healthAnswer
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

func newKubeproxyCollector(d Deps) (Collector, error) {
	cfg := d.Config.KubeProxy
	urls := []string{cfg.HealthURL}
	if cfg.MetricsURL != "" {
		urls = append(urls, cfg.MetricsURL)
	}
	for _, u := range urls {
		if p, err := url.Parse(u); err != nil || p.Scheme != "http" || p.Host == "" {
			return nil, fmt.Errorf("kube-proxy URL %q: want http://host:port", u)
		}
	}
	for _, v := range cfg.VIPs {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, fmt.Errorf("vip %q: want host:port", v)
		}
	}
	c := &kubeproxyCollector{cfg: cfg, timeout: d.Schedule.Timeout, client: &http.Client{}, node: d.NodeName, local: map[[2]string]localService{}}
	for _, s := range cfg.LocalServices {
		ns, name, ok := strings.Cut(s, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("local service %q: want namespace/name", s)
		}
		if d.Kube == nil {
			return nil, errors.New("local services need a Kubernetes client configuration")
		}
		c.local[[2]string{ns, name}] = localService{d.Kube.Informers.ServiceNamed(ns, name), d.Kube.Informers.EndpointSlicesOf(ns, name)}
	}
	var err error
	c.Runner, err = prober.New(prober.Config[*kubeproxyRound]{
		Collector: "kubeproxy", Schedule: d.Schedule, Logger: d.Logger,
		Probe: c.probeAll, Outcomes: c.outcomes, Reasons: healthReasons,
	})
	return c, err
}

type localService struct{ service, slices cache.SharedIndexInformer }

// exists says whether the Service is known to exist: its informer has
// listed it.
func (l localService) exists(ns, name string) (exists, known bool) {
	if !l.service.HasSynced() || !l.slices.HasSynced() {
		return false, false
	}
	_, ok, _ := l.service.GetIndexer().GetByKey(ns + "/" + name)
	return ok, true
}

// kubeproxyLocalServiceNotFound: a --collector.kubeproxy.local-service names
// no Service.
const kubeproxyLocalServiceNotFound = "local_service_not_found"

// ConfigProblems says when a local Service named by the flags does not
// exist: its count would read as a node that drops its traffic.
func (c *kubeproxyCollector) ConfigProblems() []string {
	for key, l := range c.local {
		if exists, known := l.exists(key[0], key[1]); known && !exists {
			return []string{kubeproxyLocalServiceNotFound}
		}
	}
	return nil
}

// localEndpoints counts the ready endpoints on this node in slices.
func (c *kubeproxyCollector) localEndpoints(slices cache.Indexer) int {
	n := 0
	for _, obj := range slices.List() {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
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
	r := &kubeproxyRound{answers: map[string]healthAnswer{}, health: map[string]proxyHealth{}, vips: make([]vipResult, len(c.cfg.VIPs))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ep := range kubeproxyEndpoints {
		wg.Go(func() {
			a := checkHealth(ctx, c.client, c.healthURL(ep), c.timeout)
			var h proxyHealth
			parsed := a.status != 0 && json.Unmarshal(a.body, &h) == nil
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
			a := getHealth(pctx, c.client, strings.TrimSuffix(c.cfg.MetricsURL, "/")+"/proxyMode")
			if mode := strings.TrimSpace(string(a.body)); a.status == http.StatusOK && proxyModeValue.MatchString(mode) {
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
	for _, ep := range kubeproxyEndpoints {
		if a := r.answers[ep]; ep != "livez" || a.status != http.StatusNotFound { // as in Update
			out = append(out, a.outcome(ep, c.healthURL(ep)))
		}
	}
	for _, v := range r.vips {
		o := prober.Outcome{Target: "vip " + v.target, Duration: v.duration, Log: []string{"TCP connect " + v.target}}
		if v.err != nil {
			o.Reason = transportReason(v.err)
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

func (c *kubeproxyCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	// Read from the caches, apart from the probe rounds; nothing until the
	// caches have their first list, nor for a Service that does not exist
	// (ConfigProblems says so): neither is a node without endpoints.
	for key, l := range c.local {
		if exists, _ := l.exists(key[0], key[1]); exists {
			ch <- kubeproxyLocalEndpoints.value(float64(c.localEndpoints(l.slices.GetIndexer())), key[0], key[1])
		}
	}
	r, ok, err := c.Last()
	if !ok { // no gauges before the first round rather than false zeros, nor once stale
		return err
	}
	reachable := false
	for _, ep := range kubeproxyEndpoints {
		a := r.answers[ep]
		reachable = reachable || a.status != 0
		if ep == "livez" && a.status == http.StatusNotFound {
			continue // kube-proxy before 1.28 has no /livez: no series rather than a false failure
		}
		kubeproxyHealth.send(ch, a, ep)
	}
	ch <- kubeproxyHealth.reachable.value(boolFloat(reachable))
	if h, ok := r.health["livez"]; ok && !h.LastUpdated.IsZero() && !h.CurrentTime.IsZero() {
		ch <- kubeproxyUpdateAge.value(max(0, h.CurrentTime.Sub(h.LastUpdated).Seconds()))
	}
	if h, ok := r.health["healthz"]; ok && h.NodeEligible != nil {
		ch <- kubeproxyNodeEligible.value(boolFloat(*h.NodeEligible))
	}
	if r.proxyMode != "" {
		ch <- kubeproxyInfo.value(1, r.proxyMode)
	}
	for _, v := range r.vips {
		ch <- kubeproxyVIPReachable.value(boolFloat(v.err == nil), v.target)
		ch <- kubeproxyVIPDuration.value(v.duration.Seconds(), v.target)
	}
	return nil
}
