package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// StreamingJob is the name under which a spec carries user code (Spec.Stream) instead of a
// built-in job: Hadoop Streaming's contract, see DESIGN.md "User jobs".
const StreamingJob = "streaming"

// Defaults of a user job's retry and inactivity rules, as Hadoop's.
const (
	DefaultMaxAttempts = 4
	DefaultTaskTimeout = 10 * time.Minute
	// MaxAttemptsLimit bounds --max-attempts.
	MaxAttemptsLimit = 100
	// MaxStreamLine is the record limit of the streaming contract: a line a user program writes
	// (key, tab and value) may be at most this long; a longer one fails the attempt.
	MaxStreamLine = 16 << 20
)

// Command is one user program of a streaming job: a mapper, combiner or reducer.
type Command struct {
	// Module is the hex SHA-256 digest of the WebAssembly module the command runs; empty for a
	// native program.
	Module string `msgpack:"m,omitempty" json:"module,omitempty"`
	// Args are the command's words as the user typed them: for a module, the .wasm file's name
	// (the module's argv[0]) and its arguments; for a native program, the program (looked up in
	// the task's working directory, then in PATH) and its arguments.
	Args []string `msgpack:"a" json:"args"`
}

// Native reports whether the command runs a program of the node's own (needs --allow-exec).
func (c Command) Native() bool { return c.Module == "" }

// IsZero reports whether no command is set (an absent combiner).
func (c Command) IsZero() bool { return len(c.Args) == 0 }

// String is the command as typed, for messages and status.
func (c Command) String() string { return strings.Join(c.Args, " ") }

// File is a --file shipped with a job into every native task's working directory.
type File struct {
	Name   string `msgpack:"n" json:"name"`   // base name in the working directory
	Digest string `msgpack:"d" json:"digest"` // hex SHA-256 of its bytes
	Size   int64  `msgpack:"s" json:"size"`
}

// Stream is what a user job runs: its programs, the files they need, and how its tasks are
// retried and timed out.
type Stream struct {
	Mapper   Command `msgpack:"map" json:"mapper"`
	Reducer  Command `msgpack:"red" json:"reducer"`
	Combiner Command `msgpack:"comb,omitempty" json:"combiner,omitzero"`
	Files    []File  `msgpack:"files,omitempty" json:"files,omitempty"`
	// MaxAttempts is how many attempts of one task may fail before the job fails (0: default).
	MaxAttempts int `msgpack:"attempts,omitempty" json:"max_attempts,omitempty"`
	// TaskTimeout stops an attempt that neither reads input nor writes output for this long
	// (0: default).
	TaskTimeout time.Duration `msgpack:"timeout,omitempty" json:"task_timeout,omitempty"`
}

// Commands returns the job's commands that are set: mapper, reducer, then the combiner if any.
func (s *Stream) Commands() []Command {
	out := []Command{s.Mapper, s.Reducer}
	if !s.Combiner.IsZero() {
		out = append(out, s.Combiner)
	}
	return out
}

// NeedsExec reports whether any of the job's commands is a native program.
func (s *Stream) NeedsExec() bool {
	for _, c := range s.Commands() {
		if c.Native() {
			return true
		}
	}
	return false
}

// Attempts returns MaxAttempts with its default applied.
func (s *Stream) Attempts() int {
	if s == nil || s.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return s.MaxAttempts
}

// Timeout returns TaskTimeout with its default applied.
func (s *Stream) Timeout() time.Duration {
	if s == nil || s.TaskTimeout <= 0 {
		return DefaultTaskTimeout
	}
	return s.TaskTimeout
}

// Limits on a stream spec.
const (
	maxCommandWords = 256
	maxCommandBytes = 16 << 10
	maxFiles        = 64
)

// check validates a stream spec's shape (not whether its modules exist).
func (s *Stream) check() error {
	if s.Mapper.IsZero() {
		return errors.New("a user job needs --mapper")
	}
	if s.Reducer.IsZero() {
		return errors.New("a user job needs --reducer")
	}
	for _, c := range s.Commands() {
		n := 0
		for _, a := range c.Args {
			n += len(a)
		}
		if len(c.Args) > maxCommandWords || n > maxCommandBytes {
			return fmt.Errorf("command %.64q is too long: at most %d words and %d bytes", c.String(), maxCommandWords, maxCommandBytes)
		}
		if c.Args[0] == "" {
			return errors.New("a command's first word is empty")
		}
		if c.Module != "" && !validDigest(c.Module) {
			return fmt.Errorf("command %.64q: module digest %.80q is not a hex SHA-256", c.String(), c.Module)
		}
	}
	if len(s.Files) > maxFiles {
		return fmt.Errorf("%d files: at most %d per job", len(s.Files), maxFiles)
	}
	seen := map[string]bool{}
	for _, f := range s.Files {
		if !validFileName(f.Name) {
			return fmt.Errorf("--file %q: want a plain file name (no '/', not '.' or '..')", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("--file %q given twice", f.Name)
		}
		seen[f.Name] = true
		if !validDigest(f.Digest) || f.Size < 0 {
			return fmt.Errorf("--file %q: bad digest or size", f.Name)
		}
	}
	if len(s.Files) > 0 && !s.NeedsExec() {
		return errors.New("--file is for native programs: a WebAssembly module sees no files")
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > MaxAttemptsLimit {
		return fmt.Errorf("--max-attempts %d: want 1 to %d", s.MaxAttempts, MaxAttemptsLimit)
	}
	if s.TaskTimeout < 0 {
		return fmt.Errorf("--task-timeout %s: want a positive duration", s.TaskTimeout)
	}
	return nil
}

// validDigest reports whether d is a lower-case hex SHA-256.
func validDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidDigest reports whether d has the shape of a blob digest: lower-case hex SHA-256. Daemons
// refuse other digests, which could otherwise name paths outside their blob directory.
func ValidDigest(d string) bool { return validDigest(d) }

func validFileName(n string) bool {
	return n != "" && n != "." && n != ".." && len(n) <= 255 && !strings.ContainsAny(n, "/\x00")
}

// Runner runs user programs for a node (or for maplb in mode single, which reduces there).
type Runner interface {
	// Run runs cmd until it exits, with stdin as its standard input, stdout as its standard
	// output, and exactly env ("KEY=VALUE") as the documented environment; files are the job's
	// --files for a native program's working directory. It returns nil when the program exits
	// with status 0 and has read what it wants of stdin. A failure of the program itself (a
	// non-zero exit, a trap, its memory limit, inactivity, too much output) is a *UserError;
	// other errors (the module could not be fetched, exec not allowed here) are the node's.
	// When ctx ends, the program is stopped and Run returns soon.
	Run(ctx context.Context, p Program) error
}

// Program is one run of a user command.
type Program struct {
	Cmd    Command
	Env    []string
	Files  []File
	Stdin  io.Reader
	Stdout io.Writer
	// Timeout stops the program when it neither reads stdin nor writes stdout for this long.
	Timeout time.Duration
	// Name names the run in messages and working directories: "job/map-3.1".
	Name string
}

// UserError is the failure of a user's program: it counts against its task (retried up to the
// job's --max-attempts), not against the node that ran it.
type UserError struct {
	// Reason is the exit status or trap, and the tail of the program's standard error.
	Reason string
}

func (e *UserError) Error() string { return e.Reason }

// IsUserError reports whether err is (or wraps) a user program's failure.
func IsUserError(err error) bool {
	var u *UserError
	return errors.As(err, &u)
}
