// Command fork starts a copy of itself that ignores SIGTERM and sleeps holding standard
// output, prints the child's pid, then exits ("fork exit") or sleeps too ("fork wait").
// With "fork escape" the child leaves the process group (setsid) and the parent exits.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if os.Args[1] == "child" {
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour) // holding standard output, writing nothing: the pid comes first
		return
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command(self, "child")
	cmd.Stdout = os.Stdout
	if os.Args[1] == "escape" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // out of the process group
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", cmd.Process.Pid)
	if os.Args[1] == "wait" {
		time.Sleep(time.Hour)
	}
}
