package proccluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries names the four binaries of the module, in the order Build lists them.
var Binaries = []string{"maplb", "reducelb", "node", "dlbp"}

// ModuleRoot walks up from the working directory to the directory that holds go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("proccluster: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build runs `go build -o binDir/ ./cmd/...` in the module at root, so binDir holds maplb,
// reducelb, node and dlbp built from the code under test.
func Build(root, binDir string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("proccluster: go build ./cmd/... in %s: %w\n%s", root, err, out)
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return fmt.Errorf("proccluster: after go build: %w", err)
		}
	}
	return nil
}

// BuildProgram builds the module's command pkg (such as "./examples/wordcount") as a user
// would, into dir: as a WASI module NAME.wasm when wasm, else as a native program NAME. It
// returns the file's path.
func BuildProgram(root, dir, pkg string, wasm bool) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Dir = root
	build.Env = os.Environ()
	if wasm {
		out += ".wasm"
		build.Args[3] = out
		build.Env = append(build.Env, "GOOS=wasip1", "GOARCH=wasm")
	}
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("proccluster: building %s (wasm %v): %w\n%s", pkg, wasm, err, b)
	}
	return out, nil
}
