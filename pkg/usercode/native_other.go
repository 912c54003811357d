//go:build !linux

package usercode

import (
	"fmt"
	"runtime"
)

// nativeSupported refuses native programs (and WebAssembly modules, which run in a process of
// their own) off Linux: stopping a program's whole process group, and not reaping it before, is
// written for Linux only.
func nativeSupported() error {
	return fmt.Errorf("usercode: native programs are not supported on %s", runtime.GOOS)
}

func runProcess(s *session, pr process) error {
	return nativeSupported()
}
