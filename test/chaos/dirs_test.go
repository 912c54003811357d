package chaos

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkDirsEnv, set to 1, makes the run check that nothing is left behind: the load balancers
// keep results resultTTL only, and at the end every live daemon's data directory must come
// back to its size at the start, once the last results expired and the nodes dropped what
// their jobs left (scripts/chaos.sh --check-dirs).
const checkDirsEnv = "DLBP_CHAOS_CHECK_DIRS"

// resultTTL is the load balancers' --result-ttl when data directories are checked.
const resultTTL = 20 * time.Second

func checkDirs() bool { return os.Getenv(checkDirsEnv) == "1" }

// dataSize is the bytes of the files in dir that the jobs put there: caches that are meant to
// stay (user modules and their compiled code), the state stores (bbolt files do not shrink)
// and the daemon's own files (its addresses, the peers it rejoins through) are left out.
func dataSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "blobs" || d.Name() == "wasm-cache") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && !strings.HasSuffix(d.Name(), ".db") && d.Name() != "addrs.json" && d.Name() != "peers.json" {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// liveDaemons names the daemons running now.
func (c *cluster) liveDaemons() []string {
	return append([]string{"maplb", "maplb-single", "reducelb"}, c.live...)
}

// dataSizes measures every live daemon's data directory.
func (c *cluster) dataSizes(t *testing.T) map[string]int64 {
	out := map[string]int64{}
	for _, name := range c.liveDaemons() {
		out[name] = dataSize(c.Proc(t, name).DataDir)
	}
	return out
}

// checkDirsBack waits until every live daemon's data directory is back to its size at the
// start (a node started during the run: empty of job data), and prints them.
func (c *cluster) checkDirsBack(t *testing.T, start map[string]int64) {
	// Results expire after resultTTL (checked every few seconds); map outputs of jobs a node
	// never heard the end of go after 2 minutes unnamed, looked at every 30 s.
	wait := resultTTL + 4*time.Minute
	deadline := time.Now().Add(wait)
	for {
		now := c.dataSizes(t)
		var over []string
		for _, name := range slices.Sorted(maps.Keys(now)) {
			if now[name] > start[name] {
				over = append(over, fmt.Sprintf("%s %d bytes (%d at the start)", name, now[name], start[name]))
			}
		}
		if len(over) == 0 {
			var line []string
			for _, name := range c.liveDaemons() {
				line = append(line, fmt.Sprintf("%s %d", name, now[name]))
			}
			report(t, "chaos: data directories back to their size at the start (bytes of job data): %s", strings.Join(line, ", "))
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("LEFT BEHIND: data directories not back to their size %v after the run: %s", wait, strings.Join(over, "; "))
			return
		}
		time.Sleep(5 * time.Second) // polling the disk; the condition is checked above
	}
}
