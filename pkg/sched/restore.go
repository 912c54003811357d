package sched

import "time"

// RestoreJob re-creates a job from the task views saved before a restart.
// Finished tasks stay finished; attempts that were running are marked lost
// (their reports went to the old process) and their tasks are queued again.
func (s *MapScheduler) RestoreJob(id string, tasks []TaskView, now time.Time, reason string) {
	s.AddJob(id, len(tasks))
	j := s.jobs[id]
	j.pending = j.pending[:0]
	for i, v := range tasks {
		t := j.tasks[i]
		t.attempts = append([]Attempt(nil), v.Attempts...)
		for k := range t.attempts {
			if a := &t.attempts[k]; a.State == AttemptRunning {
				a.State, a.End, a.Reason = AttemptLost, now, reason
			}
		}
		if v.State == TaskDone {
			t.state = TaskDone
			j.done++
			continue
		}
		j.pending = append(j.pending, i)
	}
}

// ReduceJobState is everything the reduce scheduler knows of one job, in a
// form that can be stored and restored after a restart.
type ReduceJobState struct {
	Job     string           `msgpack:"job"`
	Maps    int              `msgpack:"maps"`
	Outputs []MapOutput      `msgpack:"outputs"`
	Picks   []Pick           `msgpack:"picks"`
	Parts   []PartitionState `msgpack:"parts"`
	Stopped bool             `msgpack:"stopped"`
}

// PartitionState is one partition's reducer and history.
type PartitionState struct {
	Reducer  string    `msgpack:"reducer"`
	State    TaskState `msgpack:"state"`
	Attempts []Attempt `msgpack:"attempts"`
	Failures int       `msgpack:"failures"`
}

// Snapshot returns a job's state, or false when the job is unknown.
func (s *ReduceScheduler) Snapshot(id string) (ReduceJobState, bool) {
	j, ok := s.jobs[id]
	if !ok {
		return ReduceJobState{}, false
	}
	st := ReduceJobState{Job: id, Maps: j.maps, Stopped: j.stopped, Outputs: s.Outputs(id)}
	st.Picks = append([]Pick(nil), j.picks...)
	for _, p := range j.parts {
		st.Parts = append(st.Parts, PartitionState{
			Reducer: p.reducer, State: p.state, Failures: p.failures,
			Attempts: append([]Attempt(nil), p.attempts...),
		})
	}
	return st, true
}

// Restore re-creates a job from a snapshot, replacing what is known of it.
// Reducers of unfinished partitions count again towards their nodes' load.
func (s *ReduceScheduler) Restore(st ReduceJobState) {
	j := &reduceJob{id: st.Job, maps: st.Maps, outputs: map[int]MapOutput{}, stopped: st.Stopped}
	for _, o := range st.Outputs {
		j.outputs[o.Task] = o
		j.lastSeq = max(j.lastSeq, o.Seq)
	}
	j.picks = append([]Pick(nil), st.Picks...)
	for _, ps := range st.Parts {
		p := &partition{task: task{state: ps.State, attempts: append([]Attempt(nil), ps.Attempts...), failures: ps.Failures}, reducer: ps.Reducer}
		j.parts = append(j.parts, p)
		switch {
		case p.state == TaskDone:
			j.done++
		case p.state == TaskRunning && p.reducer != "":
			if n, ok := s.nodes[p.reducer]; ok {
				n.reducers++
			}
		}
	}
	s.jobs[st.Job] = j
}

// Resume returns, for a restored job, what must be sent again: every
// running partition's reducer is told of every known partial, and a
// partition whose reducer is not a live node gets a new one.
func (s *ReduceScheduler) Resume(id string, now time.Time) ReduceDecisions {
	j, ok := s.jobs[id]
	if !ok || j.stopped {
		return ReduceDecisions{}
	}
	var d ReduceDecisions
	for ti := 0; ti < j.maps; ti++ {
		if o, ok := j.outputs[ti]; ok {
			if _, alive := s.nodes[o.Node]; !alive {
				delete(j.outputs, ti)
				d.Rerun = append(d.Rerun, ti)
			}
		}
	}
	for p, part := range j.parts {
		if part.state == TaskDone {
			continue
		}
		if _, alive := s.nodes[part.reducer]; part.reducer == "" || !alive {
			if part.reducer != "" {
				s.endAttempt(part, part.reducer, AttemptLost, now, "reducer not in the cluster after a restart")
			}
			if len(j.outputs) == 0 && part.reducer == "" {
				continue // not picked yet: the first map completion picks
			}
			r := s.repick(j, p, part.reducer, now, "reducelb restarted")
			d.Picks = append(d.Picks, r.Picks...)
			d.Fetches = append(d.Fetches, r.Fetches...)
			continue
		}
		d.Fetches = append(d.Fetches, fetchesFor(j, p, part.reducer)...)
	}
	return d
}
