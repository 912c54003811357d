package job

import (
	"bytes"
	"io"
	"testing"

	"github.com/dlbp/dlbp/internal/corpus"
)

// BenchmarkSortMap maps and finishes 16 MB of text with the sort job into 4
// range partitions.
func BenchmarkSortMap(b *testing.B) {
	var in bytes.Buffer
	if err := corpus.Generate(&in, 16<<20, 1); err != nil {
		b.Fatal(err)
	}
	j, _ := Lookup("sort")
	spec := &Spec{Job: "sort", Reducers: 4}
	lines, _ := SampleLines(bytes.NewReader(in.Bytes()), int64(in.Len()), 800)
	spec.Bounds = j.(Sampler).Bounds(lines, 4)
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		m, err := j.NewMapper(spec, MapEnv{Memory: 1 << 30, TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Map(Task{Length: int64(in.Len()), FirstLine: 1}, bytes.NewReader(in.Bytes())); err != nil {
			b.Fatal(err)
		}
		parts := make([]*RecordWriter, 4)
		for p := range parts {
			parts[p] = NewRecordWriter(io.Discard)
		}
		if err := m.Finish(parts); err != nil {
			b.Fatal(err)
		}
	}
}
