package usercode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/job"
)

// moduleEntry is one module digest's compilation, shared by all the runs that use it. sem
// (capacity 1) is held while fetching and compiling, so concurrent first uses compile once
// while each waiter can still give up on its own context.
type moduleEntry struct {
	sem chan struct{}
	cm  wazero.CompiledModule
	// fault is what is wrong with the module itself (it does not compile, or is no WASI
	// command), after "module NAME ": final.
	fault string
}

// wasiFunc is the signature of a function WASI provides.
type wasiFunc struct{ params, results []api.ValueType }

// startWasm makes the one wazero runtime of r, with WASI preview 1 instantiated in it.
func (r *Runtime) startWasm(pages uint32) error {
	cache, err := wazero.NewCompilationCacheWithDir(r.cacheDir)
	if err != nil {
		return fmt.Errorf("usercode: compilation cache: %w", err)
	}
	ctx := context.Background()
	// This runtime compiles and checks modules; a child process runs them (child.go).
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(cache, pages))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		_ = cache.Close(ctx)
		return fmt.Errorf("usercode: instantiate wasi: %w", err)
	}
	defs := map[string]wasiFunc{}
	for name, d := range rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions() {
		defs[name] = wasiFunc{params: d.ParamTypes(), results: d.ResultTypes()}
	}
	r.rt, r.cache, r.wasiDefs = rt, cache, defs
	r.checker = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(pages))
	return nil
}

// Check validates a module at submit time: it must decode and validate under this node's
// limits, be a WASI command (export _start and its memory) and import nothing but WASI
// preview 1. A fault of the module is a *job.UserError naming it; other errors are the node's.
// It uses wazero's interpreter, which only decodes and validates: a tenth of a second for
// Go's output, where compiling it to machine code takes seconds (half a minute under the race
// detector). Nodes compile a module at its first run.
func (r *Runtime) Check(ctx context.Context, wasm []byte, name string) error {
	if !r.enter() {
		return ErrClosed
	}
	defer r.runs.Done()
	cm, err := compileGuarded(ctx, r.checker, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &job.UserError{Reason: "module " + name + " " + r.moduleFault(err)}
	}
	defer cm.Close(ctx)
	if err := r.validate(cm); err != nil {
		return &job.UserError{Reason: "module " + name + " " + err.Error()}
	}
	return nil
}

// Prepare compiles a module into the compilation cache and keeps it, as its first run here
// would: for a tool that fills a cache ahead of the runs. Its errors are those of Check.
func (r *Runtime) Prepare(ctx context.Context, wasm []byte, name string) error {
	if !r.enter() {
		return ErrClosed
	}
	defer r.runs.Done()
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	_, err := r.module(ctx, digest, name, func(context.Context) ([]byte, error) { return wasm, nil })
	return err
}

// moduleFault says what is wrong with a module that wazero refused to compile.
func (r *Runtime) moduleFault(err error) string {
	if strings.Contains(err.Error(), "over limit of") {
		return fmt.Sprintf("needs more memory than the %s this node allows (node --task-memory): %v", sizeString(r.memLimit), err)
	}
	return fmt.Sprintf("is not a valid WebAssembly module: %v", err)
}

// compileGuarded compiles wasm with rt, turning a panic of the compiler into an error.
func compileGuarded(ctx context.Context, rt wazero.Runtime, wasm []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("compiler panicked: %v", v)
		}
	}()
	return rt.CompileModule(ctx, wasm)
}

// module returns the compiled module of digest, compiling it on its first use: load gives its
// bytes (from Blob for a run, the submitted bytes for Check).
func (r *Runtime) module(ctx context.Context, digest, name string, load func(context.Context) ([]byte, error)) (wazero.CompiledModule, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	e := r.modules[digest]
	if e == nil {
		e = &moduleEntry{sem: make(chan struct{}, 1)}
		r.modules[digest] = e
	}
	r.mu.Unlock()

	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-e.sem }()
	if e.fault != "" {
		return nil, &job.UserError{Reason: "module " + name + " " + e.fault}
	}
	if e.cm != nil {
		return e.cm, nil
	}
	wasm, err := load(ctx)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(wasm); hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("usercode: module %s: its bytes have digest %x: refusing to run them", short(digest), sum)
	}
	cm, err := r.compile(ctx, wasm, digest)
	if err != nil {
		var pathErr *fs.PathError
		var linkErr *os.LinkError
		var sysErr *os.SyscallError
		switch {
		case r.isClosed():
			return nil, ErrClosed
		case ctx.Err() != nil: // gave up waiting for another compilation
			return nil, context.Cause(ctx)
		case errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr):
			// The disk cache failed, not the module: not final.
			return nil, fmt.Errorf("usercode: compile module %s: %w", short(digest), err)
		default:
			e.fault = r.moduleFault(err)
		}
		return nil, &job.UserError{Reason: "module " + name + " " + e.fault}
	}
	if err := r.validate(cm); err != nil {
		_ = cm.Close(ctx)
		e.fault = err.Error()
		return nil, &job.UserError{Reason: "module " + name + " " + e.fault}
	}
	e.cm = cm
	return cm, nil
}

// blobLoader loads a module's bytes from the node's blob store.
func (r *Runtime) blobLoader(digest string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		if r.cfg.Blob == nil {
			return nil, errors.New("usercode: no blob store to fetch modules from")
		}
		path, err := r.cfg.Blob(ctx, digest)
		if err != nil {
			return nil, fmt.Errorf("usercode: fetch module %s: %w", short(digest), err)
		}
		wasm, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("usercode: read module %s: %w", short(digest), err)
		}
		return wasm, nil
	}
}

// compile compiles a module, calling OnCompile when it was a real compilation. wazero does not
// tell whether CompileModule found the module in its directory cache, so compilations are
// serialized and one that added or rewrote a file in the cache directory is counted as real:
// wazero writes an entry exactly when it compiled. (Another process compiling into the same
// directory at the same moment could be miscounted; a node owns its directory.)
func (r *Runtime) compile(ctx context.Context, wasm []byte, digest string) (wazero.CompiledModule, error) {
	select {
	case r.compiling <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-r.compiling }()
	before := r.cacheEntries()
	start := time.Now()
	cm, err := compileGuarded(ctx, r.rt, wasm)
	if err != nil {
		return nil, err
	}
	compiled := r.cacheChanged(before)
	r.log.Debug("module ready", zap.String("module", short(digest)), zap.Bool("compiled", compiled),
		zap.Int("bytes", len(wasm)), zap.Duration("took", time.Since(start)))
	if compiled && r.cfg.OnCompile != nil {
		r.cfg.OnCompile()
	}
	return cm, nil
}

// cacheEntries lists the files of the compilation cache (wazero keeps them in one directory per
// wazero version and platform) with their modification times.
func (r *Runtime) cacheEntries() map[string]time.Time {
	out := map[string]time.Time{}
	_ = filepath.WalkDir(r.cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".tmp") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			out[path] = info.ModTime()
		}
		return nil
	})
	return out
}

func (r *Runtime) cacheChanged(before map[string]time.Time) bool {
	for path, mod := range r.cacheEntries() {
		if old, ok := before[path]; !ok || !old.Equal(mod) {
			return true
		}
	}
	return false
}

// validate checks that a compiled module can run here as a WASI command, so that a bad one is
// refused with a clear message at submit time rather than failing each of its attempts.
func (r *Runtime) validate(cm wazero.CompiledModule) error {
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("imports function %s.%s, which this node does not provide: a module may import only WASI preview 1 (%s)",
				mod, name, wasi_snapshot_preview1.ModuleName)
		}
		want, ok := r.wasiDefs[name]
		if !ok {
			return fmt.Errorf("imports %s.%s, which is not a WASI preview 1 function", mod, name)
		}
		if !slices.Equal(want.params, d.ParamTypes()) || !slices.Equal(want.results, d.ResultTypes()) {
			return fmt.Errorf("imports %s.%s with the wrong signature", mod, name)
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return fmt.Errorf("imports memory %s.%s: a WASI command defines its own memory", mod, name)
	}
	start, ok := cm.ExportedFunctions()["_start"]
	if !ok {
		return errors.New("exports no _start function: it is not a WASI command (build Go with GOOS=wasip1 GOARCH=wasm go build)")
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return errors.New("has a _start function that takes or returns values")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return errors.New("exports no memory named \"memory\", which WASI needs")
	}
	return nil
}

// runWasm runs one instance of a module, in a process of its own (see child.go): a fresh
// instance per run, so runs share nothing, stopped by killing its process.
func (r *Runtime) runWasm(ctx context.Context, p job.Program) error {
	if _, err := r.module(ctx, p.Cmd.Module, p.Cmd.Args[0], r.blobLoader(p.Cmd.Module)); err != nil {
		return prepared(ctx, err) // compiled here once, into the cache the child reads
	}
	if err := nativeSupported(); err != nil {
		return err
	}
	path, err := r.cfg.Blob(ctx, p.Cmd.Module)
	if err != nil {
		return prepared(ctx, err)
	}
	if path, err = filepath.Abs(path); err != nil { // the child runs elsewhere
		return err
	}
	for _, kv := range p.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("usercode: environment entry %q is not KEY=VALUE", kv)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("usercode: the WebAssembly runner: %w", err)
	}
	req, err := json.Marshal(childRequest{Module: path, CacheDir: r.cacheDir, Pages: uint32(r.memLimit / pageSize), Args: p.Cmd.Args, Env: p.Env})
	if err != nil {
		return err
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("usercode: pipes: %w", err)
	}
	defer reqR.Close()
	defer reqW.Close()
	resR, resW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("usercode: pipes: %w", err)
	}
	defer resR.Close()
	defer resW.Close()
	// The request is small: it fits the pipe's buffer before the child reads it.
	if _, err := reqW.Write(req); err != nil {
		return fmt.Errorf("usercode: the WebAssembly runner's request: %w", err)
	}
	reqW.Close()

	s := newSession(ctx, p, r.maxOutput)
	defer s.close()
	return runProcess(s, process{
		path: exe, args: []string{exe}, env: []string{childEnv + "=1"}, dir: r.tasksDir,
		extra: []*os.File{reqR, resW},
		outcome: func(waitErr error) error {
			resW.Close() // the child's copy is gone with it: the read ends
			res, reported := readResult(resR)
			ok := reported && waitErr == nil && res.Trap == "" && res.Exit == 0
			return s.outcome(ok, func() error {
				if r.isClosed() {
					return ErrClosed
				}
				if !reported {
					return fmt.Errorf("usercode: the WebAssembly runner of %s ended without a result (%v): %s", p.Cmd.Args[0], waitErr, s.stderr.suffix())
				}
				what := "trap: " + res.Trap
				if res.Trap == "" {
					what = fmt.Sprintf("exit status %d", res.Exit) // signed, as a shell shows os.Exit(-1)
				}
				if res.MemoryFull || s.stderr.saidOutOfMemory() {
					return s.userError("memory limit of %s reached (node --task-memory): %s", sizeString(r.memLimit), what)
				}
				return s.userError("%s", what)
			})
		},
	})
}

func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// short is a digest's first 12 digits, enough in messages.
func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// sizeString writes a byte count in the unit the flags use.
func sizeString(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
