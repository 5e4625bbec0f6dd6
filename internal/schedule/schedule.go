// Package schedule runs probes on their own clock, apart from scrapes.
package schedule

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Jitter is the fraction of the interval by which each wait is varied, so
// that probes started together drift apart instead of firing in lock step.
const Jitter = 0.1

// Every calls fn until ctx is done: first after a random delay of up to
// min(interval, 1s), so that collectors started together do not probe in the
// same instant yet data comes promptly, then once per interval ± Jitter.
// Each call gets a context that ends after timeout. Calls never overlap: a
// slow call delays the next one rather than piling up. Every records in
// rounds (if not nil) when it started and when each call returned.
func Every(ctx context.Context, interval, timeout time.Duration, rounds *Rounds, fn func(context.Context)) {
	rounds.start(interval)
	wait := randomDuration(min(interval, time.Second))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		call(ctx, timeout, fn)
		rounds.finish()
		// Keep the period from start to start, less the time the call took.
		wait = max(0, Jittered(interval)-time.Since(start))
	}
}

// Tick calls fn once per period until ctx is done, the first time after one
// period: for background housekeeping that needs neither jitter nor a
// timeout (a judging round, an expiry sweep).
func Tick(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Rounds records the progress of a schedule run by Every: its interval,
// when it started and when its last call returned. A prober that stopped,
// or whose call never returns, keeps an old time, which is how it can be
// told from one that runs. The zero value is ready to use; it is safe for
// concurrent use, and a nil *Rounds records nothing.
type Rounds struct {
	// Now is the clock the times are read from; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	running  bool // Every has started
	interval time.Duration
	started  time.Time
	finished time.Time // zero until the first call returns
}

// Time is the time by the Rounds' clock.
func (r *Rounds) Time() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Start marks the schedule started now, before Every runs: while its
// caller waits for what the first call needs (caches to sync), so that a
// schedule that never gets to run ages too. Every starts it again.
func (r *Rounds) Start(interval time.Duration) { r.start(interval) }

func (r *Rounds) start(interval time.Duration) {
	if r == nil {
		return
	}
	now := r.Time()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running, r.interval, r.started, r.finished = true, interval, now, time.Time{}
}

func (r *Rounds) finish() {
	if r == nil {
		return
	}
	now := r.Time()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = now
}

// Last returns when the last call returned or, before the first one has,
// when the schedule started (so that a schedule stuck in its first call
// ages too), and the schedule's interval. ok is false until Every has
// started.
func (r *Rounds) Last() (last time.Time, interval time.Duration, ok bool) {
	if r == nil {
		return time.Time{}, 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return time.Time{}, 0, false
	}
	if r.finished.IsZero() {
		return r.started, r.interval, true
	}
	return r.finished, r.interval, true
}

func call(ctx context.Context, timeout time.Duration, fn func(context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fn(ctx)
}

// Jittered returns d varied uniformly by up to ±Jitter.
func Jittered(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*2-1)*Jitter*float64(d))
}

func randomDuration(upTo time.Duration) time.Duration {
	if upTo <= 0 {
		return 0
	}
	return rand.N(upTo)
}
