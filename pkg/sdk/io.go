package sdk

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

// bufSize is the size of the input and output buffers: large enough that a read or write system
// call (or, in WebAssembly, a host call) is rare, small enough for a module's memory.
const bufSize = 64 << 10

// input reads lines. A line is a slice of the reader's buffer (or, if longer than the buffer, of
// long) and is valid until the next call of next.
type input struct {
	r    *bufio.Reader
	long []byte // a line longer than the buffer, assembled
	n    int64  // lines read
}

func newInput(r io.Reader) *input { return &input{r: bufio.NewReaderSize(r, bufSize)} }

// next returns the next line without its '\n', or io.EOF after the last one. A last line without
// '\n' is a line.
func (in *input) next() ([]byte, error) {
	line, err := in.r.ReadSlice('\n')
	switch err {
	case nil:
		in.n++
		return line[:len(line)-1], nil // shorter than the buffer, so than MaxLine
	case io.EOF:
		if len(line) == 0 {
			return nil, io.EOF
		}
		in.n++
		return line, nil
	case bufio.ErrBufferFull:
		in.n++
		return in.nextLong(line)
	default:
		in.n++
		return nil, err
	}
}

// nextLong finishes a line longer than the buffer, which begins with part.
func (in *input) nextLong(part []byte) ([]byte, error) {
	in.long = append(in.long[:0], part...)
	for {
		part, err := in.r.ReadSlice('\n')
		if len(in.long)+len(part) > MaxLine+1 { // even with a '\n' at its end, too long
			return nil, &tooLongError{what: "an input line", n: -1}
		}
		in.long = append(in.long, part...)
		switch err {
		case nil:
			line := in.long[:len(in.long)-1]
			if len(line) > MaxLine {
				return nil, &tooLongError{what: "an input line", n: len(line)}
			}
			return line, nil
		case io.EOF:
			if len(in.long) > MaxLine {
				return nil, &tooLongError{what: "an input line", n: len(in.long)}
			}
			return in.long, nil
		case bufio.ErrBufferFull:
		default:
			return nil, err
		}
	}
}

// where names the line last read, for messages.
func (in *input) where() string { return "input line " + strconv.FormatInt(in.n, 10) }

// splitRecord cuts a record line at its first tab; a line without one is a key with an empty
// value.
func splitRecord(line []byte) (key, value []byte) {
	if i := bytes.IndexByte(line, '\t'); i >= 0 {
		return line[:i], line[i+1:]
	}
	return line, line[len(line):]
}

// output buffers what a task writes. Its first error is sticky: once a write fails or a record is
// refused, nothing more is accepted, and Run fails with that error even if the program ignored
// it.
type output struct {
	w    io.Writer
	buf  []byte
	err  error // the first error, a refusal or a write's
	werr error // the first write's error: nothing can be written after it
}

func newOutput(w io.Writer) *output { return &output{w: w, buf: make([]byte, 0, bufSize)} }

// writeLine writes a, sep (unless 0), b and '\n' as one line. The generic type lets the string
// methods write without converting.
func writeLine[T string | []byte](o *output, a T, sep byte, b T) error {
	if o.err != nil {
		return o.err
	}
	n := len(a) + len(b) + 1
	if sep != 0 {
		n++
	}
	if len(o.buf)+n > cap(o.buf) {
		if o.flush() != nil {
			return o.err
		}
		if n > cap(o.buf) { // longer than the buffer: write it through
			o.write([]byte(a))
			if sep != 0 {
				o.write([]byte{sep})
			}
			o.write([]byte(b))
			o.write(newline)
			return o.err
		}
	}
	o.buf = append(o.buf, a...)
	if sep != 0 {
		o.buf = append(o.buf, sep)
	}
	o.buf = append(o.buf, b...)
	o.buf = append(o.buf, '\n')
	return nil
}

var newline = []byte{'\n'}

// write writes p through, unbuffered (the buffer must be empty).
func (o *output) write(p []byte) {
	if o.werr == nil && len(p) > 0 {
		if _, o.werr = o.w.Write(p); o.err == nil {
			o.err = o.werr
		}
	}
}

// flush writes the buffer out. After a refusal it still writes what was accepted before, for
// tests and for the record of a failed task; it returns the first write error.
func (o *output) flush() error {
	o.write(o.buf)
	o.buf = o.buf[:0]
	return o.werr
}

// refuse makes err the output's sticky error and returns it.
func (o *output) refuse(err error) error {
	if o.err == nil {
		o.err = err
	}
	return o.err
}

// An Emitter writes records: map and combine output. Its errors are sticky: after one, every Emit
// returns it and the task fails with it, so a program that ignores Emit's result still fails
// correctly; checking it only stops the work sooner.
type Emitter struct {
	o    *output
	line int64
}

// Emit writes the record key, value. The key must contain neither a tab (dlbp would cut the
// record at it, making part of the key the value) nor a newline, and the value no newline;
// such a record, or one longer than MaxLine, is refused with an error wrapping ErrBadRecord or
// ErrLineTooLong. Tabs in the value are fine: the value is everything after the key's tab. The
// slices are not retained.
func (e *Emitter) Emit(key, value []byte) error {
	if hasTabOrNewline(key) || hasNewline(value) {
		return e.o.refuse(badRecord(string(key)))
	}
	if o, n := e.o, len(e.o.buf); o.err == nil && n+len(key)+len(value)+2 <= cap(o.buf) { // the fast path
		b := o.buf[n : n+len(key)+len(value)+2]
		copy(b, key)
		b[len(key)] = '\t'
		copy(b[len(key)+1:], value)
		b[len(b)-1] = '\n'
		o.buf = o.buf[:n+len(b)]
		return nil
	}
	if len(key)+1+len(value) > MaxLine {
		return e.o.refuse(&tooLongError{what: "a record", n: len(key) + 1 + len(value)})
	}
	return writeLine(e.o, key, '\t', value)
}

// EmitString is Emit for strings, without converting them.
func (e *Emitter) EmitString(key, value string) error {
	if strings.IndexByte(key, '\t') >= 0 || strings.IndexByte(key, '\n') >= 0 || strings.IndexByte(value, '\n') >= 0 {
		return e.o.refuse(badRecord(key))
	}
	if len(key)+1+len(value) > MaxLine {
		return e.o.refuse(&tooLongError{what: "a record", n: len(key) + 1 + len(value)})
	}
	return writeLine(e.o, key, '\t', value)
}

// LineNumber returns, during Map, the 1-based number of the line being mapped within its
// document: InputLine() plus the lines before it in the split. It is what `grep -n` prints. It
// is 0 in Combine and MapEnd.
func (e *Emitter) LineNumber() int64 { return e.line }

// hasTabOrNewline reports whether b contains '\t' or '\n'. Keys are usually short, where a plain
// loop beats two calls of bytes.IndexByte.
func hasTabOrNewline(b []byte) bool {
	if len(b) > 32 {
		return bytes.IndexByte(b, '\t') >= 0 || bytes.IndexByte(b, '\n') >= 0
	}
	for _, c := range b {
		if c <= '\n' && (c == '\t' || c == '\n') {
			return true
		}
	}
	return false
}

// hasNewline reports whether b contains '\n', with a plain loop for a short b.
func hasNewline(b []byte) bool {
	if len(b) > 32 {
		return bytes.IndexByte(b, '\n') >= 0
	}
	for _, c := range b {
		if c == '\n' {
			return true
		}
	}
	return false
}

// badRecord says why a record with this key was refused: its key, or else its value.
func badRecord(key string) error {
	q := quote([]byte(key))
	switch {
	case strings.IndexByte(key, '\t') >= 0:
		return &recordError{"key " + q + " contains a tab: the key ends at the first tab, so a key cannot hold one"}
	case strings.IndexByte(key, '\n') >= 0:
		return &recordError{"key " + q + " contains a newline: a record is one line"}
	default:
		return &recordError{"the value of key " + q + " contains a newline: a record is one line"}
	}
}

// A Writer writes a reducer's output. Its errors are sticky, as an Emitter's are.
type Writer struct {
	o *output
}

// Line writes b and a newline: one line of the job's output. A b containing a newline (which
// would be two lines) or longer than MaxLine (which another job could not read back) is refused.
// The slice is not retained.
func (w *Writer) Line(b []byte) error {
	if bytes.IndexByte(b, '\n') >= 0 {
		return w.o.refuse(&recordError{"output line " + quote(b) + " contains a newline"})
	}
	if len(b) > MaxLine {
		return w.o.refuse(&tooLongError{what: "an output line", n: len(b)})
	}
	return writeLine(w.o, b, 0, nil)
}

// LineString is Line for a string, without converting it.
func (w *Writer) LineString(s string) error {
	if strings.IndexByte(s, '\n') >= 0 {
		return w.o.refuse(&recordError{"output line " + quote([]byte(s)) + " contains a newline"})
	}
	if len(s) > MaxLine {
		return w.o.refuse(&tooLongError{what: "an output line", n: len(s)})
	}
	return writeLine(w.o, s, 0, "")
}

// Write writes p as it is, with no check: Writer is an io.Writer, so fmt.Fprintf(out, "%s %d\n",
// key, n) is its Printf. (The SDK itself does not import fmt, which would add about 350 KB to
// every WebAssembly module.) It returns len(p) and the sticky error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.o.err != nil {
		return 0, w.o.err
	}
	if len(w.o.buf)+len(p) > cap(w.o.buf) {
		if w.o.flush() != nil {
			return 0, w.o.err
		}
		if len(p) > cap(w.o.buf) {
			w.o.write(p)
			if w.o.err != nil {
				return 0, w.o.err
			}
			return len(p), nil
		}
	}
	w.o.buf = append(w.o.buf, p...)
	return len(p), nil
}

// Values streams one key's values to Reduce or Combine, reading them from the input as they are
// asked for, so a key may have more values than fit in memory:
//
//	for values.Next() {
//		use(values.Value())
//	}
//
// A Values is valid only during the call it is passed to.
type Values struct {
	in      *input
	key     []byte // the group's key, a copy (the input buffer moves on)
	started bool   // key holds a group's key
	val     []byte
	first   []byte // the group's first value, read by runGroups
	state   uint8

	pending    []byte // after the group: the next group's first line
	pendingErr error  // or why there is none (io.EOF at the end)
	err        error  // a read error inside the group
}

const (
	valuesFirst = iota // first holds the first value, not yet returned
	valuesMore         // more values may follow
	valuesDone         // the group is over
)

// Next advances to the key's next value and reports whether there is one. It returns false
// after the last value, and also if the input cannot be read (a read error, a line longer than
// MaxLine): the task then fails with that error once the function returns.
func (v *Values) Next() bool {
	switch v.state {
	case valuesFirst:
		v.val, v.first, v.state = v.first, nil, valuesMore
		return true
	case valuesMore:
		line, err := v.in.next()
		if err != nil {
			v.val, v.state = nil, valuesDone
			v.pending, v.pendingErr = nil, err
			if err != io.EOF {
				v.err = err
			}
			return false
		}
		key, val := splitRecord(line)
		if !bytes.Equal(key, v.key) {
			v.val, v.state = nil, valuesDone
			v.pending, v.pendingErr = line, nil
			return false
		}
		v.val = val
		return true
	}
	return false
}

// Value returns the current value: after Next has returned true, the bytes after the record's
// first tab (empty if it has none), which may hold more tabs. It is valid until the next call of
// Next.
func (v *Values) Value() []byte { return v.val }
