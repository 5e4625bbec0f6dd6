package clustergen

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// The pods have the issue's shape: size, labels, the share crash-looping
// and restarted, and loopback addresses.
func TestPodShape(t *testing.T) {
	c := Issue31
	var bytes, crashing, restarted int
	for i := range 1000 {
		p := c.Pod(i)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		bytes += len(b)
		if n := len(p.Labels); n < 6 || n > 8 {
			t.Errorf("pod %d has %d labels", i, n)
		}
		cs := p.Status.ContainerStatuses[0]
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff":
			crashing++
		case cs.RestartCount > 0 && cs.LastTerminationState.Terminated != nil:
			restarted++
		}
		if ip := netip.MustParseAddr(p.Status.PodIP); !ip.IsLoopback() {
			t.Errorf("pod %d has IP %s, not loopback", i, ip)
		}
	}
	if avg := bytes / 1000; avg < 9000 || avg > 10600 {
		t.Errorf("pods average %d bytes of JSON, want about 9.8 KB", avg)
	}
	if crashing != 10 || restarted != 50 {
		t.Errorf("of 1,000 pods %d crash-loop and %d restarted, want 10 and 50", crashing, restarted)
	}
}

// Every pod is in exactly one of its Service's EndpointSlices, at most 100
// to a slice, ready as the pod is.
func TestSlicesCoverPods(t *testing.T) {
	c := Cluster{Pods: 1234, Nodes: 5, Services: 7, Namespaces: 3}
	seen := map[string]bool{}
	for svc := range c.Services {
		for _, s := range c.Slices(svc) {
			if len(s.Endpoints) > 100 {
				t.Errorf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
			}
			for _, e := range s.Endpoints {
				key := e.TargetRef.Namespace + "/" + e.TargetRef.Name
				if seen[key] {
					t.Errorf("pod %s in two slices", key)
				}
				seen[key] = true
			}
		}
	}
	for i := range c.Pods {
		p := c.Pod(i)
		if !seen[p.Namespace+"/"+p.Name] {
			t.Fatalf("pod %d (%s/%s) in no slice", i, p.Namespace, p.Name)
		}
		if got := c.Service(i % c.Services).Spec.Selector["app"]; p.Labels["app"] != got {
			t.Fatalf("pod %d has app=%s, its Service selects %s", i, p.Labels["app"], got)
		}
	}
	if len(seen) != c.Pods {
		t.Errorf("slices name %d pods, want %d", len(seen), c.Pods)
	}
}

// A restart is one more restart with a new resource version.
func TestRestarted(t *testing.T) {
	c := Issue31
	p := c.Restarted(0, 3, "99999")
	if p.Status.ContainerStatuses[0].RestartCount != 3 || p.ResourceVersion != "99999" {
		t.Errorf("restart count %d, resource version %s", p.Status.ContainerStatuses[0].RestartCount, p.ResourceVersion)
	}
	if p.Status.ContainerStatuses[0].LastTerminationState.Terminated == nil {
		t.Error("no last termination")
	}
}
