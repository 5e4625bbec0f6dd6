// Package dnsprobe resolves names the way a pod's resolver does (the search
// list and ndots of its resolv.conf), through a chosen DNS server, and says
// how it went: which suffix answered, how many queries it took, what came
// back.
package dnsprobe

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ResolvConf is the part of a resolv.conf that decides how a name is
// looked up.
type ResolvConf struct {
	Nameservers []netip.Addr
	Search      []string // suffixes, without the trailing dot
	Ndots       int
}

// DefaultResolvConf is what the resolver assumes without a file.
var DefaultResolvConf = ResolvConf{Ndots: 1}

// ReadResolvConf parses the file at path. Lines it cannot make sense of are
// errors naming the file and line; unknown options are ignored, as the
// resolver ignores them.
func ReadResolvConf(path string) (ResolvConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return ResolvConf{}, err
	}
	defer f.Close()
	rc, err := ParseResolvConf(f)
	if err != nil {
		return ResolvConf{}, fmt.Errorf("%s:%w", path, err)
	}
	return rc, nil
}

// ParseResolvConf parses resolv.conf text; errors start with the line
// number.
func ParseResolvConf(r io.Reader) (ResolvConf, error) {
	rc := DefaultResolvConf
	s := bufio.NewScanner(r)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) != 2 {
				return rc, fmt.Errorf("%d: nameserver wants one address, got %q", n, line)
			}
			addr, err := netip.ParseAddr(fields[1])
			if err != nil {
				return rc, fmt.Errorf("%d: nameserver %q is not an IP address", n, fields[1])
			}
			rc.Nameservers = append(rc.Nameservers, addr)
		case "search", "domain":
			if len(fields) < 2 {
				return rc, fmt.Errorf("%d: %s without a domain", n, fields[0])
			}
			rc.Search = nil // the last search or domain line wins
			for _, d := range fields[1:] {
				rc.Search = append(rc.Search, strings.TrimSuffix(d, "."))
			}
		case "options":
			for _, o := range fields[1:] {
				v, ok := strings.CutPrefix(o, "ndots:")
				if !ok {
					continue
				}
				nd, err := strconv.Atoi(v)
				if err != nil || nd < 0 {
					return rc, fmt.Errorf("%d: options ndots:%s is not a number", n, v)
				}
				rc.Ndots = min(nd, 15) // the resolver's cap
			}
		case "sortlist", "lookup", "family":
			// Understood by some resolvers, irrelevant to the lookup order.
		default:
			return rc, fmt.Errorf("%d: unknown keyword %q", n, fields[0])
		}
	}
	return rc, s.Err()
}

// Candidates lists the names the resolver tries for name, in order: a name
// with fewer dots than ndots goes through the search list first, then as
// it is; a name with at least ndots dots goes as it is first; a name ending
// in a dot is absolute and tried alone.
func (rc ResolvConf) Candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	searched := make([]string, 0, len(rc.Search))
	for _, s := range rc.Search {
		searched = append(searched, name+"."+s+".")
	}
	if strings.Count(name, ".") >= rc.Ndots {
		return append([]string{name + "."}, searched...)
	}
	return append(searched, name+".")
}

// domainName is a DNS name of letters, digits, hyphens and underscores,
// optionally absolute.
var domainName = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$`)

// IsDomainName says whether s is a name to look up: labels of letters,
// digits, hyphens and underscores, 253 bytes at most.
func IsDomainName(s string) bool { return len(s) <= 253 && domainName.MatchString(s) }
