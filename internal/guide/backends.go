package guide

import "time"

// BackendResult is how one probe of a ready endpoint ended: the guide's
// "Are the Pods working?" step, `wget` of each pod IP:port, done by the
// backends collector.
type BackendResult string

const (
	// BackendAnswering: the connection was accepted (and an HTTP GET,
	// where the port speaks HTTP, got an answer below 500).
	BackendAnswering BackendResult = "answering"
	// BackendRefused: the endpoint's address answered with a reset:
	// nothing listens on the port. The application, not the network.
	BackendRefused BackendResult = "refused"
	// BackendTimeout: nothing came back: a drop on the way, typically a
	// NetworkPolicy, or a node or link that is gone.
	BackendTimeout BackendResult = "timeout"
	// BackendUnreachable: the network said there is no way there (no
	// route, host unreachable).
	BackendUnreachable BackendResult = "unreachable"
	// BackendError: connected, but the answer was wrong: an HTTP status of
	// 500 or above, a TLS handshake that failed, a reset once connected.
	BackendError BackendResult = "error"
)

// BackendResults are every result, answering first.
var BackendResults = []BackendResult{BackendAnswering, BackendRefused, BackendTimeout, BackendUnreachable, BackendError}

// BackendVerdict is a Service's data-plane verdict from its endpoints'
// probes, kept apart from the API's Verdict: a Service can be ok by the
// API (ready endpoints) and not answer.
type BackendVerdict string

const (
	// BackendsAnswer: every endpoint probed answered.
	BackendsAnswer BackendVerdict = "answering"
	// BackendsNotAnswering: a ready endpoint refused or answered wrong:
	// its application does not serve the port its readiness vouches for.
	BackendsNotAnswering BackendVerdict = "not_answering"
	// BackendsUnreachable: on a port where some endpoints answer, others
	// time out or are unreachable (or the Service said the exporter is let
	// in): the network between the exporter and those endpoints.
	BackendsUnreachable BackendVerdict = "unreachable"
	// BackendsNoAccess: every endpoint probed timed out or was unreachable,
	// and the Service did not say the exporter may reach it: most likely a
	// NetworkPolicy that keeps the exporter out, which pages nobody.
	BackendsNoAccess BackendVerdict = "no_access"
)

// BackendVerdicts are every backend verdict, the healthy one first, each
// with the alert it raises ("" for none).
var BackendVerdicts = []struct {
	Verdict BackendVerdict
	Alert   string
}{
	{BackendsAnswer, ""},
	{BackendsNotAnswering, "ServiceEndpointsNotAnswering"},
	{BackendsUnreachable, "ServiceEndpointsUnreachable"},
	{BackendsNoAccess, ""},
}

// BackendVerdictValues lists the backend verdicts.
func BackendVerdictValues() []BackendVerdict {
	out := make([]BackendVerdict, len(BackendVerdicts))
	for i, v := range BackendVerdicts {
		out[i] = v.Verdict
	}
	return out
}

// BackendCounts are the endpoints of one Service port by their last
// probe's result.
type BackendCounts map[BackendResult]int

// lost are the endpoints that nothing came back from.
func (c BackendCounts) lost() int { return c[BackendTimeout] + c[BackendUnreachable] }

// JudgeBackends is a Service's backend verdict from its ports' counts;
// reachable says the Service declared the exporter let in
// (kube-triage.io/probe-backends: "true"). ok is false when nothing has
// been probed yet.
func JudgeBackends(ports []BackendCounts, reachable bool) (v BackendVerdict, ok bool) {
	probed, refused, unreachable, lost := 0, false, false, false
	for _, c := range ports {
		for _, n := range c {
			probed += n
		}
		refused = refused || c[BackendRefused]+c[BackendError] > 0
		if c.lost() > 0 {
			lost = true
			unreachable = unreachable || reachable || c[BackendAnswering] > 0
		}
	}
	switch {
	case probed == 0:
		return "", false
	case refused:
		return BackendsNotAnswering, true
	case unreachable:
		return BackendsUnreachable, true
	case lost:
		return BackendsNoAccess, true
	}
	return BackendsAnswer, true
}

// BackendEndpoint is one endpoint's last probe, for the walks.
type BackendEndpoint struct {
	Port, Addr string
	Result     BackendResult
	Err        string
	At         time.Time
}

// Alert is the alert a backend verdict raises; "" for none.
func (v BackendVerdict) Alert() string {
	for _, bv := range BackendVerdicts {
		if bv.Verdict == v {
			return bv.Alert
		}
	}
	return ""
}
