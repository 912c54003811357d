//go:build linux

package usercode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dlbp/dlbp/internal/proccluster"
	"github.com/dlbp/dlbp/pkg/job"
)

// native returns a program running native test program name from the working directory, as
// a --file.
func (f *fixture) native(name string, args ...string) job.Program {
	return job.Program{
		Cmd:   job.Command{Args: append([]string{name}, args...)},
		Files: []job.File{f.nativeFile(name)},
	}
}

func TestNativeRefusedWithoutAllowExec(t *testing.T) {
	f := newFixture(t, Config{})
	_, err := f.run(t.Context(), f.native("echo"), nil)
	if err == nil || job.IsUserError(err) || err.Error() != "this node does not run native programs (start it with --allow-exec)" {
		t.Fatalf("got %v", err)
	}
}

func TestNativeEchoByteExact(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	in := make([]byte, 5<<20)
	for i := range in {
		in[i] = byte(i * 7)
	}
	out, err := f.run(t.Context(), f.native("echo"), in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("output differs: %d bytes, want %d", len(out), len(in))
	}
}

func TestNativeEnvAndFiles(t *testing.T) {
	t.Setenv("USERCODE_HOST_SECRET", "must not be seen")
	dir := t.TempDir()
	f := newFixture(t, Config{AllowExec: true, Dir: dir})
	p := f.native("echo", "env")
	p.Env = []string{"A=1", "B=x=y"}
	out, err := f.run(t.Context(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	var home string
	for _, l := range lines {
		if h, ok := strings.CutPrefix(l, "HOME="); ok {
			home = h
		}
	}
	want := []string{"A=1", "B=x=y", "PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Fatalf("environment %q, want %q", lines, want)
	}
	if !strings.HasPrefix(home, filepath.Join(dir, "tasks")+"/") {
		t.Fatalf("HOME %q is not a working directory under the data directory", home)
	}

	// The --files are in the working directory, read-only; the directory goes after the run.
	p = f.native("echo", "files")
	p.Files = append(p.Files, job.File{Name: "data.txt", Digest: f.blobs.add(t, []byte("side data\n")), Size: 10})
	p.Name = "job/map-3.1"
	out, err = f.run(t.Context(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	wd := lines[0]
	if filepath.Dir(wd) != filepath.Join(dir, "tasks") || !strings.HasPrefix(filepath.Base(wd), "job_map-3.1-") {
		t.Fatalf("working directory %q", wd)
	}
	if len(lines) != 3 || lines[1] != `data.txt -r-xr-xr-x "side data\n"` || !strings.HasPrefix(lines[2], "echo -r-xr-xr-x ") {
		t.Fatalf("files:\n%s", out)
	}
	if _, err := os.Stat(wd); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("working directory still there after the run: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tasks")); len(left) != 0 {
		t.Fatalf("left in tasks: %v", left)
	}
}

func TestNativeProgramLookup(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	// A path relative to the working directory.
	p := f.native("echo", "args")
	p.Cmd.Args[0] = "./echo"
	out, err := f.run(t.Context(), p, nil)
	if err != nil || string(out) != "./echo\nargs\n" {
		t.Fatalf("%q, %v", out, err)
	}
	// From the node's PATH.
	t.Setenv("PATH", filepath.Join(progDir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err = f.run(t.Context(), job.Program{Cmd: job.Command{Args: []string{"echo", "args", "x"}}}, nil)
	if err != nil || string(out) != "echo\nargs\nx\n" {
		t.Fatalf("%q, %v", out, err)
	}
	for _, name := range []string{"no-such-program-here", "./missing", "/no/such/program"} {
		_, err = f.run(t.Context(), job.Program{Cmd: job.Command{Args: []string{name}}}, nil)
		if reason := userReason(t, err); reason != fmt.Sprintf("program %q not found", name) {
			t.Fatalf("reason %q", reason)
		}
	}
}

func TestNativeExitStatusAndStderr(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	_, err := f.run(t.Context(), f.native("exit", "0", "100"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.run(t.Context(), f.native("exit", "4", "9000"), nil)
	all := stderrBytes(9000)
	if reason, want := userReason(t, err), "exit status 4\nstderr (last 4 KiB):\n"+string(all[len(all)-4096:]); reason != want {
		t.Fatalf("reason %.100q…, want %.100q…", reason, want)
	}
	if _, err := os.Stat("/bin/sh"); err == nil {
		_, err = f.run(t.Context(), job.Program{Cmd: job.Command{Args: []string{"/bin/sh", "-c", "echo dying >&2; kill -KILL $$"}}}, nil)
		if reason := userReason(t, err); reason != "killed by signal killed\nstderr (last 4 KiB):\ndying\n" {
			t.Fatalf("reason %q", reason)
		}
	}
}

func TestNativeUnreadInput(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	// The program exits at once; 10 MB of input meet a closed pipe, which is no error.
	_, err := f.run(t.Context(), f.native("exit", "0", "0"), make([]byte, 10<<20))
	if err != nil {
		t.Fatal(err)
	}
}

// waitDead waits until process pid is dead.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !proccluster.Gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive 5s after Run returned", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNativeChildHoldingStdout(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	// The program exits at once; its child ignores SIGTERM and sleeps with stdout open.
	start := time.Now()
	out, err := f.run(t.Context(), f.native("fork", "exit"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run returned %s after start", took)
	}
	pid, err := strconv.Atoi(strings.Fields(string(out))[0])
	if err != nil {
		t.Fatalf("output %q", out)
	}
	waitDead(t, pid)
}

func TestNativeCancelled(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := newSignalWriter("\n")
	p := f.native("fork", "wait")
	p.Stdin, p.Stdout, p.Name = strings.NewReader(""), w, "test/cancel"
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx, p) }()
	select {
	case <-w.seen:
	case err := <-done:
		t.Fatalf("the program ended before it started: %v", err)
	}
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || job.IsUserError(err) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of the cancel")
	}
	if took := time.Since(cancelled); took > 5*time.Second {
		t.Fatalf("Run returned %s after the cancel", took)
	}
	pid, err := strconv.Atoi(strings.Fields(w.String())[0])
	if err != nil {
		t.Fatalf("output %q", w.String())
	}
	waitDead(t, pid)
}

func TestNativeInactivityTimeout(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	p := f.native("loop", "sleep")
	p.Timeout = time.Second
	start := time.Now()
	out, err := f.run(t.Context(), p, nil)
	if reason, want := userReason(t, err), "no input read and no output written for 1s (--task-timeout)\nstderr (last 4 KiB):\nstarted\n"; reason != want {
		t.Fatalf("reason %q, want %q", reason, want)
	}
	if took := time.Since(start); took < time.Second || took > 10*time.Second {
		t.Fatalf("stopped after %s", took)
	}
	if string(out) != "started\n" {
		t.Fatalf("output %q", out)
	}
}

func TestNativeOutputLimit(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true, MaxOutput: 1 << 20})
	var out countWriter
	p := f.native("flood")
	p.Stdin, p.Stdout, p.Name = strings.NewReader(""), &out, "test/flood"
	err := f.r.Run(t.Context(), p)
	if reason := userReason(t, err); reason != "wrote more than 1048576 bytes of output (node --max-task-output)" {
		t.Fatalf("reason %q", reason)
	}
	if n := out.n.Load(); n > 1<<20 {
		t.Fatalf("%d bytes reached stdout", n)
	}
}

func TestNativeStdoutErrorReturnedAsIs(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	lineErr := &job.UserError{Reason: "a line of more than 16 MiB"}
	p := f.native("flood")
	p.Stdin, p.Stdout, p.Name = strings.NewReader(""), &failingWriter{limit: 1 << 20, err: lineErr}, "test/flood"
	if err := f.r.Run(t.Context(), p); err != lineErr {
		t.Fatalf("got %v (%T), want the writer's error itself", err, err)
	}
}

func TestNativeMissingBlob(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	p := f.native("echo")
	p.Files = append(p.Files, job.File{Name: "gone", Digest: strings.Repeat("cd", 32)})
	_, err := f.run(t.Context(), p, nil)
	if err == nil || job.IsUserError(err) {
		t.Fatalf("got %v, want the node's error", err)
	}
}

func TestNativeCloseStopsRuns(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	p := f.native("loop", "sleep")
	err, took := runUntil(t, f, t.Context(), p, func() {
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

func TestNativeChildLeavingTheGroup(t *testing.T) {
	f := newFixture(t, Config{AllowExec: true})
	defer func(g time.Duration) { drainGrace = g }(drainGrace)
	drainGrace = 500 * time.Millisecond
	// The child escapes the group kill: Run gives up on the output it holds, and says so.
	w := newSignalWriter("\n")
	p := f.native("fork", "escape")
	p.Stdin, p.Stdout, p.Name = strings.NewReader(""), w, "test/escape"
	err := f.r.Run(t.Context(), p)
	pid, perr := strconv.Atoi(strings.Fields(w.String())[0])
	if perr != nil {
		t.Fatalf("output %q", w.String())
	}
	defer waitDead(t, pid)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if reason := userReason(t, err); reason != `a process started by program "fork" left its process group and still holds its output` {
		t.Fatalf("reason %q", reason)
	}
}
