package daemon

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dlbp/dlbp/pkg/cluster"
)

// TestSystemdUnits checks the unit files of scripts/systemd: one per
// daemon, each starting its binary with arguments the daemon accepts (the
// config file named is replaced by the shipped one of configs/), and a stop
// timeout longer than the daemon's graceful shutdown.
func TestSystemdUnits(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, role := range []cluster.Role{cluster.RoleMapLB, cluster.RoleReduceLB, cluster.RoleNode} {
		path := filepath.Join(root, "scripts", "systemd", "dlbp-"+string(role)+".service")
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		keys := map[string]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
				keys[k] = v
			}
		}
		f.Close()
		args := strings.Fields(keys["ExecStart"])
		if len(args) == 0 || filepath.Base(args[0]) != string(role) {
			t.Errorf("%s: ExecStart %q does not start the %s binary", path, keys["ExecStart"], role)
			continue
		}
		for i := 1; i < len(args)-1; i++ {
			if args[i] == "--config" {
				args[i+1] = filepath.Join(root, "configs", string(role)+".yaml")
			}
		}
		if _, err := Parse(role, args[1:], io.Discard); err != nil {
			t.Errorf("%s: the daemon refuses ExecStart's arguments: %v", path, err)
		}
		if keys["KillSignal"] != "SIGTERM" && keys["KillSignal"] != "" {
			t.Errorf("%s: KillSignal %s: the daemons shut down gracefully on SIGTERM", path, keys["KillSignal"])
		}
		if d, err := time.ParseDuration(keys["TimeoutStopSec"]); err != nil || d <= ShutdownTimeout {
			t.Errorf("%s: TimeoutStopSec %q must exceed the %s graceful shutdown", path, keys["TimeoutStopSec"], ShutdownTimeout)
		}
	}
}
