package usercode

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/tetratelabs/wazero/sys"
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
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true). // an endless loop ends with its context
		WithMemoryLimitPages(pages)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
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
	return nil
}

// Check validates a module at submit time: it must compile under this node's limits, be a
// WASI command (export _start and its memory) and import nothing but WASI preview 1. A fault
// of the module is a *job.UserError naming it; other errors are the node's. The compiled
// module is kept, so a run of it here later does not compile it again.
func (r *Runtime) Check(ctx context.Context, wasm []byte, name string) error {
	if !r.enter() {
		return ErrClosed
	}
	defer r.runs.Done()
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	_, err := r.module(ctx, digest, name, func(context.Context) ([]byte, error) { return wasm, nil })
	return err
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
		case strings.Contains(err.Error(), "over limit of"):
			e.fault = fmt.Sprintf("needs more memory than the %s this node allows (node --task-memory): %v", sizeString(r.memLimit), err)
		default:
			e.fault = fmt.Sprintf("is not a valid WebAssembly module: %v", err)
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
	cm, err := func() (cm wazero.CompiledModule, err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("compiler panicked: %v", v)
			}
		}()
		return r.rt.CompileModule(ctx, wasm)
	}()
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

// runWasm runs one instance of a module: a fresh instance per run, so runs share nothing.
func (r *Runtime) runWasm(ctx context.Context, p job.Program) error {
	cm, err := r.module(ctx, p.Cmd.Module, p.Cmd.Args[0], r.blobLoader(p.Cmd.Module))
	if err != nil {
		return prepared(ctx, err)
	}
	s := newSession(ctx, p, r.maxOutput)
	defer s.close()

	mc := wazero.NewModuleConfig().
		WithName("").         // anonymous: instances of one module run side by side
		WithStartFunctions(). // _start is called below, to keep the instance for its memory
		WithArgs(p.Cmd.Args...).
		WithStdin(input{s}).
		WithStdout(output{s}).
		WithStderr(s.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(sleeper(s.ctx)).
		WithRandSource(rand.Reader)
	for _, kv := range p.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("usercode: environment entry %q is not KEY=VALUE", kv)
		}
		mc = mc.WithEnv(k, v)
	}

	mod, err := r.rt.InstantiateModule(s.ctx, cm, mc)
	if err != nil {
		return s.outcome(false, func() error {
			if r.isClosed() {
				return ErrClosed
			}
			return s.userError("cannot instantiate module %s: %v", p.Cmd.Args[0], err)
		})
	}
	defer mod.Close(context.Background())
	mem := mod.Memory()
	_, err = mod.ExportedFunction("_start").Call(s.ctx)

	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	// Closing the runtime closes its instances with status 0: that is no success.
	ok := (err == nil || isExit && exit.ExitCode() == 0) && !r.isClosed()
	return s.outcome(ok, func() error {
		if r.isClosed() {
			return ErrClosed
		}
		// The session's context ending (wazero's exit codes for a cancelled context) was
		// handled by outcome: what is left is the program's own end. A status is shown signed
		// as a shell would (Go's os.Exit(-1) is proc_exit(0xffffffff)).
		what := "trap: " + err.Error()
		if isExit {
			what = fmt.Sprintf("exit status %d", int32(exit.ExitCode()))
		}
		if r.memoryFull(mem) || s.stderr.saidOutOfMemory() {
			return s.userError("memory limit of %s reached (node --task-memory): %s", sizeString(r.memLimit), what)
		}
		return s.userError("%s", what)
	})
}

// memoryFull reports whether an instance's memory is at (within a 16th of) the limit: the
// sign that its allocator failed to grow it, whatever it then printed. Go's runtime grows the
// memory in steps of megabytes, so a failed step leaves it a little short of the limit.
func (r *Runtime) memoryFull(mem api.Memory) bool {
	return mem != nil && int64(mem.Size()) >= r.memLimit-r.memLimit/16
}

func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// sleeper is the instance's clock sleep (poll_oneoff with a clock): a real sleep that wakes
// when the run is stopped, so that a module sleeping for an hour stops with its context
// (wazero checks the context only in the module's code, not in a host call).
func sleeper(ctx context.Context) sys.Nanosleep {
	return func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
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
