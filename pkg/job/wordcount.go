package job

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// wordcountJob counts words: maximal runs of Unicode letters, case kept. Output lines are
// `WORD COUNT`, sorted by word in byte order.
type wordcountJob struct{}

var (
	_ Job      = wordcountJob{}
	_ Combiner = wordcountJob{}
)

func (wordcountJob) Name() string { return "wordcount" }

func (wordcountJob) Validate(spec *Spec, hasInput bool) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	if !hasInput {
		return errors.New("wordcount needs input")
	}
	return nil
}

func (j wordcountJob) NewMapper(spec *Spec, env MapEnv) (Mapper, error) {
	m := &wordcountMapper{spec: spec, table: newWordTable()}
	m.spill = newSpiller(spec, env, m, j.Combine)
	return m, nil
}

func (wordcountJob) NewReducer(spec *Spec) (Reducer, error) { return &wordcountReducer{}, nil }

// Combine adds a word's uvarint counts.
func (wordcountJob) Combine(key []byte, values [][]byte, out func([]byte) error) error {
	total, err := sumCounts("wordcount", key, values)
	if err != nil {
		return err
	}
	return out(binary.AppendUvarint(nil, total))
}

// wordcountMapper combines counts in memory, in a wordTable: a word seen again costs a probe
// without allocation; only a new word takes memory, which it charges to the spiller.
type wordcountMapper struct {
	spec    *Spec
	spill   *spiller
	scanner wordScanner
	table   *wordTable
}

// Map counts the words of one split.
func (m *wordcountMapper) Map(t Task, r io.Reader) error {
	if t.Generated() || r == nil {
		m.spill.cleanup()
		return fmt.Errorf("wordcount: %w", errNoInput)
	}
	if err := m.scanner.scan(r, m.count); err != nil {
		m.spill.cleanup()
		return err
	}
	return nil
}

// count adds one occurrence of word.
func (m *wordcountMapper) count(word []byte) error {
	if m.table.add(word) {
		return m.spill.charge(len(word) + 8 + entryOverhead)
	}
	return nil
}

// Finish writes every word with its uvarint count, sorted, to its hash partition.
func (m *wordcountMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		m.spill.cleanup()
		return err
	}
	return m.spill.finish(parts)
}

func (m *wordcountMapper) sorted(r int) ([]int32, []int) {
	t := m.table
	return sortEntries(t.len(), r,
		func(i int32) int { return HashPartition(t.word(i), r) },
		func(a, b int32) int { return bytes.Compare(t.word(a), t.word(b)) })
}

func (m *wordcountMapper) appendRecord(i int32, key, value []byte) ([]byte, []byte) {
	return append(key, m.table.word(i)...), binary.AppendUvarint(value, uint64(m.table.counts[i]))
}

func (m *wordcountMapper) reset() { m.table.reset() }

// wordcountReducer sums a word's counts.
type wordcountReducer struct{ line []byte }

func (r *wordcountReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	total, err := sumCounts("wordcount", key, values)
	if err != nil {
		return err
	}
	r.line = append(r.line[:0], key...)
	r.line = append(r.line, ' ')
	r.line = strconv.AppendUint(r.line, total, 10)
	return out.Write(key, r.line)
}

// sumCounts adds uvarint counts, the values of wordcount and sort.
func sumCounts(job string, key []byte, values [][]byte) (uint64, error) {
	var total uint64
	for _, v := range values {
		n, k := binary.Uvarint(v)
		if k != len(v) || k <= 0 {
			return 0, fmt.Errorf("%s: bad count %x for key %.64q", job, v, key)
		}
		total += n
	}
	return total, nil
}
