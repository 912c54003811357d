package job

import "fmt"

// Spec describes a submitted job; it travels inside RPC messages (msgpack).
type Spec struct {
	// Job is the name of a built-in job (see Names).
	Job string `msgpack:"job"`
	// Params are the job's --param KEY=VALUE settings; each job rejects keys it does not know.
	Params map[string]string `msgpack:"params,omitempty"`
	// Reducers is R, the number of reduce partitions (R ≥ 1).
	Reducers int `msgpack:"r"`
	// Docs are the document names exactly as typed by the user; Task.Doc indexes them.
	Docs []string `msgpack:"docs,omitempty"`
	// Bounds are the R-1 (or fewer) strictly increasing boundary keys of a range-partitioned job
	// (sort): partition p gets the keys k with Bounds[p-1] <= k < Bounds[p]. Set from a Sampler
	// before the maps run; without them every key goes to partition 0.
	Bounds []string `msgpack:"bounds,omitempty"`
	// Stream holds a user job's programs (Job is StreamingJob); nil for a built-in job.
	Stream *Stream `msgpack:"stream,omitempty"`
}

// Task is one map task's input: a split of an uploaded document, or a slice of generated input.
type Task struct {
	// Doc indexes Spec.Docs.
	Doc int `msgpack:"d"`
	// Offset and Length locate the split's bytes within its document.
	Offset int64 `msgpack:"o"`
	Length int64 `msgpack:"l"`
	// FirstLine is the 1-based number of the split's first line within its document, so jobs
	// that print line numbers (grep) or report bad records need not read earlier splits.
	FirstLine int64 `msgpack:"f"`
	// Lo and Hi bound a generated task's input: an inclusive range of decimal integers of any
	// size. Both are empty for an input split.
	Lo string `msgpack:"lo,omitempty"`
	Hi string `msgpack:"hi,omitempty"`
}

// Generated reports whether the task carries generated input (Lo..Hi) rather than a split of a
// document, in which case the mapper is given no reader.
func (t Task) Generated() bool { return t.Lo != "" || t.Hi != "" }

// docName returns the name of the task's document for messages, even for a malformed index.
func (s *Spec) docName(doc int) string {
	if doc >= 0 && doc < len(s.Docs) {
		return s.Docs[doc]
	}
	return "#" + itoa(int64(doc))
}

// Limits on what a spec may ask of the daemons, so that a malformed or
// hostile message cannot make one allocate or loop without bound.
const (
	// MaxReducers bounds R.
	MaxReducers = 1024
	// MaxMapTasks bounds the map tasks of one job.
	MaxMapTasks = 1 << 20
)

// CheckLimits checks a spec against the limits every daemon enforces on
// what it receives, whatever the job: 1 ≤ R ≤ MaxReducers, and at most R-1
// bounds.
func (s *Spec) CheckLimits() error {
	if s.Reducers < 1 || s.Reducers > MaxReducers {
		return fmt.Errorf("%d reducers: want 1 to %d", s.Reducers, MaxReducers)
	}
	if len(s.Bounds) > s.Reducers-1 {
		return fmt.Errorf("%d partition bounds for %d reducers", len(s.Bounds), s.Reducers)
	}
	return nil
}

// CheckMapCount checks a job's number of map tasks against MaxMapTasks.
func CheckMapCount(n int) error {
	if n < 1 || n > MaxMapTasks {
		return fmt.Errorf("%d map tasks: want 1 to %d", n, MaxMapTasks)
	}
	return nil
}
