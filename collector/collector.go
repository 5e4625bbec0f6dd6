// Package collector is the framework the exporter's collectors run on:
// the Spec a collector registers with, the Collector its constructor
// builds, the flags it declares (registered by main), the metric families
// it declares, the store of rendered samples, and the Exporter that runs
// them all. Each collector keeps its own state up to date in the
// background, and a scrape only reads that state, under a deadline, with
// every collector's success and duration reported, so that one failing
// collector never fails the scrape. The collectors themselves are the
// packages under collector/, listed in collector/registry.
package collector

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-triage/kube-triage-exporter/internal/kube"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
	"github.com/kube-triage/kube-triage-exporter/internal/schedule"
)

// Role is what part of the cluster an exporter instance watches.
type Role string

const (
	// RoleCluster is the Deployment: it watches the API and probes the
	// control plane and cluster DNS.
	RoleCluster Role = "cluster"
	// RoleNode is the DaemonSet: it probes from one node's point of view.
	RoleNode Role = "node"
)

// Roles lists the valid roles, in the order the flag help shows them.
var Roles = []Role{RoleCluster, RoleNode}

// Spec registers a collector: its name (which becomes the
// --[no-]collector.<name> flag), the roles it is on by default in, the
// metric families it exports, its probe schedule's defaults, and its
// configuration, which builds it.
type Spec struct {
	Name      string
	Help      string
	DefaultOn []Role
	Metrics   *Families
	// Probe is set for a collector that probes on a schedule: its
	// defaults, from which the framework makes the flags
	// --collector.<name>.interval and --collector.<name>.timeout.
	Probe *prober.Defaults
	// Config makes the collector's configuration at its defaults.
	Config func() Config
}

// EnabledByDefault reports whether the collector is on by default in role.
func (s Spec) EnabledByDefault(role Role) bool {
	for _, r := range s.DefaultOn {
		if r == role {
			return true
		}
	}
	return false
}

// Config is one collector's configuration: its flags fill it, Check
// validates it once they are parsed, New builds the collector from it.
type Config interface {
	// Flags are the collector's own flags, each setting a field of this
	// configuration.
	Flags() []Flag
	// Check is the configuration's one validation, for an enabled
	// collector, once the flags are parsed; its errors name the flag. It
	// may complete the configuration from what it reads (a file, the
	// environment).
	Check(role Role) error
	// New builds the collector from the checked configuration.
	New(Deps) (*Collector, error)
}

// Deps is what a collector is built from besides its configuration.
type Deps struct {
	Logger   *slog.Logger
	Role     Role
	NodeName string
	Kube     *kube.Client
	// Schedule is a probing collector's schedule, as its flags set it.
	Schedule prober.Schedule
}

// Informers are the shared informers a collector asks for the caches it
// reads; an error when the deps have no Kubernetes client (a test's).
func (d Deps) Informers() (*kube.Informers, error) {
	if d.Kube == nil {
		return nil, errors.New("needs a Kubernetes client configuration")
	}
	return d.Kube.Informers, nil
}

// Collector is a built collector, as its constructor hands it to the
// framework. Its samples come from exactly one of Update and Rendered;
// the rest is what it has, if anything.
type Collector struct {
	// Update sends the collector's samples at scrape time. It must not do
	// slow work: it reads what the collector keeps up to date in the
	// background, and it must return when ctx, which carries the scrape's
	// deadline, is done.
	Update func(ctx context.Context, ch chan<- prometheus.Metric) error
	// Rendered returns the samples the collector keeps rendered as objects
	// change (the collectors that follow informers, whose series are
	// many): a scrape copies their bytes.
	Rendered func() *Rendered
	// Run does the collector's background work (judging, expiring) until
	// ctx is done; nil for none. Probers are run by the framework.
	Run func(ctx context.Context)
	// Probers are the collector's probe schedules: the framework runs
	// them, exports when each last finished and its period (so that a rule
	// can tell a prober that stopped or hangs from one whose probes
	// succeed), serves their history on /probes and runs each once for
	// the triage command.
	Probers []Prober
	// Pages are pages of the collector's own (path to handler), for what
	// does not belong in labels, such as termination messages.
	Pages map[string]http.Handler
	// ConfigProblems names each problem there is now with the
	// configuration (it leaves the collector nothing, or not what it was
	// told, to probe), as a short snake_case value from a fixed set; none
	// when all is well. It must be cheap: every scrape calls it.
	ConfigProblems func() []string
	// Source is what the triage walks read of the collector: a value
	// that implements the source interfaces of internal/triage. Nil for
	// nothing.
	Source any
}

// Prober is a schedule of probe rounds (a prober.Runner).
type Prober interface {
	// Name names the prober in the probe metrics and on /probes: its
	// collector's name, or another for a collector's second schedule.
	Name() string
	Run(ctx context.Context)
	// ProbeOnce runs one round now, once the caches it reads have synced
	// or wait has passed.
	ProbeOnce(ctx context.Context, wait time.Duration)
	Rounds() *schedule.Rounds
	Period() time.Duration
	History() *prober.History
	Failures() map[string]uint64
}

// Built turns what a collector's own constructor returns into what
// Config.New returns: the collector's type says, in its Collector method,
// what the framework runs of it.
//
//	func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
//		return collector.Built(newProber(*c, d))
//	}
func Built[T interface{ Collector() *Collector }](c T, err error) (*Collector, error) {
	if err != nil {
		return nil, err
	}
	return c.Collector(), nil
}
