package schedule

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

func TestEveryCallsRepeatedlyWithoutOverlapAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls, running, overlaps atomic.Int32
	var sawDeadline atomic.Bool
	done := make(chan struct{})
	go func() {
		Every(ctx, 20*time.Millisecond, 5*time.Millisecond, nil, func(ctx context.Context) {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			if _, ok := ctx.Deadline(); ok {
				sawDeadline.Store(true)
			}
			calls.Add(1)
			time.Sleep(30 * time.Millisecond) // slower than the interval
		})
		close(done)
	}()
	// Not fatal: Every must still be stopped, and the checks below say
	// how many calls there were.
	_ = testenv.Poll(5*time.Second, 5*time.Millisecond, func() (bool, error) { return calls.Load() >= 3, nil })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
	if calls.Load() < 3 {
		t.Errorf("only %d calls", calls.Load())
	}
	if overlaps.Load() != 0 {
		t.Errorf("%d overlapping calls", overlaps.Load())
	}
	if !sawDeadline.Load() {
		t.Error("calls got no deadline")
	}
}

func TestJitteredStaysWithinBounds(t *testing.T) {
	d := 10 * time.Second
	lo, hi := d, d
	for range 10000 {
		j := Jittered(d)
		lo, hi = min(lo, j), max(hi, j)
	}
	limit := time.Duration(Jitter * float64(d))
	if lo < d-limit || hi > d+limit {
		t.Errorf("jittered range [%s, %s] exceeds ±%s", lo, hi, limit)
	}
	if hi-lo < limit { // 10,000 draws spread over most of the range
		t.Errorf("jitter range [%s, %s] too narrow: calls would lock step", lo, hi)
	}
}

// Rounds reads the start of the schedule until the first call returns,
// then the end of the last call that returned; a call that never returns
// leaves it where it was.
func TestEveryRecordsRounds(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1000)
	rounds := &Rounds{Now: func() time.Time { return time.Unix(clock.Load(), 0) }}
	if _, _, ok := rounds.Last(); ok {
		t.Fatal("Last reports a time before Every has started")
	}

	entered, release, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, 10*time.Millisecond, time.Hour, rounds, func(context.Context) {
			select {
			case entered <- struct{}{}:
			case <-stop:
				return
			}
			select { // the call's own context is ignored: it hangs until told
			case <-release:
			case <-stop:
			}
		})
	}()
	defer func() {
		close(stop)
		cancel()
		<-done
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("no call %s", what)
		}
	}
	check := func(step string, want int64) {
		t.Helper()
		last, interval, ok := rounds.Last()
		if !ok || last.Unix() != want || interval != 10*time.Millisecond {
			t.Errorf("%s: Last() = %v, %s, %v; want %d, 10ms, true", step, last.Unix(), interval, ok, want)
		}
	}

	wait("at all")
	clock.Store(2000)
	check("first call running", 1000) // the start, still

	clock.Store(3000)
	release <- struct{}{} // the first call returns at 3000
	wait("after the first")
	check("second call running", 3000)

	clock.Store(4000) // the second call never returns
	check("second call hanging", 3000)
}

func TestNilRoundsRecordNothing(t *testing.T) {
	var r *Rounds
	r.start(time.Second)
	r.finish()
	if _, _, ok := r.Last(); ok {
		t.Error("a nil Rounds reports a time")
	}
}

// Tick calls fn once per period and returns once ctx is done.
func TestTick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		Tick(ctx, time.Millisecond, func() { calls <- struct{}{} })
		close(done)
	}()
	for range 3 {
		<-calls
	}
	cancel()
	for {
		select {
		case <-done:
			return
		case <-calls: // a call already under way when cancelled
		}
	}
}
