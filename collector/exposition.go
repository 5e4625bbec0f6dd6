package collector

import (
	"bufio"
	"context"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Rendered holds the samples of a collector that follows informers, kept
// rendered to exposition text per object (a Service, a workload) and
// family: rendering happens when an object changes, in the background, and
// a scrape only copies bytes. It is what lets one scrape of 100,000 series
// cost a few milliseconds (a const metric per series per scrape costs
// microseconds each).
type Rendered struct {
	families []*Metric
	index    map[*Metric]int

	mu sync.Mutex
	// entries are values, not pointers: a scrape walks them in order for
	// every family, and their offsets then come from memory read ahead.
	entries []renderedObject // in no particular order
	pos     map[string]int   // key to its place in entries
	// shared is set while a scrape may be reading entries: the next change
	// copies them first.
	shared bool
	// live are the families whose values change with time itself (an age):
	// rendered at scrape time, by family index.
	live map[int]func(add func(v float64, labelValues ...string))
}

// maxFamilies bounds the families of one Rendered, so that an object's
// offsets sit inline: a scrape reads them for every object and family.
const maxFamilies = 16

// renderedObject is one object's lines, family after family: ends[i] is
// where family i's lines end in buf.
type renderedObject struct {
	buf  []byte
	ends [maxFamilies]int32
	key  string
}

func (o *renderedObject) family(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = o.ends[i-1]
	}
	return o.buf[start:o.ends[i]]
}

// NewRendered makes the store of a collector's families; every sample put
// in it must be of one of them.
func NewRendered(families ...*Metric) *Rendered {
	if len(families) > maxFamilies {
		panic("collector: more than " + strconv.Itoa(maxFamilies) + " families in one Rendered")
	}
	r := &Rendered{families: families, index: map[*Metric]int{}, pos: map[string]int{}}
	for i, m := range families {
		if m.buckets != nil || (m.Type != prometheus.GaugeValue && m.Type != prometheus.CounterValue) {
			panic("collector: " + m.Name + ": only gauges and counters can be rendered")
		}
		r.index[m] = i
	}
	return r
}

// Live makes m a family rendered at each scrape by fn, which calls add
// for each sample (label values follow m.Labels): for values that change
// with time itself, such as an age. Call it before the first scrape.
func (r *Rendered) Live(m *Metric, fn func(add func(v float64, labelValues ...string))) {
	i, ok := r.index[m]
	if !ok {
		panic("collector: " + m.Name + " is not a family of this Rendered")
	}
	if r.live == nil {
		r.live = map[int]func(func(float64, ...string)){}
	}
	r.live[i] = fn
}

// Builder renders the samples of one object; Set takes them. A Builder is
// reused from object to object, by one goroutine at a time.
type Builder struct {
	r     *Rendered
	lines [][]byte
}

// Builder returns a Builder for r's families.
func (r *Rendered) Builder() *Builder {
	return &Builder{r: r, lines: make([][]byte, len(r.families))}
}

// Add renders one sample of m; label values follow m.Labels.
func (b *Builder) Add(m *Metric, v float64, labelValues ...string) {
	i, ok := b.r.index[m]
	if !ok {
		panic("collector: " + m.Name + " is not a family of this Rendered")
	}
	if len(labelValues) != len(m.Labels) {
		panic("collector: " + m.Name + ": " + strconv.Itoa(len(labelValues)) + " label values for " + strconv.Itoa(len(m.Labels)) + " labels")
	}
	b.lines[i] = appendSample(b.lines[i], m, v, labelValues)
}

// Set replaces the samples of key with those added to b since the last
// Set, and resets b. No sample at all deletes key.
func (r *Rendered) Set(key string, b *Builder) {
	size := 0
	for _, l := range b.lines {
		size += len(l)
	}
	if size == 0 {
		r.Delete(key)
		return
	}
	o := renderedObject{key: key, buf: make([]byte, 0, size)}
	for i, l := range b.lines {
		o.buf = append(o.buf, l...)
		o.ends[i] = int32(len(o.buf))
		b.lines[i] = l[:0]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unshare()
	if i, ok := r.pos[key]; ok {
		r.entries[i] = o
		return
	}
	r.pos[key] = len(r.entries)
	r.entries = append(r.entries, o)
}

// Delete removes the samples of key, if any.
func (r *Rendered) Delete(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.pos[key]
	if !ok {
		return
	}
	r.unshare()
	last := len(r.entries) - 1
	r.entries[i] = r.entries[last]
	r.pos[r.entries[i].key] = i
	r.entries[last] = renderedObject{}
	r.entries = r.entries[:last]
	delete(r.pos, key)
}

// unshare copies the entries if a scrape may be reading them. r.mu held.
func (r *Rendered) unshare() {
	if r.shared {
		entries := make([]renderedObject, len(r.entries), cap(r.entries))
		copy(entries, r.entries)
		r.entries = entries
		r.shared = false
	}
}

func (r *Rendered) snapshot() []renderedObject {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shared = true
	return r.entries
}

// writeTo writes every family that has samples, HELP and TYPE first, in
// text or OpenMetrics form, checking ctx between families so that a
// scrape's deadline cuts it at a family's end.
func (r *Rendered) writeTo(ctx context.Context, w *bufio.Writer, openMetrics bool) error {
	entries := r.snapshot()
	var live []byte
	for i, m := range r.families {
		if err := ctx.Err(); err != nil {
			return err
		}
		live = live[:0]
		if fn := r.live[i]; fn != nil {
			fn(func(v float64, labelValues ...string) {
				if len(labelValues) != len(m.Labels) {
					panic("collector: " + m.Name + ": wrong number of label values")
				}
				live = appendSample(live, m, v, labelValues)
			})
		}
		header := false
		if len(live) > 0 {
			writeHeader(w, m, openMetrics)
			header = true
			_, _ = w.Write(live)
		}
		for j := range entries {
			lines := entries[j].family(i)
			if len(lines) == 0 {
				continue
			}
			if !header {
				writeHeader(w, m, openMetrics)
				header = true
			}
			_, _ = w.Write(lines)
		}
	}
	return nil
}

var (
	textHelp        = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	openMetricsHelp = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// writeHeader writes a family's HELP and TYPE. OpenMetrics names a
// counter's family without its _total suffix and escapes quotes in help.
func writeHeader(w *bufio.Writer, m *Metric, openMetrics bool) {
	name := m.Name
	if openMetrics && m.Type == prometheus.CounterValue {
		name = strings.TrimSuffix(name, "_total")
	}
	help := textHelp.Replace(m.Help)
	if openMetrics {
		help = openMetricsHelp.Replace(m.Help)
	}
	_, _ = w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + m.TypeName() + "\n")
}

// appendSample renders `name{label="value",...} value\n`, labels by name;
// the line is the same in the text format and OpenMetrics.
func appendSample(b []byte, m *Metric, v float64, labelValues []string) []byte {
	b = append(b, m.Name...)
	if len(labelValues) > 0 {
		b = append(b, '{')
		for n, i := range m.labelOrder {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, m.Labels[i]...)
			b = append(b, '=', '"')
			b = appendEscaped(b, labelValues[i])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendValue(b, v)
	return append(b, '\n')
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
