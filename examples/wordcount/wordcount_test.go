package main

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/dlbp/dlbp/internal/corpus"
	"github.com/dlbp/dlbp/pkg/sdk"
)

// BenchmarkMap measures wordcount's map task, SDK included, on generated English-like text: MB/s
// of input.
func BenchmarkMap(b *testing.B) {
	var text bytes.Buffer
	if err := corpus.Generate(&text, 8<<20, 1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(text.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := sdk.Run(job, "map", bytes.NewReader(text.Bytes()), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombine measures the combiner on a map task's sorted output.
func BenchmarkCombine(b *testing.B) {
	var text, mapped bytes.Buffer
	if err := corpus.Generate(&text, 4<<20, 1); err != nil {
		b.Fatal(err)
	}
	if err := sdk.Run(job, "map", &text, &mapped); err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(mapped.Bytes(), []byte("\n"))
	slices.SortStableFunc(lines, func(x, y []byte) int {
		kx, _, _ := bytes.Cut(x, []byte("\t"))
		ky, _, _ := bytes.Cut(y, []byte("\t"))
		return bytes.Compare(kx, ky)
	})
	input := bytes.Join(lines, nil)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sdk.Run(job, "combine", bytes.NewReader(input), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
