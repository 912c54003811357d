package sdk

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
)

// MaxLine is the longest line dlbp passes between tasks, not counting its '\n': for a record, its
// key, tab and value together. The SDK refuses to read or write a longer line, so that a program
// fails at the line at fault, with a message naming it, rather than somewhere in the shuffle.
const MaxLine = 16 << 20

// ErrLineTooLong is wrapped by the error of a task that read or tried to write a line longer than
// MaxLine.
var ErrLineTooLong = errors.New("line longer than 16 MiB (sdk.MaxLine)")

// ErrBadRecord is wrapped by the error of an Emit or Line that was refused because the record
// could not be written as one line: a key containing a tab or a newline, or a value or line
// containing a newline. Such a record would be read back as different records, so it is a bug in
// the program, not bad input.
var ErrBadRecord = errors.New("bad record")

// Job is a MapReduce program: the functions of its roles. Only the functions of the roles you
// submit are needed (a map-only test may leave Reduce nil); a role whose function is nil fails.
//
// The byte slices a function receives belong to the SDK and are valid only during the call, so
// the SDK need not allocate per line or per record: copy (or convert to string) what you keep.
type Job struct {
	// Map is called once for each line of the map task's split, in order, with the line
	// without its '\n' (a '\r' before it is kept: it is data). It emits any number of records.
	Map func(line []byte, out *Emitter) error

	// MapEnd, if set, is called once after the split's last line (also for an empty split). It
	// is for in-mapper combining: Map gathers into memory, MapEnd emits what is gathered. Emit
	// in a deterministic order: sort what came from a Go map.
	MapEnd func(out *Emitter) error

	// Combine, if set, is called once per key of some of one map task's records, with that
	// key's values, and emits records that replace them, usually one per key. dlbp may run it
	// zero or more times on any record, and on any subset of a key's values, so its output
	// must be valid input for itself and for Reduce, and combining must not change the
	// result.
	Combine func(key []byte, values *Values, out *Emitter) error

	// Reduce is called once per key of the partition, in key order, with all of that key's
	// values (in no particular order). What it writes to out is the job's output. It may
	// return without reading every value: the SDK skips the rest.
	Reduce func(key []byte, values *Values, out *Writer) error

	// ReduceEnd, if set, is called once after the partition's last key (also for an empty
	// partition), for output that depends on every key of the partition, such as totals.
	ReduceEnd func(out *Writer) error
}

// Main runs the role named by the program's first argument, "map", "reduce" or "combine", on
// standard input and output, and exits: with status 0 when the role succeeds; status 1, after
// printing the error to standard error, when it fails (dlbp then retries the task and, after
// its last attempt, fails the job with that message); status 2, after printing usage, when the
// argument is missing or names no role of j. Arguments after the role are left in os.Args for
// the program to use.
func Main(j Job) {
	prog := "program"
	if len(os.Args) > 0 {
		prog = os.Args[0]
		if i := strings.LastIndexAny(prog, `/\`); i >= 0 {
			prog = prog[i+1:]
		}
	}
	roles := j.roles()
	role := ""
	if len(os.Args) > 1 {
		role = os.Args[1]
	}
	known := false
	for _, r := range roles {
		known = known || r == role
	}
	if !known {
		os.Stderr.WriteString("usage: " + prog + " " + strings.Join(roles, "|") +
			"\n\na dlbp MapReduce program: the first argument chooses its role in the job;\n" +
			"records are KEY<TAB>VALUE lines on standard input and output.\n")
		os.Exit(2)
	}
	if err := Run(j, role, os.Stdin, os.Stdout); err != nil {
		os.Stderr.WriteString(prog + ": " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// roles lists the roles j can run, for usage.
func (j Job) roles() []string {
	var roles []string
	if j.Map != nil {
		roles = append(roles, "map")
	}
	if j.Combine != nil {
		roles = append(roles, "combine")
	}
	if j.Reduce != nil {
		roles = append(roles, "reduce")
	}
	return roles
}

// Run runs one role of j, "map", "reduce" or "combine", reading stdin and writing stdout, and
// returns the first error: the role's function's (wrapped with where it happened: the input line
// and, for reduce and combine, the key), a read or write error, or a refused line or record
// (ErrLineTooLong, ErrBadRecord). Main calls it with the process's standard input and output;
// tests can call it in-process. Output is buffered and flushed before Run returns, also after an
// error, so a test sees what was written up to it.
func Run(j Job, role string, stdin io.Reader, stdout io.Writer) error {
	in := newInput(stdin)
	out := newOutput(stdout)
	var err error
	switch role {
	case "map":
		if j.Map == nil {
			return errors.New(`map: the program has no Map function`)
		}
		err = runMap(j, in, out)
	case "combine":
		if j.Combine == nil {
			return errors.New(`combine: the program has no Combine function`)
		}
		e := &Emitter{o: out}
		err = runGroups(in, out, false, func(key []byte, v *Values) error { return j.Combine(key, v, e) }, nil)
	case "reduce":
		if j.Reduce == nil {
			return errors.New(`reduce: the program has no Reduce function`)
		}
		w := &Writer{o: out}
		var end func() error
		if j.ReduceEnd != nil {
			end = func() error { return j.ReduceEnd(w) }
		}
		err = runGroups(in, out, true, func(key []byte, v *Values) error { return j.Reduce(key, v, w) }, end)
	default:
		return errors.New("unknown role " + strconv.Quote(role) + ": want map, reduce or combine")
	}
	if ferr := out.flush(); err == nil && ferr != nil {
		err = &taskError{role: role, where: "writing output", err: ferr}
	}
	return err
}

// runMap calls j.Map for every line of in, then j.MapEnd.
func runMap(j Job, in *input, out *output) error {
	e := &Emitter{o: out, line: InputLine() - 1}
	for {
		line, err := in.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &taskError{role: "map", where: in.where(), err: err}
		}
		e.line++
		err = j.Map(line, e)
		if err == nil {
			err = out.err
		}
		if err != nil {
			return &taskError{role: "map", where: in.where() + " (line " + strconv.FormatInt(e.line, 10) + " of its document)", err: err}
		}
	}
	if j.MapEnd != nil {
		e.line = 0
		err := j.MapEnd(e)
		if err == nil {
			err = out.err
		}
		if err != nil {
			return &taskError{role: "map", where: "after the last line (MapEnd)", err: err}
		}
	}
	return nil
}

// runGroups calls fn once per key of in with a Values over its consecutive records, skipping what
// fn leaves unread, then end. When sorted, a key less than the one before it is an error: a
// reducer's input is sorted, and input that is not would silently split a key's values into
// several calls. (A combiner's need not be checked: combining part of a key's values is
// allowed.)
func runGroups(in *input, out *output, sorted bool, fn func(key []byte, v *Values) error, end func() error) error {
	role := "combine"
	if sorted {
		role = "reduce"
	}
	v := &Values{in: in}
	line, err := in.next()
	for err == nil {
		k, val := splitRecord(line)
		if sorted && v.started && string(k) < string(v.key) {
			return &taskError{role: role, where: in.where(), err: errors.New("input not sorted by key: " +
				quote(k) + " after " + quote(v.key) + " (sorting by hand? use LC_ALL=C sort -t '<TAB>' -k1,1)")}
		}
		v.key = append(v.key[:0], k...)
		v.started = true
		v.first, v.state = val, valuesFirst
		start := in.n
		ferr := fn(v.key, v)
		if ferr == nil {
			ferr = out.err
		}
		if ferr != nil {
			return &taskError{role: role, where: "key " + quote(v.key) + " (from input line " + strconv.FormatInt(start, 10) + ")", err: ferr}
		}
		for v.Next() { // skip what fn left unread
		}
		if v.err != nil {
			return &taskError{role: role, where: in.where(), err: v.err}
		}
		line, err = v.pending, v.pendingErr
	}
	if err != io.EOF {
		return &taskError{role: role, where: in.where(), err: err}
	}
	if end != nil {
		ferr := end()
		if ferr == nil {
			ferr = out.err
		}
		if ferr != nil {
			return &taskError{role: role, where: "after the last key (ReduceEnd)", err: ferr}
		}
	}
	return nil
}

// taskError is a role's failure and where it happened: "map: input line 3: boom".
type taskError struct {
	role, where string
	err         error
}

func (e *taskError) Error() string { return e.role + ": " + e.where + ": " + e.err.Error() }
func (e *taskError) Unwrap() error { return e.err }

// recordError is a refused record: it wraps ErrBadRecord with the reason.
type recordError struct{ reason string }

func (e *recordError) Error() string        { return e.reason }
func (e *recordError) Is(target error) bool { return target == ErrBadRecord }

// tooLongError is a refused line: it wraps ErrLineTooLong with its length (-1: unknown, the
// rest of it was not read).
type tooLongError struct {
	what string
	n    int
}

func (e *tooLongError) Error() string {
	size := "more than " + strconv.Itoa(MaxLine)
	if e.n >= 0 {
		size = strconv.Itoa(e.n)
	}
	return e.what + " of " + size + " bytes is longer than 16 MiB (sdk.MaxLine)"
}
func (e *tooLongError) Is(target error) bool { return target == ErrLineTooLong }

// quote quotes b for a message, cut to 64 bytes.
func quote(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "…"
	}
	return strconv.Quote(string(b))
}
