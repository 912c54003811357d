package usercode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/dlbp/dlbp/pkg/job"
)

// The test programs, built once per test binary run into progDir by TestMain.
var (
	wasmProgs   = []string{"echo", "exit", "loop", "alloc", "panic", "flood"}
	nativeProgs = []string{"echo", "exit", "loop", "flood", "fork"}

	progDir   string // wasm/NAME and bin/NAME
	sharedDir string // the data directory of most tests' runtimes: its cache compiles each module once
	noProgs   string // why the programs could not be built, if they could not
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "usercode-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	progDir = filepath.Join(dir, "progs")
	sharedDir = filepath.Join(dir, "shared")
	if err := buildPrograms(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// buildPrograms builds testdata/NAME for WebAssembly and natively. Without a go command the
// tests that need the programs skip.
func buildPrograms() error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		noProgs = "no go command on PATH to build the test programs in testdata"
		return nil
	}
	version, err := wazeroVersion()
	if err != nil {
		return err
	}
	build := func(out string, env []string, names []string, flags ...string) error {
		args := append([]string{"build", "-o", out + string(filepath.Separator)}, flags...)
		for _, n := range names {
			args = append(args, "./testdata/"+n)
		}
		cmd := exec.Command(goCmd, args...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return nil
	}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		errs[0] = build(filepath.Join(progDir, "wasm"), []string{"GOOS=wasip1", "GOARCH=wasm"}, wasmProgs)
	})
	wg.Go(func() { errs[1] = build(filepath.Join(progDir, "bin"), nil, nativeProgs) })
	wg.Go(func() {
		errs[2] = build(filepath.Join(progDir, "tools"), nil, []string{"precompile"},
			"-ldflags=-X github.com/tetratelabs/wazero/internal/version.version="+version)
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Fill the shared directory's compilation cache from a process built without the race
	// detector: under it wazero's compiler is about ten times slower (30s for one Go module).
	args := []string{sharedDir}
	for _, n := range wasmProgs {
		args = append(args, filepath.Join(progDir, "wasm", n))
	}
	if b, err := exec.Command(filepath.Join(progDir, "tools", "precompile"), args...).CombinedOutput(); err != nil {
		return fmt.Errorf("precompile: %v\n%s", err, b)
	}
	return nil
}

// wazeroVersion is the version wazero believes it has in this test binary, which names the
// cache's directory and is checked when loading an entry: "dev" in a test binary, which has no
// module versions in its build info, but v1.12.0 in a command. The precompile command is built
// to believe the same.
func wazeroVersion() (string, error) {
	r, err := New(Config{Dir: sharedDir})
	if err != nil {
		return "", err
	}
	if err := r.Close(context.Background()); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(filepath.Join(sharedDir, "wasm-cache"))
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		name := e.Name()
		suffix := "-" + runtime.GOARCH + "-" + runtime.GOOS
		if strings.HasPrefix(name, "wazero-") && strings.HasSuffix(name, suffix) {
			return strings.TrimSuffix(strings.TrimPrefix(name, "wazero-"), suffix), nil
		}
	}
	return "", fmt.Errorf("no wazero-VERSION%s directory in the compilation cache", "-"+runtime.GOARCH+"-"+runtime.GOOS)
}

func needProgs(t *testing.T) {
	t.Helper()
	if noProgs != "" {
		t.Skip(noProgs)
	}
}

// blobStore is a node's blob store for the tests: files by digest.
type blobStore struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string
}

func newBlobStore(t *testing.T) *blobStore {
	return &blobStore{dir: t.TempDir(), paths: map[string]string{}}
}

// add stores data and returns its digest.
func (b *blobStore) add(t *testing.T, data []byte) string {
	t.Helper()
	d := digestOf(data)
	path := filepath.Join(b.dir, d)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.paths[d] = path
	b.mu.Unlock()
	return d
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// addFile stores a file's content and returns its digest.
func (b *blobStore) addFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b.add(t, data)
}

func (b *blobStore) blob(ctx context.Context, digest string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.paths[digest]
	if !ok {
		return "", fmt.Errorf("no blob %s", digest)
	}
	return p, nil
}

// fixture is a runtime and its blob store, with the test programs' digests.
type fixture struct {
	t     *testing.T
	r     *Runtime
	blobs *blobStore
}

// newFixture makes a runtime on the shared data directory (modules compile once for the whole
// test binary) unless cfg.Dir is set.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	needProgs(t)
	f := &fixture{t: t, blobs: newBlobStore(t)}
	if cfg.Dir == "" {
		cfg.Dir = sharedDir
	}
	cfg.Blob = f.blobs.blob
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	f.r = r
	return f
}

// wasm returns the command running test module name with args.
func (f *fixture) wasm(name string, args ...string) job.Command {
	d := f.blobs.addFile(f.t, filepath.Join(progDir, "wasm", name))
	return job.Command{Module: d, Args: append([]string{name + ".wasm"}, args...)}
}

// module returns the command running the given module bytes.
func (f *fixture) module(wasm []byte, args ...string) job.Command {
	return job.Command{Module: f.blobs.add(f.t, wasm), Args: append([]string{"mod.wasm"}, args...)}
}

// nativeFile returns the --file of native test program name.
func (f *fixture) nativeFile(name string) job.File {
	path := filepath.Join(progDir, "bin", name)
	info, err := os.Stat(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return job.File{Name: name, Digest: f.blobs.addFile(f.t, path), Size: info.Size()}
}

// run runs p with stdin and returns its stdout and Run's error.
func (f *fixture) run(ctx context.Context, p job.Program, stdin []byte) ([]byte, error) {
	var out bytes.Buffer
	p.Stdin = bytes.NewReader(stdin)
	p.Stdout = &out
	if p.Name == "" {
		p.Name = "test/" + f.t.Name()
	}
	err := f.r.Run(ctx, p)
	return out.Bytes(), err
}

// userReason returns err's reason, failing unless err is a *job.UserError.
func userReason(t *testing.T, err error) string {
	t.Helper()
	var u *job.UserError
	if !errors.As(err, &u) {
		t.Fatalf("got %v (%T), want a *job.UserError", err, err)
	}
	return u.Reason
}

// stderrBytes is what the exit program writes to stderr for n.
func stderrBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
		if i%64 == 63 {
			b[i] = '\n'
		}
	}
	return b
}

// signalWriter is a stdout that closes seen the first time a write contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	done bool
}

func newSignalWriter(want string) *signalWriter {
	return &signalWriter{want: want, seen: make(chan struct{})}
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(b), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
