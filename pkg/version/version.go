// Package version says which build of dlbp is running: its module version, the commit it was
// built from and the Go that built it, as the Go toolchain stamped them into the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is what a binary knows of its own build.
type Info struct {
	Version  string // the module version, or "devel" for a build from a checkout
	Commit   string // the VCS revision (12 hex digits, "+dirty" when the tree had changes), or "unknown"
	Go       string // the Go version that built it
	Platform string // GOOS/GOARCH
}

// Get reads the build information of the running binary.
func Get() Info {
	i := Info{Version: "devel", Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		i.Version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Commit = s.Value[:min(len(s.Value), 12)]
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && i.Commit != "unknown" {
		i.Commit += "+dirty"
	}
	return i
}

// String is the line a binary's --version prints: "NAME VERSION (commit C, GO, OS/ARCH)".
func (i Info) String(name string) string {
	return fmt.Sprintf("%s %s (commit %s, %s, %s)", name, i.Version, i.Commit, i.Go, i.Platform)
}
