// Command kube-triage-exporter probes a Kubernetes cluster the way its
// debugging guides do and exports what it finds as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/registry"
	"github.com/kube-triage/kube-triage-exporter/internal/server"
)

const (
	program = "kube-triage-exporter"
	// DefaultPort is free in the Prometheus default port allocations list
	// (its 9100-9999 range is full; exporters continue above 10000).
	DefaultPort = 10027
)

// flags is everything the command line sets: the global flags here, each
// collector's in its configuration (setup).
type flags struct {
	app                        *kingpin.Application
	web                        *web.FlagConfig
	log                        promslog.Config
	role, nodeName, kubeconfig string
	kubeQPS                    float32
	kubeBurst, maxRequests     int
	namespaces, excluded       []string
	telemetryPath              string
	scrapeTimeout              time.Duration
	timeoutOffset              time.Duration
	setup                      *collector.Setup
	triage                     *triageFlags
}

func newFlags(specs []collector.Spec) *flags {
	f := &flags{
		app:   kingpin.New(program, "Probes a Kubernetes cluster the way its debugging guides do (the apiserver and its etcd, Service endpoints and selectors, DNS) and exports what it finds as Prometheus metrics.").UsageWriter(os.Stdout),
		setup: collector.NewSetup(specs),
	}
	a := f.app
	a.HelpFlag.Short('h')
	a.Version(version.Print(program))
	nodeName := collector.String("node-name", "Name of the node this instance runs on; required with --role=node.", "", &f.nodeName)
	nodeName.Envar = "NODE_NAME"
	kubeconfig := collector.String("kubeconfig", "Path to a kubeconfig file. Default: the in-cluster service account, else $KUBECONFIG or ~/.kube/config.", "", &f.kubeconfig)
	kubeconfig.PlaceHolder = "PATH"
	addFlags(a,
		collector.Value("role", "What this instance watches: cluster (one Deployment: the API, the control plane, cluster DNS) or node (a DaemonSet: probes from its own node). Chooses the default collectors.",
			string(collector.RoleCluster), &f.role, parseRole),
		nodeName, kubeconfig,
		collector.Value("kube.qps", "Queries per second to the Kubernetes API (list and watch).", "20", &f.kubeQPS, parseFloat32),
		collector.Value("kube.burst", "Burst of queries to the Kubernetes API.", "40", &f.kubeBurst, strconv.Atoi),
		collector.Value("namespaces", "Comma-separated namespaces whose Services, EndpointSlices, Pods, workloads and Jobs are watched and judged, each watched apart; default all. The cluster's own objects read by name (the DNS Service, Leases) and Nodes are always watched.",
			"", &f.namespaces, parseNamespaces),
		collector.Value("namespaces-exclude", "Comma-separated namespaces left out of what --namespaces would watch (all of them, by one watch with a field selector); not with --namespaces.",
			"", &f.excluded, parseNamespaces))
	f.web = kingpinflag.AddFlags(a, fmt.Sprintf(":%d", DefaultPort))
	addFlags(a,
		collector.String("web.telemetry-path", "Path under which to expose metrics.", "/metrics", &f.telemetryPath),
		collector.Value("web.max-requests", "Maximum number of concurrent scrapes; 0 means no limit.", "40", &f.maxRequests, strconv.Atoi),
		collector.Duration("scrape.timeout", "Deadline for each collector in a scrape when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header.", 10*time.Second, &f.scrapeTimeout),
		collector.Duration("scrape.timeout-offset", "Subtracted from Prometheus's scrape timeout to leave time to send the answer.", 500*time.Millisecond, &f.timeoutOffset))
	addFlags(a, f.setup.Flags()...)
	promslogflag.AddFlags(a, &f.log)
	a.Command("serve", "Serve the metrics and pages (the default).").Default()
	f.triage = addTriageCommand(a)
	return f
}

// validate checks what the flag parser cannot.
func (f *flags) validate() error {
	switch {
	case f.role == string(collector.RoleNode) && f.nodeName == "":
		return errors.New("--role=node needs --node-name (or the NODE_NAME environment variable)")
	case !strings.HasPrefix(f.telemetryPath, "/"):
		return fmt.Errorf("--web.telemetry-path=%q must start with /", f.telemetryPath)
	case slices.Contains(server.ReservedPaths, f.telemetryPath):
		return fmt.Errorf("--web.telemetry-path=%s is taken by the exporter's own pages (%s)", f.telemetryPath, strings.Join(server.ReservedPaths, ", "))
	case len(f.namespaces) > 0 && len(f.excluded) > 0:
		return errors.New("--namespaces and --namespaces-exclude do not go together: list the namespaces to watch, or those to leave out")
	case f.scrapeTimeout <= 0:
		return fmt.Errorf("--scrape.timeout=%s must be positive", f.scrapeTimeout)
	case f.timeoutOffset < 0:
		return fmt.Errorf("--scrape.timeout-offset=%s must not be negative", f.timeoutOffset)
	}
	if err := f.setup.Check(collector.Role(f.role)); err != nil {
		return err
	}
	if err := web.Validate(*f.web.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file=%s: %w", *f.web.WebConfigFile, err)
	}
	return nil
}

func main() {
	f := newFlags(registry.Specs())
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	if strings.HasPrefix(command, "triage ") {
		code := runTriage(ctx, f, command, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	err = run(ctx, f, os.Stderr)
	stop()
	if err != nil {
		f.app.Fatalf("%s", oneLine(err))
	}
}

// oneLine keeps a start-up error on one line (YAML errors span several).
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
