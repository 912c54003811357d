// Command wordcount counts words: it writes `WORD COUNT` for every distinct word of its inputs,
// where a word is a maximal run of Unicode letters (unicode.IsLetter), case kept; bytes that are
// not valid UTF-8 are not letters. It is dlbp's built-in wordcount job written as a user program:
//
//	GOOS=wasip1 GOARCH=wasm go build -o wc.wasm ./examples/wordcount
//	dlbp submit --mapper 'wc.wasm map' --combiner 'wc.wasm combine' --reducer 'wc.wasm reduce' book1.txt book2.txt
//
// The mapper counts its split's words in memory (sdk.Counts: in-mapper combining, no allocation
// per word) and emits WORD<TAB>COUNT once per distinct word; the combiner, optional, adds up
// counts of a word again; the reducer sums and writes the line. Each reducer's output is sorted by
// word; the job's output is the reducers' outputs one after the other.
package main

import (
	"errors"
	"strconv"

	"github.com/dlbp/dlbp/pkg/sdk"
)

func main() {
	sdk.Main(job)
}

// job is the program, for main and for the benchmark.
var job = sdk.Job{Map: mapLine, MapEnd: counts.Flush, Combine: combine, Reduce: reduce}

// counts holds the split's words and their counts until the split ends.
var counts sdk.Counts

// mapLine counts the words of the line (sdk.Words, counted in one pass).
func mapLine(line []byte, out *sdk.Emitter) error {
	return counts.AddWords(line, 1, out)
}

// combine replaces some of a word's counts by their sum.
func combine(word []byte, counts *sdk.Values, out *sdk.Emitter) error {
	n, err := sum(counts)
	if err != nil {
		return err
	}
	buf = strconv.AppendInt(buf[:0], n, 10)
	return out.Emit(word, buf)
}

// reduce writes `WORD COUNT`.
func reduce(word []byte, counts *sdk.Values, out *sdk.Writer) error {
	n, err := sum(counts)
	if err != nil {
		return err
	}
	buf = append(buf[:0], word...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, n, 10)
	return out.Line(buf)
}

// buf is reused for every output line: a task runs one call at a time.
var buf []byte

// sum adds up counts.
func sum(counts *sdk.Values) (int64, error) {
	var total int64
	for counts.Next() {
		n, err := parseCount(counts.Value())
		if err != nil {
			return 0, err
		}
		if total += n; total < 0 {
			return 0, errors.New("count overflows int64")
		}
	}
	return total, nil
}

// parseCount parses a count, a decimal number, without converting it to a string.
func parseCount(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 { // rare: let strconv say what is wrong, or parse a large count
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 {
			return 0, errors.New("bad count " + strconv.Quote(string(b)))
		}
		return n, nil
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("bad count " + strconv.Quote(string(b)))
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
