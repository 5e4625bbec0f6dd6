package triage

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/dnsprobe"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

// Needs are, for each walk the command runs, the collectors it reads.
var Needs = map[string][]string{
	"service": {"services", "dns", "backends"},
	"pod":     {"terminations"},
	"cluster": {"apiserver", "controlplane", "nodes", "dns", "backends"},
}

// dnsConfig is the dns collector's configuration, which a walk narrows to
// the names it asks.
type dnsConfig interface {
	Domain() string
	ForWalk(names []string, rc dnsprobe.ResolvConf, inPod bool) (reachable bool)
}

// backendsConfig is the backends collector's configuration, which a walk
// narrows to its Service.
type backendsConfig interface {
	ForService(namespace, name string)
}

// Command is one walk, run once: the triage command.
type Command struct {
	Kind            string // service, pod or cluster
	Namespace, Name string // the Service's or pod's
	// Setup holds the collectors' configurations, as the flags set them.
	Setup *collector.Setup
	Kube  *kube.Client
	// InPod: this process runs in a pod, where ClusterIPs and pod IPs
	// route.
	InPod bool
	// Connect, if set, says whether to connect to the ClusterIP
	// (default: InPod).
	Connect *bool
	// ListTimeout bounds the wait for the API's lists (an apiserver
	// without its storage lists nothing) and a pod's details.
	ListTimeout    time.Duration
	NodeLeaseStale time.Duration
	Source         string // where the evidence comes from, for the report
}

// Run builds the collectors the walk needs, lists once, probes once and
// walks. An error is a walk that could not be made.
func (c Command) Run(ctx context.Context) (report.Report, error) {
	if c.Namespace != "" {
		c.Kube.Informers.SetScope(kube.Scope{Include: []string{c.Namespace}})
	}
	d := Details{Source: c.Source}
	// The collectors the walk reads, configured as the exporter's flags
	// say, with DNS asked about this walk's names as a pod would.
	names := slices.Clone(Needs[c.Kind])
	only := c.Setup.Only(names...)
	for _, cfg := range only.Configs(collector.RoleCluster) {
		dc, ok := cfg.(dnsConfig)
		if !ok {
			continue
		}
		domain := dc.Domain()
		var lookups []string
		if c.Kind == "service" {
			lookups = []string{c.Name, c.Name + "." + c.Namespace, c.Name + "." + c.Namespace + ".svc." + domain + "."}
		}
		if !dc.ForWalk(lookups, podResolvConf(c.Namespace, domain), c.InPod) {
			d.DNSNote = "not in a pod: the DNS Service's ClusterIP does not route from here; --collector.dns.service-address=HOST:PORT names an address of the cluster DNS that does (UDP)"
			names = slices.DeleteFunc(names, func(n string) bool { return n == "dns" })
			only = c.Setup.Only(names...)
		}
	}
	// The backends collector dials pod IPs: only from a pod, where they
	// route, and only this Service's.
	for _, cfg := range only.Configs(collector.RoleCluster) {
		if bc, ok := cfg.(backendsConfig); ok && c.Kind == "service" {
			bc.ForService(c.Namespace, c.Name)
		}
	}
	if slices.Contains(names, "backends") && !c.InPod {
		d.BackendsNote = "not in a pod: pod IPs do not route from here; run the command in a pod of the cluster to dial each endpoint"
		names = slices.DeleteFunc(names, func(n string) bool { return n == "backends" })
		only = c.Setup.Only(names...)
	}
	exp, err := collector.NewExporter(only, collector.Deps{Logger: slog.New(slog.DiscardHandler), Role: collector.RoleCluster, Kube: c.Kube})
	if err != nil {
		return report.Report{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exp.Once(ctx, c.ListTimeout)

	d.Pod = podDetails(c.Kube.Clientset, c.ListTimeout)
	connect := c.InPod
	if c.Connect != nil {
		connect = *c.Connect
	}
	if connect {
		d.Dial = func(ctx context.Context, addr string) error {
			d := net.Dialer{Timeout: 3 * time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		}
	} else {
		d.DialNote = "not in a pod: ClusterIPs do not route from here (--connect tries anyway)"
	}
	w := New(exp)
	switch c.Kind {
	case "service":
		return w.Service(ctx, c.Namespace, c.Name, d), nil
	case "pod":
		return w.Pod(ctx, c.Namespace, c.Name, d), nil
	}
	return w.Cluster(ctx, d, c.NodeLeaseStale), nil
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

// oneLine keeps an error on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
