package usercode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlbp/dlbp/pkg/job"
)

// errStopped is what a program's reads and writes get once its run is being stopped: it only
// makes the program give up sooner, the run's outcome is decided elsewhere.
var errStopped = errors.New("the run is being stopped")

// session is what one Run shares between the program's I/O and its outcome: the context that
// stops the program, the first reason of its own for stopping it (inactivity, the output
// limit, an error of the job's streams), the inactivity watchdog, and standard error's tail.
type session struct {
	ctx    context.Context // ends when the program must stop: the caller's ctx, or a reason below
	parent context.Context
	cancel context.CancelCauseFunc

	// reason is the first stop this session decided itself; Run returns it whatever the
	// program's exit said, since a program may well ignore a failed write and exit 0.
	reason atomic.Pointer[stopReason]

	stdin     io.Reader // the job's, may be nil
	stdout    io.Writer // the job's
	maxOutput int64
	written   atomic.Int64
	stderr    *tailBuffer
	dog       *watchdog // nil without a timeout
}

// stopReason is why a session stopped its program. A reason the session made up (userMade)
// gets the stderr tail appended; one from the job's streams is returned as it is.
type stopReason struct {
	err      error
	userMade bool
}

func newSession(ctx context.Context, p job.Program, maxOutput int64) *session {
	runCtx, cancel := context.WithCancelCause(ctx)
	if p.Stdout == nil {
		p.Stdout = io.Discard
	}
	s := &session{
		ctx:       runCtx,
		parent:    ctx,
		cancel:    cancel,
		stdin:     p.Stdin,
		stdout:    p.Stdout,
		maxOutput: maxOutput,
		stderr:    &tailBuffer{},
	}
	if p.Timeout > 0 {
		t := p.Timeout
		s.dog = startWatchdog(t, func() {
			s.stop(&job.UserError{Reason: fmt.Sprintf("no input read and no output written for %s (--task-timeout)", t)}, true)
		})
	}
	return s
}

// close ends the session's watchdog and context; after it no callback of the session runs.
func (s *session) close() {
	if s.dog != nil {
		s.dog.stop()
	}
	s.cancel(nil)
}

// stop records why the program must stop (the first reason wins) and stops it.
func (s *session) stop(err error, userMade bool) {
	if s.reason.CompareAndSwap(nil, &stopReason{err: err, userMade: userMade}) {
		s.cancel(err)
	}
}

// stopped returns the session's own reason for stopping the program, as Run should return
// it, or nil.
func (s *session) stopped() error {
	r := s.reason.Load()
	if r == nil {
		return nil
	}
	if u, ok := r.err.(*job.UserError); ok && r.userMade {
		return &job.UserError{Reason: u.Reason + s.stderr.suffix()}
	}
	return r.err
}

// userError is a failure of the program: what happened, then the stderr tail.
func (s *session) userError(format string, args ...any) *job.UserError {
	return &job.UserError{Reason: fmt.Sprintf(format, args...) + s.stderr.suffix()}
}

// outcome turns the end of a program into Run's result once the program is over: its own
// stops first, then success, then the caller's cancellation; fail makes the UserError of a
// program that ended on its own.
func (s *session) outcome(ok bool, fail func() error) error {
	if err := s.stopped(); err != nil {
		return err
	}
	if ok {
		return nil
	}
	if s.parent.Err() != nil {
		return context.Cause(s.parent)
	}
	return fail()
}

// input is the program's standard input: the job's stdin, watched.
type input struct{ s *session }

func (in input) Read(b []byte) (n int, err error) {
	s := in.s
	if s.ctx.Err() != nil {
		return 0, errStopped
	}
	if s.stdin == nil {
		return 0, io.EOF
	}
	s.busy()
	defer s.idle()
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, fmt.Errorf("usercode: panic reading the program's input: %v", v)
			s.stop(err, false)
		}
	}()
	n, err = s.stdin.Read(b)
	if err != nil && err != io.EOF {
		s.stop(err, false)
	}
	return n, err
}

// output is the program's standard output: counted against the limit, watched, and passed to
// the job's stdout.
type output struct{ s *session }

func (out output) Write(b []byte) (n int, err error) {
	s := out.s
	if s.ctx.Err() != nil {
		return 0, errStopped
	}
	if s.written.Add(int64(len(b))) > s.maxOutput {
		err := &job.UserError{Reason: fmt.Sprintf("wrote more than %d bytes of output (node --max-task-output)", s.maxOutput)}
		s.stop(err, true)
		return 0, err
	}
	s.busy()
	defer s.idle()
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, fmt.Errorf("usercode: panic writing the program's output: %v", v)
			s.stop(err, false)
		}
	}()
	n, err = s.stdout.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.stop(err, false)
	}
	return n, err
}

// busy and idle bracket a call into the job's streams: time spent there is the job's, not the
// program's, so it never counts as inactivity.
func (s *session) busy() {
	if s.dog != nil {
		s.dog.busy.Add(1)
	}
}

func (s *session) idle() {
	if s.dog != nil {
		s.dog.touch()
		s.dog.busy.Add(-1)
	}
}

// touch marks the program's activity (bytes moved to or from it) for the watchdog.
func (s *session) touch() {
	if s.dog != nil {
		s.dog.touch()
	}
}

// watchdog fires once when nothing touched it for timeout while nobody was busy. Touching is
// an atomic store, so it costs nothing per write; the one timer re-arms itself for the time
// left when it fires early.
type watchdog struct {
	timeout time.Duration
	base    time.Time
	last    atomic.Int64 // time.Since(base) of the last touch
	busy    atomic.Int32
	fire    func()

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func startWatchdog(timeout time.Duration, fire func()) *watchdog {
	w := &watchdog{timeout: timeout, base: time.Now(), fire: fire}
	w.mu.Lock()
	w.timer = time.AfterFunc(timeout, w.check)
	w.mu.Unlock()
	return w
}

func (w *watchdog) touch() { w.last.Store(int64(time.Since(w.base))) }

func (w *watchdog) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.busy.Load() > 0 {
		w.timer.Reset(w.timeout)
		return
	}
	idle := time.Since(w.base) - time.Duration(w.last.Load())
	if idle < w.timeout {
		w.timer.Reset(w.timeout - idle)
		return
	}
	w.stopped = true
	w.fire()
}

// stop disarms the watchdog; once it returns, fire is not running and will not run.
func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}

// oomMarks are what runtimes print when an allocation fails: Go's "fatal error: out of memory"
// (followed by a goroutine dump that pushes it out of the tail), Rust's "memory allocation of
// N bytes failed".
var oomMarks = []string{"out of memory", "memory allocation of"}

// tailBuffer keeps the last stderrTail bytes written to it, and whether any of it ever said
// the program ran out of memory.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	oom bool
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	n := len(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.oom {
		// A mark may straddle two writes: look at the end of the tail with b.
		const keep = 32
		window := append(append([]byte(nil), t.buf[max(0, len(t.buf)-keep):]...), b...)
		for _, m := range oomMarks {
			if bytes.Contains(window, []byte(m)) {
				t.oom = true
			}
		}
	}
	if len(b) >= stderrTail {
		t.buf = append(t.buf[:0], b[len(b)-stderrTail:]...)
		return n, nil
	}
	if over := len(t.buf) + len(b) - stderrTail; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
	}
	t.buf = append(t.buf, b...)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// suffix is what a failure's reason ends with: the stderr tail under a header, or nothing.
func (t *tailBuffer) suffix() string {
	s := t.String()
	if s == "" {
		return ""
	}
	return "\nstderr (last 4 KiB):\n" + s
}

// saidOutOfMemory reports whether the program's stderr reported a failed allocation.
func (t *tailBuffer) saidOutOfMemory() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.oom
}
