package collector

import "github.com/prometheus/client_golang/prometheus"

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
}

func newMetric(name string, typ prometheus.ValueType, help string, labels ...string) *Metric {
	fq := Namespace + "_" + name
	return &Metric{
		Name:   fq,
		Type:   typ,
		Help:   help,
		Labels: labels,
		desc:   prometheus.NewDesc(fq, help, labels, nil),
	}
}

// TypeName is the exposition-format name of the metric's type.
func (m *Metric) TypeName() string {
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
