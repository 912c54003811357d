package usercode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlbp/dlbp/pkg/job"
)

// Hand-written modules, for what Go programs cannot be made to do.
var (
	header     = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	typeVoid   = []byte{0x01, 0x04, 0x01, 0x60, 0x00, 0x00}                                                      // type 0: () → ()
	funcs1     = []byte{0x03, 0x02, 0x01, 0x00}                                                                  // one function of type 0
	memory1    = []byte{0x05, 0x03, 0x01, 0x00, 0x01}                                                            // one page, no maximum
	exports    = func(start byte) []byte { return append([]byte{0x07, 0x13, 0x02, 0x06}, exportBody(start)...) } // _start, memory
	exportBody = func(start byte) []byte {
		return append(append([]byte("_start"), 0x00, start, 0x06), append([]byte("memory"), 0x02, 0x00)...)
	}

	// okModule's _start returns at once.
	okModule = cat(header, typeVoid, funcs1, memory1, exports(0), []byte{0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b})
	// unreachableModule's _start executes unreachable: a real trap.
	unreachableModule = cat(header, typeVoid, funcs1, memory1, exports(0), []byte{0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b})
	// importModule imports env.foo and calls it from _start.
	importModule = cat(header, typeVoid,
		[]byte{0x02, 0x0b, 0x01, 0x03, 'e', 'n', 'v', 0x03, 'f', 'o', 'o', 0x00, 0x00},
		funcs1, memory1, exports(1), []byte{0x0a, 0x06, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0b})
	// noStartModule exports its function as "_begin": a reactor, not a command.
	noStartModule = bytes.Replace(okModule, []byte("_start"), []byte("_begin"), 1)
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func wasmBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(progDir, "wasm", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWasmEchoByteExact(t *testing.T) {
	f := newFixture(t, Config{})
	in := make([]byte, 3<<20)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(in)
	copy(in, "every byte value follows:\n")
	for i := 0; i < 256; i++ {
		in[100+i] = byte(i)
	}
	out, err := f.run(t.Context(), job.Program{Cmd: f.wasm("echo")}, in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("output differs from input: %d bytes, want %d", len(out), len(in))
	}

	// Empty input, empty output.
	out, err = f.run(t.Context(), job.Program{Cmd: f.wasm("echo")}, nil)
	if err != nil || len(out) != 0 {
		t.Fatalf("empty input: %q, %v", out, err)
	}
}

func TestWasmConcurrentInstances(t *testing.T) {
	f := newFixture(t, Config{})
	cmd := f.wasm("echo")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			in := bytes.Repeat([]byte(fmt.Sprintf("run %d\n", i)), 10000)
			out, err := f.run(t.Context(), job.Program{Cmd: cmd}, in)
			if err != nil || !bytes.Equal(out, in) {
				t.Errorf("run %d: %d bytes, %v", i, len(out), err)
			}
		})
	}
	wg.Wait()
}

func TestWasmEnvAndArgs(t *testing.T) {
	t.Setenv("USERCODE_HOST_SECRET", "must not be seen")
	f := newFixture(t, Config{})
	env := []string{"A=1", "B=x=y", "EMPTY=", "mapreduce_task_id=task_1"}
	out, err := f.run(t.Context(), job.Program{Cmd: f.wasm("echo", "env"), Env: env}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(env, "\n") + "\n"; string(out) != want {
		t.Fatalf("environment:\n%s\nwant exactly:\n%s", out, want)
	}

	out, err = f.run(t.Context(), job.Program{Cmd: f.wasm("echo", "args", "a b", "", "ü")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "echo.wasm\nargs\na b\n\nü\n"; string(out) != want {
		t.Fatalf("args: %q, want %q", out, want)
	}

	// No environment at all.
	out, err = f.run(t.Context(), job.Program{Cmd: f.wasm("echo", "env")}, nil)
	if err != nil || len(out) != 0 {
		t.Fatalf("empty environment: %q, %v", out, err)
	}
}

func TestWasmExitStatusAndStderr(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct {
		status, stderr int
	}{{0, 10}, {1, 0}, {3, 100}, {5, 4096}, {7, 10000}} {
		t.Run(fmt.Sprintf("%d-%d", tc.status, tc.stderr), func(t *testing.T) {
			_, err := f.run(t.Context(), job.Program{Cmd: f.wasm("exit", fmt.Sprint(tc.status), fmt.Sprint(tc.stderr))}, nil)
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := fmt.Sprintf("exit status %d", tc.status)
			if tc.stderr > 0 {
				all := stderrBytes(tc.stderr)
				want += "\nstderr (last 4 KiB):\n" + string(all[max(0, len(all)-4096):])
			}
			if got := userReason(t, err); got != want {
				t.Fatalf("reason %.200q…\nwant %.200q…", got, want)
			}
		})
	}
}

func TestWasmGoPanic(t *testing.T) {
	f := newFixture(t, Config{})
	out, err := f.run(t.Context(), job.Program{Cmd: f.wasm("panic")}, nil)
	reason := userReason(t, err)
	if !strings.HasPrefix(reason, "exit status 2\nstderr (last 4 KiB):\n") ||
		!strings.Contains(reason, "nil pointer dereference") {
		t.Fatalf("reason %q", reason)
	}
	if string(out) != "about to fail\n" {
		t.Fatalf("output %q", out)
	}
}

func TestWasmTrap(t *testing.T) {
	f := newFixture(t, Config{})
	if err := f.r.Check(t.Context(), unreachableModule, "trap.wasm"); err != nil {
		t.Fatalf("check refused a valid module: %v", err)
	}
	_, err := f.run(t.Context(), job.Program{Cmd: f.module(unreachableModule)}, nil)
	reason := userReason(t, err)
	if !strings.HasPrefix(reason, "trap: ") || !strings.Contains(reason, "unreachable") {
		t.Fatalf("reason %q", reason)
	}
	_, err = f.run(t.Context(), job.Program{Cmd: f.module(okModule)}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// runUntil runs p, calling stop once the program wrote started, and returns Run's error and
// how long Run took after stop.
func runUntil(t *testing.T, f *fixture, ctx context.Context, p job.Program, stop func()) (error, time.Duration) {
	t.Helper()
	w := newSignalWriter("started\n")
	p.Stdout = w
	p.Stdin = strings.NewReader("")
	p.Name = "test/" + t.Name()
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx, p) }()
	var stopped time.Time
	select {
	case <-w.seen:
		stopped = time.Now()
		stop()
	case err := <-done:
		t.Fatalf("the program ended before it started: %v", err)
	}
	select {
	case err := <-done:
		return err, time.Since(stopped)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of the stop")
		return nil, 0
	}
}

func TestWasmEndlessLoopCancelled(t *testing.T) {
	f := newFixture(t, Config{})
	for _, mode := range []string{"spin", "sleep"} {
		t.Run(mode, func(t *testing.T) {
			cause := errors.New("the attempt was superseded")
			ctx, cancel := context.WithCancelCause(t.Context())
			err, took := runUntil(t, f, ctx, job.Program{Cmd: f.wasm("loop", mode)}, func() { cancel(cause) })
			if err != cause {
				t.Fatalf("got %v (%T), want the context's cause", err, err)
			}
			if took > 5*time.Second {
				t.Fatalf("Run returned %s after the cancel", took)
			}

			ctx, cancel2 := context.WithCancel(t.Context())
			err, _ = runUntil(t, f, ctx, job.Program{Cmd: f.wasm("loop", mode)}, cancel2)
			if !errors.Is(err, context.Canceled) || job.IsUserError(err) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
		})
	}
}

func TestWasmInactivityTimeout(t *testing.T) {
	f := newFixture(t, Config{})
	for _, mode := range []string{"spin", "sleep"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			_, err := f.run(t.Context(), job.Program{Cmd: f.wasm("loop", mode), Timeout: time.Second}, nil)
			took := time.Since(start)
			reason := userReason(t, err)
			want := "no input read and no output written for 1s (--task-timeout)\nstderr (last 4 KiB):\nstarted\n"
			if reason != want {
				t.Fatalf("reason %q, want %q", reason, want)
			}
			if took < time.Second || took > 10*time.Second {
				t.Fatalf("stopped after %s", took)
			}
		})
	}
}

// slowReader gives its bytes one at a time, each after a pause: a program reading it is never
// idle for long, whatever the timeout's multiple of the pause.
type slowReader struct {
	left  int
	pause time.Duration
}

func (r *slowReader) Read(b []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	r.left--
	b[0] = 'x'
	return 1, nil
}

func TestWasmTimeoutNotWhileReading(t *testing.T) {
	f := newFixture(t, Config{})
	// Each read waits longer than the timeout on the job's side: that wait is not the program's
	// inactivity. The timeout must still cover the start of the module's process, which is the
	// race-instrumented test binary under -race: 1.5 s there, 0.1 s otherwise.
	timeout := time.Second
	if raceEnabled {
		timeout = 4 * time.Second
	}
	var out bytes.Buffer
	err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm("echo"), Stdin: &slowReader{left: 3, pause: timeout * 3 / 2},
		Stdout: &out, Timeout: timeout, Name: "test/slow"})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "xxx" {
		t.Fatalf("output %q", out.String())
	}
}

func TestWasmMemoryLimit(t *testing.T) {
	f := newFixture(t, Config{MemoryLimit: 64 << 20})
	var out countWriter
	err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm("alloc"), Stdin: strings.NewReader(""), Stdout: &out, Name: "test/alloc"})
	reason := userReason(t, err)
	if !strings.HasPrefix(reason, "memory limit of 64 MiB reached (node --task-memory): exit status 2\nstderr (last 4 KiB):\n") {
		t.Fatalf("reason %.500q", reason)
	}
	t.Logf("%d bytes of output; reason %.300q", out.n.Load(), reason)
}

type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	return len(b), nil
}

func TestWasmOutputLimit(t *testing.T) {
	f := newFixture(t, Config{MaxOutput: 1 << 20})
	var out countWriter
	err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm("flood"), Stdin: strings.NewReader(""), Stdout: &out, Name: "test/flood"})
	if reason := userReason(t, err); reason != "wrote more than 1048576 bytes of output (node --max-task-output)" {
		t.Fatalf("reason %q", reason)
	}
	if n := out.n.Load(); n > 1<<20 || n < 1<<20-64<<10 {
		t.Fatalf("%d bytes reached stdout", n)
	}
}

// failingWriter fails with err once more than limit bytes were written to it.
type failingWriter struct {
	n, limit int
	err      error
}

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n+len(b) > w.limit {
		return 0, w.err
	}
	w.n += len(b)
	return len(b), nil
}

func TestWasmStdoutErrorReturnedAsIs(t *testing.T) {
	f := newFixture(t, Config{})
	lineErr := &job.UserError{Reason: "a line of more than 16 MiB"}
	for _, prog := range []string{"flood", "echo"} {
		w := &failingWriter{limit: 200 << 10, err: lineErr}
		err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm(prog), Stdin: bytes.NewReader(make([]byte, 1<<20)), Stdout: w, Name: "test/" + prog})
		if err != lineErr {
			t.Fatalf("%s: got %v (%T), want the writer's error itself", prog, err, err)
		}
	}
	// A plain error of the job's stream (not the program's fault) stays plain.
	ioErr := errors.New("spill disk full")
	err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm("flood"), Stdin: strings.NewReader(""),
		Stdout: &failingWriter{limit: 1000, err: ioErr}, Name: "test/io"})
	if err != ioErr {
		t.Fatalf("got %v, want %v", err, ioErr)
	}
}

func TestWasmStdinErrorReturnedAsIs(t *testing.T) {
	f := newFixture(t, Config{})
	readErr := errors.New("map input unreadable")
	err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm("echo"),
		Stdin:  io.MultiReader(strings.NewReader("some input\n"), iotestErrReader{readErr}),
		Stdout: io.Discard, Name: "test/stdin"})
	if err != readErr {
		t.Fatalf("got %v, want %v", err, readErr)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestWasmStdoutPanicIsNodeError(t *testing.T) {
	f := newFixture(t, Config{})
	err := f.r.Run(t.Context(), job.Program{Cmd: f.wasm("echo"), Stdin: strings.NewReader("x"),
		Stdout: panicWriter{}, Name: "test/panic"})
	if err == nil || job.IsUserError(err) || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("got %v, want the node's error about a panic", err)
	}
}

type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("the job layer's bug") }

func TestWasmDigestMismatch(t *testing.T) {
	f := newFixture(t, Config{})
	cmd := f.module(okModule)
	path, _ := f.blobs.blob(t.Context(), cmd.Module)
	if err := os.WriteFile(path, unreachableModule, 0o644); err != nil { // the store's file was altered
		t.Fatal(err)
	}
	_, err := f.run(t.Context(), job.Program{Cmd: cmd}, nil)
	if err == nil || job.IsUserError(err) || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("got %v, want the node's refusal of a blob whose digest differs", err)
	}

	// A blob the store cannot give is the node's error too.
	_, err = f.run(t.Context(), job.Program{Cmd: job.Command{Module: strings.Repeat("ab", 32), Args: []string{"x.wasm"}}}, nil)
	if err == nil || job.IsUserError(err) {
		t.Fatalf("got %v, want the node's error", err)
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t, Config{})
	small := newFixture(t, Config{MemoryLimit: 1 << 20})
	good := wasmBytes(t, "echo")
	if err := f.r.Check(t.Context(), good, "echo.wasm"); err != nil {
		t.Fatalf("good module refused: %v", err)
	}
	if err := f.r.Check(t.Context(), okModule, "ok.wasm"); err != nil {
		t.Fatalf("good module refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		wasm []byte
		want string
		r    *Runtime
	}{
		{"truncated.wasm", good[:len(good)/2], "module truncated.wasm is not a valid WebAssembly module: ", nil},
		{"header.wasm", good[:6], "module header.wasm is not a valid WebAssembly module: ", nil},
		{"import.wasm", importModule, "module import.wasm imports function env.foo, which this node does not provide", nil},
		{"reactor.wasm", noStartModule, "module reactor.wasm exports no _start function", nil},
		{"big.wasm", bytes.Replace(okModule, memory1, []byte{0x05, 0x03, 0x01, 0x00, 0x20}, 1), // 32 pages: 2 MiB
			"module big.wasm needs more memory than the 1 MiB this node allows (node --task-memory)", small.r},
	} {
		r := f.r
		if tc.r != nil {
			r = tc.r
		}
		err := r.Check(t.Context(), tc.wasm, tc.name)
		if reason := userReason(t, err); !strings.HasPrefix(reason, tc.want) {
			t.Errorf("%s: %q, want it to start with %q", tc.name, reason, tc.want)
		} else {
			t.Logf("%s: %s", tc.name, reason)
		}
	}

	// Running a module that fails the check fails the same way, as the user's error.
	_, err := f.run(t.Context(), job.Program{Cmd: f.module(importModule)}, nil)
	if reason := userReason(t, err); !strings.Contains(reason, "env.foo") {
		t.Fatalf("reason %q", reason)
	}
}

func TestCompileCount(t *testing.T) {
	needProgs(t)
	// A Go module compiles in seconds, but in half a minute under the race detector: there,
	// the count is checked with a module of a few bytes, which echoes nothing.
	echo, in, want := wasmBytes(t, "echo"), "hi\n", "hi\n"
	if raceEnabled {
		echo, want = okModule, ""
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	var compiles atomic.Int32
	newRT := func(dir string) *fixture {
		return newFixture(t, Config{Dir: dir, OnCompile: func() { compiles.Add(1) }})
	}
	runEcho := func(f *fixture, n int) {
		cmd := f.module(echo)
		var wg sync.WaitGroup
		for range n { // concurrent first uses
			wg.Go(func() {
				out, err := f.run(t.Context(), job.Program{Cmd: cmd}, []byte(in))
				if err != nil || string(out) != want {
					t.Errorf("%q, %v", out, err)
				}
			})
		}
		wg.Wait()
	}

	a := newRT(dirA)
	runEcho(a, 3)
	runEcho(a, 1)
	if err := a.r.Check(t.Context(), echo, "echo.wasm"); err != nil {
		t.Fatal(err)
	}
	if n := compiles.Swap(0); n != 1 {
		t.Fatalf("first runtime: %d compilations, want 1", n)
	}

	runEcho(newRT(dirB), 1)
	if n := compiles.Swap(0); n != 1 {
		t.Fatalf("runtime on a fresh directory: %d compilations, want 1", n)
	}

	runEcho(newRT(dirA), 2) // as after a restart
	if n := compiles.Swap(0); n != 0 {
		t.Fatalf("runtime on a used directory: %d compilations, want 0 (the disk cache)", n)
	}

	// Check (maplb at submit) only validates: the first run compiles.
	c := newRT(t.TempDir())
	if err := c.r.Check(t.Context(), echo, "echo.wasm"); err != nil {
		t.Fatal(err)
	}
	if n := compiles.Swap(0); n != 0 {
		t.Fatalf("Check compiled the module %d times, want 0", n)
	}
	runEcho(c, 1)
	if n := compiles.Swap(0); n != 1 {
		t.Fatalf("first run after Check: %d compilations, want 1", n)
	}
}

func TestClosedRuntime(t *testing.T) {
	f := newFixture(t, Config{})
	cmd := f.module(okModule)
	if err := f.r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := f.run(t.Context(), job.Program{Cmd: cmd}, nil)
	if err == nil || job.IsUserError(err) {
		t.Fatalf("got %v, want the node's error", err)
	}
}

// BenchmarkWasmEchoRun measures one run of a compiled Go module: instantiation, the Go
// runtime's start, copying a line, exit.
func BenchmarkWasmEchoRun(b *testing.B) {
	if noProgs != "" {
		b.Skip(noProgs)
	}
	blobs := &blobStore{dir: b.TempDir(), paths: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(progDir, "wasm", "echo"))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(blobs.dir, "echo")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	r, err := New(Config{Dir: sharedDir, Blob: func(context.Context, string) (string, error) { return path, nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	if err := r.Check(b.Context(), data, "echo.wasm"); err != nil {
		b.Fatal(err)
	}
	cmd := job.Command{Module: digestOf(data), Args: []string{"echo.wasm"}}
	for b.Loop() {
		var out bytes.Buffer
		if err := r.Run(b.Context(), job.Program{Cmd: cmd, Stdin: strings.NewReader("k\tv\n"), Stdout: &out}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCloseStopsRuns(t *testing.T) {
	f := newFixture(t, Config{})
	err, took := runUntil(t, f, t.Context(), job.Program{Cmd: f.wasm("loop")}, func() {
		if err := f.r.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want %v", err, ErrClosed)
	}
	if took > 5*time.Second {
		t.Fatalf("Run returned %s after Close", took)
	}
}
