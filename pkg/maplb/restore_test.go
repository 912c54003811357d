package maplb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/daemon"
	"github.com/dlbp/dlbp/pkg/job"
	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/sched"
	"github.com/dlbp/dlbp/pkg/store"
)

// TestRerunWhileRecoveredJobWaits: a maplb restarted on its data dir keeps a recovered job
// queued until it finds reducelb. If reducelb reports meanwhile that a finished map task's
// output was lost with its node, the task must run again once the job resumes (found by the
// chaos test: the report was taken, the output forgotten, and the task stayed done, so the
// job hung with a reducer waiting for that output).
func TestRerunWhileRecoveredJobWaits(t *testing.T) {
	o := daemon.Defaults(cluster.RoleMapLB)
	o.Name, o.RPC, o.Gossip, o.HTTP, o.DataDir = "maplb-test", "127.0.0.1:0", "127.0.0.1:0", "", t.TempDir()
	m, err := New(o, zap.NewNop(), cluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Base.Stop(context.Background())
	defer m.db.Close()

	now := time.Now()
	done := func(i int, node string) sched.TaskView {
		return sched.TaskView{Task: i, State: sched.TaskDone, Attempts: []sched.Attempt{{Node: node, Start: now, End: now, State: sched.AttemptDone}}}
	}
	j := &mjob{
		id: "jtest1", spec: job.Spec{Job: "wordcount", Reducers: 1}, state: protocol.StateQueued,
		tasks: make([]job.Task, 3), change: make(chan struct{}),
		restore: []sched.TaskView{done(0, "node1"), done(1, "node6"), {Task: 2, State: sched.TaskPending}},
		outputs: map[int]protocol.Partial{0: {Task: 0, Node: "node1"}, 1: {Task: 1, Node: "node6"}},
	}
	m.jobs[j.id] = j
	m.order = append(m.order, j.id)

	if _, err := m.handleReduceProgress(context.Background(), &protocol.ReduceProgress{Job: j.id, Rerun: []int{1}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := j.outputs[1]; ok {
		t.Errorf("the lost output of task 1 is still known")
	}
	m.mu.Lock()
	m.sched.RestoreJob(j.id, j.restore, time.Now(), "maplb restarted") // what startQueued does
	tasks := m.sched.Tasks(j.id)
	m.mu.Unlock()
	if got := tasks[0].State; got != sched.TaskDone {
		t.Errorf("task 0: %s, want done (its output is safe)", got)
	}
	if got := tasks[1].State; got != sched.TaskPending {
		t.Errorf("task 1: %s, want pending (its output was lost)", got)
	}
	if a := tasks[1].Attempts; len(a) != 1 || a[0].State != sched.AttemptLost {
		t.Errorf("task 1 attempts %+v, want its done attempt marked lost", a)
	}
}

// TestUnreadableRecordKeepsInput: a job record that cannot be decoded at start is moved aside
// with the job's input, which is never deleted for it (it was: the record was skipped, so the
// job's directory looked unknown and was removed).
func TestUnreadableRecordKeepsInput(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(bucketJobs, "jbad1", "not a job record"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	doc := filepath.Join(dir, "jobs", "jbad1", "input", "doc-00000")
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(doc, []byte("the only copy of the input\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	o := daemon.Defaults(cluster.RoleMapLB)
	o.Name, o.RPC, o.Gossip, o.HTTP, o.DataDir = "maplb-test", "127.0.0.1:0", "127.0.0.1:0", "", dir
	m, err := New(o, zap.NewNop(), cluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Base.Stop(context.Background())
	defer m.db.Close()
	if _, ok := m.jobs["jbad1"]; ok {
		t.Fatal("the unreadable job was loaded")
	}
	kept, err := os.ReadFile(filepath.Join(dir, "unreadable", "jbad1", "input", "doc-00000"))
	if err != nil || string(kept) != "the only copy of the input\n" {
		t.Fatalf("the input of the unreadable job: %q, %v", kept, err)
	}
	var rec string
	if found, err := m.db.Get(bucketJobs+store.AsideSuffix, "jbad1", &rec); !found || err != nil || rec != "not a job record" {
		t.Fatalf("the record aside: %q found %v, %v", rec, found, err)
	}
	var r jobRecord
	if found, _ := m.db.Get(bucketJobs, "jbad1", &r); found {
		t.Fatal("the unreadable record is still among the jobs")
	}
}
