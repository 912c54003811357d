// Command dlbp is the client of a dlbp cluster: it submits jobs, waits for
// them, prints their results and reports on jobs and nodes.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
