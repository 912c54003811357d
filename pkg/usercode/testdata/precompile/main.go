// Command precompile compiles WebAssembly modules into a data directory's compilation cache,
// as package usercode does: the tests run it built without the race detector, under which
// wazero's compiler takes ten times as long, so that their runtimes find the test programs
// compiled. They build it with -ldflags=-X .../wazero/internal/version.version=V, V being the
// version wazero finds in the test binary ("dev"), which names the cache's directory and
// stamps its entries. Usage: precompile DIR MODULE...
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dlbp/dlbp/pkg/usercode"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompile DIR MODULE...")
		os.Exit(2)
	}
	dir := os.Args[1]
	ctx := context.Background()
	r, err := usercode.New(usercode.Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "precompile:", err)
		os.Exit(1)
	}
	defer r.Close(ctx)
	// One after the other: compiling in parallel was slower than this on two cores.
	for _, path := range os.Args[2:] {
		wasm, err := os.ReadFile(path)
		if err == nil {
			err = r.Prepare(ctx, wasm, filepath.Base(path))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "precompile %s: %v\n", path, err)
			r.Close(ctx)
			os.Exit(1)
		}
	}
}
