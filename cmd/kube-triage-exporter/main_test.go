package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/registry"
	"github.com/kube-triage/kube-triage-exporter/docs"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/localcluster/clustertest"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestMain(m *testing.M) { clustertest.Main(m) }

// --- flags ---------------------------------------------------------------

func TestCollectorDefaultsFollowRole(t *testing.T) {
	specs := []collector.Spec{
		{Name: "both", Help: "x", DefaultOn: []collector.Role{collector.RoleCluster, collector.RoleNode}, Config: collector.NoConfig(nil)},
		{Name: "clusteronly", Help: "x", DefaultOn: []collector.Role{collector.RoleCluster}, Config: collector.NoConfig(nil)},
		{Name: "nodeonly", Help: "x", DefaultOn: []collector.Role{collector.RoleNode}, Config: collector.NoConfig(nil)},
		{Name: "off", Help: "x", Config: collector.NoConfig(nil)},
	}
	cases := []struct {
		args []string
		want []string
	}{
		{nil, []string{"both", "clusteronly"}},
		{[]string{"--role=node", "--node-name=n1"}, []string{"both", "nodeonly"}},
		{[]string{"--no-collector.both", "--collector.off"}, []string{"clusteronly", "off"}},
		{[]string{"--role=node", "--node-name=n1", "--collector.clusteronly", "--no-collector.nodeonly"}, []string{"both", "clusteronly"}},
	}
	for _, tc := range cases {
		f := newFlags(specs)
		if _, err := f.app.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := f.setup.Enabled(collector.Role(f.role)); !slices.Equal(got, tc.want) {
			t.Errorf("%v: enabled %v, want %v", tc.args, got, tc.want)
		}
	}
}

// Every flag is documented in the README, and the README names no flag that
// does not exist.
func TestFlagsDocumentedInREADME(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFlags(registry.Specs())
	known := map[string]bool{}
	model := f.app.Model()
	flags := model.Flags
	// The commands' own flags (triage's), and every command named.
	var walk func(cmds []*kingpin.CmdModel)
	walk = func(cmds []*kingpin.CmdModel) {
		for _, c := range cmds {
			flags = append(flags, c.Flags...)
			if !c.Hidden && !bytes.Contains(readme, []byte(c.FullCommand)) {
				t.Errorf("command %q is not documented in README.md", c.FullCommand)
			}
			walk(c.Commands)
		}
	}
	walk(model.Commands)
	for _, fl := range flags {
		known[fl.Name] = true
		if fl.Hidden {
			continue
		}
		if !bytes.Contains(readme, []byte("--"+fl.Name)) && !bytes.Contains(readme, []byte("--[no-]"+fl.Name)) {
			t.Errorf("flag --%s is not documented in README.md", fl.Name)
		}
	}
	for _, m := range regexp.MustCompile("`--(?:\\[no-\\])?([a-z][a-z0-9.-]*)(<?)").FindAllSubmatch(readme, -1) {
		name := string(m[1])
		if len(m[2]) > 0 {
			continue // a pattern such as --collector.<name>
		}
		if !known[name] && !known[strings.TrimPrefix(name, "no-")] {
			t.Errorf("README.md documents --%s, which is not a flag", name)
		}
	}
}

// --- the binary, as a user runs it ---------------------------------------

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Bad input stops start-up at once, with one line that names the problem.
func TestBadInputStopsStartup(t *testing.T) {
	garbage := writeFile(t, "garbage.kubeconfig", "this: [is not a kubeconfig")
	badTLS := writeFile(t, "web.yml", "tls_server_config:\n  cert_file: /nonexistent/tls.crt\n  key_file: /nonexistent/tls.key\n")
	badWebYAML := writeFile(t, "web-bad.yml", "tls_server_config: [oops\n")
	unknownField := writeFile(t, "web-unknown.yml", "tls_server_config:\n  cert_fil: x\n")
	badResolv := writeFile(t, "resolv.conf", "search default.svc.cluster.local\noptions ndots:x\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dead := testenv.DeadKubeconfig(t)

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "unknown long flag '--bogus'"},
		{"bad role", []string{"--role=banana"}, "--role=banana: must be one of cluster, node"},
		{"web config with an unknown field", []string{"--kubeconfig=" + dead, "--web.config.file=" + unknownField}, "--web.config.file=" + unknownField},
		{"bad duration", []string{"--collector.apiserver.interval=soon"}, "collector.apiserver.interval"},
		{"zero interval", []string{"--kubeconfig=" + dead, "--collector.apiserver.interval=0s"}, "--collector.apiserver.interval=0s: must be positive"},
		{"node role without node name", []string{"--role=node"}, "--role=node needs --node-name"},
		{"missing kubeconfig", []string{"--kubeconfig=/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig: no such file or directory"},
		{"unparsable kubeconfig", []string{"--kubeconfig=" + garbage}, "kubeconfig " + garbage},
		{"no kubeconfig anywhere", nil, "no Kubernetes configuration"},
		{"web config with a bad TLS path", []string{"--kubeconfig=" + dead, "--web.config.file=" + badTLS}, "--web.config.file=" + badTLS},
		{"web config that is not YAML", []string{"--kubeconfig=" + dead, "--web.config.file=" + badWebYAML}, "--web.config.file=" + badWebYAML},
		{"telemetry path taken", []string{"--kubeconfig=" + dead, "--web.telemetry-path=/healthz"}, "--web.telemetry-path=/healthz is taken"},
		{"malformed resolv.conf", []string{"--kubeconfig=" + dead, "--collector.dns.resolv-conf=" + badResolv}, "--collector.dns.resolv-conf: " + badResolv + ":2: options ndots:x is not a number"},
		{"bad DNS name", []string{"--kubeconfig=" + dead, "--collector.dns.name=bad name!"}, `--collector.dns.name="bad name!" is not a domain name`},
		{"invalid listen address", []string{"--kubeconfig=" + dead, "--web.listen-address=not-an-address"}, "--web.listen-address=not-an-address"},
		{"VIP without a port", []string{"--kubeconfig=" + dead, "--role=node", "--node-name=n", "--collector.kubeproxy.vip=10.96.0.1"}, `--collector.kubeproxy.vip="10.96.0.1": want host:port`},
		{"kubelet URL that is not HTTP", []string{"--kubeconfig=" + dead, "--role=node", "--node-name=n", "--collector.kubelet.url=10.0.0.1:10250"}, `kubelet URL "10.0.0.1:10250"`},
		{"bad namespace", []string{"--namespaces=shop,Bad_NS"}, `--namespaces=shop,Bad_NS: "Bad_NS" is not a namespace name`},
		{"both namespace flags", []string{"--kubeconfig=" + dead, "--namespaces=shop", "--namespaces-exclude=kube-system"}, "--namespaces and --namespaces-exclude do not go together"},
		{"listen address in use", []string{"--kubeconfig=" + dead, "--web.listen-address=" + busy.Addr().String()}, "address already in use"},
	}
	exporter := testenv.Exporter(t) // built before the clock starts: a cold build takes longer than a start-up may
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exporter, tc.args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent", "NODE_NAME=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("did not stop at once; stderr:\n%s", stderr.String())
			}
			if err == nil {
				t.Fatalf("exited 0; want a start-up error")
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 {
				t.Errorf("want one line on stderr, got %d:\n%s", len(lines), stderr.String())
			}
			if !strings.HasPrefix(lines[0], "kube-triage-exporter: error: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q does not name the problem (want it to contain %q)", lines[0], tc.want)
			}
		})
	}
}

// An apiserver that does not answer is a run-time condition: the exporter
// serves, says so in its metrics, and every metric it exports is documented
// and passes promtool check metrics.
func TestDeadAPIServerKeepsServing(t *testing.T) {
	e := testenv.StartExporter(t, "--no-collector.backends", "--kubeconfig="+testenv.DeadKubeconfig(t), "--collector.apiserver.interval=200ms", "--collector.apiserver.timeout=100ms")
	base := "http://" + e.Addr
	var body string
	testenv.WaitFor(t, "kube_triage_apiserver_reachable 0", 10*time.Second, func() (bool, error) {
		_, b, err := testenv.Get(http.DefaultClient, base+"/metrics")
		body = b
		return strings.Contains(b, "\nkube_triage_apiserver_reachable 0\n"), err
	})
	for _, want := range []string{
		`kube_triage_apiserver_probe_success{endpoint="readyz"} 0`,
		`kube_triage_scrape_collector_success{collector="apiserver"} 1`,
		`kube_triage_build_info{`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if _, b, _ := testenv.Get(http.DefaultClient, base+"/readyz"); !strings.Contains(b, "waiting for the initial list of") || !strings.Contains(b, "services") {
		t.Errorf("/readyz does not say what it waits for: %q", b)
	}
	for _, want := range []string{
		`kube_triage_kubernetes_informer_synced{resource="services"} 0`,
		`kube_triage_scrape_collector_success{collector="services"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`kube_triage_apiserver_probe_failures_total\{endpoint="readyz",reason="connection"\} [1-9]`).MatchString(body) {
		t.Errorf("connection failures not counted:\n%s", body)
	}
	// Not ready (its caches cannot sync) yet healthy and serving.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/": 200, "/docs/metrics": 200, "/terminations": 200, "/nope": 404} {
		code, _, err := testenv.Get(http.DefaultClient, base+path)
		if err != nil || code != want {
			t.Errorf("GET %s: %d %v, want %d", path, code, err, want)
		}
	}

	checkExposition(t, body)
}

// checkExposition checks a live /metrics answer: every family it exports is
// documented, and promtool check metrics passes.
func checkExposition(t *testing.T, body string) {
	t.Helper()
	t.Run("every exported metric is documented", func(t *testing.T) {
		documented := string(docs.Metrics)
		for _, name := range metricFamilies(body) {
			if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
				continue
			}
			if !strings.Contains(documented, "| `"+name+"` |") {
				t.Errorf("%s is exported but not documented in docs/metrics.md", name)
			}
		}
	})
	t.Run("promtool check metrics", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds promtool; runs in make test, not under -short")
		}
		out, err := testenv.Promtool(t, []byte(body), "check", "metrics")
		if err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
}

// The binary against the real local control plane: the apiserver answers
// and its etcd check passes.
func TestExporterOnLocalControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	e := testenv.StartExporter(t, append(cluster.ExporterArgs(), "--collector.apiserver.interval=300ms", "--collector.dns.interval=1s")...)
	var body string
	testenv.WaitFor(t, "the apiserver reported reachable with its etcd check passing", 30*time.Second, func() (bool, error) {
		_, b, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/metrics")
		body = b
		return strings.Contains(b, "\nkube_triage_apiserver_reachable 1\n") &&
			strings.Contains(b, `kube_triage_apiserver_check_success{check="etcd",endpoint="readyz"} 1`) &&
			strings.Contains(b, `kube_triage_dns_probe_success{name="kubernetes.default",server="service",server_kind="service"} 1`) &&
			strings.Contains(b, `kube_triage_controlplane_leader_lease_present{component="kube-scheduler"} 1`) &&
			strings.Contains(b, `kube_triage_node_condition{condition="Ready",node="node-a",status="true"} 1`) &&
			strings.Contains(b, `kube_triage_node_lease_age_seconds{node="node-a"}`), err
	})
	if code, _, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %v", code, err)
	}
	checkExposition(t, body)
}

// The binary in the node role against the local control plane, with a
// kubelet and a kube-proxy stand-in on loopback (no kubelet or kube-proxy
// runs here) and a Service VIP that accepts connections: the agent probes
// each from its node and reaches the apiserver.
func TestNodeAgentOnLocalControlPlane(t *testing.T) {
	cluster := clustertest.Shared(t)
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer kubelet.Close()
	kubeProxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		switch r.URL.Path {
		case "/livez", "/healthz":
			_, _ = w.Write([]byte(`{"lastUpdated":"` + now + `","currentTime":"` + now + `","nodeEligible":true,"healthy":true}`))
		case "/proxyMode":
			_, _ = w.Write([]byte("iptables"))
		}
	}))
	defer kubeProxy.Close()
	vip, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer vip.Close()

	e := testenv.StartExporter(t, append(cluster.ExporterArgs(), "--role=node", "--node-name=node-a",
		"--collector.kubelet.interval=300ms", "--collector.kubelet.url="+kubelet.URL+"/healthz", "--collector.kubelet.insecure-tls",
		"--collector.kubeproxy.interval=300ms", "--collector.kubeproxy.url="+kubeProxy.URL, "--collector.kubeproxy.metrics-url="+kubeProxy.URL,
		"--collector.kubeproxy.vip="+vip.Addr().String(), "--collector.apiserver.interval=300ms", "--collector.dns.interval=1s")...)
	var body string
	testenv.WaitFor(t, "the node agent's probes all succeeding", 30*time.Second, func() (bool, error) {
		_, b, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/metrics")
		body = b
		return strings.Contains(b, "\nkube_triage_apiserver_reachable 1\n") &&
			strings.Contains(b, "\nkube_triage_kubelet_probe_success 1\n") &&
			strings.Contains(b, `kube_triage_kubeproxy_probe_success{endpoint="livez"} 1`) &&
			strings.Contains(b, `kube_triage_kubeproxy_info{proxy_mode="iptables"} 1`) &&
			strings.Contains(b, `kube_triage_kubeproxy_service_vip_reachable{target="`+vip.Addr().String()+`"} 1`), err
	})
	// The node role watches no Nodes, Leases or Pods.
	for _, absent := range []string{"kube_triage_node_lease_age_seconds", "kube_triage_controlplane_", "kube_triage_container_terminations_total"} {
		if strings.Contains(body, absent) {
			t.Errorf("the node agent exports %s, a cluster-role family", absent)
		}
	}
	checkExposition(t, body)
}

func metricFamilies(exposition string) []string {
	var names []string
	s := bufio.NewScanner(strings.NewReader(exposition))
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names = append(names, f[2])
		}
	}
	return names
}

func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	e := testenv.StartExporter(t, "--no-collector.backends", "--kubeconfig="+testenv.DeadKubeconfig(t))
	testenv.WaitFor(t, "/healthz", 10*time.Second, func() (bool, error) {
		code, _, err := testenv.Get(http.DefaultClient, "http://"+e.Addr+"/healthz")
		return code == 200, err
	})
	if err := e.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Done:
		if e.Exit != nil {
			t.Errorf("exit after SIGTERM: %v; want status 0", e.Exit)
		}
		if !strings.Contains(e.Output.String(), "shutting down") {
			t.Errorf("no shutdown log line:\n%s", e.Output.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
}

// /metrics over TLS with basic auth, configured through --web.config.file.
func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for p, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := writeFile(t, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", certFile, keyFile, hash))

	e := testenv.StartExporter(t, "--no-collector.backends", "--kubeconfig="+testenv.DeadKubeconfig(t), "--web.config.file="+webConfig)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	url := "https://" + e.Addr + "/metrics"

	request := func(user, pass string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	testenv.WaitFor(t, "the TLS listener", 10*time.Second, func() (bool, error) {
		code, _, err := request("", "")
		return code != 0, err
	})
	if code, _, err := request("", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d %v, want 401", code, err)
	}
	if code, _, err := request("prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d %v, want 401", code, err)
	}
	code, body, err := request("prometheus", "s3cret")
	if code != http.StatusOK || !strings.Contains(body, "kube_triage_build_info") {
		t.Errorf("right password: %d %v, want 200 with metrics", code, err)
	}
	if code, _, err := testenv.Get(&http.Client{Timeout: 5 * time.Second}, "http://"+e.Addr+"/metrics"); code == http.StatusOK {
		t.Errorf("plain HTTP answered 200 (%v); want TLS only", err)
	}
}

func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kube-triage-exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// The heap of the initial lists is handed back once, when the last
// informer has listed, and not while the exporter shuts down first.
func TestAfterSyncRunsOnceWhenListed(t *testing.T) {
	left := 3
	calls := 0
	afterSync(context.Background(), func() []string {
		if left > 0 {
			left--
			return []string{"pods"}
		}
		return nil
	}, time.Millisecond, time.Hour, func() { calls++ })
	if calls != 1 || left != 0 {
		t.Errorf("called %d times with %d checks left, want once after the lists", calls, left)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	afterSync(ctx, func() []string { return []string{"pods"} }, time.Millisecond, time.Hour, func() { calls++ })
	if calls != 1 {
		t.Error("called though the exporter is shutting down")
	}
	// An informer that never lists (no RBAC for it) delays it by maxWait
	// at most.
	afterSync(context.Background(), func() []string { return []string{"deployments"} }, time.Millisecond, 20*time.Millisecond, func() { calls++ })
	if calls != 2 {
		t.Error("not called after maxWait with an informer that never lists")
	}
}
