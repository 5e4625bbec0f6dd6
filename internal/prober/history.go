package prober

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
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
// successes so that either keeps its own limit, and the results of its last
// round. It is safe for concurrent use.
type History struct {
	collector string
	limit     int

	mu        sync.Mutex
	successes []Result
	failures  []Result
	latest    []Result // the last round's, failures first
}

// NewHistory keeps up to limit successes and limit failures (at least 1).
func NewHistory(collector string, limit int) *History {
	return &History{collector: collector, limit: max(limit, 1)}
}

var lastID atomic.Uint64

// Record adds a round's outcomes at time at, their logs trimmed to the
// bounds, and makes them the latest: a target the round did not probe (a
// DNS pod that is gone) is no longer among them.
func (h *History) Record(at time.Time, outcomes []Outcome) {
	round := make([]Result, 0, len(outcomes))
	for _, o := range outcomes {
		o.Log = trimLog(o.Log)
		o.Attrs = nil // for the log line only
		round = append(round, Result{ID: lastID.Add(1), Collector: h.collector, At: at, Outcome: o})
	}
	FailuresFirst(round)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latest = round
	for _, r := range round {
		list := &h.successes
		if r.Failed() {
			list = &h.failures
		}
		if len(*list) >= h.limit {
			*list = slices.Delete(*list, 0, len(*list)-h.limit+1)
		}
		*list = append(*list, r)
	}
}

// FailuresFirst sorts results failures first, then by collector and
// target.
func FailuresFirst(results []Result) {
	slices.SortStableFunc(results, func(a, b Result) int {
		if a.Failed() != b.Failed() {
			if a.Failed() {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Collector, b.Collector), cmp.Compare(a.Target, b.Target))
	})
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

// Latest returns the results of the last round, failures first.
func (h *History) Latest() []Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.latest)
}

// Get returns the result with this ID, if the history still holds it.
func (h *History) Get(id uint64) (Result, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, list := range [][]Result{h.latest, h.successes, h.failures} {
		for _, r := range list {
			if r.ID == id {
				return r, true
			}
		}
	}
	return Result{}, false
}
