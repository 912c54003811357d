// Command grep prints the lines of its inputs that match a Go regular expression (package
// regexp), as `grep -Hn` prints them: `DOC:LINENO:LINE`, DOC as the user typed it and LINENO the
// line's 1-based number within its document. A line is matched without its '\n' (a '\r' before
// it is part of the line). The pattern is the job's parameter "pattern":
//
//	GOOS=wasip1 GOARCH=wasm go build -o grep.wasm ./examples/grep
//	dlbp submit --mapper 'grep.wasm map' --reducer 'grep.wasm reduce' --param 'pattern=[Ll]ove' a.txt b.txt
//
// The mapper emits a matching line as the record `DOC:LINENO<TAB>LINE`, the line number
// zero-padded to 19 digits so that sorting by key sorts each document's lines by number; the
// reducer strips the padding. Each reducer's output is in document, then line order; with
// --reducers 1 the whole output is, documents in byte order. A document whose name contains a
// tab or a newline cannot be a key, and fails the job.
package main

import (
	"bytes"
	"errors"
	"regexp"

	"github.com/dlbp/dlbp/pkg/sdk"
)

func main() {
	if pattern, ok := sdk.Param("pattern"); !ok {
		reErr = errors.New("no pattern: submit with --param pattern=REGEXP")
	} else if re, reErr = regexp.Compile(pattern); reErr != nil {
		reErr = errors.New("--param pattern: " + reErr.Error())
	}
	doc = sdk.Input()
	if doc == "" {
		doc = "-" // run by hand on standard input
	}
	sdk.Main(sdk.Job{Map: mapLine, MapEnd: mapEnd, Reduce: reduce})
}

var (
	re    *regexp.Regexp
	reErr error  // why re is nil: every map task fails with it
	doc   string // the map task's document
	buf   []byte // reused for every key and output line
)

// mapLine emits `DOC:LINENO<TAB>LINE` if the line matches.
func mapLine(line []byte, out *sdk.Emitter) error {
	if reErr != nil {
		return reErr
	}
	if !re.Match(line) {
		return nil
	}
	buf = append(buf[:0], doc...)
	buf = append(buf, ':')
	buf = appendPadded(buf, out.LineNumber())
	return out.Emit(buf, line)
}

// mapEnd fails a map task whose split is empty, too, on a bad pattern.
func mapEnd(out *sdk.Emitter) error { return reErr }

// appendPadded appends n, zero-padded to 19 digits (the most an int64 has).
func appendPadded(b []byte, n int64) []byte {
	var d [19]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = '0' + byte(n%10)
		n /= 10
	}
	return append(b, d[:]...)
}

// reduce writes `DOC:LINENO:LINE` for each line of the key (one, unless a document was given
// twice).
func reduce(key []byte, lines *sdk.Values, out *sdk.Writer) error {
	colon := bytes.LastIndexByte(key, ':')
	if colon < 0 {
		return errors.New("malformed key: want DOC:LINENO")
	}
	number := bytes.TrimLeft(key[colon+1:], "0")
	for lines.Next() {
		buf = append(buf[:0], key[:colon+1]...)
		buf = append(buf, number...)
		buf = append(buf, ':')
		buf = append(buf, lines.Value()...)
		if err := out.Line(buf); err != nil {
			return err
		}
	}
	return nil
}
