package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// streamJob runs the user's own programs over Hadoop Streaming's contract (DESIGN.md, "User
// jobs"): the mapper reads its split's lines and writes KEY<TAB>VALUE lines; records go to
// partition fnv1a32(KEY) mod R, sorted by KEY; the reducer reads its partition's records as
// KEY<TAB>VALUE lines and what it writes is the part, line for line.
//
// Map output records: key KEY, value VALUE, a key as often as the mapper (or combiner) wrote it.
// Output records: an empty key and the line, so that merging parts by key prints part 0, then
// part 1, …, each in the order its reducer wrote it.
type streamJob struct{}

var (
	_ Job           = streamJob{}
	_ StreamReducer = streamJob{}
)

func (streamJob) Name() string { return StreamingJob }

func (streamJob) Validate(spec *Spec, hasInput bool) error {
	if spec.Stream == nil {
		return errors.New("a user job needs --mapper and --reducer")
	}
	if spec.Reducers < 1 {
		return fmt.Errorf("reducers must be at least 1, got %d", spec.Reducers)
	}
	if err := spec.Stream.check(); err != nil {
		return err
	}
	for _, k := range sortedKeys(spec.Params) {
		if !validParamName(k) {
			return fmt.Errorf("--param %q: a user job's parameter name must be letters, digits and '_' (it becomes DLBP_PARAM_%s)", k, k)
		}
		if strings.IndexByte(spec.Params[k], 0) >= 0 {
			return fmt.Errorf("--param %s: the value holds a NUL byte", k)
		}
	}
	if len(spec.Bounds) > 0 {
		return errors.New("a user job is hash-partitioned: it takes no partition bounds")
	}
	if !hasInput {
		return errors.New("a user job needs input")
	}
	return nil
}

func validParamName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func (streamJob) NewMapper(spec *Spec, env MapEnv) (Mapper, error) {
	if spec.Stream == nil {
		return nil, errors.New("a user job needs --mapper and --reducer")
	}
	if env.Runner == nil {
		return nil, errors.New("this process cannot run user programs")
	}
	m := &streamMapper{spec: spec, env: env, out: &streamTable{}}
	m.spill = newSpiller(spec, env, m.out, nil)
	if !spec.Stream.Combiner.IsZero() {
		// Raw map output waits in raw for the combiner; what the combiner writes goes to out, the
		// table the spiller bounds. Each holds at most half the budget.
		m.raw = &streamTable{}
		m.rawBudget = env.memory() / 2
		m.spill.budget = max(env.memory()-m.rawBudget, 1)
	}
	return m, nil
}

// NewReducer is not how a user job reduces: its reducer is a program that reads the whole merged
// partition (ReduceStream).
func (streamJob) NewReducer(spec *Spec) (Reducer, error) {
	return nil, errors.New("a user job's reducer runs as a program over its partition (ReduceStream)")
}

// streamEntry is one record of a streamTable: key at arena[off:off+klen], value after it.
type streamEntry struct {
	off        int
	klen, vlen int32
	part       int32
}

// streamTable holds records back to back in one arena, each key as often as it was written.
type streamTable struct {
	arena   []byte
	entries []streamEntry
}

func (t *streamTable) add(key, value []byte, part int) {
	off := len(t.arena)
	t.arena = append(t.arena, key...)
	t.arena = append(t.arena, value...)
	t.entries = append(t.entries, streamEntry{off: off, klen: int32(len(key)), vlen: int32(len(value)), part: int32(part)})
}

func (t *streamTable) key(i int32) []byte {
	e := &t.entries[i]
	return t.arena[e.off : e.off+int(e.klen)]
}

func (t *streamTable) sorted(r int) ([]int32, []int) {
	return sortEntries(len(t.entries), r,
		func(i int32) int { return int(t.entries[i].part) },
		func(a, b int32) int { return bytes.Compare(t.key(a), t.key(b)) })
}

func (t *streamTable) appendRecord(i int32, key, value []byte) ([]byte, []byte) {
	e := &t.entries[i]
	k := e.off + int(e.klen)
	return append(key, t.arena[e.off:k]...), append(value, t.arena[k:k+int(e.vlen)]...)
}

// repeats reports whether a key appears twice among the entries in order (sorted by key).
func (t *streamTable) repeats(order []int32) bool {
	for i := 1; i < len(order); i++ {
		if bytes.Equal(t.key(order[i-1]), t.key(order[i])) {
			return true
		}
	}
	return false
}

func (t *streamTable) reset() {
	t.arena, t.entries = nil, nil
}

// streamMapper runs the user's mapper once per task and keeps its records; with a combiner, raw
// output is combined (by running the combiner over it, sorted) whenever raw fills up and at the
// end.
type streamMapper struct {
	spec      *Spec
	env       MapEnv
	out       *streamTable
	spill     *spiller
	raw       *streamTable // nil without a combiner
	rawBudget int64
	rawUsed   int64
	task      Task
}

// Map runs the mapper over one split.
func (m *streamMapper) Map(t Task, r io.Reader) error {
	if t.Generated() || r == nil {
		m.spill.cleanup()
		return fmt.Errorf("user job: %w", errNoInput)
	}
	m.task = t
	cmd := m.spec.Stream.Mapper
	parse := &lineParser{emit: splitRecord(m.add), what: "mapper " + quoteCommand(cmd)}
	err := m.run("mapper", cmd, &lineEnder{r: r}, parse)
	if err == nil {
		err = parse.close()
	}
	if err != nil {
		m.spill.cleanup()
	}
	return err
}

// run runs one of the map task's programs.
func (m *streamMapper) run(role string, cmd Command, stdin io.Reader, stdout io.Writer) error {
	env := m.env
	vars := []string{
		"DLBP_JOB=" + env.JobID,
		"DLBP_TASK=" + strconv.Itoa(env.Task),
		"DLBP_ATTEMPT=" + strconv.Itoa(env.Attempt),
		"DLBP_REDUCERS=" + strconv.Itoa(m.spec.Reducers),
		"DLBP_INPUT=" + m.spec.docName(m.task.Doc),
		"DLBP_INPUT_LINE=" + strconv.FormatInt(max(m.task.FirstLine, 1), 10),
	}
	return runProgram(env.Ctx, env.Runner, m.spec, role, cmd, append(vars, paramVars(m.spec)...), stdin, stdout,
		fmt.Sprintf("%s/%s-%d.%d", env.JobID, role, env.Task, env.Attempt))
}

// add keeps one record the mapper (or, into out, the combiner) wrote.
func (m *streamMapper) add(key, value []byte) error {
	if m.raw == nil {
		return m.keep(key, value)
	}
	m.raw.add(key, value, HashPartition(key, m.spec.Reducers))
	m.rawUsed += int64(len(key) + len(value) + entryOverhead)
	if m.rawUsed > m.rawBudget {
		return m.combine()
	}
	return nil
}

// keep adds a record to the spilled table.
func (m *streamMapper) keep(key, value []byte) error {
	m.out.add(key, value, HashPartition(key, m.spec.Reducers))
	return m.spill.charge(len(key) + len(value) + entryOverhead)
}

// combine runs the combiner over raw's records, sorted by key, and keeps what it writes. When no
// key repeats, there is nothing to combine: the records are kept as they are, without starting
// the program (a combiner runs zero or more times per record; a mapper that combines in memory
// writes each key once).
func (m *streamMapper) combine() error {
	if m.raw == nil || len(m.raw.entries) == 0 {
		return nil
	}
	order, _ := m.raw.sorted(1)
	if !m.raw.repeats(order) {
		var err error
		for _, i := range order {
			e := &m.raw.entries[i]
			k := e.off + int(e.klen)
			if err = m.keep(m.raw.arena[e.off:k], m.raw.arena[k:k+int(e.vlen)]); err != nil {
				break
			}
		}
		m.raw.reset()
		m.rawUsed = 0
		return err
	}
	src := &tableSource{t: m.raw, order: order}
	cmd := m.spec.Stream.Combiner
	parse := &lineParser{emit: splitRecord(m.keep), what: "combiner " + quoteCommand(cmd)}
	in := &recordLines{src: src}
	err := m.run("combiner", cmd, in, parse)
	if err == nil {
		err = parse.close()
	}
	if err == nil {
		err = in.failure()
	}
	m.raw.reset()
	m.rawUsed = 0
	return err
}

// Finish combines what is left and writes the sorted partials.
func (m *streamMapper) Finish(parts []*RecordWriter) error {
	if err := checkParts(m.spec, parts); err != nil {
		m.spill.cleanup()
		return err
	}
	if err := m.combine(); err != nil {
		m.spill.cleanup()
		return err
	}
	return m.spill.finish(parts)
}

// ReduceStream runs the user's reducer over the merged records of one partition, in key order.
func (streamJob) ReduceStream(spec *Spec, env ReduceEnv, inputs []io.Reader, out *RecordWriter) error {
	if spec.Stream == nil {
		return errors.New("a user job needs --mapper and --reducer")
	}
	if env.Runner == nil {
		return errors.New("this process cannot run user programs")
	}
	h, err := newMerge(inputs, "partial")
	if err != nil {
		return err
	}
	cmd := spec.Stream.Reducer
	parse := &lineParser{what: "reducer " + quoteCommand(cmd), emit: func(line []byte) error {
		return out.Write(nil, line)
	}}
	in := &recordLines{src: &mergeSource{h: h}}
	vars := []string{
		"DLBP_JOB=" + env.JobID,
		"DLBP_TASK=" + strconv.Itoa(env.Partition),
		"DLBP_ATTEMPT=" + strconv.Itoa(env.Attempt),
		"DLBP_REDUCERS=" + strconv.Itoa(spec.Reducers),
		"DLBP_PARTITION=" + strconv.Itoa(env.Partition),
	}
	err = runProgram(env.Ctx, env.Runner, spec, "reducer", cmd, append(vars, paramVars(spec)...),
		in, parse, fmt.Sprintf("%s/reduce-%d.%d", env.JobID, env.Partition, env.Attempt))
	if err == nil {
		err = parse.close()
	}
	if err == nil {
		err = in.failure()
	}
	if err != nil {
		return err
	}
	return out.Flush()
}

// runProgram runs a user command, turning its failure into a UserError that names it.
func runProgram(ctx context.Context, runner Runner, spec *Spec, role string, cmd Command, env []string, stdin io.Reader, stdout io.Writer, name string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	err := runner.Run(ctx, Program{Cmd: cmd, Env: env, Files: spec.Stream.Files, Stdin: stdin, Stdout: stdout, Timeout: spec.Stream.Timeout(), Name: name})
	var u *UserError
	if errors.As(err, &u) && !strings.HasPrefix(u.Reason, role+" ") {
		return &UserError{Reason: role + " " + quoteCommand(cmd) + ": " + u.Reason}
	}
	return err
}

// paramVars returns DLBP_PARAM_KEY=VALUE for each param, sorted by key.
func paramVars(spec *Spec) []string {
	var out []string
	for _, k := range sortedKeys(spec.Params) {
		out = append(out, "DLBP_PARAM_"+k+"="+spec.Params[k])
	}
	return out
}

func quoteCommand(c Command) string { return "'" + c.String() + "'" }

// lineParser is a program's standard output: it cuts the bytes into lines (a last line without
// '\n' is still one, see close). A line longer than MaxStreamLine fails the program.
type lineParser struct {
	emit  func(line []byte) error
	what  string
	line  []byte
	lines int64
}

// Write takes any amount of output; whole lines are emitted at once, a partial line is kept.
func (p *lineParser) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(p.line)+len(b) > MaxStreamLine {
				return 0, p.tooLong()
			}
			p.line = append(p.line, b...)
			return n, nil
		}
		chunk := b[:i]
		b = b[i+1:]
		if len(p.line) > 0 {
			if len(p.line)+len(chunk) > MaxStreamLine {
				return 0, p.tooLong()
			}
			p.line = append(p.line, chunk...)
			chunk = p.line
		} else if len(chunk) > MaxStreamLine {
			return 0, p.tooLong()
		}
		if err := p.emitLine(chunk); err != nil {
			return 0, err
		}
		p.line = p.line[:0]
		if cap(p.line) > 1<<20 {
			p.line = nil // do not keep a huge buffer for the rest of the output
		}
	}
	return n, nil
}

func (p *lineParser) emitLine(line []byte) error {
	p.lines++
	return p.emit(line)
}

// splitRecord cuts each line at its first tab into key and value (no tab: the whole line is the
// key, the value empty), the mapper's and combiner's output format.
func splitRecord(emit func(key, value []byte) error) func(line []byte) error {
	return func(line []byte) error {
		if i := bytes.IndexByte(line, '\t'); i >= 0 {
			return emit(line[:i], line[i+1:])
		}
		return emit(line, nil)
	}
}

// close emits a last line that had no '\n'.
func (p *lineParser) close() error {
	if len(p.line) == 0 {
		return nil
	}
	err := p.emitLine(p.line)
	p.line = nil
	return err
}

func (p *lineParser) tooLong() error {
	return &UserError{Reason: fmt.Sprintf("%s: output line %d is longer than the record limit of %d bytes", p.what, p.lines+1, MaxStreamLine)}
}

// lineEnder passes r through and ends it with '\n' when its last byte is not one, so that a
// mapper always reads whole lines.
type lineEnder struct {
	r    io.Reader
	last byte
	some bool
	done bool
}

func (l *lineEnder) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := l.r.Read(p)
	if n > 0 {
		l.last, l.some = p[n-1], true
	}
	if err == io.EOF {
		l.done = true
		if l.some && l.last != '\n' {
			if n < len(p) {
				p[n] = '\n'
				return n + 1, io.EOF
			}
			l.done = false
			l.last = '\n'
			return n, nil
		}
	}
	return n, err
}

// recordLines reads a record stream as KEY<TAB>VALUE lines: the reducer's and combiner's input.
type recordLines struct {
	src recordSource
	buf []byte
	pos int
	err error
}

// failure returns what stopped the stream short of its end (a damaged partial), nil at its end.
func (r *recordLines) failure() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

func (r *recordLines) Read(p []byte) (int, error) {
	for r.pos == len(r.buf) {
		if r.err != nil {
			return 0, r.err
		}
		key, value, err := r.src.Next()
		if err != nil {
			r.err = err
			r.buf, r.pos = r.buf[:0], 0
			continue
		}
		r.buf = append(r.buf[:0], key...)
		r.buf = append(r.buf, '\t')
		r.buf = append(r.buf, value...)
		r.buf = append(r.buf, '\n')
		r.pos = 0
	}
	n := copy(p, r.buf[r.pos:])
	r.pos += n
	return n, nil
}

// mergeSource yields the records of a k-way merge one by one, in key order, without grouping:
// no key's values are gathered in memory.
type mergeSource struct {
	h          *cursorHeap
	key, value []byte
}

func (s *mergeSource) Next() ([]byte, []byte, error) {
	if s.h.Len() == 0 {
		return nil, nil, io.EOF
	}
	top := (*s.h)[0]
	s.key = append(s.key[:0], top.key...)
	s.value = append(s.value[:0], top.value...)
	if err := s.h.step("partial"); err != nil {
		return nil, nil, err
	}
	return s.key, s.value, nil
}
