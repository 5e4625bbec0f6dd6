package prober

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestScheduleValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		s    Schedule
		want string
	}{
		{Schedule{Interval: 0, Timeout: time.Second}, "--collector.dns.interval=0s: must be positive"},
		{Schedule{Interval: time.Second, Timeout: -time.Second}, "--collector.dns.timeout=-1s: must be positive"},
		{Schedule{Interval: time.Second, Timeout: time.Second}, ""},
	} {
		err := tc.s.Validate("dns")
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.want {
				t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%+v: no error, want %q", tc.s, tc.want)
		}
	}
	if _, err := New(Config[int]{Collector: "dns", Probe: func(context.Context) int { return 0 }}); err == nil {
		t.Error("New accepted a zero schedule")
	}
}

// A prober whose round hangs (a probe that ignores its timeout) stops
// being current within 3 periods: Last reports it stale instead of the
// last result, which the collector then reports as a failure.
func TestStuckProberGoesStale(t *testing.T) {
	var rounds atomic.Int32
	hang := make(chan struct{})
	defer close(hang)
	p, err := New(Config[int32]{
		Collector: "test", Schedule: Schedule{Interval: 50 * time.Millisecond, Timeout: 10 * time.Millisecond},
		Probe: func(context.Context) int32 {
			n := rounds.Add(1)
			if n >= 3 {
				<-hang // ignores its context
			}
			return n
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	testenv.WaitFor(t, "two rounds", 10*time.Second, func() (bool, error) {
		r, ok, err := p.Last()
		return ok && err == nil && r == 2, err
	})
	start := time.Now()
	testenv.WaitFor(t, "the hanging prober to go stale", 10*time.Second, func() (bool, error) {
		_, ok, err := p.Last()
		return !ok && errors.Is(err, ErrStale), nil
	})
	// Period is the timeout and a second here (1.01s): stale after 3.03s
	// from the last round, never before.
	if took, limit := time.Since(start), StalePeriods*p.Period(); took > limit+2*time.Second || took < limit-p.cfg.Schedule.Interval {
		t.Errorf("went stale %s after the last good round, want about %s", took, limit)
	}
}

// Failures are logged when they start and when they change reason, and
// the recovery once: not every round.
func TestStateChangesAreLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{&buf, &mu}, nil))
	p, err := New(Config[string]{
		Collector: "test", Schedule: Schedule{Interval: time.Hour, Timeout: time.Second}, Logger: logger,
		Probe:    func(context.Context) string { return "" },
		Outcomes: func(reason string) []Outcome { return []Outcome{{Target: "a", Reason: reason}, {Target: "b"}} },
		Reasons:  []string{"timeout", "refused", "tls"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"", "", "timeout", "timeout", "timeout", "refused", "", ""} {
		p.Record(reason)
	}
	mu.Lock()
	defer mu.Unlock()
	got := buf.String()
	if n := strings.Count(got, "level=WARN"); n != 2 || !strings.Contains(got, "reason=timeout") || !strings.Contains(got, "reason=refused") {
		t.Errorf("want 2 failures logged (timeout, then refused), got:\n%s", got)
	}
	if n := strings.Count(got, "probe recovered"); n != 1 || !strings.Contains(got, "was=refused") {
		t.Errorf("want one recovery logged, got:\n%s", got)
	}
	if strings.Contains(got, "target=b") {
		t.Errorf("a target that never failed was logged:\n%s", got)
	}
	// Every failed outcome is counted by reason; a reason that never
	// happened is there at 0.
	if got := p.Failures(); len(got) != 3 || got["timeout"] != 3 || got["refused"] != 1 || got["tls"] != 0 {
		t.Errorf("failures by reason: %v", got)
	}
	// The history holds every outcome, the latest per target first failures.
	latest := p.History().Latest()
	if len(latest) != 2 || latest[0].Target != "a" || latest[0].Failed() {
		t.Errorf("latest: %+v", latest)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Failures are kept apart from successes: a run of successes does not push
// out the last failure; each list and each log is bounded; the latest
// results are the last round's only.
func TestHistoryKeepsFailuresAndIsBounded(t *testing.T) {
	h := NewHistory("test", 5)
	at := time.Unix(0, 0)
	h.Record(at, []Outcome{{Target: "x", Reason: "timeout", Log: []string{strings.Repeat("q", 10_000)}}, {Target: "gone", Reason: "timeout"}})
	for range 50 {
		h.Record(at, []Outcome{{Target: "x", Log: make([]string, 1000)}})
	}
	all := h.Results()
	if len(all) != 7 {
		t.Fatalf("%d results, want 5 successes and the 2 failures", len(all))
	}
	var failure Result
	for _, r := range all {
		if r.Failed() && r.Target == "x" {
			failure = r
		}
		if len(r.Log) > maxLogLines+1 {
			t.Errorf("a log of %d lines kept", len(r.Log))
		}
	}
	if failure.Reason != "timeout" || len(failure.Log[0]) > maxLogLineSize+len("…") {
		t.Errorf("failure %+v", failure.Outcome.Reason)
	}
	if got, ok := h.Get(failure.ID); !ok || got.Reason != "timeout" {
		t.Errorf("Get(%d) = %+v %v", failure.ID, got, ok)
	}
	// A target the last round did not probe is not among the latest.
	if latest := h.Latest(); len(latest) != 1 || latest[0].Target != "x" || latest[0].Failed() {
		t.Errorf("latest: %+v", latest)
	}
}

// Pace calls every item once, none before its time, and stops when its
// context ends.
func TestPace(t *testing.T) {
	const n = 200
	over := 200 * time.Millisecond
	var mu sync.Mutex
	calledAt := make([]time.Duration, n)
	calls := make([]int, n)
	start := time.Now()
	if !Pace(context.Background(), n, over, 4, func(_ context.Context, i int) {
		mu.Lock()
		defer mu.Unlock()
		calls[i]++
		calledAt[i] = time.Since(start)
	}) {
		t.Fatal("Pace reported a cancelled run")
	}
	for i := range n {
		due := time.Duration(float64(over) * float64(i) / n)
		if calls[i] != 1 {
			t.Errorf("item %d called %d times", i, calls[i])
		}
		if calledAt[i] < due-paceGranularity {
			t.Errorf("item %d called at %s, before it was due at %s", i, calledAt[i], due)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var called atomic.Int32
	if Pace(ctx, 1000, time.Hour, 4, func(context.Context, int) {
		if called.Add(1) == 1 {
			cancel()
		}
	}) {
		t.Error("Pace reported a complete run after its context ended")
	}
	if called.Load() != 1 {
		t.Errorf("%d items called after cancel; only the first was due", called.Load())
	}
}

// After every worker was held up (a server timing out), Pace sends at most
// maxCatchUp's worth of the overdue items at once, not the whole backlog
// in a burst at a server that just came back.
func TestPaceBoundsCatchUp(t *testing.T) {
	const n = 100
	over := time.Second // an item every 10ms
	var mu sync.Mutex
	var calledAt []time.Time
	var released time.Time
	Pace(context.Background(), n, over, 1, func(_ context.Context, i int) {
		if i == 0 {
			time.Sleep(500 * time.Millisecond) // 50 items fall due meanwhile
			mu.Lock()
			released = time.Now()
			mu.Unlock()
			return
		}
		mu.Lock()
		calledAt = append(calledAt, time.Now())
		mu.Unlock()
	})
	burst := 0
	for _, at := range calledAt {
		if at.Sub(released) < 50*time.Millisecond {
			burst++
		}
	}
	// maxCatchUp (100ms) is 10 items, and 5 more fall due in the 50ms.
	if limit := 10 + 5 + 2; burst > limit {
		t.Errorf("%d items within 50ms of the stall's end, want at most %d", burst, limit)
	}
	if len(calledAt) != n-1 {
		t.Errorf("%d items called, want %d", len(calledAt), n-1)
	}
}
