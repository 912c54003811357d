package sched

import (
	"fmt"
	"time"
)

// ReduceScheduler is the core of the reduce load balancer. A job's reducers
// are picked lazily: nothing is chosen when the job starts; the first map
// task to finish triggers the pick, using the load at that moment. It tracks
// where each finished map task's partial output lives so that a reducer, or
// a reducer picked again after a failure, can gather them all.
type ReduceScheduler struct {
	nodes map[string]*reduceNode
	jobs  map[string]*reduceJob
}

type reduceNode struct {
	info     NodeInfo
	reducers int // partitions this node reduces now
	running  int // the node's own report of tasks running
}

// MapOutput is where one map task's partial output lives. Seq orders the
// outputs a job's task has had: it grows each time the scheduler records a
// new one (the time it did, in nanoseconds), so a reducer can tell news of
// the current output from news of a lost one that arrives late. (Attempt
// numbers cannot: a late report of an early attempt may be the output kept
// after a later attempt's was lost.)
type MapOutput struct {
	Task    int
	Attempt int
	Node    string
	Seq     int64
}

type reduceJob struct {
	id      string
	maps    int
	lastSeq int64 // the newest MapOutput.Seq
	outputs map[int]MapOutput
	parts   []*partition
	picks   []Pick
	done    int
	stopped bool
	rules   Rules
}

type partition struct {
	task
	reducer string
}

// Pick records a reducer choice: when, whom, why.
type Pick struct {
	Partition int       `msgpack:"partition" json:"partition"`
	Node      string    `msgpack:"node" json:"node"`
	Picked    time.Time `msgpack:"picked" json:"picked"`
	Reason    string    `msgpack:"reason" json:"reason"`
}

// Fetch tells Reducer to gather the partial of map task Output.Task for
// Partition from Output.Node.
type Fetch struct {
	Job       string
	Partition int
	Reducer   string
	Output    MapOutput
}

// ReduceDecisions is what an event asks the reduce load balancer to do.
type ReduceDecisions struct {
	// Picks are new reducer choices: tell each reducer its partition.
	Picks []Pick
	// Fetches tell reducers where partials are.
	Fetches []Fetch
	// Rerun lists map tasks whose output was lost with their node before
	// every reducer had it: the map load balancer must run them again.
	Rerun []int
	// JobDone is true when the event completed the job's last partition.
	JobDone bool
	// JobFailed carries the reason when the event failed the job.
	JobFailed string
}

// NewReduceScheduler returns an empty reduce scheduler.
func NewReduceScheduler() *ReduceScheduler {
	return &ReduceScheduler{nodes: map[string]*reduceNode{}, jobs: map[string]*reduceJob{}}
}

// NodeUp records a node that joined or changed.
func (s *ReduceScheduler) NodeUp(info NodeInfo) {
	if info.Slots < 1 {
		info.Slots = 1
	}
	if n, ok := s.nodes[info.Name]; ok {
		n.info = info
		return
	}
	s.nodes[info.Name] = &reduceNode{info: info}
}

// SetRunning records a node's own report of how many tasks it runs.
func (s *ReduceScheduler) SetRunning(node string, running int) {
	if n, ok := s.nodes[node]; ok {
		n.running = min(max(running, 0), n.info.Slots)
	}
}

// HasNode reports whether a node is known (alive, or leaving within its
// grace period).
func (s *ReduceScheduler) HasNode(name string) bool {
	_, ok := s.nodes[name]
	return ok
}

// AddJob registers a job with its number of map tasks and partitions. No
// reducer is picked yet.
func (s *ReduceScheduler) AddJob(id string, maps, partitions int) {
	if _, ok := s.jobs[id]; ok {
		return
	}
	j := &reduceJob{id: id, maps: maps, outputs: map[int]MapOutput{}, parts: make([]*partition, partitions)}
	for i := range j.parts {
		j.parts[i] = &partition{task: task{state: TaskPending}}
	}
	s.jobs[id] = j
}

// SetRules sets a job's own retry and placement rules.
func (s *ReduceScheduler) SetRules(id string, r Rules) {
	if j, ok := s.jobs[id]; ok {
		j.rules = r
	}
}

// Known reports whether a job is registered.
func (s *ReduceScheduler) Known(id string) bool { _, ok := s.jobs[id]; return ok }

// MapDone records a finished map task whose partials are on node. The
// job's first such report picks every partition's reducer; each report
// tells the reducers to fetch the new partial. A second report for the same
// task is ignored (the first result wins).
func (s *ReduceScheduler) MapDone(job string, out MapOutput, now time.Time) ReduceDecisions {
	j, ok := s.jobs[job]
	if !ok || j.stopped {
		return ReduceDecisions{}
	}
	if _, dup := j.outputs[out.Task]; dup || out.Task < 0 || out.Task >= j.maps {
		return ReduceDecisions{}
	}
	if _, ok := s.nodes[out.Node]; !ok {
		return ReduceDecisions{} // not a member: the daemon checks before
	}
	out.Seq = max(now.UnixNano(), j.lastSeq+1)
	j.lastSeq = out.Seq
	j.outputs[out.Task] = out
	var d ReduceDecisions
	for p, part := range j.parts {
		if part.reducer == "" && part.state != TaskDone {
			d.Picks = append(d.Picks, s.pick(j, p, out.Node, now, ""))
		}
	}
	for p, part := range j.parts {
		if part.state != TaskDone {
			d.Fetches = append(d.Fetches, Fetch{Job: job, Partition: p, Reducer: part.reducer, Output: out})
		}
	}
	return d
}

// pick chooses the reducer of partition p now: the node with the lowest
// load (reducers it holds plus tasks it runs, per slot); on a tie, the node
// that holds the newest partial (it need not fetch that one), then by name.
func (s *ReduceScheduler) pick(j *reduceJob, p int, holder string, now time.Time, why string) Pick {
	var best *reduceNode
	load := func(n *reduceNode) int { return n.reducers + n.running }
	// Nodes the partition failed on are passed over while another can take it.
	for _, avoid := range []map[string]bool{j.parts[p].failedOn, nil} {
		for _, name := range sortedNames(s.nodes) {
			n := s.nodes[name]
			if n.info.Draining || n.info.Full || j.rules.NeedsExec && !n.info.Exec || avoid[name] {
				continue
			}
			if best == nil {
				best = n
				continue
			}
			a, b := load(n)*best.info.Slots, load(best)*n.info.Slots
			if a < b || (a == b && n.info.Name == holder && best.info.Name != holder) {
				best = n
			}
		}
		if best != nil {
			break
		}
	}
	if best == nil { // every node drains: the holder is alive at least
		best = s.nodes[holder]
	}
	if best == nil {
		best = s.nodes[sortedNames(s.nodes)[0]]
	}
	reason := fmt.Sprintf("least loaded: %d reducers + %d running on %d slots", best.reducers, best.running, best.info.Slots)
	if best.info.Name == holder {
		reason += "; holds a partial already"
	}
	if why != "" {
		reason = why + "; " + reason
	}
	best.reducers++
	part := j.parts[p]
	part.reducer = best.info.Name
	part.state = TaskRunning
	part.attempts = append(part.attempts, Attempt{Node: best.info.Name, Start: now, State: AttemptRunning})
	pk := Pick{Partition: p, Node: best.info.Name, Picked: now, Reason: reason}
	j.picks = append(j.picks, pk)
	return pk
}

// Reducing reports whether node is the running reducer of partition p.
func (s *ReduceScheduler) Reducing(job string, p int, node string) bool {
	_, part := s.part(job, p)
	return part != nil && part.reducer == node && part.state == TaskRunning
}

// PickCopy chooses the node to keep a copy of a part that reducer wrote:
// the least loaded live node other than reducer and those in skip (on a
// tie, by name). It reports false when there is none.
func (s *ReduceScheduler) PickCopy(reducer string, skip map[string]bool) (string, bool) {
	var best *reduceNode
	load := func(n *reduceNode) int { return n.reducers + n.running }
	for _, name := range sortedNames(s.nodes) {
		n := s.nodes[name]
		if name == reducer || skip[name] || n.info.Draining {
			continue
		}
		if best == nil || load(n)*best.info.Slots < load(best)*n.info.Slots {
			best = n
		}
	}
	if best == nil {
		return "", false
	}
	return best.info.Name, true
}

// ReduceDone records that node finished and committed partition p.
func (s *ReduceScheduler) ReduceDone(job string, p int, node string, end time.Time) ReduceDecisions {
	j, part := s.part(job, p)
	if part == nil || part.reducer != node || part.state != TaskRunning {
		return ReduceDecisions{}
	}
	part.state = TaskDone
	part.reducer = node
	s.endAttempt(part, node, AttemptDone, end, "")
	j.done++
	return ReduceDecisions{JobDone: j.done == len(j.parts)}
}

// ReduceFailed records that node could not reduce partition p. A failure of
// the input fails the job; otherwise the partition gets a new reducer, until
// it has failed the job's MaxAttempts (DefaultMaxFailures) times.
func (s *ReduceScheduler) ReduceFailed(job string, p int, node string, now time.Time, reason string, fault Fault) ReduceDecisions {
	j, part := s.part(job, p)
	if part == nil || part.reducer != node || part.state != TaskRunning {
		return ReduceDecisions{}
	}
	s.endAttempt(part, node, AttemptFailed, now, reason)
	part.failures++
	if part.failedOn == nil {
		part.failedOn = map[string]bool{}
	}
	part.failedOn[node] = true
	if fault == FaultInput || part.failures >= j.rules.maxFailures() {
		j.stopped = true
		if fault != FaultInput {
			return ReduceDecisions{JobFailed: fmt.Sprintf("reduce partition %d failed %d times, last: %s", p, part.failures, reason)}
		}
		return ReduceDecisions{JobFailed: fmt.Sprintf("reduce partition %d: %s", p, reason)}
	}
	return s.repick(j, p, node, now, fmt.Sprintf("reducer %s failed", node))
}

// OutputDamaged drops the output of map task ti when it is still the attempt named (its
// partial failed its check on its holder's disk) and returns the task in Rerun, for the map
// side to run it again; the new output reaches the reducers as any other.
func (s *ReduceScheduler) OutputDamaged(job string, ti, attempt int, holder string) ReduceDecisions {
	j, ok := s.jobs[job]
	if !ok || j.stopped || j.done == len(j.parts) {
		return ReduceDecisions{}
	}
	if o, ok := j.outputs[ti]; !ok || o.Attempt != attempt || o.Node != holder {
		return ReduceDecisions{} // already replaced (or never known)
	}
	delete(j.outputs, ti)
	return ReduceDecisions{Rerun: []int{ti}}
}

// NodeDown handles a lost node: partitions it reduced get a new reducer
// that gathers every partial again, and map outputs that lived only on it
// are dropped and returned in Rerun, once per job, for the map side.
func (s *ReduceScheduler) NodeDown(name string, now time.Time) map[string]ReduceDecisions {
	if _, ok := s.nodes[name]; !ok {
		return nil
	}
	delete(s.nodes, name)
	out := map[string]ReduceDecisions{}
	for _, id := range sortedNames(s.jobs) {
		j := s.jobs[id]
		if j.stopped || j.done == len(j.parts) {
			continue
		}
		var d ReduceDecisions
		for ti := 0; ti < j.maps; ti++ {
			if o, ok := j.outputs[ti]; ok && o.Node == name {
				delete(j.outputs, ti)
				d.Rerun = append(d.Rerun, ti)
			}
		}
		for p, part := range j.parts {
			if part.reducer == name && part.state == TaskRunning {
				s.endAttempt(part, name, AttemptLost, now, "node lost")
				r := s.repick(j, p, name, now, fmt.Sprintf("reducer %s lost", name))
				d.Picks = append(d.Picks, r.Picks...)
				d.Fetches = append(d.Fetches, r.Fetches...)
			}
		}
		if len(d.Picks)+len(d.Rerun) > 0 {
			out[id] = d
		}
	}
	return out
}

// repick chooses a new reducer for partition p and tells it of every known
// partial.
func (s *ReduceScheduler) repick(j *reduceJob, p int, old string, now time.Time, why string) ReduceDecisions {
	if n, ok := s.nodes[old]; ok && n.reducers > 0 {
		n.reducers--
	}
	j.parts[p].reducer = ""
	if len(s.nodes) == 0 {
		j.parts[p].state = TaskPending
		return ReduceDecisions{}
	}
	holder := ""
	for ti := 0; ti < j.maps; ti++ {
		if o, ok := j.outputs[ti]; ok {
			holder = o.Node
			break
		}
	}
	pk := s.pick(j, p, holder, now, why)
	return ReduceDecisions{Picks: []Pick{pk}, Fetches: fetchesFor(j, p, pk.Node)}
}

// fetchesFor tells reducer of every known partial of partition p.
func fetchesFor(j *reduceJob, p int, reducer string) []Fetch {
	var out []Fetch
	for ti := 0; ti < j.maps; ti++ {
		if o, ok := j.outputs[ti]; ok {
			out = append(out, Fetch{Job: j.id, Partition: p, Reducer: reducer, Output: o})
		}
	}
	return out
}

// Refresh returns, for a job whose every map output is known, what to tell
// its reducers again: each running partition's reducer hears of every
// partial. Repeating news is harmless; it heals a message that was lost or
// overtaken on the way, which would otherwise leave a reducer waiting.
func (s *ReduceScheduler) Refresh(id string) []Fetch {
	if !s.OutputsKnown(id) {
		return nil
	}
	j := s.jobs[id]
	var out []Fetch
	for p, part := range j.parts {
		if part.state == TaskRunning && part.reducer != "" {
			out = append(out, fetchesFor(j, p, part.reducer)...)
		}
	}
	return out
}

// OutputsKnown reports whether a running job's every map output is known (its reducers can
// finish).
func (s *ReduceScheduler) OutputsKnown(id string) bool {
	j, ok := s.jobs[id]
	return ok && !j.stopped && len(j.outputs) >= j.maps
}

func (s *ReduceScheduler) endAttempt(part *partition, node string, st AttemptState, at time.Time, reason string) {
	for i := len(part.attempts) - 1; i >= 0; i-- {
		a := &part.attempts[i]
		if a.Node == node && a.State == AttemptRunning {
			a.State, a.End, a.Reason = st, at, reason
			if n, ok := s.nodes[node]; ok && st == AttemptDone && n.reducers > 0 {
				n.reducers--
			}
			return
		}
	}
}

func (s *ReduceScheduler) part(job string, p int) (*reduceJob, *partition) {
	j, ok := s.jobs[job]
	if !ok || j.stopped || p < 0 || p >= len(j.parts) {
		return nil, nil
	}
	return j, j.parts[p]
}

// Reducer returns the node reducing (or having reduced) partition p.
func (s *ReduceScheduler) Reducer(job string, p int) string {
	if _, part := s.part(job, p); part != nil {
		return part.reducer
	}
	return ""
}

// Outputs returns every known map output of a job, by task.
func (s *ReduceScheduler) Outputs(job string) []MapOutput {
	j, ok := s.jobs[job]
	if !ok {
		return nil
	}
	var out []MapOutput
	for ti := 0; ti < j.maps; ti++ {
		if o, ok := j.outputs[ti]; ok {
			out = append(out, o)
		}
	}
	return out
}

// Status returns a copy of a job's reduce tasks and reducer picks.
func (s *ReduceScheduler) Status(job string) ([]TaskView, []Pick) {
	j, ok := s.jobs[job]
	if !ok {
		return nil, nil
	}
	tasks := make([]TaskView, len(j.parts))
	for i, p := range j.parts {
		tasks[i] = p.view(i)
	}
	picks := make([]Pick, len(j.picks))
	copy(picks, j.picks)
	return tasks, picks
}

// StopJob stops a cancelled or failed job; its reducers are released.
func (s *ReduceScheduler) StopJob(job string, now time.Time, reason string) {
	j, ok := s.jobs[job]
	if !ok {
		return
	}
	j.stopped = true
	for _, part := range j.parts {
		if part.state == TaskRunning {
			s.endAttempt(part, part.reducer, AttemptFailed, now, reason)
			if n, ok := s.nodes[part.reducer]; ok && n.reducers > 0 {
				n.reducers--
			}
		}
	}
}

// Forget drops a finished job's records.
func (s *ReduceScheduler) Forget(job string) { delete(s.jobs, job) }
