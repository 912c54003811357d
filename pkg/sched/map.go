package sched

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// MapScheduler decides where map tasks run. It keeps every task's context
// (its attempts: node, times, outcome) so that the work of a lost node goes
// to another one.
type MapScheduler struct {
	mode        Mode
	maxFailures int
	poisonNodes int
	policy      Policy
	avoid       map[string]bool // nodes pickNode skips for the task at hand
	needExec    bool            // pickNode wants a node that runs native programs
	nodes       map[string]*mapNode
	jobs        map[string]*mapJob
	seq         int // submission order of jobs
	rrNext      string
}

type mapNode struct {
	info         NodeInfo
	running      int
	blockedUntil time.Time // a node that refused or kept failing work gets none until then
	failStreak   int       // task failures since its last success
}

// Policy holds the map scheduler's timing rules. Times come with events;
// the scheduler never reads a clock.
type Policy struct {
	// BackupFactor: near the end of a job's map phase (nothing pending), an
	// attempt running longer than BackupFactor times the median duration
	// of the job's finished tasks gets a backup attempt on another node.
	BackupFactor float64
	// BackupMinAge: no backup for an attempt younger than this.
	BackupMinAge time.Duration
	// TaskDeadline: an attempt running longer is given up (its node is
	// stalled or hung) and its task runs elsewhere. 0: no deadline.
	TaskDeadline time.Duration
	// FailStreak: a node whose attempts failed this many times in a row
	// gets no work for FailPause (doubling with each further failure).
	FailStreak int
	FailPause  time.Duration
}

// DefaultPolicy is what the daemons use.
func DefaultPolicy() Policy {
	return Policy{BackupFactor: 2, BackupMinAge: 2 * time.Second, TaskDeadline: 10 * time.Minute, FailStreak: 3, FailPause: 5 * time.Second}
}

type mapJob struct {
	id      string
	seq     int
	tasks   []*task
	pending []int // task numbers waiting for a node, in order
	done    int
	running int
	failed  bool
	stopped bool // failed or cancelled: nothing more is scheduled
	rules   Rules
	// badInput is the first task, in input order, whose input failed it (FaultInput), or -1;
	// badReason is why. The job fails with that reason once every earlier task is done, so
	// that the record it names is the input's first bad one, whichever split failed first.
	badInput  int
	badReason string
}

// Assignment tells the daemon to start attempt Attempt of a map task on Node.
type Assignment = AttemptRef

// MapOutcome is what a task report changed.
type MapOutcome struct {
	// First is true when this report completed the task (the first result
	// wins; a late attempt's result is ignored).
	First bool
	// JobMapsDone is true when the report completed the job's last map task.
	JobMapsDone bool
	// JobFailed carries the reason when the report failed the whole job.
	JobFailed string
	// Cancel lists running attempts the daemon should stop (superseded by a
	// winner, or part of a job that failed).
	Cancel []AttemptRef
	// Paused names the node this failure paused (a streak of node faults).
	Paused string
}

// NewMapScheduler returns an empty scheduler for the given mode.
func NewMapScheduler(mode Mode) *MapScheduler {
	return &MapScheduler{
		mode:        mode,
		maxFailures: DefaultMaxFailures,
		poisonNodes: DefaultPoisonNodes,
		policy:      DefaultPolicy(),
		nodes:       map[string]*mapNode{},
		jobs:        map[string]*mapJob{},
	}
}

// SetMaxFailures sets how many failed attempts of one task fail its job,
// and on how many different nodes (poison).
func (s *MapScheduler) SetMaxFailures(attempts, nodes int) {
	if attempts > 0 {
		s.maxFailures = attempts
	}
	if nodes > 0 {
		s.poisonNodes = nodes
	}
}

// nodeFailed counts a failure against a node; after a streak of them the
// node gets no work for a while, longer with each further failure. It
// reports whether the node is paused now.
func (s *MapScheduler) nodeFailed(name string, now time.Time) bool {
	n, ok := s.nodes[name]
	if !ok || s.policy.FailStreak < 1 {
		return false
	}
	n.failStreak++
	if over := n.failStreak - s.policy.FailStreak; over >= 0 {
		pause := s.policy.FailPause << min(over, 6)
		n.blockedUntil = now.Add(pause)
		return true
	}
	return false
}

// SetPolicy replaces the timing rules.
func (s *MapScheduler) SetPolicy(p Policy) { s.policy = p }

// NodeUp records a node that joined or changed (slots, draining).
func (s *MapScheduler) NodeUp(info NodeInfo) {
	if info.Slots < 1 {
		info.Slots = 1
	}
	if n, ok := s.nodes[info.Name]; ok {
		n.info = info
		return
	}
	s.nodes[info.Name] = &mapNode{info: info}
}

// NodeDown forgets a node: every attempt running on it is lost and its task
// goes back to the front of its job's queue. It returns the lost attempts.
func (s *MapScheduler) NodeDown(name string, now time.Time, reason string) []AttemptRef {
	if _, ok := s.nodes[name]; !ok {
		return nil
	}
	delete(s.nodes, name)
	var lost []AttemptRef
	for _, id := range s.jobOrder() {
		j := s.jobs[id]
		var requeue []int
		for ti, t := range j.tasks {
			for ai := range t.attempts {
				a := &t.attempts[ai]
				if a.State != AttemptRunning || a.Node != name {
					continue
				}
				a.State, a.End, a.Reason = AttemptLost, now, reason
				j.running--
				lost = append(lost, AttemptRef{Job: id, Task: ti, Attempt: ai, Node: name})
				if t.state == TaskRunning && len(t.running()) == 0 {
					t.state = TaskPending
					requeue = append(requeue, ti)
				}
			}
		}
		if !j.stopped {
			j.pending = append(requeue, j.pending...)
		}
	}
	return lost
}

// AddJob adds a job with n map tasks, numbered 0..n-1, all pending.
func (s *MapScheduler) AddJob(id string, n int) {
	s.seq++
	j := &mapJob{id: id, seq: s.seq, tasks: make([]*task, n), pending: make([]int, n), badInput: -1}
	for i := range j.tasks {
		j.tasks[i] = &task{state: TaskPending}
		j.pending[i] = i
	}
	s.jobs[id] = j
}

// SetRules sets a job's own retry and placement rules (a user job's --max-attempts, native
// programs); a job without them follows the scheduler's.
func (s *MapScheduler) SetRules(id string, r Rules) {
	if j, ok := s.jobs[id]; ok {
		j.rules = r
	}
}

// StopJob stops scheduling a job (cancelled or failed elsewhere) and returns
// its running attempts, which are marked failed with reason.
func (s *MapScheduler) StopJob(id string, now time.Time, reason string) []AttemptRef {
	j, ok := s.jobs[id]
	if !ok {
		return nil
	}
	return s.stop(j, now, reason)
}

func (s *MapScheduler) stop(j *mapJob, now time.Time, reason string) []AttemptRef {
	j.stopped = true
	j.pending = nil
	var out []AttemptRef
	for ti, t := range j.tasks {
		for _, ai := range t.running() {
			a := &t.attempts[ai]
			a.State, a.End, a.Reason = AttemptFailed, now, reason
			s.release(j, a.Node)
			out = append(out, AttemptRef{Job: j.id, Task: ti, Attempt: ai, Node: a.Node})
		}
		if t.state != TaskDone {
			t.state = TaskFailed
		}
	}
	return out
}

// Forget drops a finished job's records.
func (s *MapScheduler) Forget(id string) { delete(s.jobs, id) }

// Schedule fills free slots with pending tasks and returns the new attempts.
// Jobs share the nodes fairly: the next task comes from the job with the
// fewest running attempts, so a small job is not stuck behind a large one.
func (s *MapScheduler) Schedule(now time.Time) []Assignment {
	var out []Assignment
	var unplaced map[string]bool // jobs no node can take now (a job that needs exec)
	for {
		j := s.nextJob(unplaced)
		if j == nil {
			return append(out, s.backups(now)...)
		}
		ti := j.pending[0]
		node := s.pickNode(now, j, j.tasks[ti])
		if node == nil {
			if !j.rules.NeedsExec {
				return out // every node is busy
			}
			if unplaced == nil {
				unplaced = map[string]bool{}
			}
			unplaced[j.id] = true
			continue
		}
		j.pending = j.pending[1:]
		out = append(out, s.start(j, ti, node, now))
	}
}

// nextJob picks the job whose next task runs first: fewest running attempts,
// then earliest submitted; jobs in skip are passed over.
func (s *MapScheduler) nextJob(skip map[string]bool) *mapJob {
	var best *mapJob
	for _, j := range s.jobs {
		if j.stopped || len(j.pending) == 0 || skip[j.id] {
			continue
		}
		if best == nil || j.running < best.running || (j.running == best.running && j.seq < best.seq) {
			best = j
		}
	}
	return best
}

// pickNode chooses the node for the next task, or nil when no node has a
// free slot: the least loaded one in mode dlbp, the next one round-robin in
// mode single.
// A task that failed somewhere avoids those nodes while others are free; a
// job with native programs goes only to nodes that run them.
func (s *MapScheduler) pickNode(now time.Time, j *mapJob, t *task) *mapNode {
	s.needExec = j.rules.NeedsExec
	defer func() { s.needExec = false }()
	avoid := t.failedOn
	if len(t.lostOn) > 0 {
		avoid = maps.Clone(t.lostOn)
		maps.Copy(avoid, t.failedOn)
	}
	for _, avoid := range []map[string]bool{avoid, nil} {
		s.avoid = avoid
		var n *mapNode
		if s.mode == ModeSingle {
			n = s.nextRoundRobin(now)
		} else {
			n = s.leastLoaded(now, "")
		}
		s.avoid = nil
		if n != nil || len(avoid) == 0 {
			return n
		}
	}
	return nil
}

func (s *MapScheduler) free(n *mapNode, now time.Time) bool {
	return !n.info.Draining && !n.info.Full && n.running < n.info.Slots && !now.Before(n.blockedUntil) && !s.avoid[n.info.Name] && (n.info.Exec || !s.needExec)
}

// nextRoundRobin is the first node with a free slot at or after rrNext.
func (s *MapScheduler) nextRoundRobin(now time.Time) *mapNode {
	names := sortedNames(s.nodes)
	start := 0
	for i, name := range names {
		if name >= s.rrNext {
			start = i
			break
		}
	}
	for k := range names {
		n := s.nodes[names[(start+k)%len(names)]]
		if s.free(n, now) {
			next := (start + k + 1) % len(names)
			s.rrNext = names[next]
			if next == 0 {
				s.rrNext = ""
			}
			return n
		}
	}
	return nil
}

// leastLoaded is the free node with the lowest running/slots, other than
// except; ties go to fewer running tasks, then to the name.
func (s *MapScheduler) leastLoaded(now time.Time, except string) *mapNode {
	var best *mapNode
	for _, name := range sortedNames(s.nodes) {
		n := s.nodes[name]
		if name == except || !s.free(n, now) {
			continue
		}
		// Compare running/slots without division: a/b < c/d ⇔ a·d < c·b.
		if best == nil || n.running*best.info.Slots < best.running*n.info.Slots ||
			(n.running*best.info.Slots == best.running*n.info.Slots && n.running < best.running) {
			best = n
		}
	}
	return best
}

// start records a new attempt of task ti on node.
func (s *MapScheduler) start(j *mapJob, ti int, node *mapNode, now time.Time) Assignment {
	t := j.tasks[ti]
	t.state = TaskRunning
	t.attempts = append(t.attempts, Attempt{Node: node.info.Name, Start: now, State: AttemptRunning})
	node.running++
	j.running++
	return Assignment{Job: j.id, Task: ti, Attempt: len(t.attempts) - 1, Node: node.info.Name}
}

// backups starts backup attempts of stragglers: near the end of a job's
// map phase (nothing pending), a task whose only attempt has run longer
// than BackupFactor × the median duration of the job's finished tasks gets
// a second attempt on another node. The first to finish wins.
func (s *MapScheduler) backups(now time.Time) []Assignment {
	var out []Assignment
	for _, j := range s.bySubmission() {
		if j.stopped || len(j.pending) > 0 || j.running == 0 || j.done == 0 {
			continue
		}
		threshold := time.Duration(s.policy.BackupFactor * float64(j.medianDuration()))
		threshold = max(threshold, s.policy.BackupMinAge)
		for ti, t := range j.tasks {
			run := t.running()
			if t.state != TaskRunning || len(run) != 1 {
				continue
			}
			a := t.attempts[run[0]]
			if now.Sub(a.Start) <= threshold {
				continue
			}
			s.needExec = j.rules.NeedsExec
			node := s.leastLoaded(now, a.Node)
			s.needExec = false
			if node == nil {
				return out
			}
			b := s.start(j, ti, node, now)
			b.Backup = true
			out = append(out, b)
		}
	}
	return out
}

// medianDuration is the median run time of the job's finished tasks.
func (j *mapJob) medianDuration() time.Duration {
	var ds []time.Duration
	for _, t := range j.tasks {
		if t.state != TaskDone {
			continue
		}
		for _, a := range t.attempts {
			if a.State == AttemptDone {
				ds = append(ds, a.End.Sub(a.Start))
				break
			}
		}
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func (s *MapScheduler) bySubmission() []*mapJob {
	js := make([]*mapJob, 0, len(s.jobs))
	for _, j := range s.jobs {
		js = append(js, j)
	}
	slices.SortFunc(js, func(a, b *mapJob) int { return a.seq - b.seq })
	return js
}

// Expired is an attempt given up at its deadline, and what that changed.
type Expired struct {
	Attempt AttemptRef
	Outcome MapOutcome
}

// Expire gives up every attempt running longer than the task deadline: its
// node is hung or stalled (SIGSTOP). The attempt counts as failed and its
// task runs elsewhere; the daemon should cancel it.
func (s *MapScheduler) Expire(now time.Time) []Expired {
	if s.policy.TaskDeadline <= 0 {
		return nil
	}
	var out []Expired
	for _, j := range s.bySubmission() {
		for ti, t := range j.tasks {
			for _, ai := range t.running() {
				a := t.attempts[ai]
				if now.Sub(a.Start) <= s.policy.TaskDeadline {
					continue
				}
				reason := fmt.Sprintf("deadline: still running after %s", s.policy.TaskDeadline)
				o := s.TaskFailed(j.id, ti, ai, now, reason, FaultNode)
				out = append(out, Expired{Attempt: AttemptRef{Job: j.id, Task: ti, Attempt: ai, Node: a.Node}, Outcome: o})
			}
		}
	}
	return out
}

func (s *MapScheduler) release(j *mapJob, node string) {
	j.running--
	if n, ok := s.nodes[node]; ok && n.running > 0 {
		n.running--
	}
}

// lookup returns the running attempt named by the report, or nil when the
// report is stale (unknown job or task, or the attempt already ended).
func (s *MapScheduler) lookup(job string, ti, ai int) (*mapJob, *task, *Attempt) {
	j, ok := s.jobs[job]
	if !ok || ti < 0 || ti >= len(j.tasks) {
		return nil, nil, nil
	}
	t := j.tasks[ti]
	if ai < 0 || ai >= len(t.attempts) || t.attempts[ai].State != AttemptRunning {
		return j, t, nil
	}
	return j, t, &t.attempts[ai]
}

// TaskDone records that an attempt finished at end (the node's clock). The
// first attempt to finish wins; any other running attempt of the task is
// superseded and returned in Cancel.
//
// A report from an attempt already counted as lost (its node looked dead,
// or the load balancer restarted) still completes a task that is not done:
// its output exists, and running the task again would only redo the work.
func (s *MapScheduler) TaskDone(job string, ti, ai int, end time.Time) MapOutcome {
	j, t, a := s.lookup(job, ti, ai)
	if a == nil {
		if j == nil || t.state == TaskDone || j.stopped || ai < 0 || ai >= len(t.attempts) || t.attempts[ai].State != AttemptLost {
			return MapOutcome{}
		}
		a = &t.attempts[ai]
		a.Reason = "reported after it was counted lost"
	} else {
		s.release(j, a.Node)
	}
	if n, ok := s.nodes[a.Node]; ok {
		n.failStreak = 0
	}
	a.State, a.End = AttemptDone, end
	if t.state == TaskDone || j.stopped {
		a.State, a.Reason = AttemptSuperseded, "another attempt finished first"
		return MapOutcome{}
	}
	t.state = TaskDone
	j.done++
	out := MapOutcome{First: true, JobMapsDone: j.done == len(j.tasks)}
	for _, oi := range t.running() {
		o := &t.attempts[oi]
		o.State, o.End, o.Reason = AttemptSuperseded, end, fmt.Sprintf("attempt %d on %s finished first", ai, a.Node)
		s.release(j, o.Node)
		out.Cancel = append(out.Cancel, AttemptRef{Job: job, Task: ti, Attempt: oi, Node: o.Node})
	}
	removePending(j, ti)
	return s.badInputVerdict(j, end, out)
}

// Winner returns the attempt that completed a done task.
func (s *MapScheduler) Winner(job string, ti int) (int, Attempt, bool) {
	j, ok := s.jobs[job]
	if !ok || ti < 0 || ti >= len(j.tasks) || j.tasks[ti].state != TaskDone {
		return 0, Attempt{}, false
	}
	t := j.tasks[ti]
	for i := len(t.attempts) - 1; i >= 0; i-- {
		if t.attempts[i].State == AttemptDone {
			return i, t.attempts[i], true
		}
	}
	return 0, Attempt{}, false
}

// TaskFailed records a failed attempt. A failure of the input (FaultInput)
// fails the job at once; otherwise the task goes back to the queue until it
// has failed maxFailures times (the job's MaxAttempts when set), or on
// poisonNodes different nodes (for jobs without MaxAttempts). Only a
// FaultNode counts against the node.
func (s *MapScheduler) TaskFailed(job string, ti, ai int, now time.Time, reason string, fault Fault) MapOutcome {
	j, t, a := s.lookup(job, ti, ai)
	if a == nil {
		return MapOutcome{}
	}
	a.State, a.End, a.Reason = AttemptFailed, now, reason
	s.release(j, a.Node)
	var paused string
	if fault == FaultNode && s.nodeFailed(a.Node, now) {
		paused = a.Node
	}
	if j.stopped || t.state == TaskDone {
		return MapOutcome{Paused: paused}
	}
	t.failures++
	if t.failedOn == nil {
		t.failedOn = map[string]bool{}
	}
	t.failedOn[a.Node] = true
	maxFailures, poisoned := s.maxFailures, len(t.failedOn) >= s.poisonNodes
	if j.rules.MaxAttempts > 0 {
		maxFailures, poisoned = j.rules.MaxAttempts, false
	}
	if fault == FaultInput {
		return s.badInputAt(j, ti, reason, now, paused)
	}
	if poisoned || t.failures >= maxFailures {
		msg := fmt.Sprintf("map task %d failed %d times on %d nodes, last: %s", ti, t.failures, len(t.failedOn), reason)
		return MapOutcome{JobFailed: msg, Cancel: s.stop(j, now, "job failed"), Paused: paused}
	}
	if len(t.running()) == 0 {
		t.state = TaskPending
		j.pending = append([]int{ti}, j.pending...)
	}
	return MapOutcome{Paused: paused}
}

// badInputAt records that task ti's input is bad (a record the job cannot take). The job
// fails, with the reason of the first such task in input order: at once when every earlier
// task is done, else once they are (an earlier one may hold an earlier bad record). Later
// tasks no longer matter: they are cancelled and not run.
func (s *MapScheduler) badInputAt(j *mapJob, ti int, reason string, now time.Time, paused string) MapOutcome {
	t := j.tasks[ti]
	t.state = TaskFailed
	removePending(j, ti)
	if j.badInput >= 0 && j.badInput < ti {
		return MapOutcome{Paused: paused}
	}
	j.badInput, j.badReason = ti, reason
	out := MapOutcome{Paused: paused}
	for later := ti + 1; later < len(j.tasks); later++ {
		lt := j.tasks[later]
		for _, ai := range lt.running() {
			a := &lt.attempts[ai]
			a.State, a.End, a.Reason = AttemptFailed, now, fmt.Sprintf("not needed: the input of task %d is bad", ti)
			s.release(j, a.Node)
			out.Cancel = append(out.Cancel, AttemptRef{Job: j.id, Task: later, Attempt: ai, Node: a.Node})
		}
		if lt.state != TaskDone {
			lt.state = TaskFailed
			removePending(j, later)
		}
	}
	return s.badInputVerdict(j, now, out)
}

// badInputVerdict fails a job with bad input once every task before the first bad one is done.
func (s *MapScheduler) badInputVerdict(j *mapJob, now time.Time, out MapOutcome) MapOutcome {
	if j.badInput < 0 || j.stopped {
		return out
	}
	for ti := 0; ti < j.badInput; ti++ {
		if j.tasks[ti].state != TaskDone {
			return out
		}
	}
	out.JobFailed = j.badReason
	out.Cancel = append(out.Cancel, s.stop(j, now, "job failed")...)
	return out
}

// Reject records that an attempt never started (its node refused it or
// could not be reached). The task goes back to the queue without counting
// as a failure, and the node gets no work until until.
func (s *MapScheduler) Reject(job string, ti, ai int, now time.Time, reason string, until time.Time) {
	j, t, a := s.lookup(job, ti, ai)
	if a == nil {
		return
	}
	a.State, a.End, a.Reason = AttemptFailed, now, "not started: "+reason
	s.release(j, a.Node)
	if n, ok := s.nodes[a.Node]; ok {
		n.blockedUntil = until
	}
	if !j.stopped && t.state == TaskRunning && len(t.running()) == 0 {
		t.state = TaskPending
		j.pending = append([]int{ti}, j.pending...)
	}
}

// Reopen makes a finished task run again (its output was lost with its
// node before the reducer had it). It reports whether the task was reopened.
func (s *MapScheduler) Reopen(job string, ti int, reason string) bool {
	j, ok := s.jobs[job]
	if !ok || j.stopped || ti < 0 || ti >= len(j.tasks) {
		return false
	}
	t := j.tasks[ti]
	if t.state != TaskDone {
		return false
	}
	// The task runs again away from the node its output was on, while another can take it:
	// that node's disk damaged it, or a reducer could not reach it.
	for _, a := range t.attempts {
		if a.State == AttemptDone {
			if t.lostOn == nil {
				t.lostOn = map[string]bool{}
			}
			t.lostOn[a.Node] = true
		}
	}
	reopen(t.attempts, reason)
	t.state = TaskPending
	j.done--
	j.pending = append([]int{ti}, j.pending...)
	return true
}

// ReopenView is Reopen for a task of a job not scheduled yet (recovered
// after a restart, waiting to run): RestoreJob will queue it again.
func ReopenView(v *TaskView, reason string) bool {
	if v.State != TaskDone {
		return false
	}
	reopen(v.Attempts, reason)
	v.State = TaskPending
	return true
}

// reopen marks the done attempts of a reopened task lost.
func reopen(attempts []Attempt, reason string) {
	for i := range attempts {
		if attempts[i].State == AttemptDone {
			attempts[i].State, attempts[i].Reason = AttemptLost, reason
		}
	}
}

func removePending(j *mapJob, ti int) {
	for i, p := range j.pending {
		if p == ti {
			j.pending = append(j.pending[:i], j.pending[i+1:]...)
			return
		}
	}
}

// Tasks returns a copy of a job's map tasks and their attempts.
func (s *MapScheduler) Tasks(job string) []TaskView {
	j, ok := s.jobs[job]
	if !ok {
		return nil
	}
	out := make([]TaskView, len(j.tasks))
	for i, t := range j.tasks {
		out[i] = t.view(i)
	}
	return out
}

// Progress returns how many of a job's map tasks are done, of how many.
func (s *MapScheduler) Progress(job string) (done, total int) {
	j, ok := s.jobs[job]
	if !ok {
		return 0, 0
	}
	return j.done, len(j.tasks)
}

// Member reports whether a node is in the cluster as the scheduler knows it (draining or not).
func (s *MapScheduler) Member(name string) bool {
	_, ok := s.nodes[name]
	return ok
}

// HasNode reports whether a node is known and takes tasks (it does not drain).
func (s *MapScheduler) HasNode(name string) bool {
	n, ok := s.nodes[name]
	return ok && !n.info.Draining
}

// Running returns how many map attempts this scheduler runs on a node.
func (s *MapScheduler) Running(node string) int {
	if n, ok := s.nodes[node]; ok {
		return n.running
	}
	return 0
}

func (s *MapScheduler) jobOrder() []string {
	return sortedNames(s.jobs)
}
