package dnsprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Prober sends the queries. Each query waits at most Timeout and is tried
// at most twice: again over TCP when the UDP answer is truncated, or once
// more after a timeout.
type Prober struct {
	Timeout time.Duration
	// Trace records in Result.Log each query and its answer (for the
	// probe history); off for the sweep's thousands of lookups.
	Trace bool
}

// Result is how a lookup went.
type Result struct {
	// Rcode of the last answer; -1 when no answer came (see Err).
	Rcode int
	// Addrs are the A and AAAA records of the answer.
	Addrs []netip.Addr
	// Answered is the candidate name that got the answer; "" if none did.
	Answered string
	// Queries sent, and how many of them answered NXDOMAIN.
	Queries, NXDomains int
	Duration           time.Duration
	// Err is a transport failure: timeout, refused, unreachable.
	Err error
	// Log is each query sent and what came back, when Prober.Trace is set.
	Log []string
}

// Lookup resolves name through server (host:port) as a pod with resolv.conf
// rc would: candidates in order, going on past NXDOMAIN and empty answers,
// stopping at the first address, a server failure, or no answer at all.
func (p Prober) Lookup(ctx context.Context, server string, rc ResolvConf, name string, qtype uint16) Result {
	start := time.Now()
	r := Result{Rcode: -1}
	for _, candidate := range rc.Candidates(name) {
		sent := time.Now()
		msg, queries, err := p.exchange(ctx, server, candidate, qtype)
		r.Queries += queries
		if p.Trace {
			r.Log = append(r.Log, traceLine(server, candidate, qtype, queries, msg, err, time.Since(sent)))
		}
		if err != nil {
			r.Err = err
			break
		}
		r.Rcode = msg.Rcode
		if msg.Rcode == dns.RcodeNameError {
			r.NXDomains++
			continue
		}
		if msg.Rcode != dns.RcodeSuccess {
			break // SERVFAIL, REFUSED: the server is the problem, not the name
		}
		r.Addrs = addrs(msg)
		if len(r.Addrs) > 0 {
			r.Answered = candidate
			break
		}
	}
	r.Duration = time.Since(start)
	return r
}

// traceLine says what one question got: "A x.svc.cluster.local. @10.96.0.10:53
// (1 query, 2ms): NXDOMAIN".
func traceLine(server, name string, qtype uint16, queries int, msg *dns.Msg, err error, took time.Duration) string {
	what := fmt.Sprintf("%s %s @%s (%d %s, %s): ", dns.TypeToString[qtype], name, server, queries,
		map[bool]string{true: "query", false: "queries"}[queries == 1], took.Round(time.Microsecond))
	if err != nil {
		return what + "error: " + err.Error()
	}
	what += dns.RcodeToString[msg.Rcode]
	if msg.Truncated {
		what += " (truncated)"
	}
	for _, a := range addrs(msg) {
		what += " " + a.String()
	}
	return what
}

func addrs(msg *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range msg.Answer {
		var ip net.IP
		switch a := rr.(type) {
		case *dns.A:
			ip = a.A
		case *dns.AAAA:
			ip = a.AAAA
		default:
			continue
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out
}

// exchange sends one question, with the one retry allowed, and returns the
// answer and the number of queries it took.
func (p Prober) exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, int, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	udp := &dns.Client{Net: "udp", Timeout: p.Timeout}
	msg, err := p.once(ctx, udp, q, server)
	switch {
	case err == nil && msg.Truncated:
		msg, err = p.once(ctx, &dns.Client{Net: "tcp", Timeout: p.Timeout}, q, server)
		return msg, 2, err
	case isTimeout(err) && ctx.Err() == nil:
		msg, err = p.once(ctx, udp, q, server)
		return msg, 2, err
	}
	return msg, 1, err
}

func (p Prober) once(ctx context.Context, c *dns.Client, q *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	msg, _, err := c.ExchangeContext(ctx, q, server)
	return msg, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
