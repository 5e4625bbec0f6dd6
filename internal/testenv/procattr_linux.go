package testenv

import "syscall"

// dieWithTest has the kernel kill a test's program when the test process
// dies before its cleanup runs (a kube-proxy left in a node namespace, an
// exporter on a port).
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
