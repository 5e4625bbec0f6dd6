// Package example is the shape of a probing collector, as
// docs/development.md shows it: a Spec, a Config with its flags and its
// one check, a prober, and the gauge it exports. It is not registered.
package example

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-triage/kube-triage-exporter/collector"
	"github.com/kube-triage/kube-triage-exporter/internal/prober"
)

var metrics collector.Families

var reachable = metrics.Gauge("example_reachable", "-",
	"1 if the last TCP connection to --collector.example.address succeeded, else 0.")

// Spec registers the collector: a line in collector/registry.
var Spec = collector.Spec{
	Name:    "example",
	Help:    "Open a TCP connection to an address",
	Metrics: &metrics,
	Probe: &prober.Defaults{Schedule: prober.Schedule{Interval: 10 * time.Second, Timeout: time.Second},
		What: "connects to its address", TimeoutHelp: "Timeout of each connection."},
	Config: func() collector.Config { return &Config{} },
}

// Config is what the collector's flags set.
type Config struct{ Address string }

// Flags declare the flags; main registers them with kingpin.
func (c *Config) Flags() []collector.Flag {
	return []collector.Flag{collector.String("collector.example.address", "The host:port to connect to.", "127.0.0.1:10027", &c.Address)}
}

// Check is the one validation, run at start-up when the collector is on.
func (c *Config) Check(collector.Role) error {
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("--collector.example.address=%q: %w", c.Address, err)
	}
	return nil
}

// New builds the collector: a prober that connects on its schedule, and
// an Update that reads its last result.
func (c *Config) New(d collector.Deps) (*collector.Collector, error) {
	p, err := prober.New(prober.Config[bool]{Collector: "example", Schedule: d.Schedule, Logger: d.Logger,
		Probe: func(ctx context.Context) bool {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.Address)
			if err == nil {
				conn.Close()
			}
			return err == nil
		}})
	if err != nil {
		return nil, err
	}
	update := func(_ context.Context, ch chan<- prometheus.Metric) error {
		ok, current, err := p.Last()
		if !current { // none yet, or stale: no false value
			return err
		}
		ch <- reachable.Value(collector.BoolFloat(ok))
		return nil
	}
	return &collector.Collector{Update: update, Probers: []collector.Prober{p}}, nil
}
