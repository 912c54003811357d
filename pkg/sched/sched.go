// Package sched holds dlbp's scheduling cores: which node maps what, when a
// task runs again, when and whom to pick as a reducer. They are plain state
// machines: the daemons feed them events (a node joined or left, a task
// finished or failed) together with the time the event happened, and carry
// out the decisions they return. Nothing here touches a socket or a clock, so
// every decision can be tested deterministically with scripted events.
package sched

import (
	"sort"
	"time"
)

// Mode selects the design a map scheduler follows.
type Mode string

const (
	// ModeDLBP places each map task on the least-loaded live node and leaves
	// reducing to the reduce load balancer.
	ModeDLBP Mode = "dlbp"
	// ModeSingle is the classic single master: map tasks go round-robin over
	// the live nodes and the master reduces by itself.
	ModeSingle Mode = "single"
)

// ParseMode turns a --mode flag value into a Mode.
func ParseMode(s string) (Mode, bool) {
	switch Mode(s) {
	case ModeDLBP, ModeSingle:
		return Mode(s), true
	}
	return "", false
}

// AttemptState is the state of one attempt at a task.
type AttemptState string

// Attempt states, as `dlbp status --json` prints them.
const (
	AttemptRunning    AttemptState = "running"
	AttemptDone       AttemptState = "done"
	AttemptFailed     AttemptState = "failed"
	AttemptLost       AttemptState = "lost"
	AttemptSuperseded AttemptState = "superseded"
)

// TaskState is the state of a map or reduce task.
type TaskState string

// Task states.
const (
	TaskPending TaskState = "pending"
	TaskRunning TaskState = "running"
	TaskDone    TaskState = "done"
	TaskFailed  TaskState = "failed"
)

// Attempt is one try at a task on one node: the context that lets the task
// move to another node when this one is lost.
type Attempt struct {
	Node   string       `msgpack:"node" json:"node"`
	Start  time.Time    `msgpack:"start" json:"start"`
	End    time.Time    `msgpack:"end" json:"end"`
	State  AttemptState `msgpack:"state" json:"state"`
	Reason string       `msgpack:"reason,omitempty" json:"reason"`
}

// TaskView is a copy of a task's state and history, for status reports.
type TaskView struct {
	Task     int       `msgpack:"task" json:"task"`
	State    TaskState `msgpack:"state" json:"state"`
	Attempts []Attempt `msgpack:"attempts" json:"attempts"`
}

// AttemptRef names one attempt of one task of one job.
type AttemptRef struct {
	Job     string
	Task    int
	Attempt int // index into the task's attempts, from 0
	Node    string
	Backup  bool // a backup attempt of a straggler (assignments only)
}

// NodeInfo is what the schedulers know of a live node.
type NodeInfo struct {
	Name     string
	Slots    int
	Draining bool
	Exec     bool // runs users' native programs (node --allow-exec)
	Full     bool // its disk is below its --min-free-disk: no new work
}

// Fault says what a failed attempt is blamed on, which decides how it counts.
type Fault int

const (
	// FaultNode: the node, or something passing (a disk, a lost connection). It counts against
	// the task and against the node, which is paused after a streak of them.
	FaultNode Fault = iota
	// FaultInput: the input cannot be processed anywhere (a record a built-in job cannot
	// parse). The job fails at once.
	FaultInput
	// FaultUser: the user's program failed (exit status, trap, memory, timeout). It counts
	// against the task only, up to the job's MaxAttempts: a flaky program must not get healthy
	// nodes paused.
	FaultUser
)

// Rules are a job's own retry and placement rules; the zero value is a built-in job's.
type Rules struct {
	// MaxAttempts: failed attempts of one task that fail the job (0: DefaultMaxFailures). When
	// set, the rule of DefaultPoisonNodes different nodes gives way to it.
	MaxAttempts int
	// NeedsExec: the job's tasks run only on nodes with NodeInfo.Exec.
	NeedsExec bool
}

// maxFailures returns how many failed attempts of one task fail a job with rules r.
func (r Rules) maxFailures() int {
	if r.MaxAttempts > 0 {
		return r.MaxAttempts
	}
	return DefaultMaxFailures
}

// DefaultMaxFailures is how many failed attempts of one task fail its job.
const DefaultMaxFailures = 4

// DefaultPoisonNodes is on how many different nodes a map task may fail
// before its job fails: the input, not the nodes, is then to blame.
const DefaultPoisonNodes = 3

// task is the scheduler's record of one task.
type task struct {
	state    TaskState
	attempts []Attempt
	failures int
	failedOn map[string]bool // nodes an attempt failed on
	lostOn   map[string]bool // nodes whose output of the task was lost, damaged or out of reach
}

func (t *task) view(i int) TaskView {
	v := TaskView{Task: i, State: t.state, Attempts: make([]Attempt, len(t.attempts))}
	copy(v.Attempts, t.attempts)
	return v
}

// running reports the indices of t's running attempts.
func (t *task) running() []int {
	var out []int
	for i, a := range t.attempts {
		if a.State == AttemptRunning {
			out = append(out, i)
		}
	}
	return out
}

// sortedNames returns the keys of m in byte order.
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
