package schedule

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryCallsRepeatedlyWithoutOverlapAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls, running, overlaps atomic.Int32
	var sawDeadline atomic.Bool
	done := make(chan struct{})
	go func() {
		Every(ctx, 20*time.Millisecond, 5*time.Millisecond, func(ctx context.Context) {
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
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
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
