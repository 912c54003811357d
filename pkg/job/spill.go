package job

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"
)

// entryOverhead is what the memory estimate charges a table entry beyond its key and value bytes:
// the map slot, slice and string headers, allocator rounding.
const entryOverhead = 64

// spillFanIn is how many runs of one level are merged into one run of the next level. It bounds
// the files a merge opens and the read buffers it holds, while keeping the number of passes over
// the data logarithmic.
const spillFanIn = 16

// spillReadBuffer is the read buffer of each run during a merge.
const spillReadBuffer = 32 << 10

// spillFilesCreated counts spill files ever created in this process, for tests.
var spillFilesCreated atomic.Int64

// table is a mapper's combined output held in memory: each key once, with its value.
type table interface {
	// sorted returns the entries' indices ordered by partition and, within one partition, by
	// key (bytes.Compare), with cut[p]..cut[p+1] the range of partition p (len(cut) == r+1).
	sorted(r int) (order []int32, cut []int)
	// appendRecord appends entry i's key and encoded value to key and value.
	appendRecord(i int32, key, value []byte) ([]byte, []byte)
	// reset empties the table and lets go of its memory.
	reset()
}

// spillRun is one sorted run on disk: the records of every partition in turn, partition p at
// bytes offsets[p]..offsets[p+1] of the file.
type spillRun struct {
	path    string
	level   int // 0 for a spilled table, L+1 for a merge of runs of level L
	offsets []int64
}

// spiller bounds the memory of a mapper's table: the mapper charges it for what it adds, and
// past the budget the spiller writes the table to disk as a sorted run and resets it. Finish
// merges the runs and the table's remainder into the partitions, combining equal keys.
type spiller struct {
	job     string
	r       int
	budget  int64
	dir     string
	t       table
	combine func(key []byte, values [][]byte, out func(value []byte) error) error // nil: keys are unique
	used    int64
	runs    []*spillRun
}

// newSpiller returns a spiller for t. combine may be nil for a job whose keys never repeat.
func newSpiller(spec *Spec, env MapEnv, t table, combine func([]byte, [][]byte, func([]byte) error) error) *spiller {
	return &spiller{job: spec.Job, r: max(spec.Reducers, 1), budget: env.memory(), dir: env.TempDir, t: t, combine: combine}
}

// charge accounts for n more bytes in the table and spills it when over budget.
func (s *spiller) charge(n int) error {
	s.used += int64(n)
	if s.used <= s.budget {
		return nil
	}
	return s.spill()
}

// spill writes the table as a level-0 run, resets it, and merges runs when a level is full.
func (s *spiller) spill() error {
	order, cut := s.t.sorted(s.r)
	var key, value []byte
	run, err := s.writeRun(0, func(p int, rw *RecordWriter) error {
		for _, i := range order[cut[p]:cut[p+1]] {
			key, value = s.t.appendRecord(i, key[:0], value[:0])
			if err := rw.Write(key, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.runs = append(s.runs, run)
	s.t.reset()
	s.used = 0
	return s.compact()
}

// compact merges the runs of any level that holds spillFanIn of them into one run of the next.
func (s *spiller) compact() error {
	for level := 0; ; level++ {
		var full, rest []*spillRun
		for _, run := range s.runs {
			if run.level == level {
				full = append(full, run)
			} else {
				rest = append(rest, run)
			}
		}
		if len(full) < spillFanIn {
			return nil
		}
		files, err := openRuns(full)
		if err != nil {
			return err
		}
		merged, err := s.writeRun(level+1, func(p int, rw *RecordWriter) error {
			return s.merge(runSources(full, files, p), rw.Write)
		})
		closeAll(files)
		if err != nil {
			return err
		}
		for _, run := range full {
			os.Remove(run.path)
		}
		s.runs = append(rest, merged)
	}
}

// writeRun creates a spill file and lets fill write each partition's records in turn.
func (s *spiller) writeRun(level int, fill func(p int, rw *RecordWriter) error) (run *spillRun, err error) {
	f, err := os.CreateTemp(s.dir, "dlbp-spill-*")
	if err != nil {
		return nil, fmt.Errorf("%s: creating spill file: %w", s.job, err)
	}
	spillFilesCreated.Add(1)
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: writing spill file: %w", s.job, cerr)
		}
		if err != nil {
			os.Remove(f.Name())
			run = nil
		}
	}()
	run = &spillRun{path: f.Name(), level: level, offsets: make([]int64, 0, s.r+1)}
	rw := NewRecordWriter(f)
	for p := range s.r {
		run.offsets = append(run.offsets, rw.Bytes())
		if err := fill(p, rw); err != nil {
			return nil, fmt.Errorf("%s: writing spill file: %w", s.job, err)
		}
	}
	run.offsets = append(run.offsets, rw.Bytes())
	if err := rw.Flush(); err != nil {
		return nil, fmt.Errorf("%s: writing spill file: %w", s.job, err)
	}
	return run, nil
}

// finish writes the combined output to parts: straight from the table when nothing was spilled,
// otherwise a merge per partition of every run and the table. It removes the spill files.
func (s *spiller) finish(parts []*RecordWriter) error {
	defer s.cleanup()
	order, cut := s.t.sorted(s.r)
	mem := &tableSource{t: s.t}
	if len(s.runs) == 0 {
		for p, part := range parts {
			mem.order = order[cut[p]:cut[p+1]]
			if err := copyRecords(mem, part.Write); err != nil {
				return err
			}
		}
	} else {
		files, err := openRuns(s.runs)
		if err != nil {
			return err
		}
		defer closeAll(files)
		for p, part := range parts {
			mem.order = order[cut[p]:cut[p+1]]
			if err := s.merge(append(runSources(s.runs, files, p), mem), part.Write); err != nil {
				return err
			}
		}
	}
	s.t.reset()
	s.used = 0
	return flushAll(parts)
}

// cleanup removes every spill file; the mapper must not be used afterwards.
func (s *spiller) cleanup() {
	for _, run := range s.runs {
		os.Remove(run.path)
	}
	s.runs = nil
}

// merge merges sorted sources into out, combining each key's values when they come from several
// sources. Memory holds one record per source plus the current key's values.
func (s *spiller) merge(sources []recordSource, out func(key, value []byte) error) error {
	const what = "spill run"
	h, err := newSourceMerge(sources, what)
	if err != nil {
		return err
	}
	var (
		key    []byte
		arena  []byte
		ends   []int
		values [][]byte
	)
	emit := func(v []byte) error { return out(key, v) }
	for h.Len() > 0 {
		key = append(key[:0], (*h)[0].key...)
		arena, ends = arena[:0], ends[:0]
		for h.Len() > 0 && bytes.Equal((*h)[0].key, key) {
			arena = append(arena, (*h)[0].value...)
			ends = append(ends, len(arena))
			if err := h.step(what); err != nil {
				return err
			}
		}
		values = values[:0]
		start := 0
		for _, end := range ends {
			values = append(values, arena[start:end:end])
			start = end
		}
		switch {
		case len(values) == 1 || s.combine == nil:
			for _, v := range values {
				if err := out(key, v); err != nil {
					return err
				}
			}
		default:
			if err := s.combine(key, values, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyRecords writes every record of src to out.
func copyRecords(src recordSource, out func(key, value []byte) error) error {
	for {
		key, value, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out(key, value); err != nil {
			return err
		}
	}
}

// openRuns opens the runs' files for reading.
func openRuns(runs []*spillRun) ([]*os.File, error) {
	files := make([]*os.File, 0, len(runs))
	for _, run := range runs {
		f, err := os.Open(run.path)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("opening spill file: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// runSources returns a reader of partition p of every run.
func runSources(runs []*spillRun, files []*os.File, p int) []recordSource {
	sources := make([]recordSource, len(runs))
	for i, run := range runs {
		section := io.NewSectionReader(files[i], run.offsets[p], run.offsets[p+1]-run.offsets[p])
		sources[i] = newRecordReaderSize(section, spillReadBuffer)
	}
	return sources
}

// tableSource reads the entries order lists out of a table, as records.
type tableSource struct {
	t          table
	order      []int32
	key, value []byte
}

func (ts *tableSource) Next() (key, value []byte, err error) {
	if len(ts.order) == 0 {
		return nil, nil, io.EOF
	}
	ts.key, ts.value = ts.t.appendRecord(ts.order[0], ts.key[:0], ts.value[:0])
	ts.order = ts.order[1:]
	return ts.key, ts.value, nil
}

// sortEntries orders a table's n entries by partition, then by cmp within each partition, and
// returns the order and the partitions' ranges in it (see table.sorted).
func sortEntries(n, r int, partition func(i int32) int, cmp func(a, b int32) int) (order []int32, cut []int) {
	order = make([]int32, n)
	cut = make([]int, r+1)
	if r <= 1 {
		for i := range order {
			order[i] = int32(i)
		}
		cut[1] = n
		slices.SortFunc(order, cmp)
		return order, cut
	}
	parts := make([]int32, n)
	for i := range parts {
		p := partition(int32(i))
		parts[i] = int32(p)
		cut[p+1]++
	}
	for p := range r {
		cut[p+1] += cut[p]
	}
	next := slices.Clone(cut[:r])
	for i, p := range parts {
		order[next[p]] = int32(i)
		next[p]++
	}
	for p := range r {
		slices.SortFunc(order[cut[p]:cut[p+1]], cmp)
	}
	return order, cut
}
