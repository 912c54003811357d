package sdk

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/dlbp/dlbp/internal/corpus"
)

// benchText is generated English-like text, the same for every benchmark.
func benchText(b *testing.B, size int64) []byte {
	b.Helper()
	var text bytes.Buffer
	if err := corpus.Generate(&text, size, 1); err != nil {
		b.Fatal(err)
	}
	return text.Bytes()
}

var one = []byte("1")

// asciiWords emits every run of ASCII letters with the value 1: the SDK's map path with a
// mapper that costs little itself.
func asciiWords(line []byte, out *Emitter) error {
	start := -1
	for i, c := range line {
		if (c|0x20)-'a' < 26 {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			if err := out.Emit(line[start:i], one); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		return out.Emit(line[start:], one)
	}
	return nil
}

// BenchmarkMap measures map tasks: read lines, call Map, write records. MB/s are of input.
func BenchmarkMap(b *testing.B) {
	text := benchText(b, 8<<20)
	for _, bc := range []struct {
		name string
		fn   func([]byte, *Emitter) error
	}{
		{"lines", func(line []byte, out *Emitter) error { return nil }},
		{"identity", func(line []byte, out *Emitter) error { return out.Emit(line, nil) }},
		{"words", asciiWords},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Run(Job{Map: bc.fn}, "map", bytes.NewReader(text), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReduce measures a reduce task over wordcount's sorted map output, counting each
// key's values. MB/s are of input.
func BenchmarkReduce(b *testing.B) {
	var mapped bytes.Buffer
	if err := Run(Job{Map: asciiWords}, "map", bytes.NewReader(benchText(b, 8<<20)), &mapped); err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(mapped.Bytes(), []byte("\n"))
	slices.SortStableFunc(lines, func(x, y []byte) int {
		kx, _, _ := bytes.Cut(x, []byte("\t"))
		ky, _, _ := bytes.Cut(y, []byte("\t"))
		return bytes.Compare(kx, ky)
	})
	input := bytes.Join(lines, nil)
	count := func(key []byte, values *Values, out *Writer) error {
		n := 0
		for values.Next() {
			n++
		}
		return out.Line(key)
	}
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Run(Job{Reduce: count}, "reduce", bytes.NewReader(input), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
