// Command join is an inner join of two inputs on their first field. Every input is text, one
// record per line, `KEY<TAB>REST`: the key is the line up to its first tab and REST the rest,
// which may hold more tabs; a line without a tab is a key with an empty REST, and empty lines are
// skipped. (Tabs rather than runs of spaces, so that keys and fields may hold spaces, as in TSV
// files; a '\r' of a CRLF line is data, the end of REST.) The left input is the document named by
// the job's parameter "left", exactly as typed on the command line; every other input is the
// right side:
//
//	GOOS=wasip1 GOARCH=wasm go build -o join.wasm ./examples/join
//	dlbp submit --mapper 'join.wasm map' --reducer 'join.wasm reduce' --param left=users.tsv users.tsv orders.tsv
//
// For each key present on both sides it writes `KEY<TAB>LEFTREST<TAB>RIGHTREST` for every pair of
// a left and a right record of that key: left records in byte order, and for each of them the
// right records in byte order, so the output does not depend on the order values reach the
// reducer. The mapper tags each record with its side (the value is 'L' or 'R' and then REST);
// the reducer holds one key's records, and only one key's, in memory.
package main

import (
	"bytes"
	"errors"
	"slices"

	"github.com/dlbp/dlbp/pkg/sdk"
)

func main() {
	left, ok := sdk.Param("left")
	switch {
	case !ok:
		sideErr = errors.New("no left input: submit with --param left=NAME, NAME one of the inputs as typed")
	case sdk.Input() == left:
		side = 'L'
	default:
		side = 'R'
	}
	sdk.Main(sdk.Job{Map: mapLine, MapEnd: mapEnd, Reduce: reduce})
}

var (
	side    byte  // the map task's side, 'L' or 'R'
	sideErr error // why there is none: every map task fails with it
	buf     []byte
)

// mapLine emits KEY<TAB>side REST.
func mapLine(line []byte, out *sdk.Emitter) error {
	if sideErr != nil {
		return sideErr
	}
	if len(line) == 0 {
		return nil
	}
	key, rest, _ := bytes.Cut(line, []byte{'\t'})
	buf = append(append(buf[:0], side), rest...)
	return out.Emit(key, buf)
}

// mapEnd fails a map task whose split is empty, too, without a left input.
func mapEnd(out *sdk.Emitter) error { return sideErr }

// records holds one side's records of a key, in one buffer.
type records struct {
	data  []byte
	spans [][2]int // start and end in data
}

func (r *records) reset() { r.data, r.spans = r.data[:0], r.spans[:0] }

func (r *records) add(b []byte) {
	r.spans = append(r.spans, [2]int{len(r.data), len(r.data) + len(b)})
	r.data = append(r.data, b...)
}

func (r *records) at(i int) []byte { return r.data[r.spans[i][0]:r.spans[i][1]] }

// sort sorts the records by bytes.
func (r *records) sort() {
	slices.SortFunc(r.spans, func(a, b [2]int) int {
		return bytes.Compare(r.data[a[0]:a[1]], r.data[b[0]:b[1]])
	})
}

var lefts, rights records

// reduce writes the key's pairs.
func reduce(key []byte, values *sdk.Values, out *sdk.Writer) error {
	lefts.reset()
	rights.reset()
	for values.Next() {
		v := values.Value()
		switch {
		case len(v) > 0 && v[0] == 'L':
			lefts.add(v[1:])
		case len(v) > 0 && v[0] == 'R':
			rights.add(v[1:])
		default:
			return errors.New("malformed value: want L or R and then the record's rest")
		}
	}
	if len(lefts.spans) == 0 || len(rights.spans) == 0 {
		return nil
	}
	lefts.sort()
	rights.sort()
	for i := range lefts.spans {
		for j := range rights.spans {
			buf = append(buf[:0], key...)
			buf = append(buf, '\t')
			buf = append(buf, lefts.at(i)...)
			buf = append(buf, '\t')
			buf = append(buf, rights.at(j)...)
			if err := out.Line(buf); err != nil {
				return err
			}
		}
	}
	return nil
}
