// Command kube-triage-demo starts a local control plane (real etcd,
// kube-apiserver, controller-manager, scheduler and CoreDNS; kwok playing
// the kubelets), fills it with the cases of the "Debug Services" and "Pod
// failure" guides, runs kube-triage-exporter against it and prints what the
// exporter finds. `make demo` runs it; Ctrl-C stops everything.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/bins"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster"
)

func main() {
	app := kingpin.New("kube-triage-demo", "Run kube-triage-exporter against a local control plane filled with the debugging guides' cases.")
	root := app.Flag("root", "Repository root (for .cache/bin and tools/).").Default(".").String()
	exporterBin := app.Flag("exporter", "The kube-triage-exporter binary to run.").Default("bin/kube-triage-exporter").String()
	listen := app.Flag("listen", "Address for the exporter's /metrics.").Default("127.0.0.1:10027").String()
	runFor := app.Flag("for", "Stop after this long; 0 runs until Ctrl-C.").Default("0s").Duration()
	kingpin.MustParse(app.Parse(os.Args[1:]))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *runFor)
		defer cancel()
	}
	if err := run(ctx, *root, *exporterBin, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "kube-triage-demo: error:", err)
		os.Exit(1)
	}
}

// firstBuild is how long the demo's binaries take to build the first
// time on a 2-core machine from a clean clone with empty Go caches: 32
// minutes measured (2026-12-07) while the machine was busy with other
// builds (the README says so too).
const firstBuild = "20 to 30 minutes"

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func run(ctx context.Context, root, exporterBin, listen string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "hack", "build-bins.sh")); err != nil {
		return fmt.Errorf("--root=%s is not the kube-triage-exporter repository: %w", root, err)
	}
	if missing := bins.Missing(root, localcluster.Binaries...); len(missing) > 0 {
		say("Building %s from their Go modules, once: %s on a 2-core machine with nothing cached (about 400 MB of modules to download); later runs start in seconds.", strings.Join(missing, ", "), firstBuild)
	} else {
		say("The control-plane binaries are built (%s): starting them...", bins.Dir(root))
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Root:  root,
		Nodes: []string{"node-a", "node-b", "node-c"},
		Logf:  func(format string, args ...any) { say(format, args...) },
	})
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the local control plane...")
		cluster.Stop()
	}()

	say("Creating the demo namespace (the guides' cases)...")
	scenario, err := setUp(ctx, cluster)
	if err != nil {
		return err
	}
	go scenario.keepFailing(ctx)

	exporter := exec.Command(exporterBin, append(cluster.ExporterArgs(),
		"--web.listen-address="+listen,
		"--collector.apiserver.interval=2s",
		"--collector.dns.interval=5s",
		"--collector.dns.name=hostnames.demo",
		"--collector.dns.name=hostnames-typo.demo",
	)...)
	logPath := filepath.Join(cluster.Dir, "exporter.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	exporter.Stdout, exporter.Stderr = logFile, logFile
	if err := exporter.Start(); err != nil {
		return fmt.Errorf("starting %s: %w (run `make build` first)", exporterBin, err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = exporter.Wait()
		close(exited)
	}()
	defer func() {
		_ = exporter.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = exporter.Process.Kill()
			<-exited
		}
	}()

	url := "http://" + listen + "/metrics"
	say("")
	say("kube-triage-exporter is running: %s", url)
	say("  walk a broken Service, as after a page:")
	say("    %s triage service %s/never-ready %s", exporterBin, demoNamespace, strings.Join(cluster.ExporterArgs(), " "))
	say("  the same walk as the page an alert links to: http://%s/triage/service/%s/never-ready", listen, demoNamespace)
	say("  (and triage pod %s/oom-victim, triage cluster; /triage/pod/..., /triage/cluster)", demoNamespace)
	say("  kubeconfig of the local cluster: %s", cluster.Kubeconfig)
	say("  exporter log: %s", logPath)
	say("  Ctrl-C stops everything.")

	ticker := time.NewTicker(15 * time.Second)
	defer ticker.Stop()
	first := time.After(8 * time.Second) // caches synced and Services judged
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			return fmt.Errorf("the exporter exited: %w; log tail:\n%s", exitErr, lastLines(logPath, 15))
		case <-first:
			summarize(ctx, url)
		case <-ticker.C:
			summarize(ctx, url)
		}
	}
}

// summarize prints what the exporter reports, a line per finding.
func summarize(ctx context.Context, url string) {
	samples, err := scrape(ctx, url)
	if err != nil {
		say("[%s] cannot scrape %s: %v", time.Now().Format("15:04:05"), url, err)
		return
	}
	say("")
	say("[%s] what kube-triage-exporter found:", time.Now().Format("15:04:05"))
	for _, line := range findings(samples) {
		say("  %s", line)
	}
}

// findings turns a scrape into the summary lines. Each collector adds its
// own as it lands.
func findings(samples map[string]float64) []string {
	var lines []string
	if v, ok := samples["kube_triage_apiserver_reachable"]; ok {
		state := "reachable"
		if v == 0 {
			state = "UNREACHABLE"
		}
		var failing []string
		for k, v := range samples {
			if strings.HasPrefix(k, "kube_triage_apiserver_check_success{") && v == 0 {
				failing = append(failing, k)
			}
		}
		sort.Strings(failing)
		if len(failing) == 0 {
			lines = append(lines, fmt.Sprintf("apiserver: %s, every /livez and /readyz check passing", state))
		} else {
			lines = append(lines, fmt.Sprintf("apiserver: %s, failing checks: %s", state, strings.Join(failing, ", ")))
		}
	}
	var leaders []string
	for k, v := range samples {
		if rest, found := strings.CutPrefix(k, "kube_triage_controlplane_leader_lease_age_seconds{"); found {
			leaders = append(leaders, fmt.Sprintf("%s renewed %.0fs ago", parseLabels(strings.TrimSuffix(rest, "}"))["component"], v))
		}
	}
	if len(leaders) > 0 {
		sort.Strings(leaders)
		lines = append(lines, "control plane leaders: "+strings.Join(leaders, ", "))
	}
	var nodes []string
	for k, v := range samples {
		if rest, found := strings.CutPrefix(k, "kube_triage_node_lease_age_seconds{"); found {
			node := parseLabels(strings.TrimSuffix(rest, "}"))["node"]
			state := "renewing"
			if v > 40 {
				state = "STALE"
			}
			if samples[fmt.Sprintf(`kube_triage_node_unreachable_taint{node=%q}`, node)] == 1 {
				state += ", tainted unreachable"
			}
			nodes = append(nodes, fmt.Sprintf("%s Lease %.0fs old (%s)", node, v, state))
		}
	}
	if len(nodes) > 0 {
		sort.Strings(nodes)
		lines = append(lines, "nodes: "+strings.Join(nodes, "; "))
	}
	verdicts := map[string][]string{}
	for k, v := range samples {
		rest, found := strings.CutPrefix(k, "kube_triage_service_verdict{")
		if !found || v != 1 {
			continue
		}
		labels := parseLabels(strings.TrimSuffix(rest, "}"))
		if samples[fmt.Sprintf(`kube_triage_service_expected_empty{namespace=%q,service=%q}`, labels["namespace"], labels["service"])] == 1 {
			continue // empty on purpose
		}
		verdicts[labels["verdict"]] = append(verdicts[labels["verdict"]], labels["namespace"]+"/"+labels["service"])
	}
	// The workload a Service scaled to zero is waiting for.
	parked := map[string]string{}
	for k, v := range samples {
		if rest, found := strings.CutPrefix(k, "kube_triage_service_scaled_to_zero{"); found && v == 1 {
			l := parseLabels(strings.TrimSuffix(rest, "}"))
			parked[l["namespace"]+"/"+l["service"]] = l["workload_kind"] + " " + l["workload"] + " at 0 replicas"
		}
	}
	for _, verdict := range slices.Sorted(maps.Keys(verdicts)) {
		names := verdicts[verdict]
		sort.Strings(names)
		if verdict == "ok" || verdict == "no_selector" {
			lines = append(lines, fmt.Sprintf("services %s: %d", verdict, len(names)))
			continue
		}
		for i, n := range names {
			if why := parked[n]; why != "" {
				names[i] += " (" + why + ", no page)"
			}
		}
		lines = append(lines, fmt.Sprintf("services %s: %s", verdict, strings.Join(names, ", ")))
	}
	readyNodes := 0
	for k, v := range samples {
		if strings.HasPrefix(k, "kube_triage_node_condition{") && strings.Contains(k, `condition="Ready"`) && strings.Contains(k, `status="true"`) && v == 1 {
			readyNodes++
		}
	}
	var local []string
	for k, v := range samples {
		if rest, found := strings.CutPrefix(k, "kube_triage_service_local_endpoint_nodes{"); found {
			l := parseLabels(strings.TrimSuffix(rest, "}"))
			local = append(local, fmt.Sprintf("%s/%s (%s) has a ready endpoint on %g of %d ready nodes", l["namespace"], l["service"], l["traffic_policy"], v, readyNodes))
		}
	}
	if len(local) > 0 {
		sort.Strings(local)
		lines = append(lines, "Local traffic policy: "+strings.Join(local, "; "))
	}
	var dnsFailing []string
	dnsProbes := 0
	for k, v := range samples {
		if rest, found := strings.CutPrefix(k, "kube_triage_dns_probe_success{"); found {
			dnsProbes++
			if v == 0 {
				l := parseLabels(strings.TrimSuffix(rest, "}"))
				dnsFailing = append(dnsFailing, l["name"]+" via "+l["server"])
			}
		}
	}
	if dnsProbes > 0 {
		sort.Strings(dnsFailing)
		lines = append(lines, fmt.Sprintf("dns: %d of %d lookups answer right; failing: %v", dnsProbes-len(dnsFailing), dnsProbes, dnsFailing))
	}
	deaths := map[string]float64{}
	for k, v := range samples {
		if rest, found := strings.CutPrefix(k, "kube_triage_container_terminations_total{"); found && v > 0 {
			l := parseLabels(strings.TrimSuffix(rest, "}"))
			deaths[fmt.Sprintf("%s/%s %s: %s (exit %s %s)", l["namespace"], l["workload"], l["container"], l["reason"], l["exit_code"], l["signal"])] += v
		}
	}
	for _, d := range slices.Sorted(maps.Keys(deaths)) {
		lines = append(lines, fmt.Sprintf("terminations %s x%g", d, deaths[d]))
	}
	var ok, failed []string
	for k, v := range samples {
		if name, found := strings.CutPrefix(k, `kube_triage_scrape_collector_success{collector="`); found {
			name = strings.TrimSuffix(name, `"}`)
			if v == 1 {
				ok = append(ok, name)
			} else {
				failed = append(failed, name)
			}
		}
	}
	sort.Strings(ok)
	sort.Strings(failed)
	lines = append(lines, fmt.Sprintf("collectors: %d ok (%s), %d failing %v", len(ok), strings.Join(ok, ", "), len(failed), failed))
	n := 0
	for k := range samples {
		if strings.HasPrefix(k, "kube_triage_") {
			n++
		}
	}
	lines = append(lines, fmt.Sprintf("series: %d kube_triage_* series exported", n))
	return lines
}

// scrape reads /metrics into a map from series (name and labels, as
// written) to value.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	samples := map[string]float64{}
	s := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			samples[line[:i]] = v
		}
	}
	return samples, s.Err()
}

// parseLabels reads `a="x",b="y"` (values without escaped quotes, as the
// exporter's are).
func parseLabels(s string) map[string]string {
	labels := map[string]string{}
	for _, pair := range strings.Split(s, `",`) {
		k, v, ok := strings.Cut(pair, `="`)
		if ok {
			labels[k] = strings.TrimSuffix(v, `"`)
		}
	}
	return labels
}

func lastLines(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
