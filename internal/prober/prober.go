// Package prober runs a collector's probes: on a schedule of its own (never
// at scrape time), each round under a bound, only once the caches it reads
// have synced. It keeps the last result and says when it is too old to be
// current, logs a probe's failure and its recovery once each (not every
// round), and keeps a bounded history of what each probe did for the
// /probes page.
package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

// Schedule is how often a collector probes and how long one probe may take.
type Schedule struct {
	Interval time.Duration
	Timeout  time.Duration
}

// Defaults are a probing collector's default schedule and what its flags
// say about it.
type Defaults struct {
	Schedule
	// What the collector does each interval, for the interval flag's help:
	// "probes /livez and /readyz".
	What string
	// TimeoutHelp is the timeout flag's help.
	TimeoutHelp string
}

// Validate is the one check of a schedule, for flags and constructors
// alike; its errors name the collector's flags.
func (s Schedule) Validate(collector string) error {
	if s.Interval <= 0 {
		return fmt.Errorf("--collector.%s.interval=%s: must be positive", collector, s.Interval)
	}
	if s.Timeout <= 0 {
		return fmt.Errorf("--collector.%s.timeout=%s: must be positive", collector, s.Timeout)
	}
	return nil
}

// Period is the longest a healthy prober goes between two results: its
// interval, or a round's bound (the timeout and a second of slack) when
// that is longer, as for an apiserver probed every second whose /readyz
// takes 4s to answer with etcd down.
func (s Schedule) Period() time.Duration { return max(s.Interval, s.Timeout+time.Second) }

// StalePeriods is how many periods old a result may be and still be
// current: a prober whose last round finished longer ago is stuck.
const StalePeriods = 3

// Outcome is what one probe of a round found: a target (an endpoint, a
// name through a server) and the reason it failed, "" when it succeeded.
type Outcome struct {
	Target   string
	Reason   string
	Duration time.Duration
	// Log is what the probe did, line by line (the queries sent and the
	// answers; the HTTP status and failed checks); kept in the history.
	Log []string
	// Attrs are logged with a failure (key, value pairs).
	Attrs []any
}

// Runner runs a collector's probe rounds and keeps the last result. The
// zero value is not usable: build one with New.
type Runner[R any] struct {
	cfg Config[R]

	rounds  schedule.Rounds
	history *History

	mu       sync.Mutex
	last     R
	has      bool
	states   map[string]string // reason by target, from the last round
	failures map[string]uint64 // failed outcomes by reason, since the start
}

// Config is what a Runner is built from.
type Config[R any] struct {
	// Collector names the collector (for flags, logs and the history).
	Collector string
	Schedule  Schedule
	Logger    *slog.Logger
	// Probe runs one round; its context ends at the round's bound.
	Probe func(context.Context) R
	// Outcomes lists what a round's probes found, for the log and the
	// history; nil means the rounds have none to tell.
	Outcomes func(R) []Outcome
	// Synced are the caches the probes read: the first round waits for
	// them, so that nothing not listed yet reads as missing.
	Synced []cache.InformerSynced
	// Reasons are the failure reasons the outcomes can carry: their
	// counts start at 0, so that rate() sees the first failure.
	Reasons []string
	// Summary, if set, is the one line logged per round instead of each
	// target's failures and recoveries: for a round of thousands of
	// targets that fail together when their server does. An empty msg
	// logs nothing for the round.
	Summary func(R) (msg string, attrs []any)
}

// New validates the schedule and builds a Runner.
func New[R any](c Config[R]) (*Runner[R], error) {
	if err := c.Schedule.Validate(c.Collector); err != nil {
		return nil, err
	}
	if c.Probe == nil {
		return nil, errors.New("prober: no probe")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	failures := map[string]uint64{}
	for _, r := range c.Reasons {
		failures[r] = 0
	}
	return &Runner[R]{cfg: c, history: NewHistory(c.Collector, DefaultHistoryLimit), failures: failures}, nil
}

// Run probes once per interval until ctx is done, after the caches have
// synced; the wait counts as a round that has not finished, so that a
// cache that never syncs makes the prober stale rather than silent.
func (p *Runner[R]) Run(ctx context.Context) {
	s := p.cfg.Schedule
	p.rounds.Start(s.Interval)
	if len(p.cfg.Synced) > 0 && !cache.WaitForCacheSync(ctx.Done(), p.cfg.Synced...) {
		return
	}
	schedule.Every(ctx, s.Interval, s.Period(), &p.rounds, func(round context.Context) {
		r := p.cfg.Probe(round)
		if ctx.Err() == nil { // not shutting down: a round cut short is still a result
			p.Record(r)
		}
	})
}

// ProbeOnce runs one round now and records it, once the caches have
// synced or wait has passed without them (the round then sees what there
// is): the triage command's single round.
func (p *Runner[R]) ProbeOnce(ctx context.Context, wait time.Duration) {
	if len(p.cfg.Synced) > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		cache.WaitForCacheSync(wctx.Done(), p.cfg.Synced...)
		cancel()
	}
	// Bounded by twice the timeout, not the period: one slow target must
	// not hold a command up for a whole interval.
	round, cancel := context.WithTimeout(ctx, min(p.cfg.Schedule.Period(), 2*p.cfg.Schedule.Timeout+time.Second))
	defer cancel()
	p.Record(p.cfg.Probe(round))
}

// Record makes r the current result: logs what changed since the last
// round and adds its outcomes to the history. Run calls it; tests may too.
func (p *Runner[R]) Record(r R) {
	var outcomes []Outcome
	if p.cfg.Outcomes != nil {
		outcomes = p.cfg.Outcomes(r)
	}
	at := p.rounds.Time()
	p.mu.Lock()
	previous := p.states
	p.states = make(map[string]string, len(outcomes))
	for _, o := range outcomes {
		p.states[o.Target] = o.Reason
		if o.Reason != "" {
			p.failures[o.Reason]++
		}
	}
	p.last, p.has = r, true
	p.mu.Unlock()

	p.history.Record(at, outcomes)
	if p.cfg.Summary != nil {
		if msg, attrs := p.cfg.Summary(r); msg != "" {
			p.cfg.Logger.Info(msg, attrs...)
		}
		return
	}
	for _, o := range outcomes {
		before, seen := previous[o.Target]
		switch {
		case o.Reason != "" && (!seen || before != o.Reason):
			p.cfg.Logger.Warn("probe failed", append([]any{"target", o.Target, "reason", o.Reason, "duration_seconds", o.Duration.Seconds()}, o.Attrs...)...)
		case o.Reason == "" && seen && before != "":
			p.cfg.Logger.Info("probe recovered", "target", o.Target, "was", before)
		}
	}
}

// ErrStale is returned by Last when the last round finished (or the first
// one started) more than StalePeriods periods ago.
var ErrStale = errors.New("stale")

// Last returns the last round's result while it is current. ok is false
// before the first round has finished; err wraps ErrStale when the prober
// is stuck: its last result no longer describes anything.
func (p *Runner[R]) Last() (r R, ok bool, err error) {
	if last, _, started := p.rounds.Last(); started {
		if age, limit := p.rounds.Time().Sub(last), StalePeriods*p.Period(); age > limit {
			return r, false, fmt.Errorf("%w: the last probe round finished %s ago, over %d periods of %s", ErrStale, age.Round(time.Millisecond), StalePeriods, p.Period())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.has, nil
}

// Failures are the failed outcomes by reason since the start, every
// reason of Config.Reasons among them.
func (p *Runner[R]) Failures() map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.failures)
}

// Name is the collector the Runner probes for (Config.Collector).
func (p *Runner[R]) Name() string { return p.cfg.Collector }

// Rounds is the progress of the schedule, which the collector framework
// exports.
func (p *Runner[R]) Rounds() *schedule.Rounds { return &p.rounds }

// Period is the schedule's period (see Schedule.Period).
func (p *Runner[R]) Period() time.Duration { return p.cfg.Schedule.Period() }

// History is what the probes did lately.
func (p *Runner[R]) History() *History { return p.history }
