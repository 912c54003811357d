package job

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// grepJob prints the lines that match a Go regexp (--param pattern=RE) as `DOC:LINENO:LINE`, in
// input order (documents in the order given, then lines): what `grep -Hn` prints. A line is
// matched without its '\n' (a '\r' stays part of it) and printed as its raw bytes.
//
// Map output: key the document index (4 bytes) and the line number (8 bytes), big-endian, so
// that byte order is output order; value the line. Keys are unique, so there is nothing to
// combine.
type grepJob struct{}

var _ Job = grepJob{}

// grepKeyLen is the length of a grep key: document index and line number.
const grepKeyLen = 4 + 8

func (grepJob) Name() string { return "grep" }

func (grepJob) Validate(spec *Spec, hasInput bool) error {
	if err := checkSpec(spec, "pattern"); err != nil {
		return err
	}
	if _, err := grepPattern(spec); err != nil {
		return err
	}
	if !hasInput {
		return errors.New("grep needs input")
	}
	return nil
}

// grepPattern compiles the spec's pattern.
func grepPattern(spec *Spec) (*regexp.Regexp, error) {
	pattern, ok := spec.Params["pattern"]
	if !ok {
		return nil, errors.New("grep needs --param pattern=RE (a Go regexp)")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("grep: bad pattern %q: %w", pattern, err)
	}
	return re, nil
}

func (grepJob) NewMapper(spec *Spec, env MapEnv) (Mapper, error) {
	re, err := grepPattern(spec)
	if err != nil {
		return nil, err
	}
	m := &grepMapper{spec: spec, re: re}
	m.spill = newSpiller(spec, env, m, nil)
	return m, nil
}

func (grepJob) NewReducer(spec *Spec) (Reducer, error) { return &grepReducer{spec: spec}, nil }

// grepMapper keeps the matching lines back to back in one buffer.
type grepMapper struct {
	spec    *Spec
	spill   *spiller
	re      *regexp.Regexp
	lines   []byte
	matches []grepMatch
}

// grepMatch is one matching line, at lines[start:end].
type grepMatch struct {
	doc        int32
	line       int64
	start, end int
}

func (m *grepMapper) Map(t Task, r io.Reader) error {
	if t.Generated() || r == nil {
		m.spill.cleanup()
		return fmt.Errorf("grep: %w", errNoInput)
	}
	if t.Doc < 0 || t.Doc > 1<<31-1 {
		m.spill.cleanup()
		return fmt.Errorf("grep: task document %d out of range", t.Doc)
	}
	err := ForEachLine(r, t.FirstLine, func(lineNo int64, line []byte) error {
		if !m.re.Match(line) {
			return nil
		}
		start := len(m.lines)
		m.lines = append(m.lines, line...)
		m.matches = append(m.matches, grepMatch{doc: int32(t.Doc), line: lineNo, start: start, end: len(m.lines)})
		return m.spill.charge(grepKeyLen + len(line) + entryOverhead)
	})
	if err != nil {
		m.spill.cleanup()
	}
	return err
}

func (m *grepMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		m.spill.cleanup()
		return err
	}
	return m.spill.finish(parts)
}

func (m *grepMapper) sorted(r int) ([]int32, []int) {
	var key [grepKeyLen]byte
	return sortEntries(len(m.matches), r,
		func(i int32) int { return HashPartition(m.matches[i].appendKey(key[:0]), r) },
		func(a, b int32) int {
			ma, mb := &m.matches[a], &m.matches[b]
			return cmp.Or(cmp.Compare(ma.doc, mb.doc), cmp.Compare(ma.line, mb.line))
		})
}

// appendKey appends the match's key: big-endian document index and line number.
func (g *grepMatch) appendKey(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(g.doc))
	return binary.BigEndian.AppendUint64(b, uint64(g.line))
}

func (m *grepMapper) appendRecord(i int32, key, value []byte) ([]byte, []byte) {
	g := &m.matches[i]
	return g.appendKey(key), append(value, m.lines[g.start:g.end]...)
}

func (m *grepMapper) reset() { m.lines, m.matches = nil, nil }

// grepReducer prints a matching line as `DOC:LINENO:LINE`.
type grepReducer struct {
	spec *Spec
	line []byte
}

func (r *grepReducer) Reduce(key []byte, values [][]byte, out *RecordWriter) error {
	if len(key) != grepKeyLen {
		return fmt.Errorf("grep: bad key %x", key)
	}
	doc := binary.BigEndian.Uint32(key)
	if int64(doc) >= int64(len(r.spec.Docs)) {
		return fmt.Errorf("grep: document %d out of range (%d documents)", doc, len(r.spec.Docs))
	}
	for _, v := range values { // keys are unique: one value (none is ever dropped silently)
		r.line = append(r.line[:0], r.spec.Docs[doc]...)
		r.line = append(r.line, ':')
		r.line = strconv.AppendUint(r.line, binary.BigEndian.Uint64(key[4:]), 10)
		r.line = append(r.line, ':')
		r.line = append(r.line, v...)
		if err := out.Write(key, r.line); err != nil {
			return err
		}
	}
	return nil
}
