package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric the exporter defines.
const Namespace = "kube_triage"

// Metric is one metric family a collector exports, declared once with
// Families: its name, type, help, labels and the guide step it automates.
// The documentation test checks each against docs/metrics.md.
type Metric struct {
	Name   string // full name, with the kube_triage_ prefix
	Type   prometheus.ValueType
	Help   string
	Labels []string
	// GuideStep is the step of the Kubernetes debugging guides the family
	// automates, as docs/metrics.md names it; "-" for none.
	GuideStep string
	desc      *prometheus.Desc
	// labelOrder is the order in which the labels are written: by name,
	// as client_golang writes them, so that the exposition reads the same
	// whichever path rendered it.
	labelOrder []int
	// buckets is set for a histogram; its collector observes into the
	// vector HistogramVec makes.
	buckets []float64
}

// Families are the metric families of one collector (or of the
// framework), in the order they are declared.
type Families struct{ all []*Metric }

// All are the families, in declaration order.
func (f *Families) All() []*Metric { return slices.Clone(f.all) }

// Gauge declares a gauge; name is without the kube_triage_ prefix, and
// step the guide step it automates ("-" for none).
func (f *Families) Gauge(name, step, help string, labels ...string) *Metric {
	return f.add(newMetric(name, prometheus.GaugeValue, step, help, labels...))
}

// Counter declares a counter.
func (f *Families) Counter(name, step, help string, labels ...string) *Metric {
	return f.add(newMetric(name, prometheus.CounterValue, step, help, labels...))
}

// Histogram declares a histogram; its collector observes into the vector
// the family's HistogramVec makes, and collects it in Update.
func (f *Families) Histogram(name, step, help string, buckets []float64, labels ...string) *Metric {
	m := newMetric(name, prometheus.UntypedValue, step, help, labels...)
	m.buckets = buckets
	return f.add(m)
}

func (f *Families) add(m *Metric) *Metric {
	f.all = append(f.all, m)
	return m
}

// HistogramVec makes the vector a collector observes a histogram into.
func (m *Metric) HistogramVec() *prometheus.HistogramVec {
	// Names are built from the table, which promlinter cannot read; the live
	// output is checked with promtool check metrics instead.
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.Name, Help: m.Help, Buckets: m.buckets}, m.Labels) //nolint:promlinter
}

func newMetric(name string, typ prometheus.ValueType, step, help string, labels ...string) *Metric {
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
		GuideStep:  step,
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

// Value builds a sample of this family; label values follow m.Labels.
func (m *Metric) Value(v float64, labelValues ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(m.desc, m.Type, v, labelValues...)
}

// BoolFloat is a sample's value for a truth: 1 or 0.
func BoolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// LabelValue bounds a value that comes from the cluster (a condition type
// another tool chose, a holder's host name) to 128 bytes of valid UTF-8:
// a cut through a character, or a value that was never UTF-8, would make
// the metric invalid and fail the whole collector.
func LabelValue(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	return strings.ToValidUTF8(s, "")
}
