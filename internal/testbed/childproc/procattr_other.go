//go:build !linux

package childproc

import "syscall"

// procAttr puts a program in its own process group. Outside
// Linux there is no parent-death signal: a killed test run can leave its
// components behind (the local control plane is built and tested on
// Linux; this file lets go vet and go build work elsewhere).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
