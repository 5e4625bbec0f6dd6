package prober

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// DefaultHistoryLimit is how many results a History keeps of successes,
// and as many again of failures: a failure stays visible long after the
// successes that followed it would have pushed it out.
const DefaultHistoryLimit = 100

// Bounds on one result's log, so that the history's memory is bounded
// whatever a server answers.
const (
	maxLogLines    = 64
	maxLogLineSize = 256
)

// Result is one probe's outcome in the history.
type Result struct {
	ID        uint64 // unique in the process, increasing
	Collector string
	At        time.Time
	Outcome
}

// Failed says whether the probe failed.
func (r Result) Failed() bool { return r.Reason != "" }

// History keeps a collector's recent results, failures apart from
// successes so that either keeps its own limit. It is safe for concurrent
// use.
type History struct {
	collector string
	limit     int

	mu        sync.Mutex
	successes []Result
	failures  []Result
}

// NewHistory keeps up to limit successes and limit failures.
func NewHistory(collector string, limit int) *History {
	return &History{collector: collector, limit: limit}
}

var nextID struct {
	sync.Mutex
	n uint64
}

func newID() uint64 {
	nextID.Lock()
	defer nextID.Unlock()
	nextID.n++
	return nextID.n
}

// Add records an outcome at time at, its log trimmed to the bounds.
func (h *History) Add(at time.Time, o Outcome) {
	o.Log = trimLog(o.Log)
	o.Attrs = nil // for the log line only
	r := Result{ID: newID(), Collector: h.collector, At: at, Outcome: o}
	h.mu.Lock()
	defer h.mu.Unlock()
	list := &h.successes
	if r.Failed() {
		list = &h.failures
	}
	if len(*list) >= h.limit {
		*list = slices.Delete(*list, 0, len(*list)-h.limit+1)
	}
	*list = append(*list, r)
}

func trimLog(log []string) []string {
	out := make([]string, 0, min(len(log), maxLogLines+1))
	for i, line := range log {
		if i == maxLogLines {
			out = append(out, "…")
			break
		}
		if len(line) > maxLogLineSize {
			line = line[:maxLogLineSize] + "…"
		}
		out = append(out, line)
	}
	return out
}

// Results returns what the history holds, newest first.
func (h *History) Results() []Result {
	h.mu.Lock()
	all := append(slices.Clone(h.successes), h.failures...)
	h.mu.Unlock()
	slices.SortFunc(all, func(a, b Result) int { return cmp.Compare(b.ID, a.ID) })
	return all
}

// Latest returns the newest result of each target, failures first, then
// by target.
func (h *History) Latest() []Result {
	seen := map[string]bool{}
	var out []Result
	for _, r := range h.Results() {
		if !seen[r.Target] {
			seen[r.Target] = true
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Result) int {
		if a.Failed() != b.Failed() {
			if a.Failed() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Target, b.Target)
	})
	return out
}

// Get returns the result with this ID, if the history still holds it.
func (h *History) Get(id uint64) (Result, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, list := range [][]Result{h.successes, h.failures} {
		for _, r := range list {
			if r.ID == id {
				return r, true
			}
		}
	}
	return Result{}, false
}
