package job

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
)

// sortJob prints every input line (without its '\n'; a last line without '\n' is still a line)
// sorted by bytes, duplicates kept: what `LC_ALL=C sort` prints. It partitions by key ranges
// (Spec.Bounds), so the reducers' parts, in partition order, are the sorted output.
//
// Map output: key the line, value its uvarint count.
type sortJob struct{}

var (
	_ Job      = sortJob{}
	_ Combiner = sortJob{}
	_ Sampler  = sortJob{}
)

func (sortJob) Name() string { return "sort" }

func (sortJob) Validate(spec *Spec, hasInput bool) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	if err := checkBounds(spec); err != nil {
		return err
	}
	if !hasInput {
		return errors.New("sort needs input")
	}
	return nil
}

// checkBounds verifies that the spec's bounds are at most R-1 strictly increasing keys.
func checkBounds(spec *Spec) error {
	if len(spec.Bounds) > spec.Reducers-1 {
		return fmt.Errorf("%s: %d bounds for %d partitions (at most %d)", spec.Job, len(spec.Bounds), spec.Reducers, spec.Reducers-1)
	}
	for i := 1; i < len(spec.Bounds); i++ {
		if spec.Bounds[i-1] >= spec.Bounds[i] {
			return fmt.Errorf("%s: bounds not strictly increasing: %.64q then %.64q", spec.Job, spec.Bounds[i-1], spec.Bounds[i])
		}
	}
	return nil
}

// Bounds cuts the sorted sample at the quantiles i/r, i = 1…r-1, dropping repeats (and the empty
// line, which would bound an empty partition).
func (sortJob) Bounds(sample [][]byte, r int) []string {
	if r <= 1 || len(sample) == 0 {
		return nil
	}
	sorted := slices.Clone(sample)
	slices.SortFunc(sorted, bytes.Compare)
	var bounds []string
	for i := 1; i < r; i++ {
		b := sorted[i*len(sorted)/r]
		if len(b) == 0 || len(bounds) > 0 && string(b) <= bounds[len(bounds)-1] {
			continue
		}
		bounds = append(bounds, string(b))
	}
	return bounds
}

func (j sortJob) NewMapper(spec *Spec, env MapEnv) (Mapper, error) {
	if err := checkBounds(spec); err != nil {
		return nil, err
	}
	m := &sortMapper{spec: spec}
	m.spill = newSpiller(spec, env, m, j.Combine)
	return m, nil
}

func (sortJob) NewReducer(spec *Spec) (Reducer, error) { return sortReducer{}, nil }

// Combine adds a line's uvarint counts.
func (sortJob) Combine(key []byte, values [][]byte, out func([]byte) error) error {
	total, err := sumCounts("sort", key, values)
	if err != nil {
		return err
	}
	return out(binary.AppendUvarint(nil, total))
}

// rangePartition returns the partition of key: the number of bounds ≤ key, at most r-1.
func rangePartition(bounds []string, key string, r int) int {
	p := sort.Search(len(bounds), func(i int) bool { return bounds[i] > key })
	return min(p, max(r-1, 0))
}

// sortMapper keeps the lines it is given and sorts them when its output
// is asked for; equal lines, adjacent once sorted, are counted then. (A
// hash table to combine them as they come costs more than it saves: most
// lines of most inputs are distinct.)
type sortMapper struct {
	spec   *Spec
	spill  *spiller
	lines  []string
	counts []int64 // per distinct line, once sorted
}

func (m *sortMapper) Map(t Task, r io.Reader) error {
	if t.Generated() || r == nil {
		m.spill.cleanup()
		return fmt.Errorf("sort: %w", errNoInput)
	}
	err := ForEachLine(r, t.FirstLine, func(_ int64, line []byte) error {
		m.lines = append(m.lines, string(line))
		return m.spill.charge(len(line) + 16 + 8)
	})
	if err != nil {
		m.spill.cleanup()
	}
	return err
}

func (m *sortMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		m.spill.cleanup()
		return err
	}
	return m.spill.finish(parts)
}

// sorted sorts the lines themselves, folds equal ones into counts, and
// cuts the result at the bounds: range partitions are contiguous in key
// order, so one sort serves them all.
func (m *sortMapper) sorted(r int) ([]int32, []int) {
	slices.Sort(m.lines)
	u := 0
	m.counts = m.counts[:0]
	for i, l := range m.lines {
		if i > 0 && l == m.lines[u-1] {
			m.counts[u-1]++
			continue
		}
		m.lines[u] = l
		m.counts = append(m.counts, 1)
		u++
	}
	clear(m.lines[u:])
	m.lines = m.lines[:u]
	order := make([]int32, u)
	for i := range order {
		order[i] = int32(i)
	}
	cut := make([]int, r+1)
	for p := 1; p < r; p++ {
		cut[p] = u
		if p-1 < len(m.spec.Bounds) {
			cut[p], _ = slices.BinarySearch(m.lines, m.spec.Bounds[p-1])
		}
	}
	cut[r] = u
	return order, cut
}

func (m *sortMapper) appendRecord(i int32, key, value []byte) ([]byte, []byte) {
	return append(key, m.lines[i]...), binary.AppendUvarint(value, uint64(m.counts[i]))
}

func (m *sortMapper) reset() {
	m.lines, m.counts = nil, nil
}

// sortReducer prints a line as many times as it occurs.
type sortReducer struct{}

func (sortReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	total, err := sumCounts("sort", key, values)
	if err != nil {
		return err
	}
	for range total {
		if err := out.Write(key, key); err != nil {
			return err
		}
	}
	return nil
}
