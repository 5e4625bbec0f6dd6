package kube

import (
	"slices"
	"strings"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// PerPodLabels differ on every pod: left out of a pod's label set
// (LabelSetKey), the pods of one StatefulSet or indexed Job share one.
var PerPodLabels = []string{"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-completion-index"}

// labelSetSep ends the namespace in a label set's key, and separates its
// labels: no namespace or label has it.
const labelSetSep = "\x00"

// LabelSetKey is the key of the label set of a pod of ns with labels, and
// the set's labels (those but PerPodLabels).
func LabelSetKey(ns string, labels record.Labels) (string, record.Labels) {
	indexed := labels
	for i := 0; i+1 < len(labels); i += 2 {
		if slices.Contains(PerPodLabels, labels[i]) {
			indexed = slices.Clone(labels[:i])
			for j := i + 2; j+1 < len(labels); j += 2 {
				if !slices.Contains(PerPodLabels, labels[j]) {
					indexed = append(indexed, labels[j], labels[j+1])
				}
			}
			break
		}
	}
	return ns + labelSetSep + strings.Join(indexed, labelSetSep), indexed
}

// PodsIn are the pod records of namespace ns. Pod caches have no index
// (an entry a pod, 50 bytes at 50,000 pods, kept for walks on demand): it
// reads every pod of the cache, so not for a path that runs per Service
// or per event.
func PodsIn(c Cache, ns string) []*record.Pod {
	var out []*record.Pod
	for _, p := range All[record.Pod](c) {
		if p.Namespace() == ns {
			out = append(out, p)
		}
	}
	return out
}
