package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

// Every command's error reaches the user through report: one place that says what was wrong
// and what to do, in the user's words. RPC method names, error codes and the address of the
// maplb that answered are left out (a user knows which maplb they asked); --verbose adds the
// whole error as a "detail:" line.

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// jobFailed is a job that ended without success: exit status 1.
type jobFailed struct{ st *protocol.JobStatus }

func (e *jobFailed) Error() string {
	if e.st.Error != "" {
		return fmt.Sprintf("job %s %s: %s", e.st.ID, e.st.State, e.st.Error)
	}
	return fmt.Sprintf("job %s %s", e.st.ID, e.st.State)
}

// report prints err for command cmd on w and returns the exit status.
func report(w io.Writer, cmd string, err error, interrupted, verbose bool) int {
	msg, code := explain(cmd, err, interrupted)
	fmt.Fprint(w, msg)
	if verbose {
		fmt.Fprintf(w, "  detail: %v\n", err)
	}
	return code
}

// explain turns err into the lines a user reads and the exit status.
func explain(cmd string, err error, interrupted bool) (string, int) {
	var ue *usageError
	var jf *jobFailed
	var de *transport.DialError
	var re *transport.RemoteError
	var ie *interruptedError
	switch {
	case errors.As(err, &ie):
		return ie.Error(), exitInterrupted
	case interrupted:
		return fmt.Sprintf("dlbp %s: interrupted\n", cmd), exitInterrupted
	case errors.As(err, &ue):
		return fmt.Sprintf("dlbp %s: %v\n(dlbp help %s shows its flags and examples)\n", cmd, ue.msg, cmd), exitUsage
	case errors.As(err, &jf):
		return fmt.Sprintf("dlbp: %v\n", jf), exitJobFailed
	case errors.As(err, &de):
		return fmt.Sprintf("dlbp: cannot reach maplb at %s: %s\n(is maplb running there? --lb HOST:PORT or $DLBP_LB names it)\n", de.Addr, dialCause(de)), exitUnreachable
	case errors.As(err, &re):
		code := exitJobFailed
		switch re.Code {
		case transport.CodeBadRequest:
			code = exitUsage
		case transport.CodeUnavailable:
			code = exitUnreachable
		}
		hint := ""
		if re.Code == transport.CodeNotFound && strings.HasPrefix(re.Msg, "no job ") {
			hint = "(dlbp jobs lists the jobs maplb keeps; finished ones go when their results expire)\n"
		}
		return fmt.Sprintf("dlbp %s: %s\n%s", cmd, re.Msg, hint), code
	case errors.Is(err, flag.ErrHelp):
		return "", exitOK
	}
	return fmt.Sprintf("dlbp %s: %s\n", cmd, strings.TrimPrefix(err.Error(), "transport: ")), exitJobFailed
}

// dialCause says in plain words why maplb could not be reached.
func dialCause(de *transport.DialError) string {
	switch {
	case errors.Is(de, syscall.ECONNREFUSED):
		return "nothing listens there (connection refused)"
	case errors.Is(de, protocol.ErrAuthFailed):
		return "it refused this client: the cluster secret differs (--secret-file or $DLBP_SECRET_FILE)"
	case errors.Is(de, syscall.EHOSTUNREACH), errors.Is(de, syscall.ENETUNREACH):
		return "no route to that host"
	}
	return de.Err.Error()
}
