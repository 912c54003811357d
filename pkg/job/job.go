package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Job is a built-in MapReduce job: it validates a spec and builds the mappers and reducers that
// run it. Implementations are stateless; all per-run state lives in the Mapper and Reducer.
type Job interface {
	// Name is the name users give to --job.
	Name() string
	// Validate checks the spec's params; hasInput tells whether documents were given.
	Validate(spec *Spec, hasInput bool) error
	// NewMapper returns a mapper for one node's share of the job's map tasks, holding at most
	// env.Memory bytes of combined output in memory and spilling the rest to env.TempDir.
	NewMapper(spec *Spec, env MapEnv) (Mapper, error)
	// NewReducer returns a reducer for one partition.
	NewReducer(spec *Spec) (Reducer, error)
}

// DefaultMapMemory is the combined map output a mapper holds in memory when MapEnv.Memory is 0.
const DefaultMapMemory = 64 << 20

// MapEnv is what the node running a mapper grants it: a memory budget for its combined output and
// a directory for the sorted runs it spills when over budget; for a user job also the runner of
// its programs and the attempt's identity, which they see in their environment.
type MapEnv struct {
	// Memory is the bytes of combined map output (estimated: key and value bytes plus a fixed
	// overhead per entry) held before spilling; 0 means DefaultMapMemory.
	Memory int64
	// TempDir is where spill files go; "" means os.TempDir(). It must exist.
	TempDir string
	// Ctx ends when the attempt does (cancelled, superseded, its job over): user programs stop.
	Ctx context.Context
	// Runner runs user programs; nil where none can run (then a user job fails).
	Runner Runner
	// JobID, Task and Attempt name the attempt.
	JobID         string
	Task, Attempt int
}

// ReduceEnv is what a reducer of a user job is granted: the runner of its program, a context
// that ends with the attempt, and the attempt's identity.
type ReduceEnv struct {
	Ctx                context.Context
	Runner             Runner
	JobID              string
	Partition, Attempt int
}

// StreamReducer is implemented by jobs that reduce a partition's merged records as one stream
// rather than key by key (user jobs: the reducer is a program reading every record in key order).
type StreamReducer interface {
	ReduceStream(spec *Spec, env ReduceEnv, inputs []io.Reader, out *RecordWriter) error
}

// ReduceTask reduces one partition of the job spec names: the partials in inputs (sorted record
// streams, one per map task) become the part written to out, which is flushed.
func ReduceTask(spec *Spec, env ReduceEnv, inputs []io.Reader, out *RecordWriter) error {
	j, err := Lookup(spec.Job)
	if err != nil {
		return err
	}
	if sr, ok := j.(StreamReducer); ok {
		return sr.ReduceStream(spec, env, inputs, out)
	}
	red, err := j.NewReducer(spec)
	if err != nil {
		return err
	}
	return ReducePartition(red, inputs, out)
}

// memory returns the budget with the default applied.
func (e MapEnv) memory() int64 {
	if e.Memory <= 0 {
		return DefaultMapMemory
	}
	return e.Memory
}

// Combiner is implemented by jobs whose map output can carry a key more than once before it is
// combined (every built-in job but grep, whose keys are unique). A mapper uses it to merge the
// values one key has in its spill runs; all built-in combines are associative and commutative.
type Combiner interface {
	// Combine merges the values of one key (at least two, in any order) and calls out with the
	// combined value(s), usually once. key and values are valid only during the call.
	Combine(key []byte, values [][]byte, out func(value []byte) error) error
}

// Sampler is implemented by jobs that partition by key ranges (sort). Before such a job runs
// with R > 1, the caller samples its input (SampleLines) and stores Bounds in Spec.Bounds;
// without bounds every key goes to partition 0, which is correct but unbalanced.
type Sampler interface {
	// Bounds returns at most r-1 strictly increasing boundary keys that cut the sorted sample at
	// evenly spaced quantiles (fewer when the sample has few distinct keys).
	Bounds(sample [][]byte, r int) []string
}

// Generator is implemented by jobs that can run without input (sum with --param range=A..B).
type Generator interface {
	// GenerateTasks returns about n (≥ 1) tasks covering the generated input contiguously, or an
	// error when the spec's generated input is malformed.
	GenerateTasks(spec *Spec, n int) ([]Task, error)
}

// Mapper maps tasks and combines their output locally, so that each partial carries every key at
// most once. One Mapper may consume several tasks before Finish.
type Mapper interface {
	// Map consumes one task. For an input split r yields exactly the split's bytes; for a
	// generated task r is nil. When over its memory budget, Map spills sorted runs to disk. After
	// an error the mapper has removed its spill files and must not be used again.
	Map(t Task, r io.Reader) error
	// Finish writes this mapper's combined output: for each partition p (len(parts) ==
	// spec.Reducers), records sorted by key (bytes.Compare), each key once (combined), merging
	// its spill runs with what it holds in memory. The partitioning is the job's choice (hash for
	// most, ranges for sort). Finish flushes parts and removes the spill files, even on error.
	Finish(parts []*RecordWriter) error
}

// Reducer turns one key's values into output records.
type Reducer interface {
	// Reduce gets one key and all its values (from every partial, in any order) and writes output
	// records: key = the output sort key, value = one output line without '\n'. key and values are
	// valid only during the call.
	Reduce(key []byte, values [][]byte, out *RecordWriter) error
}

// jobs is the registry of built-in jobs by name.
var jobs = map[string]Job{
	"grep":      grepJob{},
	"indexer":   indexerJob{},
	"sort":      sortJob{},
	"sum":       sumJob{},
	"wordcount": wordcountJob{},
}

// Lookup returns the built-in job called name, or the job that runs user code (StreamingJob).
func Lookup(name string) (Job, error) {
	if j, ok := jobs[name]; ok {
		return j, nil
	}
	if name == StreamingJob {
		return streamJob{}, nil
	}
	return nil, fmt.Errorf("unknown job %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names returns the names of the built-in jobs, sorted.
func Names() []string {
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// RecordError reports a record the job cannot parse. It is not retryable: running the task
// again elsewhere gives the same error, so it fails the job (detect it with errors.As).
type RecordError struct {
	Doc    string // document name as typed by the user
	Line   int64  // 1-based line number within the document
	Record string // the offending record (possibly cut short)
	Msg    string // what is wrong with it
}

// maxQuotedRecord bounds how much of a bad record an error message quotes.
const maxQuotedRecord = 100

// Error formats the error as `pg.txt:12: not an integer: "12x"`, like a compiler message.
func (e *RecordError) Error() string {
	rec, more := e.Record, ""
	if len(rec) > maxQuotedRecord {
		rec, more = rec[:maxQuotedRecord], "..."
	}
	return fmt.Sprintf("%s:%d: %s: %q%s", e.Doc, e.Line, e.Msg, rec, more)
}

// newRecordError keeps at most a little more of the record than Error quotes, so that a huge bad
// line is not copied whole into an error message.
func newRecordError(doc string, line int64, record []byte, msg string) *RecordError {
	if len(record) > maxQuotedRecord+1 {
		record = record[:maxQuotedRecord+1]
	}
	return &RecordError{Doc: doc, Line: line, Record: string(record), Msg: msg}
}

// errNoInput is wrapped by the text jobs' mappers when given a generated task.
var errNoInput = errors.New("task has no input")

// checkSpec checks what every job requires of a spec: R ≥ 1 and no param outside allowed.
func checkSpec(spec *Spec, allowed ...string) error {
	if spec.Reducers < 1 {
		return fmt.Errorf("%s: reducers must be at least 1, got %d", spec.Job, spec.Reducers)
	}
	for _, k := range sortedKeys(spec.Params) {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("%s: unknown param %q (it takes none)", spec.Job, k)
			}
			return fmt.Errorf("%s: unknown param %q (known: %s)", spec.Job, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// checkParts verifies that Finish was given one writer per partition.
func checkParts(spec *Spec, parts []*RecordWriter) error {
	if len(parts) != spec.Reducers {
		return fmt.Errorf("%s: finish got %d partitions, spec has %d", spec.Job, len(parts), spec.Reducers)
	}
	return nil
}

// flushAll flushes every writer, returning the first error.
func flushAll(parts []*RecordWriter) error {
	for _, p := range parts {
		if err := p.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
