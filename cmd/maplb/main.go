// Command maplb runs the dlbp maplb daemon. See DESIGN.md for its flags.
package main

import (
	"os"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/maplb"
)

func main() {
	os.Exit(daemon.Main(cluster.RoleMapLB, os.Args[1:], os.Stderr, func(o *daemon.Options, log *zap.Logger) (daemon.Daemon, error) {
		return daemon.Started(maplb.New(*o, log, cluster.DefaultConfig()))
	}))
}
