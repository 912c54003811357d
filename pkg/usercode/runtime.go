// Package usercode runs the programs of users' streaming jobs (mappers, combiners, reducers)
// for a node: WebAssembly modules in a sandbox of wazero's, or, where the node allows it,
// native programs in a working directory of their own. It implements job.Runner.
//
// Both kinds get the same contract: standard input and output are the job layer's streams,
// exactly the given environment, a tail of standard error for the failure message, and the
// same stops (the attempt's context, the inactivity timeout, the output limit, an error of
// the output stream). A failure of the program itself is a *job.UserError, which counts
// against the task; anything else is the node's.
package usercode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/job"
)

// Defaults of Config.
const (
	// DefaultMemoryLimit is a WebAssembly instance's memory when Config.MemoryLimit is 0:
	// enough for a Go program's runtime and a reducer's group of values, small enough for a
	// node to run one per core.
	DefaultMemoryLimit = 256 << 20
	// DefaultMaxOutput bounds what one run may write when Config.MaxOutput is 0: a runaway
	// program must not fill the node's disk with spill files.
	DefaultMaxOutput = 10 << 30
	// stderrTail is how much of a program's standard error a failure's reason keeps: the end
	// is where a panic or a usage message is.
	stderrTail = 4096
	pageSize   = 65536
	maxPages   = 65536 // wasm32 addresses 4 GiB
)

// Config is how a node runs user code.
type Config struct {
	// Dir is the daemon's data directory: compiled modules are cached in Dir/wasm-cache (so a
	// restarted node does not compile them again) and native runs get working directories
	// under Dir/tasks.
	Dir string
	// MemoryLimit bounds one WebAssembly instance's linear memory, in bytes, rounded down to
	// 64 KiB pages; 0 means DefaultMemoryLimit. A module that declares a larger minimum or
	// maximum does not compile.
	MemoryLimit int64
	// MaxOutput bounds the bytes one run may write to its standard output; 0 means
	// DefaultMaxOutput. Past it the run fails with a *job.UserError.
	MaxOutput int64
	// AllowExec lets the node run native programs (node --allow-exec): they run with the
	// node's rights, so this is off unless the operator trusts the jobs' authors.
	AllowExec bool
	// Blob returns the local path of a verified blob (a module or a --file) by its hex SHA-256,
	// fetching it if needed.
	Blob func(ctx context.Context, digest string) (path string, err error)
	// OnCompile is called once for each real compilation of a module, not for one found in
	// memory or in Dir/wasm-cache (the metric dlbp_module_compiles_total). May be nil.
	OnCompile func()
	// CacheDir is where compiled modules are kept; "" means Dir/wasm-cache. Daemons on one host
	// may share one (compilations are written atomically), so that a module is compiled once
	// per host.
	CacheDir string
	// Log receives the runtime's diagnostics; nil discards them.
	Log *zap.Logger
}

// Runtime runs user programs; it implements job.Runner. Its methods may be called
// concurrently. Compiled modules stay in memory, by digest, until Close.
type Runtime struct {
	cfg       Config
	log       *zap.Logger
	memLimit  int64 // bytes, a whole number of pages
	maxOutput int64
	cacheDir  string
	tasksDir  string

	rt       wazero.Runtime
	cache    wazero.CompilationCache
	wasiDefs map[string]wasiFunc // name → signature of what wasi_snapshot_preview1 exports
	checker  wazero.Runtime      // the interpreter, which Check uses to decode and validate

	mu      sync.Mutex
	modules map[string]*moduleEntry // by digest
	closed  bool

	// life ends at Close, which stops the runs still going and waits for them in runs:
	// wazero's Close is not safe while an instance is in a host call.
	life    context.Context
	endLife context.CancelFunc
	runs    sync.WaitGroup

	// compiling (capacity 1) serializes compilations, so that an entry appearing in the cache
	// directory tells which compilation wrote it (see compile).
	compiling chan struct{}
}

var _ job.Runner = (*Runtime)(nil)

// ErrClosed is what a Runtime's methods return after Close, and what runs stopped by Close
// return: the node is going away, which is no failure of the program.
var ErrClosed = errors.New("usercode: runtime is closed")

// New starts the WebAssembly runtime (and WASI) for cfg and prepares its directories.
func New(cfg Config) (*Runtime, error) {
	if cfg.Dir == "" {
		return nil, errors.New("usercode: no data directory")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("usercode: data directory: %w", err)
	}
	r := &Runtime{
		cfg:       cfg,
		log:       cfg.Log,
		memLimit:  cfg.MemoryLimit,
		maxOutput: cfg.MaxOutput,
		cacheDir:  filepath.Join(dir, "wasm-cache"),
		tasksDir:  filepath.Join(dir, "tasks"),
		modules:   map[string]*moduleEntry{},
		compiling: make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if cfg.CacheDir != "" {
		if r.cacheDir, err = filepath.Abs(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("usercode: module cache: %w", err)
		}
	}
	if r.memLimit == 0 {
		r.memLimit = DefaultMemoryLimit
	}
	pages := r.memLimit / pageSize
	if pages < 1 {
		return nil, fmt.Errorf("usercode: memory limit %d bytes is less than one 64 KiB page", cfg.MemoryLimit)
	}
	pages = min(pages, maxPages)
	r.memLimit = pages * pageSize
	if r.maxOutput <= 0 {
		r.maxOutput = DefaultMaxOutput
	}
	if err := os.MkdirAll(r.tasksDir, 0o700); err != nil {
		return nil, fmt.Errorf("usercode: %w", err)
	}
	if err := r.startWasm(uint32(pages)); err != nil {
		return nil, err
	}
	r.life, r.endLife = context.WithCancel(context.Background())
	return r, nil
}

// Run runs one user program to its end and tells how it ended (see job.Runner). A panic
// inside is returned as an error of the node's, so one bad run cannot take the node down.
func (r *Runtime) Run(ctx context.Context, p job.Program) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("panic running user code", zap.String("run", p.Name), zap.Any("panic", v), zap.Stack("stack"))
			err = fmt.Errorf("usercode: panic running %s: %v", p.Name, v)
		}
	}()
	if len(p.Cmd.Args) == 0 {
		return errors.New("usercode: empty command")
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if !r.enter() {
		return ErrClosed
	}
	defer r.runs.Done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(r.life, func() { cancel(ErrClosed) })()
	if p.Cmd.Native() {
		return r.runNative(ctx, p)
	}
	return r.runWasm(ctx, p)
}

// enter counts a run (or check) in, unless the runtime is closed.
func (r *Runtime) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.runs.Add(1)
	return true
}

// prepared is the error of a step before the program starts (fetching, compiling, placing
// files): when the run's context ended meanwhile, that is the reason.
func prepared(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !job.IsUserError(err) {
		return context.Cause(ctx)
	}
	return err
}

// Close stops the runs still going (their Run returns ErrClosed), waits for them to return
// or for ctx to end, then releases the WebAssembly runtime and every compiled module. The
// on-disk cache stays for the next process.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.endLife()
	ended := make(chan struct{})
	go func() {
		r.runs.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		r.log.Warn("closing the user code runtime with runs still going")
	}
	err := errors.Join(r.rt.Close(ctx), r.checker.Close(ctx), r.cache.Close(ctx))
	if err != nil {
		return fmt.Errorf("usercode: close: %w", err)
	}
	return nil
}
