package record

import (
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
)

// A pod's record is 64 bytes (a size class); its name, namespace, phase
// and reason are what they were set to.
func TestPod(t *testing.T) {
	if n := unsafe.Sizeof(Pod{}); n > 64 {
		t.Errorf("a pod record is %d bytes, want 64 at most", n)
	}
	for _, id := range [][2]string{{"shop", "web-0"}, {"", "x"}, {"a-namespace-of-sixty-three-characters-0123456789012345678901234", "p"}} {
		p := NewPod(id[0], id[1], nil)
		key := id[0] + "/" + id[1]
		if id[0] == "" {
			key = id[1]
		}
		if p.Namespace() != id[0] || p.Name() != id[1] || p.Key() != key {
			t.Errorf("NewPod(%q, %q): namespace %q, name %q, key %q", id[0], id[1], p.Namespace(), p.Name(), p.Key())
		}
		if m := p.GetObjectMeta(); m.GetName() != p.Key() || m.GetNamespace() != "" {
			t.Errorf("the object meta client-go keys by: name %q, namespace %q; want the key as the name", m.GetName(), m.GetNamespace())
		}
	}
	p := NewPod("shop", "web-0", nil)
	if p.Reason() != "" {
		t.Errorf("reason %q, want none", p.Reason())
	}
	if p.SetReason("Evicted"); p.Reason() != "Evicted" {
		t.Errorf("reason %q, want Evicted", p.Reason())
	}
	if p.SetReason(""); p.reason != nil {
		t.Errorf("an empty reason kept: %q", *p.reason)
	}
	for _, phase := range []corev1.PodPhase{"", corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown} {
		if p.SetPhase(phase); p.Phase() != phase {
			t.Errorf("phase %q read back as %q", phase, p.Phase())
		}
	}
	if p.SetPhase("Hibernating"); p.Phase() != corev1.PodUnknown {
		t.Errorf("a phase the API does not define read back as %q, want Unknown", p.Phase())
	}
}

// A status is 16 bytes (a pod keeps one per container), those of a
// container that runs and has never ended share one state, and each says
// what it was given.
func TestContainerStatus(t *testing.T) {
	if n := unsafe.Sizeof(ContainerStatus{}); n != 16 {
		t.Errorf("a container status is %d bytes, want 16", n)
	}
	c := NewContainer("app", "regular")
	running := NewContainerStatus(c, 3, "", nil, nil)
	if running.Waiting() != "" || running.Terminated() != nil || running.LastTerminated() != nil || running.RestartCount != 3 || running.Name != "app" || running.Type != "regular" {
		t.Errorf("running: %+v", running)
	}
	if other := NewContainerStatus(c, 0, "", nil, nil); other.containerState != running.containerState {
		t.Error("two running statuses of one container do not share its state")
	}
	if lit := NewContainerStatus(&Container{Name: "lit"}, 0, "", nil, nil); lit.Name != "lit" {
		t.Errorf("a status of a Container literal: %+v", lit)
	}
	var zero ContainerStatus
	if zero.Waiting() != "" || zero.Terminated() != nil || zero.LastTerminated() != nil {
		t.Error("the zero status has an end")
	}
	now, last := &Termination{Reason: "Error"}, &Termination{Reason: "OOMKilled"}
	for _, s := range []struct {
		status                ContainerStatus
		waiting               string
		terminated, lastEnded *Termination
	}{
		{NewContainerStatus(c, 1, "CrashLoopBackOff", nil, last), "CrashLoopBackOff", nil, last},
		{NewContainerStatus(c, 1, "", now, last), "", now, last},
		{NewContainerStatus(c, 0, "", now, nil), "", now, nil},
	} {
		if s.status.Waiting() != s.waiting || s.status.Terminated() != s.terminated || s.status.LastTerminated() != s.lastEnded {
			t.Errorf("%+v: waiting %q, terminated %v, last %v", s.status, s.status.Waiting(), s.status.Terminated(), s.status.LastTerminated())
		}
	}
}
