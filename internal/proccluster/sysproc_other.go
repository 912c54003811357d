//go:build !linux

package proccluster

import (
	"os"
	"os/exec"
	"syscall"
)

// orphanGuard does nothing where the kernel cannot kill a child with its parent.
func orphanGuard(*exec.Cmd) {}

// Gone reports whether process pid has ended (as far as signalling it tells: a zombie counts as
// running here).
func Gone(pid int) bool {
	p, err := os.FindProcess(pid)
	return err != nil || p.Signal(syscall.Signal(0)) != nil
}
