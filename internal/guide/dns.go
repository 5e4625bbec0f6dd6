package guide

import "net/netip"

// DNSResult is how a lookup through one server ended.
type DNSResult string

// The results of a lookup, for the result label.
const (
	DNSSuccess     DNSResult = "success"
	DNSWrongAnswer DNSResult = "wrong_answer"
	// DNSStaleAnswer: the name of a Service that no longer exists still
	// resolves (a cache, a stuck CoreDNS watch).
	DNSStaleAnswer DNSResult = "stale_answer"
	DNSNXDomain    DNSResult = "nxdomain"
	DNSServFail    DNSResult = "servfail"
	DNSRefused     DNSResult = "refused"
	DNSOtherRcode  DNSResult = "other_rcode"
	// DNSNoAnswer: NOERROR without an address for every candidate.
	DNSNoAnswer DNSResult = "no_answer"
	DNSTimeout  DNSResult = "timeout"
	DNSError    DNSResult = "error"
)

// DNSResults are every result, success first.
var DNSResults = []DNSResult{DNSSuccess, DNSWrongAnswer, DNSStaleAnswer, DNSNXDomain, DNSServFail, DNSRefused, DNSOtherRcode, DNSNoAnswer, DNSTimeout, DNSError}

// The kinds of server a name is resolved through: the cluster DNS
// Service, each of its ready endpoints, and each nameserver of the
// resolv.conf (the node-local cache where one runs).
const (
	ServerService  = "service"
	ServerEndpoint = "endpoint"
	ServerResolver = "resolver"
)

// ServerKinds are the kinds of server, in that order.
var ServerKinds = []string{ServerService, ServerEndpoint, ServerResolver}

// Lookup is one lookup of the DNS collector's last round.
type Lookup struct {
	Server, Kind, Name string
	Result             DNSResult
	Addrs              []netip.Addr
	// Answered is the name that answered (after the search list).
	Answered string
	// Note says why an answer is wrong.
	Note string
	Err  error
}
