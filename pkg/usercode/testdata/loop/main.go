// Command loop never ends: it spins, or with the argument "sleep" sleeps, without reading its
// input. It first writes "started\n" to its standard output and standard error.
package main

import (
	"os"
	"time"
)

var n int

func main() {
	os.Stdout.WriteString("started\n")
	os.Stderr.WriteString("started\n")
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		for {
			time.Sleep(time.Hour)
		}
	}
	for {
		n++
	}
}
