package job_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/dlbp/dlbp/pkg/job"
)

// BenchmarkMap runs one map task of each built-in job over 16 MB of the generated corpus, as a
// node runs it: R=2, a node's memory budget per slot (64 MiB), the partials written (here to
// io.Discard). One goroutine, so MB/s is per core. Issue 15's target for wordcount: 120 MB/s.
//
//	go test ./pkg/job -run XXX -bench BenchmarkMap -benchtime 5x
func BenchmarkMap(b *testing.B) {
	text := generated(b, 16<<20, 1)
	var nums bytes.Buffer
	for i := 0; nums.Len() < 16<<20; i++ {
		fmt.Fprintf(&nums, "%d\n", i*7919)
	}
	for _, c := range []struct {
		name   string
		params map[string]string
		input  []byte
	}{
		{"wordcount", nil, text},
		{"indexer", nil, text},
		{"grep", map[string]string{"pattern": "whale|sea"}, text},
		{"sort", nil, text},
		{"sum", nil, nums.Bytes()},
	} {
		b.Run(c.name, func(b *testing.B) {
			j, err := job.Lookup(c.name)
			if err != nil {
				b.Fatal(err)
			}
			spec := &job.Spec{Job: c.name, Reducers: 2, Params: c.params, Docs: []string{"corpus.txt"}}
			if s, ok := j.(job.Sampler); ok {
				lines, err := job.SampleLines(bytes.NewReader(c.input), int64(len(c.input)), 800)
				if err != nil {
					b.Fatal(err)
				}
				spec.Bounds = s.Bounds(lines, spec.Reducers)
			}
			b.SetBytes(int64(len(c.input)))
			for b.Loop() {
				m, err := j.NewMapper(spec, job.MapEnv{Memory: 64 << 20, TempDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Map(job.Task{Length: int64(len(c.input)), FirstLine: 1}, bytes.NewReader(c.input)); err != nil {
					b.Fatal(err)
				}
				parts := []*job.RecordWriter{job.NewRecordWriter(io.Discard), job.NewRecordWriter(io.Discard)}
				if err := m.Finish(parts); err != nil && !strings.Contains(err.Error(), "no input") {
					b.Fatal(err)
				}
			}
		})
	}
}
