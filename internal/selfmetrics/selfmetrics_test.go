package selfmetrics

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// clientGolang is what the families were before: client_golang's
// collectors in a registry, its handler's counters having seen answers.
func clientGolang(t *testing.T, answers []int) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("kube_triage"), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	serve(t, promhttp.InstrumentMetricHandler(reg, answering()), answers)
	return reg
}

// answering answers with the status code its request asks for.
func answering() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	})
}

func serve(t *testing.T, h http.Handler, codes []int) {
	for _, code := range codes {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics?code="+strconv.Itoa(code), nil))
	}
}

// exact are the samples that cannot differ between reads close together.
var exact = []string{"go_info", "kube_triage_build_info", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads",
	"process_max_fds", "process_virtual_memory_max_bytes", "process_start_time_seconds", "promhttp_metric_handler_"}

// Each family, its HELP and TYPE, and each sample's labels are
// client_golang's, in both formats, but process_network_*; every value
// client_golang reads lies between ours read just before and just after,
// but for what its gather itself changes.
func TestSameAsClientGolang(t *testing.T) {
	answers := []int{200, 200, 503, 404}
	ours, err := New("kube_triage")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ours.Instrument(answering()), answers)
	theirs := clientGolang(t, answers)
	var heap [][]byte   // a heap and totals far above what a read allocates
	var tiny []*[8]byte // the tiny allocator's, which mallocs and frees count apart
	for i := range 200_000 {
		heap = append(heap, make([]byte, 16+i%64))
		tiny = append(tiny, new([8]byte))
	}
	defer runtime.KeepAlive(tiny)
	defer runtime.KeepAlive(heap)
	runtime.GC()
	for _, format := range []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics)} {
		openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
		t.Run(string(format), func(t *testing.T) {
			got := string(ours.AppendText(nil, openMetrics))
			mfs, err := theirs.Gather()
			if err != nil {
				t.Fatal(err)
			}
			after := map[string]float64{}
			for _, line := range strings.Split(string(ours.AppendText(nil, openMetrics)), "\n") {
				if k, v, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
					after[k], _ = strconv.ParseFloat(v, 64)
				}
			}
			var want bytes.Buffer
			enc := expfmt.NewEncoder(&want, format)
			for _, mf := range mfs {
				if !strings.HasPrefix(mf.GetName(), "process_network_") {
					if err := enc.Encode(mf); err != nil {
						t.Fatal(err)
					}
				}
			}
			gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want.String(), "\n")
			if len(gotLines) != len(wantLines) {
				t.Fatalf("%d lines, client_golang %d:\n%s\n--- client_golang:\n%s", len(gotLines), len(wantLines), got, want.String())
			}
			for i, g := range gotLines {
				w := wantLines[i]
				if strings.HasPrefix(w, "#") || w == "" {
					if g != w {
						t.Errorf("line %d: %q, client_golang %q", i, g, w)
					}
					continue
				}
				gk, gv, _ := strings.Cut(g, " ")
				wk, wv, _ := strings.Cut(w, " ")
				if gk != wk {
					t.Errorf("line %d: sample %q, client_golang %q", i, gk, wk)
					continue
				}
				gf, err1 := strconv.ParseFloat(gv, 64)
				wf, err2 := strconv.ParseFloat(wv, 64)
				if err1 != nil || err2 != nil {
					t.Errorf("%s: values %q and %q", gk, gv, wv)
					continue
				}
				lo, hi := math.Min(gf, after[gk]), math.Max(gf, after[gk])
				tolerance := 0.05 * math.Max(math.Abs(wf), 1) // and CPU seconds: client_golang's are in clock ticks
				if strings.HasPrefix(gk, "go_gc_duration_seconds") || gk == "go_memstats_last_gc_time_seconds" {
					tolerance = 0 // the GC was forced before both reads
				}
				if strings.HasPrefix(gk, "go_memstats_heap_released") || strings.HasPrefix(gk, "go_memstats_heap_idle") {
					tolerance = math.Max(4<<20, wf/2) // the scavenger returns pages between the reads
				}
				if strings.HasPrefix(gk, "go_memstats_stack_") {
					tolerance = 256 << 10 // the stacks of a gather's goroutines
				}
				switch gk {
				case "go_goroutines":
					tolerance = 5 // a gather runs its five collectors in goroutines of their own
				case "go_threads":
					tolerance = 2 // and they may start threads
				case "process_open_fds":
					tolerance = 1 // client_golang's opens /proc/self/fd before Linux 6.2
				}
				for _, e := range exact {
					if strings.HasPrefix(gk, e) {
						tolerance = 0
					}
				}
				if wf < lo-tolerance || wf > hi+tolerance {
					t.Errorf("%s = %v then %v, client_golang %v between", gk, gf, after[gk], wf)
				}
			}
		})
	}
}

// A scrape being answered is in flight, and counted by its status code
// once answered.
func TestInstrumentCountsInFlightAndAnswers(t *testing.T) {
	m, err := New("kube_triage")
	if err != nil {
		t.Fatal(err)
	}
	var during string
	h := m.Instrument(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		during = string(m.AppendText(nil, false))
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	serve(t, h, []int{0})
	after := string(m.AppendText(nil, false))
	for _, c := range []struct{ text, want string }{
		{during, "promhttp_metric_handler_requests_in_flight 1\n"},
		{during, `promhttp_metric_handler_requests_total{code="503"} 0` + "\n"},
		{after, "promhttp_metric_handler_requests_in_flight 0\n"},
		{after, `promhttp_metric_handler_requests_total{code="503"} 1` + "\n"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("no %q in:\n%s", c.want, c.text)
		}
	}
}

func BenchmarkAppendText(b *testing.B) {
	m, err := New("kube_triage")
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		buf = m.AppendText(buf[:0], false)
	}
}
