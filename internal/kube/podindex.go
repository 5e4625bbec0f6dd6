package kube

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/kube/record"
)

// PodLabelSetIndex indexes pod records by namespace and label set (their
// labels but PerPodLabels), so that the pods of one workload revision share
// one value. It is the pods' only index: a namespace's pods are found
// through it (PodsIn), so a pod costs one index entry, not two (about 50
// bytes a pod at 50,000 pods).
const PodLabelSetIndex = "labelset"

// PerPodLabels differ on every pod: left out of the label sets, the pods
// of one StatefulSet or indexed Job share one.
var PerPodLabels = []string{"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-completion-index"}

// PodIndexers are the indexes of every cache of pod records.
var PodIndexers = cache.Indexers{PodLabelSetIndex: func(obj any) ([]string, error) {
	p, ok := obj.(*record.Pod)
	if !ok {
		return nil, nil
	}
	var labels record.Labels
	if p.PodShape != nil { // always, but in tests' records: still in PodsIn
		labels = p.Labels
	}
	key, _ := LabelSetKey(p.Namespace(), labels)
	return []string{key}, nil
}}

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

// PodsIn are the pod records of namespace ns: those of each of its label
// sets.
// It walks every label set of the cache: not for a path that runs per
// Service.
func PodsIn(c Cache, ns string) []*record.Pod {
	if _, err := c.ByIndex(PodLabelSetIndex, ""); err != nil { // as Indexed: none would be found
		panic(fmt.Sprintf("kube: index %s: %v", PodLabelSetIndex, err))
	}
	var out []*record.Pod
	for _, key := range c.ListIndexFuncValues(PodLabelSetIndex) {
		if strings.HasPrefix(key, ns+labelSetSep) {
			out = append(out, Indexed[record.Pod](c, PodLabelSetIndex, key)...)
		}
	}
	return out
}
