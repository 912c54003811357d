package proccluster

import (
	"os/exec"
	"syscall"
)

// orphanGuard makes the kernel kill the daemon if the test process dies first (a panic, a
// `go test -timeout`), so no daemon outlives its test even when no cleanup runs.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
