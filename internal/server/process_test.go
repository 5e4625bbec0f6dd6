package server

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The process families client_golang's collector gives, but the network
// counters, with values a running process has.
func TestProcessCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(ProcessCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	for name, ok := range map[string]func(float64) bool{
		"process_cpu_seconds_total":        func(v float64) bool { return v > 0 },
		"process_resident_memory_bytes":    func(v float64) bool { return v > 1<<20 },
		"process_virtual_memory_bytes":     func(v float64) bool { return v > 1<<20 },
		"process_virtual_memory_max_bytes": func(v float64) bool { return v > 0 },
		"process_open_fds":                 func(v float64) bool { return v >= 3 },
		"process_max_fds":                  func(v float64) bool { return v >= 64 },
		"process_start_time_seconds": func(v float64) bool {
			return time.Since(time.Unix(int64(v), 0)) < 24*time.Hour && v <= float64(time.Now().Unix())
		},
	} {
		if v, found := got[name]; !found || !ok(v) {
			t.Errorf("%s = %v (found %v)", name, v, found)
		}
		delete(got, name)
	}
	if len(got) > 0 {
		t.Errorf("unexpected families: %v", got)
	}
}
