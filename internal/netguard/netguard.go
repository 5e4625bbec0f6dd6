// Package netguard keeps test binaries from dialling the cluster's
// addresses: the collectors that dial pod IPs and ClusterIPs run in-process
// in unit tests, in the host's network namespace, where those addresses
// route out of the machine. In a test binary only loopback may be dialled
// by them; the exporter binary, in a test's network namespace or a pod,
// dials anything.
package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

// ErrNotLoopback is the error of a dial refused in a test binary.
var ErrNotLoopback = errors.New("netguard: a test binary dials only loopback addresses (run the exporter in a network namespace to dial others)")

// Check says whether the collectors may dial addr from this process.
func Check(addr netip.Addr) error {
	if testing.Testing() && !addr.Unmap().IsLoopback() {
		return ErrNotLoopback
	}
	return nil
}
