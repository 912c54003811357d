package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// indexerJob builds an inverted index: for every word (as wordcount defines it), the documents
// that contain it. Output lines are `WORD N DOC1,DOC2,…` with the N distinct document names
// sorted in byte order, sorted by word. A name given twice counts once.
//
// Map output: key the word, value the sorted set of document indices (Task.Doc) as uvarints.
type indexerJob struct{}

var (
	_ Job      = indexerJob{}
	_ Combiner = indexerJob{}
)

func (indexerJob) Name() string { return "indexer" }

func (indexerJob) Validate(spec *Spec, hasInput bool) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	if !hasInput {
		return errors.New("indexer needs input")
	}
	return nil
}

func (j indexerJob) NewMapper(spec *Spec, env MapEnv) (Mapper, error) {
	m := &indexerMapper{spec: spec, index: make(map[string]int32)}
	m.spill = newSpiller(spec, env, m, j.Combine)
	return m, nil
}

func (indexerJob) NewReducer(spec *Spec) (Reducer, error) { return &indexerReducer{spec: spec}, nil }

// Combine unions a word's document sets.
func (indexerJob) Combine(key []byte, values [][]byte, out func([]byte) error) error {
	docs, err := unionDocs(nil, key, values)
	if err != nil {
		return err
	}
	var v []byte
	for _, d := range docs {
		v = binary.AppendUvarint(v, uint64(d))
	}
	return out(v)
}

// indexerMapper keeps, per word, the sorted set of documents it was seen in.
type indexerMapper struct {
	spec    *Spec
	spill   *spiller
	scanner wordScanner
	doc     int32 // of the task being mapped
	index   map[string]int32
	words   []string
	docs    [][]int32 // sorted, distinct
}

// Map records the split's document for each of its words.
func (m *indexerMapper) Map(t Task, r io.Reader) error {
	if t.Generated() || r == nil {
		m.spill.cleanup()
		return fmt.Errorf("indexer: %w", errNoInput)
	}
	if t.Doc < 0 || t.Doc >= len(m.spec.Docs) {
		m.spill.cleanup()
		return fmt.Errorf("indexer: task document %d out of range (%d documents)", t.Doc, len(m.spec.Docs))
	}
	m.doc = int32(t.Doc)
	if err := m.scanner.scan(r, m.add); err != nil {
		m.spill.cleanup()
		return err
	}
	return nil
}

// add records that word occurs in the current document.
func (m *indexerMapper) add(word []byte) error {
	i, ok := m.index[string(word)]
	if !ok {
		w := string(word)
		m.index[w] = int32(len(m.words))
		m.words = append(m.words, w)
		m.docs = append(m.docs, []int32{m.doc})
		return m.spill.charge(len(w) + 4 + entryOverhead)
	}
	docs := m.docs[i]
	if docs[len(docs)-1] == m.doc { // the common case: seen already in this document
		return nil
	}
	at, found := slices.BinarySearch(docs, m.doc)
	if found {
		return nil
	}
	m.docs[i] = slices.Insert(docs, at, m.doc)
	return m.spill.charge(4)
}

func (m *indexerMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		m.spill.cleanup()
		return err
	}
	return m.spill.finish(parts)
}

func (m *indexerMapper) sorted(r int) ([]int32, []int) {
	return sortEntries(len(m.words), r,
		func(i int32) int { return hashPartitionString(m.words[i], r) },
		func(a, b int32) int { return strings.Compare(m.words[a], m.words[b]) })
}

func (m *indexerMapper) appendRecord(i int32, key, value []byte) ([]byte, []byte) {
	for _, d := range m.docs[i] {
		value = binary.AppendUvarint(value, uint64(d))
	}
	return append(key, m.words[i]...), value
}

func (m *indexerMapper) reset() {
	m.index = make(map[string]int32)
	m.words, m.docs = nil, nil
}

// indexerReducer unions a word's document sets and prints their names.
type indexerReducer struct {
	spec  *Spec
	docs  []int32
	names []string
	line  []byte
}

func (r *indexerReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	var err error
	r.docs, err = unionDocs(r.docs[:0], key, values)
	if err != nil {
		return err
	}
	r.names = r.names[:0]
	for _, d := range r.docs {
		if int(d) >= len(r.spec.Docs) {
			return fmt.Errorf("indexer: document %d of word %.64q out of range (%d documents)", d, key, len(r.spec.Docs))
		}
		r.names = append(r.names, r.spec.Docs[d])
	}
	slices.Sort(r.names)
	r.names = slices.Compact(r.names) // a name given twice is one document
	r.line = append(r.line[:0], key...)
	r.line = append(r.line, ' ')
	r.line = strconv.AppendInt(r.line, int64(len(r.names)), 10)
	r.line = append(r.line, ' ')
	for i, name := range r.names {
		if i > 0 {
			r.line = append(r.line, ',')
		}
		r.line = append(r.line, name...)
	}
	return out.Write(key, r.line)
}

// unionDocs decodes the uvarint document sets in values and appends their sorted union to docs.
func unionDocs(docs []int32, key []byte, values [][]byte) ([]int32, error) {
	for _, v := range values {
		for len(v) > 0 {
			d, k := binary.Uvarint(v)
			if k <= 0 || d > 1<<31-1 {
				return nil, fmt.Errorf("indexer: bad document set %x for word %.64q", v, key)
			}
			docs = append(docs, int32(d))
			v = v[k:]
		}
	}
	slices.Sort(docs)
	return slices.Compact(docs), nil
}
