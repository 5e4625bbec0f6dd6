package guide

import (
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// Reason is a reason the "Determine the Reason for Pod Failure" guide
// reads, with the alert that pages for it ("" for none).
type Reason struct {
	Reason string
	Alert  string
}

// TerminationReasons are the reasons the kubelet and the eviction manager
// give a termination; any other counts as "Other", so that the label
// stays bounded. A pod walk that finds a recent death of one of them
// links that alert's runbook.
var TerminationReasons = []Reason{
	{"OOMKilled", "ContainerOOMKilled"},
	{"Error", "ContainerCrashLooping"},
	{"Completed", ""},
	{"ContainerCannotRun", ""},
	{"DeadlineExceeded", ""},
	{"StartError", ""},
	{"Evicted", "PodsEvicted"},
	{"Unknown", ""},
}

// WaitingReasons are the waiting reasons that mean a workload is stuck;
// others (ContainerCreating, PodInitializing) are a normal start.
var WaitingReasons = []Reason{
	{"CrashLoopBackOff", "ContainerCrashLooping"},
	{"ImagePullBackOff", "ImagePullFailing"},
	{"ErrImagePull", "ImagePullFailing"},
	{"CreateContainerConfigError", ""},
	{"CreateContainerError", ""},
	{"InvalidImageName", "ImagePullFailing"},
}

func names(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Reason
	}
	return out
}

func alertOf(rs []Reason, reason string) string {
	for _, r := range rs {
		if r.Reason == reason {
			return r.Alert
		}
	}
	return ""
}

// Stuck says whether a container waiting for reason is stuck.
func Stuck(reason string) bool { return slices.Contains(names(WaitingReasons), reason) }

// StuckReasons are the names of WaitingReasons.
func StuckReasons() []string { return names(WaitingReasons) }

// ReasonLabel bounds a termination reason to TerminationReasons and
// "Other"; an empty one is "Unknown".
func ReasonLabel(r string) string {
	if r == "" {
		return "Unknown"
	}
	if slices.Contains(names(TerminationReasons), r) {
		return r
	}
	return "Other"
}

// ExitCodeLabel is the exit code for 0-255 (all a process can return) and
// "other" for anything else the API may carry.
func ExitCodeLabel(code int32) string {
	if code < 0 || code > 255 {
		return "other"
	}
	return strconv.Itoa(int(code))
}

// SignalLabel names the signal of a death by signal: the API's signal
// field, else an exit code of 128+N.
func SignalLabel(t *record.Termination) string {
	sig := t.Signal
	if sig == 0 && t.ExitCode > 128 && t.ExitCode < 128+65 {
		sig = t.ExitCode - 128
	}
	if sig <= 0 || sig > 64 {
		return ""
	}
	name := unix.SignalName(syscall.Signal(sig))
	if name == "" {
		return "SIG" + strconv.Itoa(int(sig))
	}
	return name
}

// MessageLimit is the kubelet's own cap on a termination message.
const MessageLimit = 4096

// CleanMessage makes a termination message safe to keep and show: valid
// UTF-8, at most the kubelet's 4 KiB. (Pages escape it for HTML.)
func CleanMessage(m string) string {
	m = strings.ToValidUTF8(m, "\uFFFD")
	if len(m) > MessageLimit {
		m = strings.ToValidUTF8(m[:MessageLimit], "") + "…"
	}
	return m
}

// RecentDeath is how long ago a container's death still fails the pod
// walk: the OOM alert's window (the mixin's oomWindow).
const RecentDeath = 15 * time.Minute

// SeenTermination is one container termination the exporter saw: what
// the /terminations page lists and a pod walk's restart history shows.
type SeenTermination struct {
	Time                                time.Time
	Namespace, Pod, Workload, Container string
	Reason, ExitCode, Signal, Message   string
	Count                               float64
}

// PodAlert is the alert whose runbook a pod walk's verdict (a waiting or
// termination reason) links; "" for none.
func PodAlert(verdict string) string {
	if a := alertOf(WaitingReasons, verdict); a != "" {
		return a
	}
	return alertOf(TerminationReasons, verdict)
}

// PodNext is what to do about a pod walk's verdict.
func PodNext(verdict, namespace, pod string) string {
	switch verdict {
	case "OOMKilled":
		return "The container used more memory than its limit: raise the limit or find the leak (kube_triage_container_terminations_total by workload)."
	case "CrashLoopBackOff", "Error":
		return "Read the previous run's log: kubectl logs -n " + namespace + " " + pod + " --previous; the exit code and message above say how it ended."
	case "ImagePullBackOff", "ErrImagePull", "InvalidImageName":
		return "Check the image name and tag, and the pull secret: the events say what the registry answered."
	case "Evicted":
		return "The node ran short of memory, disk or PIDs: look at its conditions and what else runs there."
	case "Pending":
		return "Read the pod's events: the scheduler says why no node fits."
	case "not_ready":
		return "Read the readiness probe and the events: kubectl describe pod -n " + namespace + " " + pod + "."
	}
	return ""
}
