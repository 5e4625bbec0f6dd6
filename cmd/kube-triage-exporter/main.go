// Command kube-triage-exporter probes a Kubernetes cluster the way its
// debugging guides do and exports what it finds as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/server"
)

const (
	program = "kube-triage-exporter"
	// DefaultPort is free in the Prometheus default port allocations list
	// (its 9100-9999 range is full; exporters continue above 10000).
	DefaultPort = 10027
)

// flags is everything the command line sets.
type flags struct {
	app            *kingpin.Application
	web            *web.FlagConfig
	log            promslog.Config
	telemetryPath  string
	maxRequests    int
	scrapeTimeout  time.Duration
	timeoutOffset  time.Duration
	kubeconfig     string
	kubeQPS        float32
	kubeBurst      int
	namespaces     []string
	excluded       []string
	role           string
	nodeName       string
	resolvConf     string
	dnsResolvers   bool
	collectors     map[string]*collectorFlag
	collectorOrder []string
	schedules      []namedSchedule // the probing collectors', as their flags set them
	config         collector.Config
	triage         *triageFlags
}

type namedSchedule struct {
	collector string
	*prober.Schedule
}

type collectorFlag struct {
	spec    collector.Spec
	enabled bool
	set     bool // given on the command line
}

func newFlags(specs []collector.Spec) *flags {
	f := &flags{
		app:        kingpin.New(program, "Probes a Kubernetes cluster the way its debugging guides do (the apiserver and its etcd, Service endpoints and selectors, DNS) and exports what it finds as Prometheus metrics.").UsageWriter(os.Stdout),
		log:        promslog.Config{},
		collectors: map[string]*collectorFlag{},
	}
	a := f.app
	a.HelpFlag.Short('h')
	a.Version(version.Print(program))

	valueFlag(a, "role", "What this instance watches: cluster (one Deployment: the API, the control plane, cluster DNS) or node (a DaemonSet: probes from its own node). Chooses the default collectors.",
		string(collector.RoleCluster), &f.role, parseRole)
	a.Flag("node-name", "Name of the node this instance runs on; required with --role=node.").
		Envar("NODE_NAME").StringVar(&f.nodeName)
	a.Flag("kubeconfig", "Path to a kubeconfig file. Default: the in-cluster service account, else $KUBECONFIG or ~/.kube/config.").
		PlaceHolder("PATH").StringVar(&f.kubeconfig)
	valueFlag(a, "kube.qps", "Queries per second to the Kubernetes API (list and watch).", "20", &f.kubeQPS, parseFloat32)
	valueFlag(a, "kube.burst", "Burst of queries to the Kubernetes API.", "40", &f.kubeBurst, strconv.Atoi)
	valueFlag(a, "namespaces", "Comma-separated namespaces whose Services, EndpointSlices, Pods, workloads and Jobs are watched and judged, each watched apart; default all. The cluster's own objects read by name (the DNS Service, Leases) and Nodes are always watched.",
		"", &f.namespaces, parseNamespaces)
	valueFlag(a, "namespaces-exclude", "Comma-separated namespaces left out of what --namespaces would watch (all of them, by one watch with a field selector); not with --namespaces.",
		"", &f.excluded, parseNamespaces)

	f.web = kingpinflag.AddFlags(a, fmt.Sprintf(":%d", DefaultPort))
	a.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.telemetryPath)
	valueFlag(a, "web.max-requests", "Maximum number of concurrent scrapes; 0 means no limit.", "40", &f.maxRequests, strconv.Atoi)
	valueFlag(a, "scrape.timeout", "Deadline for each collector in a scrape when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header.",
		"10s", &f.scrapeTimeout, time.ParseDuration)
	valueFlag(a, "scrape.timeout-offset", "Subtracted from Prometheus's scrape timeout to leave time to send the answer.",
		"500ms", &f.timeoutOffset, time.ParseDuration)

	for _, s := range specs {
		cf := &collectorFlag{spec: s}
		a.Flag("collector."+s.Name, fmt.Sprintf("%s (default: %s).", s.Help, defaultsText(s))).
			IsSetByUser(&cf.set).BoolVar(&cf.enabled)
		f.collectors[s.Name] = cf
		f.collectorOrder = append(f.collectorOrder, s.Name)
	}
	// Every probing collector's schedule, from its defaults.
	f.config.Schedules = map[string]prober.Schedule{}
	for _, s := range specs {
		if d := s.Probe; d != nil {
			sched := &prober.Schedule{}
			valueFlag(a, "collector."+s.Name+".interval", fmt.Sprintf("How often the %s collector %s.", s.Name, d.What),
				d.Interval.String(), &sched.Interval, time.ParseDuration)
			valueFlag(a, "collector."+s.Name+".timeout", d.TimeoutHelp, d.Timeout.String(), &sched.Timeout, time.ParseDuration)
			f.schedules = append(f.schedules, namedSchedule{s.Name, sched})
		}
	}

	a.Flag("collector.apiserver.failing-checks-only", "Export kube_triage_apiserver_check_success only for failing checks (about 70 series fewer per instance; the node DaemonSet sets it).").
		BoolVar(&f.config.APIServer.FailingChecksOnly)
	valueFlag(a, "collector.services.interval", "How often the services collector judges again the Services whose own object, EndpointSlices, selected pods or workloads changed.",
		"2s", &f.config.Services.Interval, time.ParseDuration)

	valueFlag(a, "collector.terminations.retention", "How long a workload's termination series outlive its last pod; then they end (increase() over a range that reaches back before that still sees them).",
		"1h", &f.config.Terminations.Retention, time.ParseDuration)

	a.Flag("collector.dns.service", "The cluster DNS Service, namespace/name; its endpoints are probed one by one as well.").
		Default("kube-system/kube-dns").StringVar(&f.config.DNS.Service)
	a.Flag("collector.dns.service-address", "Reach the DNS Service at this host:port instead of its ClusterIP (for an exporter outside the cluster network).").
		PlaceHolder("HOST:PORT").StringVar(&f.config.DNS.ServiceAddress)
	a.Flag("collector.dns.resolv-conf", "resolv.conf whose search list and ndots expand short names, as in a pod. In a pod, its own.").
		Default("/etc/resolv.conf").StringVar(&f.resolvConf)
	a.Flag("collector.dns.resolvers", "Also resolve the names through each nameserver of --collector.dns.resolv-conf (the first three, port 53), as server_kind=\"resolver\": the node-local DNS cache a pod's lookups go through. Only when that file is a cluster pod's (svc.<cluster domain> in its search list).").
		Default("true").BoolVar(&f.dnsResolvers)
	a.Flag("collector.dns.cluster-domain", "The cluster's DNS domain.").Default("cluster.local").StringVar(&f.config.DNS.ClusterDomain)
	a.Flag("collector.dns.name", "A name to resolve besides kubernetes.default (repeatable), e.g. hostnames.default; names of Services are checked against their ClusterIP.").
		PlaceHolder("NAME").StringsVar(&f.config.DNS.Names)

	valueFlag(a, "collector.dns.sweep-interval", "If set, resolve every Service's FQDN through the DNS Service once per this interval, paced evenly; 0 turns the sweep off. Only the sweep watches every Service (leave it off on node agents).",
		"0s", &f.config.DNS.SweepInterval, time.ParseDuration)

	a.Flag("collector.kubelet.url", "The kubelet's health endpoint as this node agent reaches it; the DaemonSet passes http://127.0.0.1:10248/healthz (the kubelet's plain health port on the node's loopback). Over https it is asked with the exporter's credentials (RBAC: nodes/healthz); over plain http (the kubelet's loopback port 10248) with none.").
		Default("https://127.0.0.1:10250/healthz").StringVar(&f.config.Kubelet.URL)
	a.Flag("collector.kubelet.insecure-tls", "Do not verify the kubelet's serving certificate (self-signed unless the cluster bootstraps kubelet serving certificates), as metrics-server's --kubelet-insecure-tls.").
		BoolVar(&f.config.Kubelet.InsecureTLS)

	a.Flag("collector.kubeproxy.url", "kube-proxy's health server (--healthz-bind-address) as this node agent reaches it; the DaemonSet passes http://$(HOST_IP):10256.").
		Default("http://127.0.0.1:10256").StringVar(&f.config.KubeProxy.HealthURL)
	a.Flag("collector.kubeproxy.metrics-url", "kube-proxy's metrics server (--metrics-bind-address, loopback by default, which the DaemonSet's hostNetwork pod reaches), for its proxy mode; empty skips it.").
		Default("http://127.0.0.1:10249").StringVar(&f.config.KubeProxy.MetricsURL)
	a.Flag("collector.kubeproxy.local-service", "A Service (namespace/name) with a Local traffic policy whose ready endpoints on this node to count (repeatable): 0 means this node drops its Local traffic. Watches only that Service's EndpointSlices.").
		PlaceHolder("NAMESPACE/NAME").StringsVar(&f.config.KubeProxy.LocalServices)
	a.Flag("collector.kubeproxy.vip", "A Service address host:port to open a TCP connection to through this node's kube-proxy rules (repeatable). Default in a pod: the kubernetes Service ($KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT).").
		PlaceHolder("HOST:PORT").StringsVar(&f.config.KubeProxy.VIPs)

	promslogflag.AddFlags(a, &f.log)
	a.Command("serve", "Serve the metrics and pages (the default).").Default()
	f.triage = addTriageCommand(a)
	return f
}

// parsedValue is a flag value whose parse error names the flag, which
// kingpin's own typed flags do not.
type parsedValue[T any] struct {
	name  string
	dst   *T
	parse func(string) (T, error)
}

func (v *parsedValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return fmt.Errorf("--%s=%s: %w", v.name, s, err)
	}
	*v.dst = x
	return nil
}

func (v *parsedValue[T]) String() string { return fmt.Sprint(*v.dst) }

func valueFlag[T any](a *kingpin.Application, name, help, def string, dst *T, parse func(string) (T, error)) {
	a.Flag(name, help).Default(def).SetValue(&parsedValue[T]{name: name, dst: dst, parse: parse})
}

func parseFloat32(s string) (float32, error) {
	f, err := strconv.ParseFloat(s, 32)
	return float32(f), err
}

// dnsLabel is a namespace's name: an RFC 1123 label.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// parseNamespaces reads a comma-separated list of namespace names.
func parseNamespaces(s string) ([]string, error) {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if !dnsLabel.MatchString(ns) {
			return nil, fmt.Errorf("%q is not a namespace name", ns)
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

func parseRole(s string) (string, error) {
	var names []string
	for _, r := range collector.Roles {
		if s == string(r) {
			return s, nil
		}
		names = append(names, string(r))
	}
	return "", fmt.Errorf("must be one of %s", strings.Join(names, ", "))
}

func defaultsText(s collector.Spec) string {
	if len(s.DefaultOn) == 0 {
		return "off"
	}
	var on []string
	for _, r := range s.DefaultOn {
		on = append(on, string(r))
	}
	return "on in role " + strings.Join(on, " and ")
}

// enabledSpecs applies the role's defaults to the collectors not set on the
// command line.
func (f *flags) enabledSpecs() []collector.Spec {
	var specs []collector.Spec
	for _, name := range f.collectorOrder {
		cf := f.collectors[name]
		on := cf.enabled
		if !cf.set {
			on = cf.spec.EnabledByDefault(collector.Role(f.role))
		}
		if on {
			specs = append(specs, cf.spec)
		}
	}
	return specs
}

// hostname is a DNS name of letters, digits, hyphens and underscores,
// optionally absolute.
var hostname = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$`)

func (f *flags) collectorEnabled(name string) bool {
	for _, s := range f.enabledSpecs() {
		if s.Name == name {
			return true
		}
	}
	return false
}

// validate checks what the flag parser cannot.
func (f *flags) validate() error {
	if f.role == string(collector.RoleNode) && f.nodeName == "" {
		return errors.New("--role=node needs --node-name (or the NODE_NAME environment variable)")
	}
	if !strings.HasPrefix(f.telemetryPath, "/") {
		return fmt.Errorf("--web.telemetry-path=%q must start with /", f.telemetryPath)
	}
	if slices.Contains(server.ReservedPaths, f.telemetryPath) {
		return fmt.Errorf("--web.telemetry-path=%s is taken by the exporter's own pages (%s)", f.telemetryPath, strings.Join(server.ReservedPaths, ", "))
	}
	if len(f.namespaces) > 0 && len(f.excluded) > 0 {
		return errors.New("--namespaces and --namespaces-exclude do not go together: list the namespaces to watch, or those to leave out")
	}
	if f.scrapeTimeout <= 0 {
		return fmt.Errorf("--scrape.timeout=%s must be positive", f.scrapeTimeout)
	}
	if f.timeoutOffset < 0 {
		return fmt.Errorf("--scrape.timeout-offset=%s must not be negative", f.timeoutOffset)
	}
	for _, s := range f.schedules {
		if err := s.Validate(s.collector); err != nil && f.collectorEnabled(s.collector) {
			return err
		}
		f.config.Schedules[s.collector] = *s.Schedule
	}
	if f.config.Services.Interval <= 0 {
		return errors.New("--collector.services.interval must be positive")
	}
	if f.config.Terminations.Retention <= 0 {
		return errors.New("--collector.terminations.retention must be positive")
	}
	if f.collectorEnabled("dns") {
		rc, err := dnsprobe.ReadResolvConf(f.resolvConf)
		if err != nil {
			return fmt.Errorf("--collector.dns.resolv-conf: %w", err)
		}
		if !f.dnsResolvers {
			rc.Nameservers = nil
		}
		f.config.DNS.ResolvConf = rc
		for _, n := range f.config.DNS.Names {
			if !hostname.MatchString(n) || len(n) > 253 {
				return fmt.Errorf("--collector.dns.name=%q is not a domain name", n)
			}
		}
	}
	if f.collectorEnabled("kubeproxy") {
		if len(f.config.KubeProxy.VIPs) == 0 {
			// In a pod, the kubernetes Service: it always has endpoints,
			// so a failure is this node's rules, not an empty Service.
			if host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"); host != "" && port != "" {
				f.config.KubeProxy.VIPs = []string{net.JoinHostPort(host, port)}
			}
		}
		for _, v := range f.config.KubeProxy.VIPs {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("--collector.kubeproxy.vip=%q: want host:port", v)
			}
		}
		for _, s := range f.config.KubeProxy.LocalServices {
			if ns, name, ok := strings.Cut(s, "/"); !ok || !dnsLabel.MatchString(ns) || name == "" || strings.Contains(name, "/") {
				return fmt.Errorf("--collector.kubeproxy.local-service=%q: want namespace/name", s)
			}
		}
	}
	if err := web.Validate(*f.web.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file=%s: %w", *f.web.WebConfigFile, err)
	}
	return nil
}

func main() {
	f := newFlags(collector.Specs())
	command, err := f.app.Parse(os.Args[1:])
	// The triage command's exit codes tell a failed step (1) from a walk
	// not made (2).
	if pc, _ := f.app.ParseContext(os.Args[1:]); pc != nil && pc.SelectedCommand != nil && strings.HasPrefix(pc.SelectedCommand.FullCommand(), "triage") {
		f.app.Terminate(func(code int) {
			if code != 0 {
				code = 2
			}
			os.Exit(code)
		})
	}
	if err != nil {
		f.app.Fatalf("%s, try --help", oneLine(err))
	}
	if err := f.validate(); err != nil {
		f.app.Fatalf("%s", oneLine(err))
	}
	if strings.HasPrefix(command, "triage ") {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		code := runTriage(ctx, f, command, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if err := run(f, os.Stderr); err != nil {
		f.app.Fatalf("%s", oneLine(err))
	}
}

// oneLine keeps a start-up error on one line (YAML errors span several).
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// run starts the exporter and serves until SIGTERM or SIGINT. Errors it
// returns are start-up errors; run-time failures become metrics and logs.
func run(f *flags, logOut io.Writer) error {
	f.log.Writer = logOut
	logger := promslog.New(&f.log)
	role := collector.Role(f.role)

	// Bind first, so that a bad or busy address stops start-up at once.
	listeners, err := listen(f.web)
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()

	restCfg, source, err := kube.LoadConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	kc, err := kube.NewClient(restCfg, source, f.kubeQPS, f.kubeBurst)
	if err != nil {
		return err
	}
	scope := kube.Scope{Include: f.namespaces, Exclude: f.excluded}
	kc.Informers.SetScope(scope)

	specs := f.enabledSpecs()
	exp, err := collector.NewExporter(specs, collector.Deps{
		Logger:   logger,
		Role:     role,
		NodeName: f.nodeName,
		Config:   f.config,
		Kube:     kc,
	})
	if err != nil {
		return err
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		versioncollector.NewCollector("kube_triage"),
		promcollectors.NewGoCollector(),
		promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}),
	)
	handler, err := server.New(exp, registry, server.Options{
		TelemetryPath:  f.telemetryPath,
		MaxRequests:    f.maxRequests,
		DefaultTimeout: f.scrapeTimeout,
		TimeoutOffset:  f.timeoutOffset,
		Ready:          ready(kc.Informers),
		Version:        version.Info(),
		Role:           role,
	}, logger)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	logger.Info("starting "+program, "version", version.Info(), "role", role, "node", f.nodeName,
		"kubernetes", kc.Source, "apiserver", restCfg.Host, "scope", scope.String(), "collectors", strings.Join(names, ","))

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		if listeners == nil { // systemd socket activation or vsock
			serveErr <- web.ListenAndServe(srv, f.web, logger)
			return
		}
		serveErr <- web.ServeMultiple(listeners, srv, f.web, logger)
	}()

	background := make(chan struct{})
	go func() {
		exp.Run(ctx)
		close(background)
	}()

	select {
	case err := <-serveErr:
		stop()
		<-background
		return fmt.Errorf("serving HTTP on %s: %w", strings.Join(*f.web.WebListenAddresses, ","), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("HTTP shutdown", "err", err)
	}
	<-background
	return nil
}

// listen binds the TCP listen addresses. It returns no listeners when
// exporter-toolkit must listen itself (systemd socket activation, vsock).
func listen(w *web.FlagConfig) ([]net.Listener, error) {
	if *w.WebSystemdSocket {
		return nil, nil
	}
	for _, addr := range *w.WebListenAddresses {
		if strings.HasPrefix(addr, "vsock://") {
			return nil, nil
		}
	}
	var ls []net.Listener
	for _, addr := range *w.WebListenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("--web.listen-address=%s: %w", addr, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// ready is /readyz: ready once every informer has completed its first list.
func ready(inf *kube.Informers) func() error {
	return func() error {
		if pending := inf.Pending(); len(pending) > 0 {
			return fmt.Errorf("waiting for the initial list of %s", strings.Join(pending, ", "))
		}
		return nil
	}
}
