package triage

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-triage/kube-triage-exporter/internal/guide"
	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
	"github.com/kube-triage/kube-triage-exporter/internal/triage/report"
)

// Pod walks the guide's "Determine the Reason for Pod Failure" for one
// pod.
func (w *Walker) Pod(ctx context.Context, namespace, name string, d Details) report.Report {
	r := newReport("pod", namespace+"/"+name, d)
	pods, why := w.pods(namespace)
	if why != "" {
		return notWalked(r, "pod", why)
	}
	p, ok := pods.Pod(namespace, name)
	if !ok {
		r.Add("pod", report.Fail, "no pod "+namespace+"/"+name, "a pod replaced by its controller has a new name: kubectl get pods -n "+namespace)
		return finish(r, "not_found", "")
	}
	w.walkPod(ctx, &r, p, d)
	return r
}

// addRestartHistory adds to the termination step the pod's terminations
// the terminations collector saw (the API keeps only the last of each
// container), newest first.
func (w *Walker) addRestartHistory(s *report.Step, p *record.Pod) {
	tc, ok := source[terminationSource](w)
	if !ok {
		return
	}
	for _, t := range tc.RecentOf(p.Namespace(), p.Name()) {
		line := fmt.Sprintf("seen by the exporter %s: %s %s, exit code %s", t.Time.UTC().Format(time.RFC3339), orNone(t.Container), t.Reason, t.ExitCode)
		if t.Signal != "" {
			line += " (" + t.Signal + ")"
		}
		if t.Count > 1 {
			line += fmt.Sprintf(", %g times", t.Count)
		}
		s.Evidence = append(s.Evidence, line)
	}
}

// workloadOf names a pod's workload as the terminations collector does
// (a Job resolved to its CronJob when it can).
func (w *Walker) workloadOf(p *record.Pod) (kind, name string) {
	if tc, ok := source[terminationSource](w); ok {
		return tc.WorkloadOf(p)
	}
	return p.Workload()
}

// walkPod adds the pod walk's steps to r and finishes it.
func (w *Walker) walkPod(ctx context.Context, r *report.Report, p *record.Pod, d Details) {
	now := time.Now()
	kind, workload := w.workloadOf(p)
	s := r.Add("pod", report.Pass, fmt.Sprintf("phase %s, workload %s %s", p.Phase(), kind, workload))
	verdict := "ok"
	switch {
	case p.Reason() == "Evicted":
		s.Status, s.Summary, verdict = report.Fail, "evicted by the kubelet (node pressure): "+s.Summary, "Evicted"
	case p.Phase() == corev1.PodFailed:
		s.Status, verdict = report.Fail, "Failed"
	case p.Terminating:
		s.Status, s.Summary = report.Warn, "being deleted: "+s.Summary
	}
	if d.Pod != nil {
		s.Evidence = append(s.Evidence, d.Pod(ctx, p.Namespace(), p.Name())...)
	}

	// Each container: its state, its restarts and why it waits.
	cs := r.Add("containers", report.Pass, fmt.Sprintf("%d containers", len(p.Containers)))
	var terms []string
	recent := false
	for _, c := range p.Containers {
		state := "running"
		switch {
		case c.Waiting() != "":
			state = "waiting: " + c.Waiting()
		case c.Terminated() != nil:
			state = "terminated: " + terminationText(c.Terminated(), now)
		}
		cs.Evidence = append(cs.Evidence, fmt.Sprintf("%s (%s): %s, restarts %d", c.Name, c.Type, state, c.RestartCount))
		if guide.Stuck(c.Waiting()) {
			cs.Status, cs.Summary = report.Fail, fmt.Sprintf("container %s is stuck: %s", c.Name, c.Waiting())
			if verdict == "ok" {
				verdict = c.Waiting()
			}
		}
		for _, t := range []*record.Termination{c.Terminated(), c.LastTerminated()} {
			if t == nil {
				continue
			}
			terms = append(terms, fmt.Sprintf("%s: %s", c.Name, terminationText(t, now)))
			if t.Message != "" {
				terms = append(terms, "  message: "+oneLineText(guide.CleanMessage(t.Message), 300))
			}
			if t.Reason != "Completed" && now.Unix()-t.FinishedAt < int64(guide.RecentDeath/time.Second) {
				recent = true
				if verdict == "ok" {
					verdict = guide.ReasonLabel(t.Reason)
				}
			}
		}
	}

	// The last termination of each container.
	ts := r.Add("termination", report.Pass, "no container has died recently")
	ts.Evidence = terms
	if len(terms) == 0 {
		ts.Summary = "no container has terminated"
	}
	if recent {
		ts.Status, ts.Summary = report.Fail, fmt.Sprintf("a container died in the last %d minutes: %s", int(guide.RecentDeath.Minutes()), verdict)
	}
	w.addRestartHistory(ts, p)

	rs := r.Add("readiness", report.Pass, "ready")
	switch {
	case p.Phase() == corev1.PodSucceeded:
		rs.Summary = "completed"
	case p.Phase() == corev1.PodPending:
		rs.Status, rs.Summary = report.Fail, "pending: not scheduled or its containers not started"
		if verdict == "ok" {
			verdict = "Pending"
		}
	case !p.Ready:
		rs.Status, rs.Summary = report.Fail, "not ready: its readiness probe fails, or a container is not running"
		if verdict == "ok" {
			verdict = "not_ready"
		}
	}
	r.Next = guide.PodNext(verdict, p.Namespace(), p.Name())
	*r = finish(*r, verdict, guide.PodAlert(verdict))
}

func terminationText(t *record.Termination, now time.Time) string {
	s := fmt.Sprintf("%s, exit code %d", orNone(t.Reason), t.ExitCode)
	if sig := guide.SignalLabel(t); sig != "" {
		s += " (" + sig + ")"
	}
	if t.FinishedAt > 0 {
		s += fmt.Sprintf(", %s ago", now.Sub(time.Unix(t.FinishedAt, 0)).Round(time.Second))
	}
	return s
}

// Workload walks the pod walk for a workload's pod that is worst off (a
// failing step first, then the most restarts): what the workload alerts
// link to.
func (w *Walker) Workload(ctx context.Context, namespace, kind, name string, d Details) report.Report {
	target := namespace + "/" + kind + "/" + name
	store, why := w.pods(namespace)
	if why != "" {
		return notWalked(newReport("workload", target, d), "pod", why)
	}
	var pods []*record.Pod
	for _, p := range store.PodsIn(namespace) {
		if k, n := w.workloadOf(p); k == kind && n == name {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		r := newReport("workload", target, d)
		r.Add("pod", report.Skip, "no pod of this workload now (the terminations collector keeps its counts for --collector.terminations.retention)")
		return finish(r, "no_pods", "")
	}
	// The pods that restarted most first; the first whose walk fails is
	// the one shown, else the first.
	sort.SliceStable(pods, func(i, j int) bool { return restarts(pods[i]) > restarts(pods[j]) })
	var shown report.Report
	for i, p := range pods {
		r := newReport("workload", target+" (pod "+p.Name()+")", d)
		w.walkPod(ctx, &r, p, d)
		if i == 0 || !r.OK() {
			shown = r
		}
		if !r.OK() {
			break
		}
	}
	shown.Steps = append([]report.Step{{Name: "workload", Status: report.Pass, Summary: fmt.Sprintf("%d pods; the one worst off is walked", len(pods))}}, shown.Steps...)
	return shown
}

func restarts(p *record.Pod) int32 {
	var n int32
	for _, c := range p.Containers {
		n += c.RestartCount
	}
	return n
}

// pods is the cache of pod records, or why this exporter cannot know the
// pods of namespace.
func (w *Walker) pods(namespace string) (podSource, string) {
	pods, ok := source[podSource](w)
	switch {
	case !ok:
		return nil, "no collector of this exporter keeps pods (the cluster role's services and terminations do)"
	case !w.inScope(namespace):
		return nil, "namespace " + namespace + " is outside this exporter's --namespaces"
	}
	if missing := w.notListed("pods"); missing != "" {
		return nil, "the API did not list " + missing
	}
	return pods, ""
}
