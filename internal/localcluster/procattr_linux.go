package localcluster

import "syscall"

// componentProcAttr puts a component in its own process group (stopped
// with it) and has the kernel kill it if the test process dies first, so
// that no etcd or apiserver outlives a killed test run.
func componentProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
