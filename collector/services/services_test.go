package services

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/collector/collectortest"
	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

const testNS = "guide"

func svc(name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Name: "default", Port: 80, TargetPort: intstr.FromInt32(9376)}}
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports, ClusterIP: "10.96.0.10"},
	}
}

func pod(name string, labels map[string]string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status},
		}},
	}
}

// slice is an EndpointSlice of service with an endpoint per condition, on
// the port "default" (svc's default port), as the EndpointSlice controller
// names a slice's ports after the Service's.
func slice(name, service string, conds ...discoveryv1.EndpointConditions) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("default"), Port: ptr.To(int32(9376))}},
	}
	if service != "" {
		s.Labels[discoveryv1.LabelServiceName] = service
	}
	for _, c := range conds {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.1.1"}, Conditions: c})
	}
	return s
}

// withPorts gives a slice these ports instead (none: its pods expose no
// target port of the Service).
func withPorts(s *discoveryv1.EndpointSlice, names ...string) *discoveryv1.EndpointSlice {
	s.Ports = nil
	for _, n := range names {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(n)})
	}
	return s
}

// onNodes puts a slice's endpoints on these nodes, in order.
func onNodes(s *discoveryv1.EndpointSlice, nodes ...string) *discoveryv1.EndpointSlice {
	for i := range s.Endpoints {
		s.Endpoints[i].NodeName = ptr.To(nodes[i])
	}
	return s
}

// ownedBy makes a pod a workload's: a Deployment's through its ReplicaSet
// (kind Deployment), or the named controller's.
func ownedBy(p *corev1.Pod, kind, name string) *corev1.Pod {
	if kind == "Deployment" {
		p.Labels = maps.Clone(p.Labels)
		p.Labels["pod-template-hash"] = "5d8f"
		kind, name = "ReplicaSet", name+"-5d8f"
	}
	p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, Controller: ptr.To(true)}}
	return p
}

func deployment(name string, replicas int32, template map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template}}}}
}

var (
	readyEP       = discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
	notReadyEP    = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}
	terminatingEP = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	unknownEP     = discoveryv1.EndpointConditions{} // nil conditions: consumers treat as ready
	http9376      = corev1.ContainerPort{Name: "http", ContainerPort: 9376}
	metrics9100   = corev1.ContainerPort{Name: "metrics", ContainerPort: 9100}
)

// newTestServicesCollector runs the collector over a fake clientset holding
// objs and judges once.
func newTestServicesCollector(t *testing.T, objs ...runtime.Object) (*servicesCollector, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	c, err := newServicesCollector(Config{Interval: time.Hour}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	collectortest.StartInformers(t, kc)
	c.judgeDirty()
	return c, cs
}

var servicesGolden = []string{
	"kube_triage_service_info", "kube_triage_service_expected_empty", "kube_triage_service_endpoints",
	"kube_triage_service_selected_pods", "kube_triage_service_selected_pods_ready",
	"kube_triage_service_port_target_missing", "kube_triage_service_verdict",
	"kube_triage_service_port_endpoints", "kube_triage_service_port_pods_missing_target",
	"kube_triage_service_scaled_to_zero", "kube_triage_service_selected_workloads",
	"kube_triage_service_local_endpoint_nodes",
}

// Every verdict of the guide, and the cases that must not be flagged.
func TestServicesVerdicts(t *testing.T) {
	web := map[string]string{"app": "web"}
	slow := map[string]string{"app": "slow"}
	named := map[string]string{"app": "named"}
	numeric := map[string]string{"app": "numeric"}
	undeclared := map[string]string{"app": "undeclared"}
	lagging := map[string]string{"app": "lagging"}

	headless := svc("headless", web)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	external := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: testNS},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"},
	}
	partial := map[string]string{"app": "partial"}
	unserved := map[string]string{"app": "unserved"}
	parked := map[string]string{"app": "parked"}
	wanted := map[string]string{"app": "wanted"}
	canary := map[string]string{"app": "canary"}
	localSel := map[string]string{"app": "local"}
	meshed := map[string]string{"app": "meshed"}
	draining := map[string]string{"app": "draining"}
	httpPort := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}
	metricsPort := corev1.ServicePort{Name: "metrics", Port: 9100, TargetPort: intstr.FromString("metrics")}
	local := svc("local", localSel)
	local.Spec.Type = corev1.ServiceTypeLoadBalancer
	local.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	local.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	scaledToZero := svc("scaled-to-zero", map[string]string{"app": "batch"})
	scaledToZero.Annotations = map[string]string{record.ServiceOptOutAnnotation: "true"}

	c, _ := newTestServicesCollector(t,
		// ok: the guide's hostnames.
		svc("hostnames", web), pod("web-1", web, true, http9376), pod("web-2", web, true, http9376),
		slice("hostnames-abc", "hostnames", readyEP, readyEP, terminatingEP),
		// A finished pod that matches is not counted.
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-done", Namespace: testNS, Labels: web}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		// A typo in the selector.
		svc("typo", map[string]string{"app": "wbe"}),
		// Pods that match but are not ready.
		svc("not-ready", slow), pod("slow-1", slow, false, http9376), slice("not-ready-1", "not-ready", notReadyEP),
		// A named targetPort no container has.
		svc("named-port", named, corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("https")}),
		pod("named-1", named, true, http9376), withPorts(slice("named-port-1", "named-port", readyEP)),
		// A numeric targetPort the pods do not declare, while they declare others.
		svc("numeric-port", numeric, corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}, corev1.ServicePort{Port: 81, TargetPort: intstr.FromInt32(8080)}),
		pod("numeric-1", numeric, true, http9376), withPorts(slice("numeric-port-1", "numeric-port", readyEP), ""),
		// Pods that declare no ports at all: a numeric targetPort cannot be judged.
		svc("undeclared", undeclared), pod("undeclared-1", undeclared, true), slice("undeclared-1", "undeclared", unknownEP),
		// Ready pods, right ports, but no EndpointSlice (the controller is behind or down).
		svc("lagging", lagging), pod("lagging-1", lagging, true, http9376),
		// Headless with a selector: judged as any other.
		headless, slice("headless-1", "headless", readyEP),
		// No selector: judged by its endpoints alone.
		svc("manual", nil), slice("manual-1", "manual", readyEP),
		svc("manual-empty", map[string]string{}),
		// Not judged.
		external,
		// Empty on purpose.
		scaledToZero,
		// The same port twice (the API refuses it, a cache must not care):
		// one series.
		svc("dup-port", named, corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("https")},
			corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("https")}),
		// Publishes not-ready addresses (a StatefulSet's peer discovery):
		// judged by its endpoints, not by pod readiness.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "peers", Namespace: testNS},
			Spec: corev1.ServiceSpec{Selector: slow, ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true,
				Ports: []corev1.ServicePort{{Name: "default", Port: 80, TargetPort: intstr.FromInt32(9376)}}}},
		slice("peers-1", "peers", discoveryv1.EndpointConditions{Ready: ptr.To(true)}),
		// A named targetPort on a native sidecar (restartable init container).
		svc("sidecar-port", map[string]string{"app": "sidecar"}, corev1.ServicePort{Name: "proxy", Port: 80, TargetPort: intstr.FromString("envoy")}),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sidecar-1", Namespace: testNS, Labels: map[string]string{"app": "sidecar"}},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{{Name: "envoy", ContainerPort: 15001}}}},
				Containers:     []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{http9376}}},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
		withPorts(slice("sidecar-port-1", "sidecar-port", readyEP), "proxy"),
		// A slice without a service label is ignored.
		slice("orphan", "", readyEP),

		// Per-port truth. Two ports; one pod exposes both, the other only
		// http: the EndpointSlice controller puts them in two slices, and
		// the metrics port is served by one pod of two (visible, ok).
		svc("partial-port", partial, httpPort, metricsPort),
		pod("partial-1", partial, true, http9376, metrics9100), pod("partial-2", partial, true, http9376),
		withPorts(slice("partial-port-both", "partial-port", readyEP), "http", "metrics"),
		withPorts(slice("partial-port-http", "partial-port", readyEP), "http"),
		// The only pod that exposes the metrics port is not ready: that
		// port has no ready endpoint while the other serves.
		svc("port-unserved", unserved, httpPort, metricsPort),
		pod("unserved-1", unserved, false, http9376, metrics9100), pod("unserved-2", unserved, true, http9376),
		withPorts(slice("port-unserved-both", "port-unserved", notReadyEP), "http", "metrics"),
		withPorts(slice("port-unserved-http", "port-unserved", readyEP), "http"),

		// Scale to zero: the selector matches a Deployment's template and
		// its replicas are 0. A Deployment that wants pods but has none is
		// not on purpose.
		svc("parked", parked), deployment("parked", 0, parked),
		svc("missing-pods", wanted), deployment("wanted", 2, wanted),

		// One Service over two Deployments (a canary).
		svc("canary", canary),
		ownedBy(pod("stable-1", map[string]string{"app": "canary", "track": "stable"}, true, http9376), "Deployment", "shop"),
		ownedBy(pod("canary-1", map[string]string{"app": "canary", "track": "canary"}, true, http9376), "Deployment", "shop-canary"),
		slice("canary-1", "canary", readyEP, readyEP),

		// A numeric targetPort on an application container that declares no
		// port, beside a sidecar that declares its own (Istio's): not judged.
		svc("meshed", meshed),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "meshed-1", Namespace: testNS, Labels: meshed},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy", Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
		slice("meshed-1", "meshed", readyEP),
		// Scaling down to zero: the last pods are still terminating, and
		// they are leaving, not the Service's pods any more.
		svc("draining", draining), deployment("draining", 0, draining),
		func() *corev1.Pod {
			p := pod("draining-1", draining, false, http9376)
			p.DeletionTimestamp = ptr.To(metav1.Now())
			p.Finalizers = []string{"test/keep"} // the fake clientset keeps a deleted object that has one
			return p
		}(),

		// Local traffic policies: ready endpoints on node-a (twice), a
		// not-ready one on node-b: one node has a local endpoint.
		local, pod("local-1", localSel, true, http9376),
		onNodes(slice("local-1", "local", readyEP, readyEP, notReadyEP), "node-a", "node-a", "node-b"),
	)
	collectortest.Golden(t, scrapeOnce(t, c), "services_verdicts.prom", servicesGolden...)
}

func TestServicesFollowChanges(t *testing.T) {
	web := map[string]string{"app": "web"}
	c, cs := newTestServicesCollector(t, svc("hostnames", map[string]string{"app": "wbe"}), pod("web-1", web, true, http9376))
	// The verdict as a scrape shows it: judged, and rendered.
	verdictOf := func() string {
		m := regexp.MustCompile(`kube_triage_service_verdict\{namespace="guide",service="hostnames",verdict="(\w+)"\} 1`).
			FindStringSubmatch(collectortest.Render(t, scrapeOnce(t, c), "kube_triage_service_verdict"))
		if m == nil {
			return "(none)"
		}
		return m[1]
	}
	if v := verdictOf(); v != string(guide.VerdictSelectorMatchesNothing) {
		t.Fatalf("verdict %s", v)
	}
	// The operator fixes the typo; then the EndpointSlice controller catches up.
	ctx := context.Background()
	if _, err := cs.CoreV1().Services(testNS).Update(ctx, svc("hostnames", web), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVerdict := func(want string) {
		t.Helper()
		testenv.WaitFor(t, "verdict "+want, 10*time.Second, func() (bool, error) {
			c.judgeDirty()
			if got := verdictOf(); got != want {
				return false, fmt.Errorf("verdict %s, want %s", got, want)
			}
			return true, nil
		})
	}
	waitVerdict(string(guide.VerdictNoEndpoints))
	if _, err := cs.DiscoveryV1().EndpointSlices(testNS).Create(ctx, slice("hostnames-1", "hostnames", readyEP), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVerdict(string(guide.VerdictOK))
	// The endpoint flaps: each time the Service loses all its ready
	// endpoints counts once; the counter lives as long as the Service.
	lost := func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.results[testNS+"/hostnames"].readyLost
	}
	for i, cond := range []discoveryv1.EndpointConditions{notReadyEP, readyEP, notReadyEP} {
		if _, err := cs.DiscoveryV1().EndpointSlices(testNS).Update(ctx, slice("hostnames-1", "hostnames", cond), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want, wantLost := string(guide.VerdictNoEndpoints), float64(i/2+1)
		if cond.Ready != nil && *cond.Ready {
			want = string(guide.VerdictOK)
		}
		waitVerdict(want)
		if got := lost(); got != wantLost {
			t.Errorf("after change %d: ready endpoints lost %v times, want %v", i, got, wantLost)
		}
	}
	if err := cs.CoreV1().Services(testNS).Delete(ctx, "hostnames", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVerdict("(none)")
}

// A Service that loses its ready endpoints counts it, once per loss; one
// scaled to zero on purpose does not.
func TestCountReadyLost(t *testing.T) {
	judged := func(name string, ready int32, v guide.Verdict) *serviceResult {
		return &serviceResult{ServiceResult: guide.ServiceResult{Name: name, Ready: ready, Verdict: v}}
	}
	before := []*serviceResult{judged("flaps", 2, ""), judged("parks", 2, ""), judged("steady", 1, ""), nil}
	before[0].readyLost = 4
	now := []*serviceResult{judged("flaps", 0, guide.VerdictNoEndpoints), judged("parks", 0, guide.VerdictScaledToZero), judged("steady", 1, guide.VerdictOK), judged("new", 0, guide.VerdictNoEndpoints)}
	for i := range now {
		countReadyLost(before[i], now[i])
	}
	for i, want := range []float64{5, 0, 0, 0} {
		if now[i].readyLost != want {
			t.Errorf("%s: lost %v, want %v", now[i].Name, now[i].readyLost, want)
		}
	}
}

// Judging only what a change touches gives what judging everything would:
// after each kind of change (a pod relabelled, deleted, made ready; an
// EndpointSlice moved to another Service; a workload scaled; a Service's
// selector changed), every Service's result equals a fresh judgement of it.
func TestServicesIncrementalMatchesFresh(t *testing.T) {
	web, api := map[string]string{"app": "web"}, map[string]string{"app": "api"}
	c, cs := newTestServicesCollector(t,
		svc("web", web), svc("api", api), svc("parked", map[string]string{"app": "parked"}),
		pod("web-1", web, true, http9376), pod("web-2", web, false, http9376), pod("api-1", api, true, http9376),
		slice("web-1", "web", readyEP), slice("api-1", "api", readyEP),
		deployment("parked", 1, map[string]string{"app": "parked"}),
	)
	ctx := context.Background()
	fresh := func() map[string]string {
		out := map[string]string{}
		for _, key := range c.services.ListKeys() {
			if r := c.judge(key); r != nil {
				out[key] = fmt.Sprintf("%+v", *r)
			}
		}
		return out
	}
	kept := func() map[string]string {
		out := map[string]string{}
		for key, r := range c.results {
			cp := *r
			cp.readyLost = 0 // history, not judgement
			out[key] = fmt.Sprintf("%+v", cp)
		}
		return out
	}
	changes := []struct {
		what   string
		change func() error
	}{
		{"a pod relabelled from web to api", func() error {
			_, err := cs.CoreV1().Pods(testNS).Update(ctx, pod("web-2", api, false, http9376), metav1.UpdateOptions{})
			return err
		}},
		{"a pod made ready", func() error {
			_, err := cs.CoreV1().Pods(testNS).Update(ctx, pod("web-2", api, true, http9376), metav1.UpdateOptions{})
			return err
		}},
		{"a pod deleted", func() error { return cs.CoreV1().Pods(testNS).Delete(ctx, "web-1", metav1.DeleteOptions{}) }},
		{"an EndpointSlice moved to another Service", func() error {
			_, err := cs.DiscoveryV1().EndpointSlices(testNS).Update(ctx, slice("web-1", "api", readyEP), metav1.UpdateOptions{})
			return err
		}},
		{"a workload scaled to zero", func() error {
			_, err := cs.AppsV1().Deployments(testNS).Update(ctx, deployment("parked", 0, map[string]string{"app": "parked"}), metav1.UpdateOptions{})
			return err
		}},
		{"a Service's selector changed", func() error {
			_, err := cs.CoreV1().Services(testNS).Update(ctx, svc("api", web), metav1.UpdateOptions{})
			return err
		}},
	}
	for _, ch := range changes {
		before := fresh()
		if err := ch.change(); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, "the kept results to follow "+ch.what, 10*time.Second, func() (bool, error) {
			c.judgeDirty()
			want := fresh()
			if fmt.Sprint(want) != fmt.Sprint(before) && fmt.Sprint(kept()) == fmt.Sprint(want) {
				return true, nil // the change reached the caches, and the kept results follow
			}
			return false, fmt.Errorf("kept results\n%v\nwant a fresh judgement\n%v", kept(), want)
		})
	}
}

// A Service that matches no pod, judged before the workloads are listed,
// is judged again until they are: no pod event would ever come for it, and
// it may be a workload scaled to zero.
func TestServicesRejudgedUntilWorkloadsListed(t *testing.T) {
	services := newNamespaceIndexer(servicesIndexers.services)
	c := newServicesJudge(promslog.NewNopLogger(), Config{Interval: time.Second}, services,
		newNamespaceIndexer(servicesIndexers.slices), newPodIndexer())
	c.workloads = []kube.Informer{unlisted{}}
	rec, err := kube.NewTransform()(svc("parked", map[string]string{"app": "parked"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := services.Add(rec); err != nil {
		t.Fatal(err)
	}
	c.markDirty(testNS + "/parked")
	c.judgeDirty()
	if r := c.results[testNS+"/parked"]; r == nil || r.Verdict != guide.VerdictSelectorMatchesNothing {
		t.Fatalf("result %+v", r)
	}
	if !c.dirty[testNS+"/parked"] {
		t.Error("the Service is not judged again once the workloads are listed")
	}
}

// unlisted is an informer whose initial list has not completed.
type unlisted struct{}

func (unlisted) Cache() kube.Cache { return newNamespaceIndexer() }
func (unlisted) HasSynced() bool   { return false }
func (unlisted) AddEventHandler(cache.ResourceEventHandler) (func() bool, error) {
	return func() bool { return false }, nil
}
func (unlisted) AddIndexers(cache.Indexers) error { return nil }

func scrapeOnce(t testing.TB, c *servicesCollector) prometheus.Gatherer {
	t.Helper()
	return collectortest.ScrapeOnce(t, "services", c.Collector())
}

// Until the pods' handler has been handed the initial list, the label
// sets lag the cache: a Service is then judged from its namespace's pods,
// not from sets that would miss some (a false selector_matches_nothing).
func TestServicesJudgedFromTheCacheWhileTheHandlerCatchesUp(t *testing.T) {
	web := map[string]string{"app": "web"}
	pods := newPodIndexer()
	services := newNamespaceIndexer(servicesIndexers.services)
	transform := kube.NewTransform()
	for _, obj := range []runtime.Object{svc("web", web), pod("web-1", web, true)} {
		rec, err := transform(obj)
		if err != nil {
			t.Fatal(err)
		}
		idx := services
		if _, ok := rec.(*record.Pod); ok {
			idx = pods
		}
		if err := idx.Add(rec); err != nil {
			t.Fatal(err)
		}
	}
	c := newServicesJudge(promslog.NewNopLogger(), Config{Interval: time.Second}, services, newNamespaceIndexer(servicesIndexers.slices), pods)
	handled := false
	c.podsHandled = func() bool { return handled }
	s, _ := kube.Get[record.Service](services, testNS+"/web")
	if got := len(c.candidatePods(s)); got != 1 {
		t.Errorf("before the handler caught up: %d candidates, want the 1 pod in the cache", got)
	}
	handled = true // but the sets were never filled: what the fallback saves
	if got := len(c.candidatePods(s)); got != 0 {
		t.Errorf("from empty label sets: %d candidates", got)
	}
}

// A selector of per-pod labels alone (a StatefulSet's per-pod Service)
// gets the pods of every label set of its namespace as candidates, none of
// another, from the sets themselves; a StatefulSet's pods share a set;
// an update puts the new record in the old one's place, in its set or in
// another when its labels changed; a deletion takes the pod of its key
// out; the last pod of a set takes it away.
func TestLabelSetsPerPodSelector(t *testing.T) {
	l := newLabelSets()
	pod := func(ns, name string, shape *record.PodShape) *record.Pod { return record.NewPod(ns, name, shape) }
	dbShape := func(name string) *record.PodShape {
		return &record.PodShape{Labels: record.Labels{"app", "db", "statefulset.kubernetes.io/pod-name", name}}
	}
	web := &record.PodShape{Labels: record.Labels{"app", "web"}}
	db0, db1, web1 := pod("shop", "db-0", dbShape("db-0")), pod("shop", "db-1", dbShape("db-1")), pod("shop", "web-1", web)
	for _, p := range []*record.Pod{db0, db1, web1, pod("other", "db-0", dbShape("db-0"))} {
		l.add(p)
	}
	names := func(pods []*record.Pod) string {
		var out []string
		for _, p := range pods {
			out = append(out, p.Key())
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	if len(l.sets) != 3 {
		t.Errorf("%d label sets, want 3 (db and web in shop, db in other): a StatefulSet's pods share one", len(l.sets))
	}
	selector := map[string]string{"statefulset.kubernetes.io/pod-name": "db-0"}
	if got, want := names(l.matching("shop", selector)), "shop/db-0 shop/db-1 shop/web-1"; got != want {
		t.Errorf("candidates in shop: %s, want %s", got, want)
	}
	if got, want := names(l.matching("shop", map[string]string{"app": "db", "statefulset.kubernetes.io/pod-name": "db-0"})), "shop/db-0 shop/db-1"; got != want {
		t.Errorf("with app=db: %s, want %s", got, want)
	}
	// An update: the new record, of the same shape, replaces the old.
	if got := l.matching("shop", map[string]string{"app": "web"}); len(got) != 1 || got[0] != web1 {
		t.Fatalf("web's candidates %v, want web-1", got)
	}
	web1b := pod("shop", "web-1", web)
	web1b.Ready = true
	l.replace(web1, web1b)
	if got := l.matching("shop", map[string]string{"app": "web"}); len(got) != 1 || got[0] != web1b {
		t.Errorf("after an update: %v, want the new record alone", got)
	}
	// Relabelled: it moves to its new set, and the old set goes.
	web1c := pod("shop", "web-1", &record.PodShape{Labels: record.Labels{"app", "web", "track", "canary"}})
	l.replace(web1b, web1c)
	if got := l.matching("shop", map[string]string{"track": "canary"}); len(got) != 1 || got[0] != web1c {
		t.Errorf("after relabelling: %v, want the new record", got)
	}
	l.remove(db0)
	// A deletion's record is the one decoded from the watch, not the one
	// the sets hold.
	l.remove(pod("shop", "db-1", dbShape("db-1")))
	if got, want := names(l.matching("shop", selector)), "shop/web-1"; got != want {
		t.Errorf("after db's pods went: %s, want %s", got, want)
	}
	if len(l.byNS) != 2 || len(l.sets) != 2 {
		t.Errorf("namespaces with sets %d, sets %d; want 2 of each", len(l.byNS), len(l.sets))
	}
	// One Deployment applied in two namespaces: its pods share a shape
	// (the interner's), each namespace's are its own.
	api := &record.PodShape{Labels: record.Labels{"app", "api"}}
	l.add(pod("shop", "api-1", api))
	l.add(pod("other", "api-1", api))
	for _, ns := range []string{"shop", "other"} {
		if got, want := names(l.matching(ns, map[string]string{"app": "api"})), ns+"/api-1"; got != want {
			t.Errorf("api's candidates in %s: %s, want %s", ns, got, want)
		}
	}
	// A deletion whose record's labels differ from those last seen, and
	// one without labels at all: the pod of its key goes all the same.
	l.add(pod("shop", "api-2", api))
	l.remove(pod("shop", "api-2", &record.PodShape{Labels: record.Labels{"app", "other"}}))
	if got, want := names(l.matching("shop", map[string]string{"app": "api"})), "shop/api-1"; got != want {
		t.Errorf("after api-2's deletion with other labels: %s, want %s", got, want)
	}
	l.replace(pod("shop", "none", nil), pod("shop", "none", nil)) // no shape: nothing to do, no panic
	// A deletion of which client-go kept no object: by its key alone.
	if got := l.removeKey("other/api-1"); got == nil || got.Key() != "other/api-1" {
		t.Errorf("removeKey took %v, want other/api-1", got)
	}
	if got := l.removeKey("other/api-1"); got != nil {
		t.Errorf("removeKey took %s again", got.Key())
	}
	l.remove(pod("shop", "api-1", api))
	l.remove(pod("shop", "web-1", web1c.PodShape))
	l.remove(l.matching("other", selector)[0])
	if len(l.byNS)+len(l.sets)+len(l.byPair) != 0 {
		t.Errorf("with every pod gone: %d namespaces, %d sets, %d pairs kept", len(l.byNS), len(l.sets), len(l.byPair))
	}
}

// A label set's key is its namespace and its labels but the per-pod ones,
// so that a StatefulSet's pods share one, and pods of two namespaces do not.
func TestLabelSetKey(t *testing.T) {
	key := func(ns string, labels ...string) string { return string(appendSetKey(nil, ns, labels)) }
	if a, b := key("shop", "app", "db", "statefulset.kubernetes.io/pod-name", "db-0"), key("shop", "app", "db", "statefulset.kubernetes.io/pod-name", "db-1"); a != b {
		t.Errorf("a StatefulSet's pods: %q and %q", a, b)
	}
	if a, b := key("shop", "app", "db"), key("shop2", "app", "db"); a == b {
		t.Errorf("two namespaces share %q", a)
	}
	if got, want := setLabels(record.Labels{"app", "db", "apps.kubernetes.io/pod-index", "0", "tier", "x"}), (record.Labels{"app", "db", "tier", "x"}); !slices.Equal(got, want) {
		t.Errorf("set labels %q, want %q", got, want)
	}
}

// One Deployment applied in two namespaces: the transform gives its pods
// one shared shape, and each namespace's Service selects its own pods
// alone, as they come, are updated and go through the pods' handler.
func TestOneDeploymentInTwoNamespaces(t *testing.T) {
	web := map[string]string{"app": "web", "pod-template-hash": "abc"}
	pods, services := newPodIndexer(), newNamespaceIndexer(servicesIndexers.services)
	transform := kube.NewTransform()
	c := newServicesJudge(promslog.NewNopLogger(), Config{Interval: time.Second}, services, newNamespaceIndexer(servicesIndexers.slices), pods)
	handler := c.podHandler()
	toRecord := func(obj runtime.Object, ns string) any {
		obj.(metav1.Object).SetNamespace(ns)
		rec, err := transform(obj)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	for _, ns := range []string{"prod", "staging"} {
		if err := services.Add(toRecord(svc("web", map[string]string{"app": "web"}), ns)); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"web-abc-1", "web-abc-2"} {
			p := toRecord(pod(name, web, true), ns)
			if err := pods.Add(p); err != nil {
				t.Fatal(err)
			}
			handler.OnAdd(p, true)
		}
	}
	a, _, _ := pods.GetByKey("prod/web-abc-1")
	b, _, _ := pods.GetByKey("staging/web-abc-1")
	if a.(*record.Pod).PodShape != b.(*record.Pod).PodShape {
		t.Fatal("the two namespaces' pods have shapes of their own: not the case this tests")
	}
	selected := func(ns string) int { return c.judge(ns + "/web").Selected }
	if p, s := selected("prod"), selected("staging"); p != 2 || s != 2 {
		t.Fatalf("selected: prod %d, staging %d; want 2 each", p, s)
	}
	// An update, then a deletion with the record a watch decodes.
	old, _, _ := pods.GetByKey("staging/web-abc-1")
	cur := toRecord(pod("web-abc-1", web, false), "staging")
	handler.OnUpdate(old, cur)
	_ = pods.Update(cur)
	if r := c.judge("staging/web").SelectedReady; r != 1 {
		t.Errorf("staging's ready pods after an update: %d, want 1", r)
	}
	gone := toRecord(pod("web-abc-2", web, true), "prod")
	_ = pods.Delete(gone)
	handler.OnDelete(gone)
	if p, s := selected("prod"), selected("staging"); p != 1 || s != 2 {
		t.Errorf("after a deletion in prod: prod %d, staging %d; want 1 and 2", p, s)
	}
}

// The first judging round comes once the caches have synced, not an
// interval after the start (an hour here).
func TestFirstVerdictsOnceSynced(t *testing.T) {
	web := map[string]string{"app": "web"}
	cs := fake.NewClientset(svc("web", web), pod("web-1", web, true, http9376), slice("web-1", "web", readyEP))
	kc := &kube.Client{Informers: kube.NewInformers(cs)}
	c, err := newServicesCollector(Config{Interval: time.Hour}, collector.Deps{Logger: promslog.NewNopLogger(), Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	defer func() { cancel(); <-done }()
	collectortest.StartInformers(t, kc)
	testenv.WaitFor(t, "web's verdict", 10*time.Second, func() (bool, error) {
		n, err := testutil.GatherAndCount(scrapeOnce(t, c), "kube_triage_service_verdict")
		return n > 0, err
	})
}
