package job

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// TestSpillLevels spills after every line (600 runs of one line: 2·256 + 5·16 + 8), so that runs
// merge into levels 1 and 2, and checks that the runs kept stay few and that the output is still
// every line, sorted, counted and range-partitioned.
func TestSpillLevels(t *testing.T) {
	var in strings.Builder
	const distinct = 300
	for i := range distinct {
		fmt.Fprintf(&in, "%05d\n%05d\n", (i*7)%distinct, (i*7)%distinct)
	}
	dir := t.TempDir()
	spec := &Spec{Job: "sort", Reducers: 2, Bounds: []string{"00150"}}
	mapper, err := sortJob{}.NewMapper(spec, MapEnv{Memory: 1, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := mapper.(*sortMapper)
	maxRuns := 0
	for line := range strings.Lines(in.String()) {
		if err := m.Map(Task{FirstLine: 1}, strings.NewReader(line)); err != nil {
			t.Fatal(err)
		}
		maxRuns = max(maxRuns, len(m.spill.runs))
	}
	levels := map[int]int{}
	for _, run := range m.spill.runs {
		levels[run.level]++
	}
	if levels[2] != 2 || maxRuns > 3*(spillFanIn-1)+1 {
		t.Errorf("runs by level %v, at most %d runs at once", levels, maxRuns)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(m.spill.runs) {
		t.Errorf("%d files for %d runs", len(entries), len(m.spill.runs))
	}
	var bufs [2]bytes.Buffer
	if err := m.Finish([]*RecordWriter{NewRecordWriter(&bufs[0]), NewRecordWriter(&bufs[1])}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d spill files left after Finish", len(entries))
	}
	for p, buf := range bufs {
		rr := NewRecordReader(&buf)
		want := p * distinct / 2
		for {
			key, value, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(key) != fmt.Sprintf("%05d", want) || !bytes.Equal(value, []byte{2}) {
				t.Fatalf("partition %d: record %q %x, want %05d with count 2", p, key, value, want)
			}
			want++
		}
		if want != (p+1)*distinct/2 {
			t.Errorf("partition %d ends before %05d", p, want)
		}
	}
}
