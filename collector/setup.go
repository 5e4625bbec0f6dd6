package collector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

// Setup is the collectors of one process and their configuration: made
// from the registry's Specs at their defaults, filled by the flags
// (Flags), checked (Check), then built into an Exporter (NewExporter).
type Setup struct {
	entries []*entry
}

type entry struct {
	spec     Spec
	config   Config
	schedule prober.Schedule
	on, set  bool // --[no-]collector.<name>, and whether it was given
}

// NewSetup makes every collector's configuration at its defaults.
func NewSetup(specs []Spec) *Setup {
	s := &Setup{}
	for _, spec := range specs {
		e := &entry{spec: spec, config: DefaultConfig(spec)}
		if spec.Probe != nil {
			e.schedule = spec.Probe.Schedule
		}
		s.entries = append(s.entries, e)
	}
	return s
}

// Flags are every collector's flags: --[no-]collector.<name> for each,
// then the probing collectors' --collector.<name>.interval and .timeout,
// then each collector's own.
func (s *Setup) Flags() []Flag {
	var out []Flag
	for _, e := range s.entries {
		out = append(out, Flag{Name: "collector." + e.spec.Name, Kind: BoolFlag, IsSet: &e.set,
			Help: fmt.Sprintf("%s (default: %s).", e.spec.Help, defaultsText(e.spec)),
			Set:  Bool("", "", false, &e.on).Set})
	}
	for _, e := range s.entries {
		if d := e.spec.Probe; d != nil {
			out = append(out,
				Duration("collector."+e.spec.Name+".interval", fmt.Sprintf("How often the %s collector %s.", e.spec.Name, d.What), d.Interval, &e.schedule.Interval),
				Duration("collector."+e.spec.Name+".timeout", d.TimeoutHelp, d.Timeout, &e.schedule.Timeout))
		}
	}
	for _, e := range s.entries {
		out = append(out, e.config.Flags()...)
	}
	return out
}

func defaultsText(s Spec) string {
	if len(s.DefaultOn) == 0 {
		return "off"
	}
	var on []string
	for _, r := range s.DefaultOn {
		on = append(on, string(r))
	}
	return "on in role " + strings.Join(on, " and ")
}

// enabled are the collectors on in role: those given on the command line
// as they were given, the others as their Spec's defaults say.
func (s *Setup) enabled(role Role) []*entry {
	var out []*entry
	for _, e := range s.entries {
		if e.set && e.on || !e.set && e.spec.EnabledByDefault(role) {
			out = append(out, e)
		}
	}
	return out
}

// Enabled names the collectors on in role, in registry order.
func (s *Setup) Enabled(role Role) []string {
	var names []string
	for _, e := range s.enabled(role) {
		names = append(names, e.spec.Name)
	}
	return names
}

// Check validates the schedule and the configuration of every collector
// on in role. It runs once, after the flags are parsed.
func (s *Setup) Check(role Role) error {
	for _, e := range s.enabled(role) {
		if e.spec.Probe != nil {
			if err := e.schedule.Validate(e.spec.Name); err != nil {
				return err
			}
		}
		if err := e.config.Check(role); err != nil {
			return err
		}
	}
	return nil
}

// DefaultConfig is spec's configuration at its flags' defaults, as a
// command line without them would set it. A default its own flag does not
// parse is a bug: it panics.
func DefaultConfig(spec Spec) Config {
	c := spec.Config()
	for _, f := range c.Flags() {
		if f.Default == "" && f.Kind != ValueFlag || f.Kind == RepeatedFlag {
			continue
		}
		if err := f.Set(f.Default); err != nil {
			panic(fmt.Sprintf("collector %s: --%s=%s: %v", spec.Name, f.Name, f.Default, err))
		}
	}
	return c
}

// Only is a Setup of the named collectors alone, all on, sharing this
// one's configurations and schedules (a change to one is a change to
// both): what a one-shot triage walk builds.
func (s *Setup) Only(names ...string) *Setup {
	only := &Setup{}
	for _, e := range s.entries {
		if slices.Contains(names, e.spec.Name) {
			only.entries = append(only.entries, &entry{spec: e.spec, config: e.config, schedule: e.schedule, on: true, set: true})
		}
	}
	return only
}

// Configs are the configurations of the collectors on in role, for a
// caller that narrows one to what it needs (a triage walk narrows the DNS
// collector's to the walk's names).
func (s *Setup) Configs(role Role) []Config {
	var out []Config
	for _, e := range s.enabled(role) {
		out = append(out, e.config)
	}
	return out
}

// NoConfig is the configuration of a collector that has no flags: it is
// built by newCollector.
func NoConfig(newCollector func(Deps) (*Collector, error)) func() Config {
	return func() Config { return noConfig(newCollector) }
}

type noConfig func(Deps) (*Collector, error)

func (noConfig) Flags() []Flag                    { return nil }
func (noConfig) Check(Role) error                 { return nil }
func (n noConfig) New(d Deps) (*Collector, error) { return n(d) }
