package netguard

import (
	"net/netip"
	"testing"
)

func TestOnlyLoopbackInTests(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1": true, "127.9.9.9": true, "::1": true, "::ffff:127.0.0.1": true,
		"10.244.0.5": false, "10.96.0.10": false, "192.0.2.1": false, "fd00::1": false} {
		if err := Check(netip.MustParseAddr(addr)); (err == nil) != ok {
			t.Errorf("Check(%s) = %v, want allowed %v", addr, err, ok)
		}
	}
}
