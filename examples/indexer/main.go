// Command indexer builds an inverted index: it writes `WORD N DOC1,DOC2,…` for every distinct
// word of its inputs, where DOC1… are the N documents containing it, named as the user typed
// them, in byte order and comma-joined. A word is a maximal run of Unicode letters
// (unicode.IsLetter), case kept; bytes that are not valid UTF-8 are not letters.
//
//	GOOS=wasip1 GOARCH=wasm go build -o indexer.wasm ./examples/indexer
//	dlbp submit --mapper 'indexer.wasm map' --reducer 'indexer.wasm reduce' a.txt b.txt c.txt
//
// The mapper gathers the distinct words of its split in memory and, after the split's last
// line, emits WORD<TAB>DOC once for each, in word order (gathering per split rather than per line
// makes the shuffle far smaller). So that memory stays bounded on a split of many distinct
// words, it emits and forgets what it has gathered whenever that reaches maxWords words; a word
// may then be emitted twice for a document, which the reducer absorbs. The reducer keeps the set
// of a word's documents, not the list of its records: a common word has a record per split.
package main

import (
	"maps"
	"slices"
	"strconv"

	"github.com/dlbp/dlbp/pkg/sdk"
)

func main() {
	doc = sdk.Input()
	if doc == "" {
		doc = "-" // run by hand on standard input
	}
	sdk.Main(sdk.Job{Map: mapLine, MapEnd: emitWords, Reduce: reduce})
}

// doc is the name of the map task's document.
var doc string

// maxWords bounds the words a mapper gathers before emitting them.
const maxWords = 1 << 16

// seen is the set of the split's words not yet emitted.
var seen = map[string]struct{}{}

// mapLine adds the line's words to seen.
func mapLine(line []byte, out *sdk.Emitter) error {
	for word := range sdk.Words(line) {
		if _, ok := seen[string(word)]; !ok { // the lookup does not allocate; only a new word does
			seen[string(word)] = struct{}{}
		}
	}
	if len(seen) >= maxWords {
		return emitWords(out)
	}
	return nil
}

// emitWords emits WORD<TAB>DOC for each word in seen, sorted (a Go map's order is random, and a
// task's output must be the same on every attempt), and empties it.
func emitWords(out *sdk.Emitter) error {
	for _, word := range slices.Sorted(maps.Keys(seen)) {
		if err := out.EmitString(word, doc); err != nil {
			return err
		}
	}
	clear(seen)
	return nil
}

// The reducer's state, reused from key to key.
var (
	docs  = map[string]struct{}{}
	names []string
	buf   []byte
)

// reduce writes `WORD N DOC1,DOC2,…`.
func reduce(word []byte, values *sdk.Values, out *sdk.Writer) error {
	if len(docs) > 1024 {
		docs = map[string]struct{}{} // rather than clear a map grown large for one word
	} else {
		clear(docs)
	}
	for values.Next() {
		if _, ok := docs[string(values.Value())]; !ok {
			docs[string(values.Value())] = struct{}{}
		}
	}
	names = names[:0]
	for name := range docs {
		names = append(names, name)
	}
	slices.Sort(names)
	buf = append(buf[:0], word...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(len(names)), 10)
	buf = append(buf, ' ')
	for i, name := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, name...)
	}
	return out.Line(buf)
}
