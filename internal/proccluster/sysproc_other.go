//go:build !linux

package proccluster

import "os/exec"

// orphanGuard does nothing where the kernel cannot kill a child with its parent.
func orphanGuard(*exec.Cmd) {}
