package usercode

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// A WebAssembly module runs in a process of its own: the daemon runs its own executable again
// with childEnv set, and that process (this file) runs one instance of the module and exits.
//
// Why not in the daemon's process: stopping an instance that loops forever needs either the
// module compiled with a check of a flag at every loop and call (wazero's
// WithCloseOnContextDone), which made Go modules 3 to 4 times slower, or a process to kill. A
// process also bounds a module's memory and any bug of the runtime to one task, and it is
// stopped like a native program, by killing its process group, with the same pipes, watchdog
// and limits. The compiled code is shared through the compilation cache on disk, so a run
// costs a process start and a cache load (tens of milliseconds), not a compilation.
//
// The request comes on file descriptor 3 and the result goes to descriptor 4; standard input,
// output and error are the module's.
const childEnv = "DLBP_USERCODE_WASM_CHILD"

func init() {
	// Any binary that links this package can be the child: the daemons and their test
	// binaries. The child never returns to the program's main.
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
}

// childRequest is what the child runs.
type childRequest struct {
	Module   string   `json:"module"` // path of the module's bytes
	CacheDir string   `json:"cache"`  // the compilation cache, filled by the daemon
	Pages    uint32   `json:"pages"`  // memory limit
	Args     []string `json:"args"`
	Env      []string `json:"env"`
}

// childResult is how the instance ended.
type childResult struct {
	Exit       int32  `json:"exit"`           // the module's exit status (proc_exit), when it exited
	Trap       string `json:"trap,omitempty"` // what stopped it otherwise
	MemoryFull bool   `json:"memory_full"`    // its memory was at the limit at the end
	Pages      uint32 `json:"pages"`          // its memory's size at the end
}

// childMain runs the request read from descriptor 3 and writes the result to descriptor 4; its
// exit status is 0 when it could report, else 70 with the reason on standard error.
func childMain() int {
	req, res := os.NewFile(3, "request"), os.NewFile(4, "result")
	if req == nil || res == nil {
		fmt.Fprintln(os.Stderr, "dlbp: the WebAssembly runner needs descriptors 3 and 4")
		return 70
	}
	var r childRequest
	if err := json.NewDecoder(req).Decode(&r); err != nil {
		fmt.Fprintln(os.Stderr, "dlbp: the WebAssembly runner's request:", err)
		return 70
	}
	req.Close()
	out, err := runChild(r)
	if err == nil {
		err = json.NewEncoder(res).Encode(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dlbp: the WebAssembly runner:", err)
		return 70
	}
	return 0
}

// runChild runs the module to its end in this process.
func runChild(r childRequest) (childResult, error) {
	ctx := context.Background()
	wasm, err := os.ReadFile(r.Module)
	if err != nil {
		return childResult{}, err
	}
	cache, err := wazero.NewCompilationCacheWithDir(r.CacheDir)
	if err != nil {
		return childResult{}, err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(cache, r.Pages))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return childResult{}, err
	}
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return childResult{}, err
	}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _start is called below, to keep the instance for its memory
		WithArgs(r.Args...).
		WithStdin(os.Stdin).
		WithStdout(os.Stdout).
		WithStderr(os.Stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}
	mod, err := rt.InstantiateModule(ctx, cm, mc)
	if err != nil {
		return childResult{Trap: "cannot instantiate: " + err.Error()}, nil
	}
	_, err = mod.ExportedFunction("_start").Call(ctx)
	var res childResult
	var exit *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.Exit = int32(exit.ExitCode())
	default:
		res.Trap = err.Error()
	}
	if mem := mod.Memory(); mem != nil {
		res.Pages = mem.Size() / pageSize
		limit := uint64(r.Pages) * pageSize
		res.MemoryFull = uint64(mem.Size()) >= limit-limit/16
	}
	return res, nil
}

// runtimeConfig is the configuration of both the daemon's runtime (which compiles and checks
// modules) and the child's (which runs them): the compiled code is found in the cache only when
// the two agree.
func runtimeConfig(cache wazero.CompilationCache, pages uint32) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().WithCompilationCache(cache).WithMemoryLimitPages(pages)
}

// readResult reads the child's result, if it wrote one.
func readResult(r io.Reader) (childResult, bool) {
	var res childResult
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		return childResult{}, false
	}
	return res, true
}
