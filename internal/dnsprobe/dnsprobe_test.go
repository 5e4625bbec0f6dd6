package dnsprobe

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kube-triage/kube-triage-exporter/internal/testbed/testenv"
)

// fakeDNS is a real DNS server on loopback whose answers the test chooses
// by name.
func fakeDNS(t testing.TB, handle dns.HandlerFunc) string {
	return testenv.DNSServer(t, "127.0.0.1", handle)
}

// clusterDNS answers like CoreDNS for cluster.local, and misbehaves on
// chosen names.
func clusterDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	name := q.Question[0].Name
	a := func(ip string) dns.RR {
		rr, _ := dns.NewRR(name + " 5 IN A " + ip)
		return rr
	}
	_, isTCP := w.RemoteAddr().(*net.TCPAddr)
	switch name {
	case "kubernetes.default.svc.cluster.local.":
		m.Answer = []dns.RR{a("10.96.0.1")}
	case "broken.default.svc.cluster.local.":
		m.Rcode = dns.RcodeServerFailure
	case "slow.default.svc.cluster.local.":
		return // never answers
	case "big.default.svc.cluster.local.":
		if !isTCP {
			m.Truncated = true
		} else {
			m.Answer = []dns.RR{a("10.96.0.7"), a("10.96.0.8")}
		}
	case "empty.default.svc.cluster.local.":
		// NOERROR, no records (NODATA)
	default:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

var podResolvConf = ResolvConf{
	Search: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
	Ndots:  5,
}

func TestLookupThroughSearchPath(t *testing.T) {
	server := fakeDNS(t, clusterDNS)
	p := Prober{Timeout: 300 * time.Millisecond}
	ctx := context.Background()
	cases := []struct {
		name      string
		rcode     int
		addrs     []string
		answered  string
		queries   int
		nxdomains int
		timeout   bool
	}{
		// The guide's control case: the second suffix answers.
		{"kubernetes.default", dns.RcodeSuccess, []string{"10.96.0.1"}, "kubernetes.default.svc.cluster.local.", 2, 1, false},
		{"kubernetes.default.svc.cluster.local.", dns.RcodeSuccess, []string{"10.96.0.1"}, "kubernetes.default.svc.cluster.local.", 1, 0, false},
		// Every candidate NXDOMAIN: 3 suffixes and the name itself.
		{"nosuch", dns.RcodeNameError, nil, "", 4, 4, false},
		// A server failure stops the walk: the server is the problem.
		{"broken", dns.RcodeServerFailure, nil, "", 1, 0, false},
		// Truncated over UDP, answered over TCP.
		{"big", dns.RcodeSuccess, []string{"10.96.0.7", "10.96.0.8"}, "big.default.svc.cluster.local.", 2, 0, false},
		// NODATA goes on to the next candidate, which is NXDOMAIN.
		{"empty", dns.RcodeNameError, nil, "", 4, 3, false},
		// No answer: one retry, then a timeout.
		{"slow", -1, nil, "", 2, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := p.Lookup(ctx, server, podResolvConf, tc.name, dns.TypeA)
			var got []string
			for _, a := range r.Addrs {
				got = append(got, a.String())
			}
			if r.Rcode != tc.rcode || !slices.Equal(got, tc.addrs) || r.Answered != tc.answered ||
				r.Queries != tc.queries || r.NXDomains != tc.nxdomains || (r.Err != nil) != tc.timeout {
				t.Errorf("got %+v", r)
			}
			if tc.timeout && !isTimeout(r.Err) {
				t.Errorf("err %v, want a timeout", r.Err)
			}
		})
	}
}

func TestLookupServerGone(t *testing.T) {
	gone := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreeUDPPort(t)))
	start := time.Now()
	r := Prober{Timeout: 2 * time.Second}.Lookup(context.Background(), gone, podResolvConf, "kubernetes.default", dns.TypeA)
	if r.Err == nil || r.Rcode != -1 {
		t.Errorf("got %+v, want a transport error", r)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s; the two tries are bounded by the timeout", time.Since(start))
	}
}

func TestCandidates(t *testing.T) {
	rc := podResolvConf
	if got := rc.Candidates("hostnames"); !slices.Equal(got, []string{
		"hostnames.default.svc.cluster.local.", "hostnames.svc.cluster.local.", "hostnames.cluster.local.", "hostnames.",
	}) {
		t.Errorf("short name: %v", got)
	}
	if got := rc.Candidates("a.b.c.d.e.f"); got[0] != "a.b.c.d.e.f." || len(got) != 4 {
		t.Errorf("name with ndots dots goes as is first: %v", got)
	}
	if got := rc.Candidates("x.example.com."); !slices.Equal(got, []string{"x.example.com."}) {
		t.Errorf("absolute name: %v", got)
	}
}

func TestParseResolvConf(t *testing.T) {
	rc, err := ParseResolvConf(strings.NewReader(`# a pod's resolv.conf
search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5 timeout:2 edns0
`))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Ndots != 5 || len(rc.Search) != 3 || rc.Nameservers[0] != netip.MustParseAddr("10.96.0.10") {
		t.Errorf("got %+v", rc)
	}
	for text, want := range map[string]string{
		"nameserver not-an-ip\n":         "1: nameserver \"not-an-ip\" is not an IP address",
		"search a\noptions ndots:many\n": "2: options ndots:many is not a number",
		"search\n":                       "1: search without a domain",
		"serach a.b\n":                   "1: unknown keyword \"serach\"",
	} {
		if _, err := ParseResolvConf(strings.NewReader(text)); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}
