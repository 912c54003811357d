package maplb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/store"
	"github.com/dlbp/dlbp/pkg/transport"
)

// bucketJobs holds one jobRecord per accepted job.
const bucketJobs = "jobs"

// storeFile is maplb's bbolt file in its data directory.
const storeFile = "maplb.db"

// jobRecord is what survives a restart of maplb: enough to finish an
// unfinished job without its client submitting it again, and to answer
// for a finished one until it expires.
type jobRecord struct {
	ID         string                   `msgpack:"id"`
	Spec       job.Spec                 `msgpack:"spec"`
	Mode       sched.Mode               `msgpack:"mode"`
	State      string                   `msgpack:"state"`
	Err        string                   `msgpack:"err,omitempty"`
	Submitted  time.Time                `msgpack:"submitted"`
	Started    time.Time                `msgpack:"started"`
	Finished   time.Time                `msgpack:"finished"`
	SplitSize  int64                    `msgpack:"split"`
	InputBytes int64                    `msgpack:"bytes"`
	Tasks      []job.Task               `msgpack:"tasks"`
	Maps       []sched.TaskView         `msgpack:"maps"`
	Outputs    map[int]protocol.Partial `msgpack:"outputs"`
	Reduces    []sched.TaskView         `msgpack:"reduces"`
	Reducers   []sched.Pick             `msgpack:"reducers"`
	Parts      []protocol.PartLocation  `msgpack:"parts"`
	Key        string                   `msgpack:"key,omitempty"` // SubmitBegin.Key
}

// record snapshots a job. m.mu is held.
func (m *MapLB) record(j *mjob) *jobRecord {
	r := &jobRecord{
		ID: j.id, Spec: j.spec, Mode: j.mode, State: j.state, Err: j.err,
		Submitted: j.submitted, Started: j.started, Finished: j.finished,
		SplitSize: j.splitSize, InputBytes: j.inputBytes, Tasks: j.tasks, Key: j.key,
		Maps: j.maps, Outputs: map[int]protocol.Partial{},
		// Encoded outside the lock: what is changed in place is copied.
		Reduces: cloneViews(j.reduces), Reducers: j.reducers, Parts: slices.Clone(j.parts),
	}
	if j.state == protocol.StateRunning {
		r.Maps = m.sched.Tasks(j.id)
	} else if j.restore != nil {
		r.Maps = cloneViews(j.restore)
	}
	for k, v := range j.outputs {
		r.Outputs[k] = v
	}
	return r
}

// cloneViews copies task views and their attempts.
func cloneViews(vs []sched.TaskView) []sched.TaskView {
	out := slices.Clone(vs)
	for i := range out {
		out[i].Attempts = slices.Clone(out[i].Attempts)
	}
	return out
}

// persist schedules a job's record to be written. m.mu is held.
func (m *MapLB) persist(id string) {
	if j, ok := m.jobs[id]; !ok || j.state == stateUploading {
		return
	}
	m.dirty[id] = true
	select {
	case m.persistKick <- struct{}{}:
	default:
	}
}

// persistNow writes a job's record, in state, and returns once it is on disk.
func (m *MapLB) persistNow(j *mjob, state string) error {
	m.mu.Lock()
	r := m.record(j)
	r.State = state
	delete(m.dirty, j.id)
	m.mu.Unlock()
	return m.db.Put(bucketJobs, j.id, r)
}

// persister writes changed jobs' records in the background, in batches,
// so the daemon's lock is never held across a disk sync.
func (m *MapLB) persister() {
	defer m.wg.Done()
	daemon.RunSaver(m.ctx, m.persistKick, m.flush)
}

// flush writes every changed job's record in one transaction and reports whether it did. A
// failed write keeps every record dirty, to be written again, and turns /readyz red until a
// write succeeds.
func (m *MapLB) flush() bool {
	m.mu.Lock()
	puts, deletes := map[string]any{}, []string(nil)
	for id := range m.dirty {
		if j, ok := m.jobs[id]; ok {
			puts[id] = m.record(j)
		} else {
			deletes = append(deletes, id)
		}
	}
	clear(m.dirty)
	m.mu.Unlock()
	err := m.db.Write(bucketJobs, puts, deletes)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.saved.Wrote(m.Log, len(puts)+len(deletes), err) {
		return true
	}
	for id := range puts {
		m.dirty[id] = true
	}
	for _, id := range deletes {
		m.dirty[id] = true
	}
	return false
}

// load restores the jobs of a previous run. Unfinished jobs are queued
// again with their finished map tasks; input directories of uploads that
// were never acknowledged are removed.
func (m *MapLB) load() error {
	known := map[string]bool{}
	var unreadable []string
	err := m.db.Each(bucketJobs, func(id string, decode func(any) error) error {
		var r jobRecord
		if err := decode(&r); err != nil {
			m.Log.Error("a job's record cannot be read: it is moved aside, its input kept",
				zap.String("job", id), zap.String("record", "bucket "+bucketJobs+store.AsideSuffix+" of "+storeFile),
				zap.String("input", m.asideDir(id)), zap.Error(err))
			unreadable = append(unreadable, id)
			return nil
		}
		known[id] = true
		j := &mjob{
			id: r.ID, spec: r.Spec, mode: r.Mode, dir: filepath.Join(m.Opts.DataDir, "jobs", r.ID),
			splitSize: r.SplitSize, state: r.State, err: r.Err,
			submitted: r.Submitted, started: r.Started, finished: r.Finished,
			tasks: r.Tasks, inputBytes: r.InputBytes, change: make(chan struct{}), key: r.Key,
			maps: r.Maps, outputs: r.Outputs, reduces: r.Reduces, reducers: r.Reducers, parts: r.Parts,
		}
		if j.outputs == nil {
			j.outputs = map[int]protocol.Partial{}
		}
		if !protocol.Terminal(j.state) {
			j.state, j.restore, j.maps = protocol.StateQueued, r.Maps, nil
			if j.restore == nil {
				j.restore = make([]sched.TaskView, len(j.tasks))
				for i := range j.restore {
					j.restore[i] = sched.TaskView{Task: i, State: sched.TaskPending}
				}
			}
			m.Log.Info("job recovered", zap.String("job", j.id), zap.Int("maps", len(j.tasks)), zap.Int("outputs", len(j.outputs)))
		}
		m.jobs[j.id] = j
		if j.key != "" {
			m.beginKeys[j.key] = j.id
		}
		if !protocol.Terminal(j.state) {
			m.active[j.id] = j
		}
		m.order = append(m.order, j.id)
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range unreadable {
		// Never the cause of deleted input: the job's directory goes aside with its record.
		if err := m.db.MoveAside(bucketJobs, id); err != nil {
			return fmt.Errorf("moving the unreadable record of job %s aside: %w", id, err)
		}
		dir := filepath.Join(m.Opts.DataDir, "jobs", id)
		if _, err := os.Stat(dir); err == nil {
			if err := os.MkdirAll(filepath.Dir(m.asideDir(id)), 0o755); err != nil {
				return err
			}
			if err := os.Rename(dir, m.asideDir(id)); err != nil {
				return fmt.Errorf("moving the input of job %s aside: %w", id, err)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(m.Opts.DataDir, "jobs"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if !known[e.Name()] {
			os.RemoveAll(filepath.Join(m.Opts.DataDir, "jobs", e.Name()))
		}
	}
	return nil
}

// asideDir is where the directory of a job whose record cannot be read is kept.
func (m *MapLB) asideDir(id string) string {
	return filepath.Join(m.Opts.DataDir, "unreadable", id)
}

// resume carries a recovered job's finished map tasks over to this run:
// in mode dlbp reducelb hears of every output again (it ignores what it
// knows); in mode single this master fetches them again, and re-runs those
// whose node is gone. m.mu is held.
func (m *MapLB) resume(j *mjob) {
	alive := map[string]bool{}
	for _, mem := range m.Members(cluster.RoleNode) {
		alive[mem.Name] = true
	}
	for t, out := range j.outputs {
		if !alive[out.Node] {
			delete(j.outputs, t)
			m.sched.Reopen(j.id, t, "its output was on "+out.Node+", gone after a restart")
			continue
		}
		if m.mode == sched.ModeSingle {
			m.gatherSingle(j, out)
		} else {
			m.forwardMapDone(j, out)
		}
	}
}

// forwardMapDone tells reducelb of a finished map task. Nodes report to
// reducelb themselves; this second, durable path covers a report lost
// while reducelb was down. m.mu is held.
func (m *MapLB) forwardMapDone(j *mjob, out protocol.Partial) {
	msg := &protocol.MapDone{
		Job: j.id, Task: out.Task, Attempt: out.Attempt, Node: out.Node, NodeRPC: out.RPC,
		Spec: j.spec, MapCount: len(j.tasks), MapLB: m.RPCAddr(), End: time.Now(),
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for try := 0; m.ctx.Err() == nil; try++ {
			addr := m.reduceLBAddr()
			if addr != "" {
				err := m.CallLB(m.ctx, 10*time.Second, addr, protocol.MethodMapDone, msg, nil)
				if err == nil {
					return
				}
				if transport.CodeOf(err) == transport.CodeGone {
					m.outputLost(msg.Job, msg.Task, msg.Node)
					return
				}
			}
			m.mu.Lock()
			over := m.jobs[msg.Job] == nil || protocol.Terminal(m.jobs[msg.Job].state)
			// A node that died before reducelb (restarted meanwhile) ever saw it: reducelb
			// answers that it is no member and never will learn that it left. The output is
			// lost with the node; the task runs again.
			gone := !over && !m.sched.Member(msg.Node)
			m.mu.Unlock()
			if gone {
				m.Log.Info("a finished map task's node is gone before reducelb heard of it: the task runs again",
					zap.String("job", msg.Job), zap.Int("task", msg.Task), zap.String("node", msg.Node))
				m.outputLost(msg.Job, msg.Task, msg.Node)
				return
			}
			if over {
				return
			}
			select {
			case <-time.After(min(time.Duration(50<<min(try, 6))*time.Millisecond, 3*time.Second)):
			case <-m.ctx.Done():
			}
		}
	}()
}

// outputLost re-runs a finished task whose output reducelb knows to be
// gone with its node.
func (m *MapLB) outputLost(id string, task int, node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil || j.outputs[task].Node != node {
		return
	}
	delete(j.outputs, task)
	if m.sched.Reopen(id, task, "its output was lost with node "+node) {
		m.Log.Info("map task runs again", zap.String("job", id), zap.Int("task", task), zap.String("lost", node))
		m.changed(id)
		m.dispatch()
	}
}

// reduceLBAddr is the RPC address of a live reduce load balancer, or "".
func (m *MapLB) reduceLBAddr() string {
	if lbs := m.Members(cluster.RoleReduceLB); len(lbs) > 0 {
		return lbs[0].Meta.RPC
	}
	return ""
}
