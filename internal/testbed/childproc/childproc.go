// Package childproc starts the programs a test or the demo runs (the local
// control plane's components, exporters, kube-proxy in a node's network
// namespace) so that they die with it, however it dies.
package childproc

import (
	"os/exec"
	"runtime"
	"sync"
)

// spawner starts every child process from one OS thread that never exits:
// the parent-death signal is sent when the parent *thread* dies, and Go
// ends the thread of a goroutine that locked it and returned (as one that
// entered a network namespace does).
var spawner = sync.OnceValue(func() chan func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for f := range ch {
			f()
		}
	}()
	return ch
})

// Start starts cmd in its own process group, with the kernel told to kill
// it when this process dies (Linux).
func Start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = procAttr()
	errc := make(chan error, 1)
	spawner() <- func() { errc <- cmd.Start() }
	return <-errc
}
