package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// triageFlags are the triage command's: one walk, run once.
type triageFlags struct {
	cmd                     *kingpin.CmdClause
	service, pod, cluster   *kingpin.CmdClause
	target                  string
	output                  string
	connect, connectSet     bool
	listTimeout, leaseStale time.Duration
}

func addTriageCommand(a *kingpin.Application) *triageFlags {
	t := &triageFlags{}
	t.cmd = a.Command("triage", "Walk a guide once, for one Service, one pod or the cluster, and print each step with its evidence; exit 0 when every step passes, 1 when one fails, 2 when the walk could not be made.")
	t.cmd.Flag("output", "text (aligned, for a terminal) or json.").Short('o').Default("text").EnumVar(&t.output, "text", "json")
	t.cmd.Flag("connect", "Open a TCP connection to the Service's ClusterIP on each port (default: only inside a pod, where ClusterIPs route).").IsSetByUser(&t.connectSet).BoolVar(&t.connect)
	t.cmd.Flag("list-timeout", "How long to wait for the API's lists before walking what there is (an apiserver without its storage lists nothing).").Default("10s").DurationVar(&t.listTimeout)
	t.cmd.Flag("node-lease-stale", "A node's Lease older than this is stale (the alerts' threshold, the node controller's grace period).").Default(guide.NodeLeaseStale.String()).DurationVar(&t.leaseStale)
	t.service = t.cmd.Command("service", "The Debug Services walk: the Service, its DNS names, its selector, its pods' readiness, its ports, its endpoints, its ClusterIP.")
	t.service.Arg("namespace/name", "The Service.").Required().StringVar(&t.target)
	t.pod = t.cmd.Command("pod", "The pod-failure walk: its phase and workload, each container's state, last termination and restarts, its readiness and events.")
	t.pod.Arg("namespace/name", "The pod.").Required().StringVar(&t.target)
	t.cluster = t.cmd.Command("cluster", "The Troubleshoot Clusters walk: the apiserver's checks, the leader Leases, the nodes' Leases and conditions, the DNS control case, and the scenario they point to.")
	return t
}

// inCluster: this process runs in a pod, where ClusterIPs and pod IPs
// route.
func inCluster() bool { return os.Getenv("KUBERNETES_SERVICE_HOST") != "" }

// runTriage runs the walk the command line names and writes it to out;
// it returns the exit code.
func runTriage(ctx context.Context, f *flags, command string, out, errOut io.Writer) int {
	t := f.triage
	kind := strings.TrimPrefix(command, "triage ")
	var namespace, name string
	if kind != "cluster" {
		var ok bool
		namespace, name, ok = strings.Cut(t.target, "/")
		if !ok || !dnsLabel.MatchString(namespace) || name == "" || strings.Contains(name, "/") {
			fmt.Fprintf(errOut, "%s: triage %s %q: want NAMESPACE/NAME\n", program, kind, t.target)
			return 2
		}
	}
	// client-go's own log (a failing list's retries) is not the report.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	restCfg, source, err := kube.LoadConfig(f.kubeconfig)
	if err != nil {
		return notMade(errOut, err)
	}
	kc, err := kube.NewClient(restCfg, source, f.kubeQPS, f.kubeBurst)
	if err != nil {
		return notMade(errOut, err)
	}
	if namespace != "" {
		kc.Informers.SetScope(kube.Scope{Include: []string{namespace}})
	}

	// The collectors the walk reads, configured as the exporter's flags
	// say, with DNS asked about this walk's names as a pod would.
	cfg := f.config
	domain := strings.TrimSuffix(cfg.DNS.ClusterDomain, ".")
	cfg.DNS.SweepInterval = 0
	cfg.DNS.Names = nil
	cfg.DNS.ResolvConf = podResolvConf(namespace, domain)
	names := map[string][]string{
		"service": {"services", "dns"},
		"pod":     {"terminations"},
		"cluster": {"apiserver", "controlplane", "nodes", "dns"},
	}[kind]
	if kind == "service" {
		cfg.DNS.Names = []string{name, name + "." + namespace, name + "." + namespace + ".svc." + domain + "."}
	}
	details := collector.TriageDetails{Source: "the API, read now by " + program + " triage"}
	dnsReachable := inCluster() || cfg.DNS.ServiceAddress != ""
	if !dnsReachable {
		details.DNSNote = "not in a pod: the DNS Service's ClusterIP does not route from here; --collector.dns.service-address=HOST:PORT names an address of the cluster DNS that does (UDP)"
	}
	// Outside a pod, the DNS pods' addresses do not route either.
	cfg.DNS.ServiceOnly = !inCluster()
	var specs []collector.Spec
	for _, s := range collector.Specs() {
		if slices.Contains(names, s.Name) && (s.Name != "dns" || dnsReachable) {
			specs = append(specs, s)
		}
	}
	exp, err := collector.NewExporter(specs, collector.Deps{
		Logger: slog.New(slog.DiscardHandler), Role: collector.RoleCluster, Config: cfg, Kube: kc,
	})
	if err != nil {
		return notMade(errOut, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exp.Once(ctx, t.listTimeout)

	details.Pod = podDetails(kc.Clientset, t.listTimeout)
	connect := inCluster()
	if t.connectSet {
		connect = t.connect
	}
	if connect {
		details.Dial = func(ctx context.Context, addr string) error {
			d := net.Dialer{Timeout: 3 * time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		}
	} else {
		details.DialNote = "not in a pod: ClusterIPs do not route from here (--connect tries anyway)"
	}

	var r triage.Report
	switch kind {
	case "service":
		r = exp.TriageService(ctx, namespace, name, details)
	case "pod":
		r = exp.TriagePod(ctx, namespace, name, details)
	default:
		r = exp.TriageCluster(ctx, details, t.leaseStale)
	}
	write := r.WriteText
	if t.output == "json" {
		write = r.WriteJSON
	}
	if err := write(out); err != nil {
		return notMade(errOut, err)
	}
	switch {
	case !r.OK():
		return 1
	case r.Incomplete != "":
		return 2
	}
	return 0
}

// notMade reports why a walk could not be made: exit code 2.
func notMade(errOut io.Writer, err error) int {
	fmt.Fprintf(errOut, "%s: %s\n", program, oneLine(err))
	return 2
}

// podResolvConf is the search list of a pod in namespace (ClusterFirst):
// what a short name resolves through there.
func podResolvConf(namespace, domain string) dnsprobe.ResolvConf {
	if namespace == "" {
		namespace = "default"
	}
	return dnsprobe.ResolvConf{Search: []string{namespace + ".svc." + domain, "svc." + domain, domain}, Ndots: 5}
}

// maxEvents is how many of a pod's events a walk shows, newest first.
const maxEvents = 5

// podDetails reads what the caches do not keep of a pod: its node, the
// conditions that are not true, and its last events.
func podDetails(cs kubernetes.Interface, timeout time.Duration) func(ctx context.Context, namespace, name string) []string {
	return func(ctx context.Context, namespace, name string) []string {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var lines []string
		p, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return []string{"pod: " + oneLine(err)}
		}
		if p.Spec.NodeName != "" {
			lines = append(lines, "node: "+p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				line := fmt.Sprintf("condition %s=%s", c.Type, c.Status)
				if c.Reason != "" {
					line += " " + c.Reason
				}
				if c.Message != "" {
					line += ": " + c.Message
				}
				lines = append(lines, line)
			}
		}
		events, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
			"involvedObject.name": name, "involvedObject.kind": "Pod",
		}.String()})
		if err != nil {
			return append(lines, "events: "+oneLine(err))
		}
		items := events.Items
		sort.Slice(items, func(i, j int) bool { return eventTime(items[i]).After(eventTime(items[j])) })
		for i, e := range items {
			if i == maxEvents {
				lines = append(lines, fmt.Sprintf("... %d older events", len(items)-i))
				break
			}
			line := fmt.Sprintf("event %s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message))
			if e.Count > 1 {
				line += fmt.Sprintf(" (x%d)", e.Count)
			}
			if at := eventTime(e); !at.IsZero() {
				line += fmt.Sprintf(", %s ago", time.Since(at).Round(time.Second))
			}
			lines = append(lines, line)
		}
		if len(items) == 0 {
			lines = append(lines, "events: none (the apiserver keeps them an hour by default)")
		}
		return lines
	}
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.CreationTimestamp.Time
	}
}
