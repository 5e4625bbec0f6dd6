package childproc

import "syscall"

// procAttr puts a program in its own process group and has the kernel
// kill it if the test process dies first, so that no etcd, exporter or
// kube-proxy outlives a killed test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
