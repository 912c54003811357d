package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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
	m := &wordcountMapper{spec: spec, index: make(map[string]int32)}
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

// wordcountMapper combines counts in memory. Words index counts so that a word seen again costs
// a map lookup without allocation (m[string(b)] does not copy b); only a new word allocates, and
// charges the spiller for it.
type wordcountMapper struct {
	spec    *Spec
	spill   *spiller
	scanner wordScanner
	index   map[string]int32
	words   []string
	counts  []int64
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
	if i, ok := m.index[string(word)]; ok {
		m.counts[i]++
		return nil
	}
	w := string(word)
	m.index[w] = int32(len(m.words))
	m.words = append(m.words, w)
	m.counts = append(m.counts, 1)
	return m.spill.charge(len(w) + 8 + entryOverhead)
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
	return sortEntries(len(m.words), r,
		func(i int32) int { return hashPartitionString(m.words[i], r) },
		func(a, b int32) int { return strings.Compare(m.words[a], m.words[b]) })
}

func (m *wordcountMapper) appendRecord(i int32, key, value []byte) ([]byte, []byte) {
	return append(key, m.words[i]...), binary.AppendUvarint(value, uint64(m.counts[i]))
}

func (m *wordcountMapper) reset() {
	m.index = make(map[string]int32)
	m.words, m.counts = nil, nil
}

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
