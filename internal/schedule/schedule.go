// Package schedule runs probes on their own clock, apart from scrapes.
package schedule

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter is the fraction of the interval by which each wait is varied, so
// that probes started together drift apart instead of firing in lock step.
const Jitter = 0.1

// Every calls fn until ctx is done: first after a random delay of up to
// min(interval, 1s), so that collectors started together do not probe in the
// same instant yet data comes promptly, then once per interval ± Jitter.
// Each call gets a context that ends after timeout. Calls never overlap: a
// slow call delays the next one rather than piling up.
func Every(ctx context.Context, interval, timeout time.Duration, fn func(context.Context)) {
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
		// Keep the period from start to start, less the time the call took.
		wait = max(0, Jittered(interval)-time.Since(start))
	}
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
