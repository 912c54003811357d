// Command node runs the dlbp node daemon. See DESIGN.md for its flags.
package main

import (
	"os"
	"runtime/debug"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/node"
)

func main() {
	os.Exit(daemon.Main(cluster.RoleNode, os.Args[1:], os.Stderr, func(o *daemon.Options, log *zap.Logger) (daemon.Daemon, error) {
		// Map output is budgeted to --memory; the Go heap around it needs
		// room too. A soft limit makes the collector work harder before the
		// process grows past it, instead of letting the heap double.
		debug.SetMemoryLimit(o.MemoryBytes + o.MemoryBytes/2 + 96<<20)
		return daemon.Started(node.New(*o, log, cluster.DefaultConfig()))
	}))
}
