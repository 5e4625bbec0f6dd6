package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric the exporter defines.
const Namespace = "kube_triage"

// Metric describes one metric family a collector exports. Collectors declare
// their families as a table of Metrics so that the documentation test can
// check every name, type and label against docs/metrics.md.
type Metric struct {
	Name   string // full name, with the kube_triage_ prefix
	Type   prometheus.ValueType
	Help   string
	Labels []string
	desc   *prometheus.Desc
	// labelOrder is the order in which the labels are written: by name,
	// as client_golang writes them, so that the exposition reads the same
	// whichever path rendered it.
	labelOrder []int
	// buckets is set for a histogram; its collector observes into a
	// HistogramVec made by newHistogramVec.
	buckets []float64
}

// newHistogram declares a histogram family.
func newHistogram(name, help string, buckets []float64, labels ...string) *Metric {
	m := newMetric(name, prometheus.UntypedValue, help, labels...)
	m.buckets = buckets
	return m
}

// newHistogramVec makes the vector a collector observes into and collects
// in its Update.
func (m *Metric) newHistogramVec() *prometheus.HistogramVec {
	// Names are built from the table, which promlinter cannot read; the live
	// output is checked with promtool check metrics instead.
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.Name, Help: m.Help, Buckets: m.buckets}, m.Labels) //nolint:promlinter
}

func newMetric(name string, typ prometheus.ValueType, help string, labels ...string) *Metric {
	fq := Namespace + "_" + name
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return &Metric{
		Name:       fq,
		Type:       typ,
		Help:       help,
		Labels:     labels,
		desc:       prometheus.NewDesc(fq, help, labels, nil),
		labelOrder: order,
	}
}

// TypeName is the exposition-format name of the metric's type.
func (m *Metric) TypeName() string {
	if m.buckets != nil {
		return "histogram"
	}
	switch m.Type {
	case prometheus.CounterValue:
		return "counter"
	case prometheus.GaugeValue:
		return "gauge"
	default:
		return "untyped"
	}
}

// value builds a sample of this family; label values follow m.Labels.
func (m *Metric) value(v float64, labelValues ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(m.desc, m.Type, v, labelValues...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
