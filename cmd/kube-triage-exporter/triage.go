package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/klog/v2"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/triage"
)

// triageFlags are the triage command's: one walk, run once.
type triageFlags struct {
	cmd                     *kingpin.CmdClause
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
	service := t.cmd.Command("service", "The Debug Services walk: the Service, its DNS names, its selector, its pods' readiness, its ports, its endpoints, its ClusterIP.")
	service.Arg("namespace/name", "The Service.").Required().StringVar(&t.target)
	pod := t.cmd.Command("pod", "The pod-failure walk: its phase and workload, each container's state, last termination and restarts, its readiness and events.")
	pod.Arg("namespace/name", "The pod.").Required().StringVar(&t.target)
	t.cmd.Command("cluster", "The Troubleshoot Clusters walk: the apiserver's checks, the leader Leases, the nodes' Leases and conditions, the DNS control case, and the scenario they point to.")
	return t
}

// runTriage runs the walk the command line names and writes it to out;
// it returns the exit code.
func runTriage(ctx context.Context, f *flags, command string, out, errOut io.Writer) int {
	t := f.triage
	c := triage.Command{Kind: strings.TrimPrefix(command, "triage "), Setup: f.setup,
		InPod: os.Getenv("KUBERNETES_SERVICE_HOST") != "", ListTimeout: t.listTimeout, NodeLeaseStale: t.leaseStale,
		Source: "the API, read now by " + program + " triage"}
	if c.Kind != "cluster" {
		var ok bool
		if c.Namespace, c.Name, ok = kube.SplitName(t.target); !ok {
			fmt.Fprintf(errOut, "%s: triage %s %q: want NAMESPACE/NAME\n", program, c.Kind, t.target)
			return 2
		}
	}
	if t.connectSet {
		c.Connect = &t.connect
	}
	// client-go's own log (a failing list's retries) is not the report.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	restCfg, source, err := kube.LoadConfig(f.kubeconfig)
	if err != nil {
		return notMade(errOut, err)
	}
	if c.Kube, err = kube.NewClient(restCfg, source, f.kubeQPS, f.kubeBurst); err != nil {
		return notMade(errOut, err)
	}
	r, err := c.Run(ctx)
	if err != nil {
		return notMade(errOut, err)
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
