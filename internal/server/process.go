package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/procfs"
)

// ProcessCollector is the exporter's process_* families, gathered every
// scrape: client_golang's, but for what is cheap to read. Its collector
// reads /proc/self/stat, the fd directory, limits and the network
// counters of /proc/self/net/netstat each scrape, most of a scrape's time
// (BenchmarkScrapeWithRuntime); this one reads the stat file and counts
// the fds, takes the limits and the start time (which needs /proc/stat's
// boot time) once, and
// leaves out process_network_*, whose counters are the network
// namespace's, the whole pod's, not the process's. Where /proc cannot be
// read (not Linux), client_golang's.
func ProcessCollector() prometheus.Collector {
	p, err := procfs.Self()
	if err != nil {
		return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	}
	if _, err := p.Stat(); err != nil {
		return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	}
	c := &processCollector{proc: p, maxFDs: -1, maxVsize: -1, start: -1}
	if stat, err := p.Stat(); err == nil {
		if start, err := stat.StartTime(); err == nil { // it reads /proc/stat for the boot time: once
			c.start = start
		}
	}
	if l, err := p.Limits(); err == nil {
		c.maxFDs, c.maxVsize = float64(l.OpenFiles), float64(l.AddressSpace)
	}
	return c
}

type processCollector struct {
	proc                    procfs.Proc
	maxFDs, maxVsize, start float64 // -1: unknown
}

var (
	procCPU       = prometheus.NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil, nil)
	procOpenFDs   = prometheus.NewDesc("process_open_fds", "Number of open file descriptors.", nil, nil)
	procMaxFDs    = prometheus.NewDesc("process_max_fds", "Maximum number of open file descriptors.", nil, nil)
	procVsize     = prometheus.NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", nil, nil)
	procMaxVsize  = prometheus.NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", nil, nil)
	procRSS       = prometheus.NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", nil, nil)
	procStartTime = prometheus.NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", nil, nil)
)

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{procCPU, procOpenFDs, procMaxFDs, procVsize, procMaxVsize, procRSS, procStartTime} {
		ch <- d
	}
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	if stat, err := c.proc.Stat(); err == nil {
		ch <- prometheus.MustNewConstMetric(procCPU, prometheus.CounterValue, stat.CPUTime())
		ch <- prometheus.MustNewConstMetric(procVsize, prometheus.GaugeValue, float64(stat.VirtualMemory()))
		ch <- prometheus.MustNewConstMetric(procRSS, prometheus.GaugeValue, float64(stat.ResidentMemory()))
	}
	if c.start >= 0 {
		ch <- prometheus.MustNewConstMetric(procStartTime, prometheus.GaugeValue, c.start)
	}
	if n, err := c.proc.FileDescriptorsLen(); err == nil {
		ch <- prometheus.MustNewConstMetric(procOpenFDs, prometheus.GaugeValue, float64(n))
	}
	if c.maxFDs >= 0 {
		ch <- prometheus.MustNewConstMetric(procMaxFDs, prometheus.GaugeValue, c.maxFDs)
		ch <- prometheus.MustNewConstMetric(procMaxVsize, prometheus.GaugeValue, c.maxVsize)
	}
}
