package transport

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes carried by error responses, so callers can branch on the kind
// of failure without parsing messages.
const (
	// CodeBadRequest: the request was malformed or invalid; retrying it
	// unchanged will fail again.
	CodeBadRequest = "bad_request"
	// CodeNotFound: the named job, task or partition does not exist.
	CodeNotFound = "not_found"
	// CodeUnavailable: the peer cannot serve this now (e.g. draining); try
	// another peer or later.
	CodeUnavailable = "unavailable"
	// CodeInternal: the handler failed unexpectedly (a bug, e.g. a panic).
	CodeInternal = "internal"
	// CodeUnknownMethod: the peer has no handler for the method (often a
	// version skew or a call to the wrong role).
	CodeUnknownMethod = "unknown_method"
	// CodeBusy: the peer is at capacity; retry later.
	CodeBusy = "busy"
	// CodeGone: what the request names lived on a member that left the
	// cluster; it is lost.
	CodeGone = "gone"
)

// Error is an error with a code that travels to the caller intact. Handlers
// return it (directly or wrapped) when the caller should be able to act on
// the kind of failure; any other error reaches the caller with an empty code.
type Error struct {
	Code string
	Msg  string
}

// Error returns "code: msg", or just msg when there is no code.
func (e *Error) Error() string {
	if e.Code == "" {
		return e.Msg
	}
	return e.Code + ": " + e.Msg
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// RemoteError is a failure reported by the peer: the call reached it and its
// handler (or dispatcher) returned an error. Contrast with *DialError, which
// means the peer was never reached.
type RemoteError struct {
	// Method is the method called, e.g. "submit.begin".
	Method string
	// Code is the error's code, empty if the handler gave none.
	Code string
	// Msg is the remote error message.
	Msg string
	// Addr is the peer's address.
	Addr string
}

// Error reads like `127.0.0.1:7070: submit.begin: bad_request: unknown job "foo"`:
// where, what, and the peer's own words. Callers that know the peer's role
// prefix it ("maplb %w").
func (e *RemoteError) Error() string {
	var b strings.Builder
	b.WriteString(e.Addr + ": " + e.Method + ": ")
	if e.Code != "" {
		b.WriteString(e.Code + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// DialError means the peer could not be reached: the connection was refused
// or timed out, or the handshake failed (including authentication and
// version mismatches, which stay visible through errors.Is). A CLI maps it
// to "cluster unreachable".
type DialError struct {
	Addr string
	Err  error
}

// Error names the address and the cause.
func (e *DialError) Error() string {
	return "transport: cannot reach " + e.Addr + ": " + e.Err.Error()
}

// Unwrap exposes the cause, e.g. protocol.ErrAuthFailed or a *net.OpError.
func (e *DialError) Unwrap() error { return e.Err }

// CodeOf returns the code of a remote or local *Error in err's chain, or ""
// if there is none (including for nil and transport failures).
func CodeOf(err error) string {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// errorToWire splits a handler's error into the code and message sent back.
func errorToWire(err error) (code, msg string) {
	msg = err.Error()
	if e, ok := err.(*Error); ok {
		code, msg = e.Code, e.Msg // the code travels separately
	} else if errors.As(err, &e) {
		code = e.Code // msg keeps the wrapping context
	}
	if msg == "" {
		msg = "unknown error" // an empty message would read as success
	}
	return code, msg
}
