// Package selfmetrics renders the exporter process's own families, the
// ones every Prometheus exporter serves (go_*, process_*, the build's
// info, promhttp_metric_handler_*), as exposition text, read straight
// from the Go runtime, getrusage and /proc each scrape.
//
// client_golang's collectors give the same families through a registry
// gather: a const metric per sample, two 1,000-slot channels, a protobuf
// family each, consistency checks, then text encoding, and its process
// collector parses /proc/self/stat with fmt's scanner. At 50,000 pods that
// was half of a scrape's time, beside a copy of 300 KB of pre-rendered
// series (BenchmarkClusterRole). The families, their help and their
// samples' labels are client_golang's: the headers are taken from one
// gather of its collectors when Metrics is made, and a test holds the set
// of families, labels and values against theirs.
package selfmetrics

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/procfs"
)

// Metrics renders the process's families; safe for concurrent scrapes.
type Metrics struct {
	families []family // by name, as a gather orders them

	mu sync.Mutex // the buffers a scrape reads into, reused
	rm []metrics.Sample
	gc debug.GCStats
	// statm and fds stay open: a scrape reads them with a pread and a
	// stat (or a directory read) instead of opening each.
	statm, fds *os.File
	pageSize   float64

	requestsMu sync.Mutex
	requests   map[int]uint64 // the metrics handler's answers by status code
	inFlight   int
}

// family is one family: its HELP and TYPE lines in text and in
// OpenMetrics, and its samples, rendered each scrape by sample, or fixed
// for the life of the process (constant).
type family struct {
	textHeader        []byte
	openMetricsHeader []byte
	sample            func(b []byte, s *snapshot, openMetrics bool) []byte
	constant          [2][]byte // whole family, text and OpenMetrics, when sample is nil
}

// snapshot is what one scrape read.
type snapshot struct {
	m                  *Metrics
	rm                 map[string]float64
	goroutines         int
	threads            int
	cpu                float64
	vsize, rss, fds    float64
	haveCPU, haveStatm bool
	haveFDs            bool
}

// runtime/metrics names, as client_golang's memstats read them.
const (
	rmTinyAllocs    = "/gc/heap/tiny/allocs:objects"
	rmAllocs        = "/gc/heap/allocs:objects"
	rmFrees         = "/gc/heap/frees:objects"
	rmAllocBytes    = "/gc/heap/allocs:bytes"
	rmTotal         = "/memory/classes/total:bytes"
	rmHeapObjects   = "/memory/classes/heap/objects:bytes"
	rmHeapUnused    = "/memory/classes/heap/unused:bytes"
	rmHeapReleased  = "/memory/classes/heap/released:bytes"
	rmHeapFree      = "/memory/classes/heap/free:bytes"
	rmObjects       = "/gc/heap/objects:objects"
	rmStacks        = "/memory/classes/heap/stacks:bytes"
	rmOSStacks      = "/memory/classes/os-stacks:bytes"
	rmMSpanInuse    = "/memory/classes/metadata/mspan/inuse:bytes"
	rmMSpanFree     = "/memory/classes/metadata/mspan/free:bytes"
	rmMCacheInuse   = "/memory/classes/metadata/mcache/inuse:bytes"
	rmMCacheFree    = "/memory/classes/metadata/mcache/free:bytes"
	rmBuckets       = "/memory/classes/profiling/buckets:bytes"
	rmMetadataOther = "/memory/classes/metadata/other:bytes"
	rmOther         = "/memory/classes/other:bytes"
	rmGoal          = "/gc/heap/goal:bytes"
	rmGOGC          = "/gc/gogc:percent"
	rmGOMEMLIMIT    = "/gc/gomemlimit:bytes"
	rmGOMAXPROCS    = "/sched/gomaxprocs:threads"
)

// singles are the families of one sample each (gauges and counters), by
// name, and how a scrape's snapshot gives it (false: not read).
var singles = map[string]func(s *snapshot) (float64, bool){
	"go_goroutines":                    func(s *snapshot) (float64, bool) { return float64(s.goroutines), true },
	"go_threads":                       func(s *snapshot) (float64, bool) { return float64(s.threads), true },
	"go_gc_gogc_percent":               rm(rmGOGC),
	"go_gc_gomemlimit_bytes":           rm(rmGOMEMLIMIT),
	"go_sched_gomaxprocs_threads":      rm(rmGOMAXPROCS),
	"go_memstats_alloc_bytes":          rm(rmHeapObjects),
	"go_memstats_alloc_bytes_total":    rm(rmAllocBytes),
	"go_memstats_buck_hash_sys_bytes":  rm(rmBuckets),
	"go_memstats_frees_total":          rm(rmFrees, rmTinyAllocs),
	"go_memstats_gc_sys_bytes":         rm(rmMetadataOther),
	"go_memstats_heap_alloc_bytes":     rm(rmHeapObjects),
	"go_memstats_heap_idle_bytes":      rm(rmHeapReleased, rmHeapFree),
	"go_memstats_heap_inuse_bytes":     rm(rmHeapObjects, rmHeapUnused),
	"go_memstats_heap_objects":         rm(rmObjects),
	"go_memstats_heap_released_bytes":  rm(rmHeapReleased),
	"go_memstats_heap_sys_bytes":       rm(rmHeapObjects, rmHeapUnused, rmHeapReleased, rmHeapFree),
	"go_memstats_mallocs_total":        rm(rmAllocs, rmTinyAllocs),
	"go_memstats_mcache_inuse_bytes":   rm(rmMCacheInuse),
	"go_memstats_mcache_sys_bytes":     rm(rmMCacheInuse, rmMCacheFree),
	"go_memstats_mspan_inuse_bytes":    rm(rmMSpanInuse),
	"go_memstats_mspan_sys_bytes":      rm(rmMSpanInuse, rmMSpanFree),
	"go_memstats_next_gc_bytes":        rm(rmGoal),
	"go_memstats_other_sys_bytes":      rm(rmOther),
	"go_memstats_stack_inuse_bytes":    rm(rmStacks),
	"go_memstats_stack_sys_bytes":      rm(rmStacks, rmOSStacks),
	"go_memstats_sys_bytes":            rm(rmTotal),
	"go_memstats_last_gc_time_seconds": func(s *snapshot) (float64, bool) { return float64(s.m.gc.LastGC.UnixNano()) / 1e9, true },
	"process_cpu_seconds_total":        func(s *snapshot) (float64, bool) { return s.cpu, s.haveCPU },
	"process_virtual_memory_bytes":     func(s *snapshot) (float64, bool) { return s.vsize, s.haveStatm },
	"process_resident_memory_bytes":    func(s *snapshot) (float64, bool) { return s.rss, s.haveStatm },
	"process_open_fds":                 func(s *snapshot) (float64, bool) { return s.fds, s.haveFDs },
}

// constants are the families whose samples never change in a process's
// life; every other family client_golang gives must be in gauges or
// rendered below, or New fails (a test makes it).
var constants = map[string]bool{
	"go_info": true, "kube_triage_build_info": true,
	"process_max_fds": true, "process_virtual_memory_max_bytes": true, "process_start_time_seconds": true,
}

// rm sums runtime/metrics samples.
func rm(names ...string) func(s *snapshot) (float64, bool) {
	return func(s *snapshot) (float64, bool) {
		var v float64
		for _, n := range names {
			v += s.rm[n]
		}
		return v, true
	}
}

const (
	gcDuration = "go_gc_duration_seconds"
	requests   = "promhttp_metric_handler_requests_total"
	inFlight   = "promhttp_metric_handler_requests_in_flight"
)

// New reads the families' headers and constant samples from one gather of
// client_golang's collectors (the Go runtime's, the process's and the
// build's, as program names it).
func New(program string) (*Metrics, error) {
	m := &Metrics{pageSize: float64(os.Getpagesize()), requests: map[int]uint64{}}
	for _, code := range []int{200, 500, 503} { // promhttp starts these at 0
		m.requests[code] = 0
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(program), collectors.NewGoCollector())
	promhttp.InstrumentMetricHandler(reg, http.NotFoundHandler()) // its two families
	if err := m.openProc(reg); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering the process's metrics: %w", err)
	}
	for _, mf := range mfs {
		f, err := m.family(mf)
		if err != nil {
			return nil, err
		}
		m.families = append(m.families, f)
	}
	// What the Go runtime families read.
	for _, name := range []string{rmTinyAllocs, rmAllocs, rmFrees, rmAllocBytes, rmTotal, rmHeapObjects, rmHeapUnused, rmHeapReleased,
		rmHeapFree, rmObjects, rmStacks, rmOSStacks, rmMSpanInuse, rmMSpanFree, rmMCacheInuse, rmMCacheFree, rmBuckets,
		rmMetadataOther, rmOther, rmGoal, rmGOGC, rmGOMEMLIMIT, rmGOMAXPROCS} {
		m.rm = append(m.rm, metrics.Sample{Name: name})
	}
	m.gc.PauseQuantiles = make([]time.Duration, 5)
	return m, nil
}

// openProc opens what a scrape reads of /proc and registers, in reg, the
// process families there is a source for, with their constant values
// (read once: the limits, and the start time, which needs /proc/stat's
// boot time). process_network_* are left out: their counters are the
// network namespace's, the whole pod's, not the process's. Where /proc
// cannot be read (not Linux) the process families are the CPU time alone.
func (m *Metrics) openProc(reg *prometheus.Registry) error {
	descs := processDescs
	var fixed []prometheus.Metric
	fixed = append(fixed, prometheus.MustNewConstMetric(descs.cpu, prometheus.CounterValue, 0))
	if f, err := os.Open("/proc/self/statm"); err == nil {
		m.statm = f
		fixed = append(fixed, prometheus.MustNewConstMetric(descs.vsize, prometheus.GaugeValue, 0),
			prometheus.MustNewConstMetric(descs.rss, prometheus.GaugeValue, 0))
	}
	if f, err := os.Open("/proc/self/fd"); err == nil {
		m.fds = f
		fixed = append(fixed, prometheus.MustNewConstMetric(descs.openFDs, prometheus.GaugeValue, 0))
	}
	if p, err := procfs.Self(); err == nil {
		if stat, err := p.Stat(); err == nil {
			if start, err := stat.StartTime(); err == nil {
				fixed = append(fixed, prometheus.MustNewConstMetric(descs.startTime, prometheus.GaugeValue, start))
			}
		}
		if l, err := p.Limits(); err == nil {
			fixed = append(fixed, prometheus.MustNewConstMetric(descs.maxFDs, prometheus.GaugeValue, float64(l.OpenFiles)),
				prometheus.MustNewConstMetric(descs.maxVsize, prometheus.GaugeValue, float64(l.AddressSpace)))
		}
	}
	return reg.Register(constCollector(fixed))
}

// processDescs are the process families, as client_golang's process
// collector describes them.
var processDescs = struct{ cpu, openFDs, maxFDs, vsize, maxVsize, rss, startTime *prometheus.Desc }{
	prometheus.NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil, nil),
	prometheus.NewDesc("process_open_fds", "Number of open file descriptors.", nil, nil),
	prometheus.NewDesc("process_max_fds", "Maximum number of open file descriptors.", nil, nil),
	prometheus.NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", nil, nil),
	prometheus.NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", nil, nil),
	prometheus.NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", nil, nil),
	prometheus.NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", nil, nil),
}

// constCollector collects fixed metrics, unchecked.
type constCollector []prometheus.Metric

func (constCollector) Describe(chan<- *prometheus.Desc) {}

func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// family makes a family's header, in both formats, from the gathered one,
// and how its samples are rendered.
func (m *Metrics) family(mf *dto.MetricFamily) (family, error) {
	name := mf.GetName()
	var text, om bytes.Buffer
	if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
		return family{}, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := expfmt.MetricFamilyToOpenMetrics(&om, mf); err != nil {
		return family{}, fmt.Errorf("%s: %w", name, err)
	}
	f := family{textHeader: header(text.Bytes()), openMetricsHeader: header(om.Bytes())}
	switch value, ok := singles[name]; {
	case constants[name]:
		f.constant = [2][]byte{text.Bytes(), om.Bytes()}
	case ok:
		f.sample = func(b []byte, s *snapshot, _ bool) []byte {
			if v, ok := value(s); ok {
				b = appendSample(b, name, v)
			}
			return b
		}
	case name == gcDuration:
		f.sample = appendGCDuration
	case name == requests:
		f.sample = func(b []byte, s *snapshot, _ bool) []byte { return s.m.appendRequests(b) }
	case name == inFlight:
		f.sample = func(b []byte, s *snapshot, _ bool) []byte {
			s.m.requestsMu.Lock()
			n := s.m.inFlight
			s.m.requestsMu.Unlock()
			return appendSample(b, inFlight, float64(n))
		}
	default:
		return family{}, fmt.Errorf("client_golang gives %s, which selfmetrics does not render", name)
	}
	return f, nil
}

// header is the leading # lines of an encoded family.
func header(encoded []byte) []byte {
	var out []byte
	for line := range bytes.Lines(encoded) {
		if !bytes.HasPrefix(line, []byte("# ")) {
			break
		}
		out = append(out, line...)
	}
	return out
}

// AppendText appends every family, in name order, in the text format or
// OpenMetrics (without its # EOF).
func (m *Metrics) AppendText(b []byte, openMetrics bool) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.read()
	for _, f := range m.families {
		if f.sample == nil {
			b = append(b, f.constant[btoi(openMetrics)]...)
			continue
		}
		start := len(b)
		if openMetrics {
			b = append(b, f.openMetricsHeader...)
		} else {
			b = append(b, f.textHeader...)
		}
		withHeader := len(b)
		if b = f.sample(b, s, openMetrics); len(b) == withHeader {
			b = b[:start] // no sample: no header either
		}
	}
	return b
}

// read takes this scrape's values; m.mu is held.
func (m *Metrics) read() *snapshot {
	s := &snapshot{m: m, rm: make(map[string]float64, len(m.rm))}
	metrics.Read(m.rm)
	for _, sample := range m.rm {
		switch sample.Value.Kind() {
		case metrics.KindUint64:
			s.rm[sample.Name] = float64(sample.Value.Uint64())
		case metrics.KindFloat64:
			s.rm[sample.Name] = sample.Value.Float64()
		}
	}
	debug.ReadGCStats(&m.gc) // reuses the buffers of the last read
	s.goroutines = runtime.NumGoroutine()
	s.threads, _ = runtime.ThreadCreateProfile(nil)
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.cpu, s.haveCPU = seconds(ru.Utime)+seconds(ru.Stime), true
	}
	if m.statm != nil {
		var buf [128]byte
		if n, _ := m.statm.ReadAt(buf[:], 0); n > 0 { // io.EOF with it: the file is shorter
			if size, resident, ok := statm(buf[:n]); ok {
				s.vsize, s.rss, s.haveStatm = size*m.pageSize, resident*m.pageSize, true
			}
		}
	}
	if m.fds != nil {
		s.fds, s.haveFDs = m.openFDs()
	}
	return s
}

// openFDs counts the process's open files: since Linux 6.2 the size of
// /proc/self/fd, before that its entries.
func (m *Metrics) openFDs() (float64, bool) {
	if st, err := m.fds.Stat(); err == nil && st.Size() > 0 {
		return float64(st.Size()), true
	}
	if _, err := m.fds.Seek(0, 0); err != nil {
		return 0, false
	}
	names, err := m.fds.Readdirnames(-1)
	return float64(len(names)), err == nil
}

func seconds(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// statm parses the process's size and resident set, in pages: the first
// two fields of /proc/self/statm.
func statm(b []byte) (size, resident float64, ok bool) {
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, 0, false
	}
	sz, err1 := strconv.ParseUint(string(fields[0]), 10, 64)
	rs, err2 := strconv.ParseUint(string(fields[1]), 10, 64)
	return float64(sz), float64(rs), err1 == nil && err2 == nil
}

// appendGCDuration renders the GC pauses' summary as client_golang does:
// the minimum, the quartiles and the maximum of the recent pauses, their
// total and their count.
func appendGCDuration(b []byte, s *snapshot, openMetrics bool) []byte {
	q := s.m.gc.PauseQuantiles
	for i, p := range q {
		b = append(b, gcDuration+`{quantile="`...)
		b = appendQuantile(b, float64(i)/float64(len(q)-1), openMetrics)
		b = append(b, `"} `...)
		b = appendValue(b, p.Seconds())
		b = append(b, '\n')
	}
	b = appendSample(b, gcDuration+"_sum", s.m.gc.PauseTotal.Seconds())
	return appendSample(b, gcDuration+"_count", float64(s.m.gc.NumGC))
}

// appendQuantile writes a quantile label's value as expfmt does: in
// OpenMetrics always with a decimal point.
func appendQuantile(b []byte, q float64, openMetrics bool) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, q, 'g', -1, 64)
	if openMetrics && !bytes.ContainsAny(b[start:], ".e") {
		b = append(b, '.', '0')
	}
	return b
}

func (m *Metrics) appendRequests(b []byte) []byte {
	m.requestsMu.Lock()
	defer m.requestsMu.Unlock()
	// Three digits each: in numbers' order as in the labels' text, a gather's.
	for _, code := range slices.Sorted(maps.Keys(m.requests)) {
		b = append(b, requests+`{code="`...)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, `"} `...)
		b = appendValue(b, float64(m.requests[code]))
		b = append(b, '\n')
	}
	return b
}

// Instrument counts h's answers by status code, and those in flight, as
// promhttp.InstrumentMetricHandler does.
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requestsMu.Lock()
		m.inFlight++
		m.requestsMu.Unlock()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			m.requestsMu.Lock()
			m.inFlight--
			m.requests[sw.code]++
			m.requestsMu.Unlock()
		}()
		h.ServeHTTP(sw, r)
	})
}

// statusWriter keeps the status code of an answer.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func appendSample(b []byte, name string, v float64) []byte {
	b = append(b, name...)
	b = append(b, ' ')
	b = appendValue(b, v)
	return append(b, '\n')
}

// appendValue writes a value as the text format does; the process's are
// never NaN or infinite (no memory limit is math.MaxInt64, finite).
func appendValue(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
