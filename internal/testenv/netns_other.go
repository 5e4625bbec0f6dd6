//go:build !linux

package testenv

import "testing"

// NeedNetns fails the test: network namespaces are Linux's.
func NeedNetns(t testing.TB) {
	t.Helper()
	t.Fatal("this test runs real node components in network namespaces, which need Linux")
}
