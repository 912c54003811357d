package usercode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/job"
)

// errNoExec is the node's refusal of native programs: not the program's fault, so it is no
// UserError (the scheduler should not have sent the task here).
var errNoExec = errors.New("this node does not run native programs (start it with --allow-exec)")

// runNative runs a native program in a new working directory holding the job's --files.
func (r *Runtime) runNative(ctx context.Context, p job.Program) error {
	if !r.cfg.AllowExec {
		return errNoExec
	}
	if err := nativeSupported(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(r.tasksDir, taskDirName(p.Name)+"-")
	if err != nil {
		return fmt.Errorf("usercode: working directory: %w", err)
	}
	defer r.removeDir(dir)
	for _, f := range p.Files {
		if err := r.placeFile(ctx, dir, f); err != nil {
			return prepared(ctx, err)
		}
	}
	path, err := findProgram(dir, p.Cmd.Args[0])
	if err != nil {
		return err
	}
	env := append(append([]string(nil), p.Env...),
		"PATH="+os.Getenv("PATH"), "HOME="+dir, "TMPDIR="+dir)

	s := newSession(ctx, p, r.maxOutput)
	defer s.close()
	return runProcess(s, process{path: path, args: p.Cmd.Args, env: env, dir: dir})
}

// process is one program for runProcess to run: its file, arguments (with argv[0]),
// environment and working directory; extra files become its descriptors 3 and up; outcome, when
// set, turns how the process ended (exec's Wait error) into the run's error, instead of the exit
// status of a native program.
type process struct {
	path    string
	args    []string
	env     []string
	dir     string
	extra   []*os.File
	outcome func(waitErr error) error
}

// taskDirName makes a run's name ("job/map-3.1") safe as a directory name.
func taskDirName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if len(out) > 64 {
		out = out[:64]
	}
	if out == "" {
		out = "task"
	}
	return out
}

// placeFile copies one --file into the working directory, read-only and executable (a --file
// is often the program itself), checking its digest on the way.
func (r *Runtime) placeFile(ctx context.Context, dir string, f job.File) error {
	if f.Name == "" || f.Name == "." || f.Name == ".." || strings.ContainsAny(f.Name, "/\x00") {
		return fmt.Errorf("usercode: --file %q: not a plain file name", f.Name)
	}
	if r.cfg.Blob == nil {
		return errors.New("usercode: no blob store to fetch --files from")
	}
	src, err := r.cfg.Blob(ctx, f.Digest)
	if err != nil {
		return fmt.Errorf("usercode: fetch --file %s: %w", f.Name, err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("usercode: --file %s: %w", f.Name, err)
	}
	defer in.Close()
	dst := filepath.Join(dir, f.Name)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o555)
	if err != nil {
		return fmt.Errorf("usercode: --file %s: %w", f.Name, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(dst, 0o555) // whatever the umask
	}
	if err != nil {
		return fmt.Errorf("usercode: --file %s: %w", f.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return fmt.Errorf("usercode: --file %s: blob %s has digest %s: refusing it", f.Name, short(f.Digest), short(got))
	}
	return nil
}

// findProgram resolves a command's first word: a file of that name in the working directory
// (usually a --file), a path relative to it, or a program in the node's PATH.
func findProgram(dir, name string) (string, error) {
	notFound := &job.UserError{Reason: fmt.Sprintf("program %q not found", name)}
	if !strings.Contains(name, "/") {
		local := filepath.Join(dir, name)
		if info, err := os.Stat(local); err == nil && info.Mode().IsRegular() {
			return local, nil
		}
		path, err := exec.LookPath(name)
		if err != nil || !filepath.IsAbs(path) {
			return "", notFound
		}
		return path, nil
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, name)
	}
	if info, err := os.Stat(path); err != nil || info.IsDir() {
		return "", notFound
	}
	return path, nil
}

// removeDir removes a working directory whatever the program left in it, such as
// directories without write permission.
func (r *Runtime) removeDir(dir string) {
	if err := os.RemoveAll(dir); err == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		r.log.Warn("cannot remove a task's working directory", zap.String("dir", dir), zap.Error(err))
	}
}
