package prober

import (
	"context"
	"sync"
	"time"
)

// paceGranularity is the shortest sleep between two dispatches: the items
// due within it go together. Waking once per item costs more CPU than the
// items themselves at thousands a second, and a timer cannot fire more
// often than about once a millisecond anyway.
const paceGranularity = 5 * time.Millisecond

// maxCatchUp is how far behind its schedule Pace catches up at once: a
// wake-up late by a few milliseconds is made good, but items held back
// longer (every worker waiting on a server that times out) are not sent
// in a burst when it comes back; the rest of the run shifts instead.
const maxCatchUp = 100 * time.Millisecond

// Pace calls fn(ctx, i) for i in [0, n), item i at start + i*over/n:
// evenly over the duration, by absolute time, so that a late wake-up is
// caught up (the items overdue, up to maxCatchUp's worth, go at once)
// instead of stretching the run. Up to workers calls run at a time, so
// that one slow call does not hold back the rate; when all are busy,
// dispatch waits for one. Pace returns
// when every call has returned, or ctx is done (false).
func Pace(ctx context.Context, n int, over time.Duration, workers int, fn func(ctx context.Context, i int)) bool {
	if n == 0 {
		return ctx.Err() == nil
	}
	items := make(chan int) // unbuffered: an item goes only to an idle worker
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range items {
				fn(ctx, i)
			}
		})
	}
	defer wg.Wait()
	defer close(items)

	start := time.Now()
	due := func(i int) time.Time { return start.Add(time.Duration(float64(over) * float64(i) / float64(n))) }
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < n; {
		// Dispatch everything due by now (and within the granularity),
		// after shifting the schedule by what is owed beyond maxCatchUp.
		now := time.Now()
		if late := now.Sub(due(i)); late > maxCatchUp {
			start = start.Add(late - maxCatchUp)
		}
		for ; i < n && !due(i).After(now.Add(paceGranularity/2)); i++ {
			select {
			case items <- i:
			case <-ctx.Done():
				return false
			}
		}
		if i == n {
			break
		}
		timer.Reset(max(paceGranularity, time.Until(due(i))))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
