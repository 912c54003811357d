package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// wordcountJob counts words: maximal runs of Unicode letters, case kept. Output lines are
// `WORD COUNT`, sorted by word in byte order.
type wordcountJob struct{}

var _ Job = wordcountJob{}

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

func (wordcountJob) NewMapper(spec *Spec) (Mapper, error) {
	return &wordcountMapper{spec: spec, index: make(map[string]int32)}, nil
}

func (wordcountJob) NewReducer(spec *Spec) (Reducer, error) { return &wordcountReducer{}, nil }

// wordcountMapper combines counts in memory. Words index counts so that a word seen again costs
// a map lookup without allocation (m[string(b)] does not copy b); only a new word allocates.
type wordcountMapper struct {
	spec   *Spec
	index  map[string]int32
	words  []string
	counts []int64
	buf    []byte
}

// Map counts the words of one split. Words never cross '\n', so splits are independent; the
// split is read in chunks, carrying a word or a rune cut by a chunk's end into the next chunk.
func (m *wordcountMapper) Map(t Task, r io.Reader) error {
	if t.Generated() || r == nil {
		return errors.New("wordcount: task has no input")
	}
	if m.buf == nil {
		m.buf = make([]byte, 64<<10)
	}
	have := 0 // bytes carried at the front of buf
	for {
		n, err := io.ReadFull(r, m.buf[have:])
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return err
		}
		data := m.buf[:have+n]
		rest := m.scan(data, eof)
		if eof {
			return nil
		}
		have = copy(m.buf, data[len(data)-rest:])
		if have == len(m.buf) { // a word as long as the buffer: grow it
			m.buf = slices.Grow(m.buf, len(m.buf))[:2*len(m.buf)]
		}
	}
}

// scan counts the words of data and returns how many bytes at its end must be carried into the
// next chunk (an unfinished word or rune); at eof it counts everything.
func (m *wordcountMapper) scan(data []byte, eof bool) (rest int) {
	word := -1 // start of the current word, or -1
	i := 0
	for i < len(data) {
		c := data[i]
		var letter bool
		size := 1
		if c < utf8.RuneSelf {
			letter = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		} else {
			if !eof && !utf8.FullRune(data[i:]) {
				break // a rune cut by the chunk's end
			}
			var r rune
			r, size = utf8.DecodeRune(data[i:])
			letter = unicode.IsLetter(r) // RuneError (invalid bytes) is not a letter
		}
		if letter {
			if word < 0 {
				word = i
			}
		} else if word >= 0 {
			m.count(data[word:i])
			word = -1
		}
		i += size
	}
	switch {
	case eof:
		if word >= 0 {
			m.count(data[word:])
		}
		return 0
	case word >= 0:
		return len(data) - word
	default:
		return len(data) - i
	}
}

// count adds one occurrence of word.
func (m *wordcountMapper) count(word []byte) {
	if i, ok := m.index[string(word)]; ok {
		m.counts[i]++
		return
	}
	w := string(word)
	m.index[w] = int32(len(m.words))
	m.words = append(m.words, w)
	m.counts = append(m.counts, 1)
}

// Finish writes every word with its uvarint count, sorted, to its hash partition.
func (m *wordcountMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		return err
	}
	order := make([]int32, len(m.words))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		switch wa, wb := m.words[a], m.words[b]; {
		case wa < wb:
			return -1
		case wa > wb:
			return 1
		}
		return 0
	})
	var key []byte
	var val [binary.MaxVarintLen64]byte
	for _, i := range order {
		w := m.words[i]
		key = append(key[:0], w...)
		n := binary.PutUvarint(val[:], uint64(m.counts[i]))
		if err := parts[hashPartitionString(w, len(parts))].Write(key, val[:n]); err != nil {
			return err
		}
	}
	return flushAll(parts)
}

// wordcountReducer sums a word's counts.
type wordcountReducer struct{ line []byte }

func (r *wordcountReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	var total uint64
	for _, v := range values {
		n, k := binary.Uvarint(v)
		if k != len(v) || k <= 0 {
			return fmt.Errorf("wordcount: bad count %x for word %.64q", v, key)
		}
		total += n
	}
	r.line = append(r.line[:0], key...)
	r.line = append(r.line, ' ')
	r.line = strconv.AppendUint(r.line, total, 10)
	return out.Write(key, r.line)
}
