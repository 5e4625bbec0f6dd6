package localcluster

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// hack/test.sh blackholes exactly the ranges the test clusters use.
func TestTestScriptGuardsTheClusterRanges(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "..", "hack", "test.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^guarded_ranges=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("hack/test.sh sets no guarded_ranges=(...)")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, GuardedRanges) {
		t.Errorf("hack/test.sh guards %v, the test clusters use %v", got, GuardedRanges)
	}
}

// Under make test as root, the host's routes to those ranges are
// blackholes: asked of the routing table (ip route get), which sends
// nothing.
func TestHostRoutesToTheClusterRangesAreBlackholes(t *testing.T) {
	added := strings.Fields(os.Getenv("KUBE_TRIAGE_BLACKHOLES"))
	if len(added) == 0 {
		t.Log("not under hack/test.sh as root: it added no blackhole routes to check")
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) is missing; make test installs it")
	}
	for _, r := range added {
		p := netip.MustParsePrefix(r)
		out, err := exec.Command("ip", "route", "get", p.Addr().Next().String()).CombinedOutput()
		// A blackhole route makes `ip route get` fail ("Invalid argument")
		// or print "blackhole".
		if err == nil && !strings.Contains(string(out), "blackhole") {
			t.Errorf("%s routes somewhere from the host's network namespace: %s", r, out)
		}
	}
}
