//go:build linux

package usercode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// drainGrace is how long a run waits, after its process group was killed, for its output
// pipes to move: a pipe still open and silent that long is held by a process that left the
// group (setsid). A variable for the tests.
var drainGrace = 10 * time.Second

func nativeSupported() error { return nil }

// runProcess runs one native program in a process group of its own, and returns once the
// whole group is dead and its output drained. The pipes are the session's own (not exec's
// copying goroutines), so that a child that outlives the program cannot keep Run waiting:
// when the program exits or the run is stopped, the group is killed with SIGKILL, which a
// child ignoring SIGTERM cannot escape either.
func runProcess(s *session, pr process) error {
	path, args, env, dir := pr.path, pr.args, pr.env, pr.dir
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	stdinR, stdinW, err1 := pipe()
	stdoutR, stdoutW, err2 := pipe()
	stderrR, stderrW, err3 := pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		closeAll()
		return fmt.Errorf("usercode: pipes: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        args,
		Env:         env,
		Dir:         dir,
		Stdin:       stdinR,
		Stdout:      stdoutW,
		Stderr:      stderrW,
		ExtraFiles:  pr.extra,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return s.userError("cannot start program %q: %v", args[0], err)
	}
	// The child has its ends; holding them here would keep the pipes open forever.
	_ = stdinR.Close()
	_ = stdoutW.Close()
	_ = stderrW.Close()
	pid := cmd.Process.Pid

	var copiers sync.WaitGroup
	copiers.Go(func() { // the job's stdin → the program
		defer stdinW.Close()
		defer s.recoverIn("feeding the program's input")
		feed(s, stdinW)
	})
	drained := make(chan struct{})
	var outputs sync.WaitGroup
	var prog progress
	outputs.Go(func() { // the program → the job's stdout
		defer s.recoverIn("copying the program's output")
		drain(s, stdoutR, output{s}, &prog)
	})
	outputs.Go(func() { drain(s, stderrR, s.stderr, &prog) })
	go func() {
		outputs.Wait()
		close(drained)
	}()

	var waitErr error
	reaped := false
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		if err := waitExited(pid); err != nil {
			// Cannot wait without reaping (the node ignores SIGCHLD?): reap, then kill
			// the group, whose id is then very unlikely to have been reused so soon.
			waitErr, reaped = cmd.Wait(), true
		}
	}()
	select {
	case <-exited:
	case <-s.ctx.Done():
	}
	// The program has not been reaped yet (waitExited leaves it a zombie), so its pid, and so
	// the group's id, cannot have been reused by an unrelated process.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-exited
	if !reaped {
		waitErr = cmd.Wait()
	}

	// The rest of the output was written before the group died; read it to its end, unless
	// the run is stopped anyway.
	escaped := waitDrained(s, drained, &prog)
	_ = stdoutR.Close() // ends a drain still reading
	_ = stderrR.Close()
	_ = stdinW.Close() // ends a feeder blocked on the pipe
	<-drained
	copiers.Wait()

	if escaped {
		if err := s.stopped(); err != nil {
			return err
		}
		return s.userError("a process started by program %q left its process group and still holds its output", args[0])
	}
	if pr.outcome != nil {
		return pr.outcome(waitErr)
	}
	return s.outcome(waitErr == nil, func() error {
		var exit *exec.ExitError
		if !errors.As(waitErr, &exit) {
			return fmt.Errorf("usercode: wait for %q: %w", args[0], waitErr)
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return s.userError("killed by signal %s", ws.Signal())
		}
		return s.userError("exit status %d", exit.ExitCode())
	})
}

// feed copies the job's stdin into the program's. A program may exit without reading all of
// it: the broken pipe then just ends the copy.
func feed(s *session, w *os.File) {
	buf := make([]byte, 64<<10)
	in := input{s}
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			s.touch()
		}
		if err != nil {
			return
		}
	}
}

// progress is how the copies from the program's pipes go: reads done, and copies now writing
// on (to the job's stdout, which may take its time).
type progress struct {
	reads   atomic.Int64
	writing atomic.Int32
}

// drain copies one of the program's outputs (stdout to the job's, stderr to the tail) until
// its end or a stop.
func drain(s *session, r *os.File, w io.Writer, prog *progress) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		prog.reads.Add(1)
		if n > 0 {
			s.touch()
			prog.writing.Add(1)
			_, werr := w.Write(buf[:n])
			prog.writing.Add(-1)
			if werr != nil {
				return // closing the pipe then breaks the group's writes
			}
		}
		if err != nil {
			return
		}
	}
}

// waitDrained waits for the ends of the program's outputs after its group was killed, and
// reports whether it gave up because a pipe stayed open without moving for drainGrace.
func waitDrained(s *session, drained <-chan struct{}, prog *progress) (escaped bool) {
	last := prog.reads.Load()
	t := time.NewTimer(drainGrace)
	defer t.Stop()
	for {
		select {
		case <-drained:
			return false
		case <-s.ctx.Done():
			return false
		case <-t.C:
			now := prog.reads.Load()
			if now == last && prog.writing.Load() == 0 {
				return true
			}
			last = now
			t.Reset(drainGrace)
		}
	}
}

// recoverIn turns a panic of a copying goroutine (from the job's streams) into the run's error.
func (s *session) recoverIn(what string) {
	if v := recover(); v != nil {
		s.stop(fmt.Errorf("usercode: panic %s: %v", what, v), false)
	}
}

// waitExited blocks until process pid has exited, without reaping it (waitid with WNOWAIT,
// as package os does before it reaps).
func waitExited(pid int) error {
	const pPID = 1
	var siginfo [16]uint64 // siginfo_t is 128 bytes
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&siginfo)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
		default:
			return errno
		}
	}
}
