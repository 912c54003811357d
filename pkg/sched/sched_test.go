package sched

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func nodesOf(as []Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Node
	}
	return out
}

func equalStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestMapLeastLoaded(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 2})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.NodeUp(NodeInfo{Name: "c", Slots: 1})
	s.AddJob("j", 6)
	got := s.Schedule(at(0))
	// a (0/2), b (0/1), c (0/1) tie at 0: ties go to fewer running then name;
	// after a gets one it is at 1/2, b and c at 0, then a again for its last slot.
	if want := []string{"a", "b", "c", "a"}; !equalStrings(nodesOf(got), want) {
		t.Fatalf("placement %v, want %v", nodesOf(got), want)
	}
	for i, a := range got {
		if a.Task != i || a.Attempt != 0 {
			t.Fatalf("assignment %d = %+v, want task %d attempt 0", i, a, i)
		}
	}
	if more := s.Schedule(at(1)); len(more) != 0 {
		t.Fatalf("scheduled %v with every slot full", more)
	}
	out := s.TaskDone("j", 1, 0, at(5))
	if !out.First || out.JobMapsDone {
		t.Fatalf("TaskDone = %+v", out)
	}
	if got := s.Schedule(at(6)); !equalStrings(nodesOf(got), []string{"b"}) || got[0].Task != 4 {
		t.Fatalf("after b freed a slot: %+v", got)
	}
}

func TestMapRoundRobinSingle(t *testing.T) {
	s := NewMapScheduler(ModeSingle)
	for _, n := range []string{"a", "b", "c"} {
		s.NodeUp(NodeInfo{Name: n, Slots: 4})
	}
	s.AddJob("j", 7)
	got := s.Schedule(at(0))
	if want := []string{"a", "b", "c", "a", "b", "c", "a"}; !equalStrings(nodesOf(got), want) {
		t.Fatalf("round robin %v, want %v", nodesOf(got), want)
	}
	// Continues where it stopped.
	s.AddJob("k", 2)
	if got := s.Schedule(at(1)); !equalStrings(nodesOf(got), []string{"b", "c"}) {
		t.Fatalf("next round %v", nodesOf(got))
	}
}

func TestMapNodeDownRequeues(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 3)
	s.Schedule(at(0)) // task 0 on a, task 1 on b
	lost := s.NodeDown("a", at(10), "node left the cluster")
	if len(lost) != 1 || lost[0].Task != 0 || lost[0].Node != "a" {
		t.Fatalf("lost %+v", lost)
	}
	if s.TaskDone("j", 1, 0, at(11)).First != true {
		t.Fatal("task 1 not accepted")
	}
	got := s.Schedule(at(12))
	if len(got) != 1 || got[0].Task != 0 || got[0].Node != "b" || got[0].Attempt != 1 {
		t.Fatalf("requeued task not first on b: %+v", got)
	}
	// Once the re-run has finished, a late report from the lost attempt is
	// ignored.
	if out := s.TaskDone("j", 0, 1, at(13)); !out.First {
		t.Fatalf("re-run not accepted: %+v", out)
	}
	if out := s.TaskDone("j", 0, 0, at(14)); out.First {
		t.Fatal("late attempt accepted")
	}
	tasks := s.Tasks("j")
	if a := tasks[0].Attempts[0]; a.State != AttemptLost || a.Reason != "node left the cluster" || !a.End.Equal(at(10)) {
		t.Fatalf("lost attempt recorded as %+v", a)
	}
}

func TestMapFirstResultWins(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.AddJob("j", 1)
	s.Schedule(at(0))
	// A failure re-queues; the re-run goes to b.
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	if out := s.TaskFailed("j", 0, 0, at(1), "disk full", FaultNode); out.JobFailed != "" {
		t.Fatalf("transient failure failed the job: %+v", out)
	}
	got := s.Schedule(at(2))
	if len(got) != 1 || got[0].Attempt != 1 {
		t.Fatalf("re-run %+v", got)
	}
	out := s.TaskDone("j", 0, 1, at(3))
	if !out.First || !out.JobMapsDone {
		t.Fatalf("done %+v", out)
	}
	if again := s.TaskDone("j", 0, 1, at(4)); again.First {
		t.Fatal("duplicate report counted twice")
	}
	if d, n := s.Progress("j"); d != 1 || n != 1 {
		t.Fatalf("progress %d/%d", d, n)
	}
}

func TestMapPermanentFailureFailsJob(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 2})
	s.AddJob("j", 2)
	s.Schedule(at(0))
	out := s.TaskFailed("j", 0, 0, at(1), `in.txt:3: not an integer: "12x"`, FaultInput)
	if out.JobFailed != `in.txt:3: not an integer: "12x"` {
		t.Fatalf("JobFailed = %q", out.JobFailed)
	}
	if len(out.Cancel) != 1 || out.Cancel[0].Task != 1 {
		t.Fatalf("cancel %+v", out.Cancel)
	}
	if got := s.Schedule(at(2)); len(got) != 0 {
		t.Fatalf("failed job still scheduled: %+v", got)
	}
	if s.Running("a") != 0 {
		t.Fatalf("slots not released: %d running", s.Running("a"))
	}
}

func TestMapRepeatedFailuresFailJob(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.SetMaxFailures(2, 0)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.AddJob("j", 1)
	s.Schedule(at(0))
	if out := s.TaskFailed("j", 0, 0, at(1), "boom", FaultNode); out.JobFailed != "" {
		t.Fatalf("first failure: %+v", out)
	}
	s.Schedule(at(2))
	out := s.TaskFailed("j", 0, 1, at(3), "boom", FaultNode)
	if out.JobFailed != "map task 0 failed 2 times on 1 nodes, last: boom" {
		t.Fatalf("JobFailed = %q", out.JobFailed)
	}
}

func TestMapFairAcrossJobs(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 2})
	s.AddJob("big", 100)
	s.Schedule(at(0)) // big takes both slots
	s.AddJob("small", 1)
	s.TaskDone("big", 0, 0, at(1))
	got := s.Schedule(at(2))
	if len(got) != 1 || got[0].Job != "small" {
		t.Fatalf("freed slot went to %+v, want the small job", got)
	}
}

func TestMapDrainingGetsNoWork(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 4, Draining: true})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 3)
	if got := s.Schedule(at(0)); !equalStrings(nodesOf(got), []string{"b"}) {
		t.Fatalf("placement %v", nodesOf(got))
	}
}

func TestMapReopen(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.AddJob("j", 1)
	s.Schedule(at(0))
	s.TaskDone("j", 0, 0, at(1))
	if !s.Reopen("j", 0, "output lost with node a") {
		t.Fatal("not reopened")
	}
	if d, _ := s.Progress("j"); d != 0 {
		t.Fatalf("done = %d after reopen", d)
	}
	got := s.Schedule(at(2))
	if len(got) != 1 || got[0].Attempt != 1 {
		t.Fatalf("reopened task not re-run: %+v", got)
	}
}

func TestReduceLazyPick(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 2})
	s.NodeUp(NodeInfo{Name: "b", Slots: 2})
	s.NodeUp(NodeInfo{Name: "c", Slots: 2})
	s.AddJob("j", 3, 3)
	if _, picks := s.Status("j"); len(picks) != 0 {
		t.Fatalf("picked before any map finished: %+v", picks)
	}
	s.SetRunning("a", 2)
	s.SetRunning("c", 1)
	d := s.MapDone("j", MapOutput{Task: 1, Node: "c"}, at(100))
	var got []string
	for _, p := range d.Picks {
		got = append(got, p.Node)
		if !p.Picked.Equal(at(100)) {
			t.Fatalf("pick time %v", p.Picked)
		}
	}
	// Loads at that moment: a 2, b 0, c 1. b first; then b=1 and c=1 tie and
	// c holds the partial; then b=1... b has 1, c has 2, a has 2: b.
	if want := []string{"b", "c", "b"}; !equalStrings(got, want) {
		t.Fatalf("reducers %v, want %v (%+v)", got, want, d.Picks)
	}
	if len(d.Fetches) != 3 {
		t.Fatalf("fetches %+v", d.Fetches)
	}
	// Later map completions pick nothing new, only fetch.
	d = s.MapDone("j", MapOutput{Task: 0, Node: "a"}, at(200))
	if len(d.Picks) != 0 || len(d.Fetches) != 3 || d.Fetches[0].Reducer != "b" {
		t.Fatalf("second map done: %+v", d)
	}
	// A duplicate completion is ignored.
	if d = s.MapDone("j", MapOutput{Task: 0, Attempt: 1, Node: "b"}, at(201)); len(d.Fetches) != 0 {
		t.Fatalf("duplicate accepted: %+v", d)
	}
	s.MapDone("j", MapOutput{Task: 2, Node: "b"}, at(300))
	for p, n := range []string{"b", "c", "b"} {
		last := p == 2
		if d := s.ReduceDone("j", p, n, at(400+p)); d.JobDone != last {
			t.Fatalf("partition %d: JobDone=%v", p, d.JobDone)
		}
	}
	tasks, _ := s.Status("j")
	for _, tv := range tasks {
		if tv.State != TaskDone || len(tv.Attempts) != 1 || tv.Attempts[0].State != AttemptDone {
			t.Fatalf("reduce task %+v", tv)
		}
	}
}

func TestReduceNodeDownRepicksAndReruns(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 2, 1)
	d := s.MapDone("j", MapOutput{Task: 0, Node: "a"}, at(1))
	if d.Picks[0].Node != "a" {
		t.Fatalf("tie should go to the holder a: %+v", d.Picks)
	}
	s.MapDone("j", MapOutput{Task: 1, Node: "b"}, at(2))
	ds := s.NodeDown("a", at(3))
	d = ds["j"]
	if fmt.Sprint(d.Rerun) != "[0]" {
		t.Fatalf("rerun %v", d.Rerun)
	}
	if len(d.Picks) != 1 || d.Picks[0].Node != "b" {
		t.Fatalf("re-pick %+v", d.Picks)
	}
	if len(d.Fetches) != 1 || d.Fetches[0].Output.Task != 1 {
		t.Fatalf("fetches after re-pick %+v", d.Fetches)
	}
	// The re-run of task 0 lands on b and is fetched by the new reducer.
	d = s.MapDone("j", MapOutput{Task: 0, Attempt: 1, Node: "b"}, at(4))
	if len(d.Fetches) != 1 || d.Fetches[0].Reducer != "b" {
		t.Fatalf("fetch of the re-run: %+v", d)
	}
	if !s.ReduceDone("j", 0, "b", at(5)).JobDone {
		t.Fatal("job not done")
	}
	tasks, picks := s.Status("j")
	if len(picks) != 2 || tasks[0].Attempts[0].State != AttemptLost {
		t.Fatalf("history: %+v %+v", tasks, picks)
	}
}

func TestReduceFailureRepicksThenFailsJob(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.AddJob("j", 1, 1)
	s.MapDone("j", MapOutput{Task: 0, Node: "a"}, at(1))
	d := s.ReduceFailed("j", 0, "a", at(2), "disk full", FaultNode)
	if len(d.Picks) != 1 || len(d.Fetches) != 1 {
		t.Fatalf("after failure: %+v", d)
	}
	d = s.ReduceFailed("j", 0, "a", at(3), "bad data", FaultInput)
	if d.JobFailed != "reduce partition 0: bad data" {
		t.Fatalf("JobFailed = %q", d.JobFailed)
	}
}

func TestMapRejectBlocksNode(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 1)
	got := s.Schedule(at(0))
	if got[0].Node != "a" {
		t.Fatalf("first placement %+v", got)
	}
	s.Reject("j", 0, 0, at(1), "connection refused", at(1000))
	got = s.Schedule(at(2))
	if len(got) != 1 || got[0].Node != "b" {
		t.Fatalf("after a refused: %+v", got)
	}
	s.Reject("j", 0, 1, at(3), "busy", at(1000))
	if got = s.Schedule(at(4)); len(got) != 0 {
		t.Fatalf("blocked nodes got work: %+v", got)
	}
	if got = s.Schedule(at(1000)); len(got) != 1 {
		t.Fatalf("nodes not unblocked: %+v", got)
	}
	// Rejections are not failures: the job is still alive after many.
	for i := 0; i < 10; i++ {
		s.Reject("j", 0, got[0].Attempt, at(1001+i), "busy", at(1001+i))
		got = s.Schedule(at(1001 + i))
		if len(got) != 1 {
			t.Fatalf("round %d: %+v", i, got)
		}
	}
}

func TestMapRestoreJob(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 4})
	s.AddJob("j", 3)
	s.Schedule(at(0))
	s.TaskDone("j", 1, 0, at(5))
	saved := s.Tasks("j")

	r := NewMapScheduler(ModeDLBP)
	r.NodeUp(NodeInfo{Name: "b", Slots: 4})
	r.RestoreJob("j", saved, at(10), "maplb restarted")
	if d, n := r.Progress("j"); d != 1 || n != 3 {
		t.Fatalf("progress %d/%d", d, n)
	}
	got := r.Schedule(at(11))
	if len(got) != 2 || got[0].Task != 0 || got[1].Task != 2 || got[0].Attempt != 1 {
		t.Fatalf("after restore: %+v", got)
	}
	if a := r.Tasks("j")[0].Attempts[0]; a.State != AttemptLost || a.Reason != "maplb restarted" {
		t.Fatalf("old attempt %+v", a)
	}
}

func TestReduceSnapshotRestoreResume(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 3, 2)
	s.MapDone("j", MapOutput{Task: 0, Node: "a"}, at(1)) // picks a (holder) and b
	s.MapDone("j", MapOutput{Task: 1, Node: "b"}, at(2))
	s.ReduceDone("j", 1, "b", at(3)) // not really possible before all maps, but fine for the core
	snap, ok := s.Snapshot("j")
	if !ok {
		t.Fatal("no snapshot")
	}

	r := NewReduceScheduler()
	r.NodeUp(NodeInfo{Name: "a", Slots: 1}) // b is gone after the restart
	r.Restore(snap)
	d := r.Resume("j", at(10))
	if fmt.Sprint(d.Rerun) != "[1]" {
		t.Fatalf("rerun %v: task 1's output was on b", d.Rerun)
	}
	if len(d.Picks) != 0 {
		t.Fatalf("partition 0's reducer a is alive; picks %+v", d.Picks)
	}
	if len(d.Fetches) != 1 || d.Fetches[0].Reducer != "a" || d.Fetches[0].Output.Task != 0 {
		t.Fatalf("fetches %+v", d.Fetches)
	}
	d = r.MapDone("j", MapOutput{Task: 1, Attempt: 1, Node: "a"}, at(11))
	d2 := r.MapDone("j", MapOutput{Task: 2, Node: "a"}, at(12))
	if len(d.Fetches)+len(d2.Fetches) != 2 {
		t.Fatalf("fetches after resume: %+v %+v", d, d2)
	}
	if !r.ReduceDone("j", 0, "a", at(13)).JobDone {
		t.Fatal("job not done after the last partition")
	}
}

func TestMapLateReportFromLostAttempt(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 2)
	s.Schedule(at(0))
	s.NodeDown("a", at(1), "suspected dead")
	// a was alive after all and reports: the task is done, not re-run.
	out := s.TaskDone("j", 0, 0, at(2))
	if !out.First {
		t.Fatalf("late report from a lost attempt not accepted: %+v", out)
	}
	if got := s.Schedule(at(3)); len(got) != 0 {
		t.Fatalf("task re-run although done: %+v", got)
	}
	if ai, a, ok := s.Winner("j", 0); !ok || ai != 0 || a.Node != "a" {
		t.Fatalf("winner %d %+v %v", ai, a, ok)
	}
	// The same for a task already re-run elsewhere: the first report wins
	// and the other attempt is cancelled.
	s.NodeDown("b", at(4), "suspected dead")
	s.NodeUp(NodeInfo{Name: "c", Slots: 1})
	got := s.Schedule(at(5))
	if len(got) != 1 || got[0].Task != 1 || got[0].Node != "c" {
		t.Fatalf("re-run %+v", got)
	}
	out = s.TaskDone("j", 1, 0, at(6))
	if !out.First || len(out.Cancel) != 1 || out.Cancel[0].Node != "c" {
		t.Fatalf("late winner %+v", out)
	}
	if out := s.TaskDone("j", 1, 1, at(7)); out.First {
		t.Fatal("second result accepted")
	}
}

func TestMapPoisonTaskFailsOnDistinctNodes(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	for _, n := range []string{"a", "b", "c", "d"} {
		s.NodeUp(NodeInfo{Name: n, Slots: 1})
	}
	s.AddJob("j", 1)
	var last MapOutcome
	for i := 0; i < 3; i++ {
		got := s.Schedule(at(10 * i))
		if len(got) != 1 {
			t.Fatalf("round %d: %+v", i, got)
		}
		last = s.TaskFailed("j", 0, got[0].Attempt, at(10*i+1), "segfault in mapper", FaultNode)
		if i < 2 && last.JobFailed != "" {
			t.Fatalf("failed after %d nodes: %q", i+1, last.JobFailed)
		}
	}
	if last.JobFailed != "map task 0 failed 3 times on 3 nodes, last: segfault in mapper" {
		t.Fatalf("JobFailed = %q", last.JobFailed)
	}
}

func TestMapFailingNodeGetsLessWork(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.SetPolicy(Policy{FailStreak: 2, FailPause: time.Second})
	s.SetMaxFailures(100, 100)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 10)
	// a fails twice in a row: it is paused for FailPause.
	for i := 0; i < 2; i++ {
		for _, g := range s.Schedule(at(i)) {
			if g.Node == "a" {
				s.TaskFailed("j", g.Task, g.Attempt, at(i), "disk error", FaultNode)
			} else {
				s.TaskDone("j", g.Task, g.Attempt, at(i))
			}
		}
	}
	got := s.Schedule(at(5))
	if len(got) != 1 || got[0].Node != "b" {
		t.Fatalf("paused node got work: %+v", got)
	}
	s.TaskDone("j", got[0].Task, got[0].Attempt, at(6))
	if got = s.Schedule(at(1001)); len(got) != 2 {
		t.Fatalf("a not back after its pause: %+v", got)
	}
	// Another failure doubles the pause.
	for _, g := range got {
		if g.Node == "a" {
			s.TaskFailed("j", g.Task, g.Attempt, at(1002), "disk error", FaultNode)
		} else {
			s.TaskDone("j", g.Task, g.Attempt, at(1002))
		}
	}
	if got = s.Schedule(at(2500)); len(got) != 1 || got[0].Node != "b" {
		t.Fatalf("a back too soon: %+v", got)
	}
}

func TestMapBackupAttemptsForStragglers(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.SetPolicy(Policy{BackupFactor: 2, BackupMinAge: 100 * time.Millisecond})
	s.NodeUp(NodeInfo{Name: "fast", Slots: 2})
	s.NodeUp(NodeInfo{Name: "slow", Slots: 2})
	s.AddJob("j", 4)
	got := s.Schedule(at(0)) // two tasks on each node
	var slowTasks []int
	for _, g := range got {
		if g.Node == "fast" {
			s.TaskDone("j", g.Task, g.Attempt, at(200))
		} else {
			slowTasks = append(slowTasks, g.Task)
		}
	}
	// Median 200 ms: no backup before 400 ms.
	if b := s.Schedule(at(400)); len(b) != 0 {
		t.Fatalf("backup too early: %+v", b)
	}
	b := s.Schedule(at(401))
	if len(b) != 2 || b[0].Node != "fast" || b[1].Node != "fast" || b[0].Attempt != 1 {
		t.Fatalf("backups %+v", b)
	}
	// No third attempt while two run.
	if more := s.Schedule(at(5000)); len(more) != 0 {
		t.Fatalf("extra backups %+v", more)
	}
	out := s.TaskDone("j", b[0].Task, 1, at(500))
	if !out.First || len(out.Cancel) != 1 || out.Cancel[0].Node != "slow" {
		t.Fatalf("backup win %+v", out)
	}
	if st := s.Tasks("j")[b[0].Task].Attempts[0]; st.State != AttemptSuperseded {
		t.Fatalf("original attempt %+v", st)
	}
	_ = slowTasks
}

func TestMapExpireStalledAttempt(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.SetPolicy(Policy{TaskDeadline: time.Second})
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 1)
	s.Schedule(at(0))
	if ex := s.Expire(at(1000)); len(ex) != 0 {
		t.Fatalf("expired at the deadline itself: %+v", ex)
	}
	ex := s.Expire(at(1001))
	if len(ex) != 1 || ex[0].Attempt.Node != "a" || ex[0].Outcome.JobFailed != "" {
		t.Fatalf("expire %+v", ex)
	}
	got := s.Schedule(at(1002))
	if len(got) != 1 || got[0].Node != "b" {
		t.Fatalf("re-run %+v", got)
	}
	if a := s.Tasks("j")[0].Attempts[0]; a.State != AttemptFailed || a.Reason != "deadline: still running after 1s" {
		t.Fatalf("expired attempt %+v", a)
	}
}

func TestReduceRefreshAndPickCopy(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 2})
	s.NodeUp(NodeInfo{Name: "b", Slots: 2})
	s.NodeUp(NodeInfo{Name: "c", Slots: 2, Draining: true})
	s.AddJob("j", 2, 2)
	now := time.Now()
	s.MapDone("j", MapOutput{Task: 0, Node: "a"}, now)
	if f := s.Refresh("j"); f != nil {
		t.Fatalf("refresh before every output is known: %+v", f)
	}
	s.MapDone("j", MapOutput{Task: 1, Attempt: 2, Node: "b"}, now)
	f := s.Refresh("j")
	if len(f) != 4 {
		t.Fatalf("refresh: %d fetches, want 2 partitions × 2 partials: %+v", len(f), f)
	}
	for _, x := range f {
		if want := s.Reducer("j", x.Partition); x.Reducer != want {
			t.Errorf("fetch for partition %d sent to %s, its reducer is %s", x.Partition, x.Reducer, want)
		}
		if x.Output.Task == 1 && (x.Output.Node != "b" || x.Output.Attempt != 2) {
			t.Errorf("task 1 refreshed as %+v, want attempt 2 on b", x.Output)
		}
	}
	r0 := s.Reducer("j", 0)
	if !s.Reducing("j", 0, r0) {
		t.Fatalf("%s does not reduce partition 0", r0)
	}
	s.ReduceDone("j", 0, r0, now)
	if s.Reducing("j", 0, r0) {
		t.Errorf("partition 0 still reducing once done")
	}
	if f := s.Refresh("j"); len(f) != 2 || f[0].Partition != 1 {
		t.Errorf("refresh after partition 0 is done: %+v, want partition 1's 2 partials", f)
	}

	// A copy goes to another live node, never a draining one, never one already tried.
	if to, ok := s.PickCopy("a", nil); !ok || to != "b" {
		t.Errorf("PickCopy(a) = %q %v, want b", to, ok)
	}
	if to, ok := s.PickCopy("a", map[string]bool{"b": true}); ok {
		t.Errorf("PickCopy(a, tried b) = %q, want none (c drains)", to)
	}
}

// TestReduceOutputDamaged: a map output reported damaged on its holder is dropped and its task
// returned for a re-run, only while it is still the task's output; the re-run's output is
// fetched by the reducer as any other.
func TestReduceOutputDamaged(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 2, 1)
	s.MapDone("j", MapOutput{Task: 0, Node: "a"}, at(1))
	s.MapDone("j", MapOutput{Task: 1, Node: "b"}, at(2))
	if d := s.OutputDamaged("j", 0, 1, "a"); len(d.Rerun) != 0 {
		t.Fatalf("a report naming another attempt re-ran the task: %+v", d)
	}
	if d := s.OutputDamaged("j", 0, 0, "b"); len(d.Rerun) != 0 {
		t.Fatalf("a report naming another holder re-ran the task: %+v", d)
	}
	d := s.OutputDamaged("j", 0, 0, "a")
	if fmt.Sprint(d.Rerun) != "[0]" {
		t.Fatalf("rerun %v, want [0]", d.Rerun)
	}
	if d := s.OutputDamaged("j", 0, 0, "a"); len(d.Rerun) != 0 {
		t.Fatalf("a second report of the same output re-ran the task again: %+v", d)
	}
	d = s.MapDone("j", MapOutput{Task: 0, Attempt: 1, Node: "b"}, at(3))
	if len(d.Fetches) != 1 || d.Fetches[0].Output.Attempt != 1 {
		t.Fatalf("the re-run's output is not fetched: %+v", d)
	}
}

// TestReduceRepickAvoidsFailedNodes: a partition whose reducer failed is re-picked on another
// node, not the one that just failed (it would fail again: a full disk), while another can
// take it; with no other, it goes back to one it failed on.
func TestReduceRepickAvoidsFailedNodes(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "b", Slots: 4})
	s.AddJob("j", 1, 1)
	d := s.MapDone("j", MapOutput{Task: 0, Node: "b"}, at(1))
	if d.Picks[0].Node != "b" {
		t.Fatalf("first pick %+v, want b (least loaded per slot, the holder)", d.Picks)
	}
	d = s.ReduceFailed("j", 0, "b", at(2), "no space left on device", FaultNode)
	if len(d.Picks) != 1 || d.Picks[0].Node != "a" {
		t.Fatalf("re-pick after b failed: %+v, want a", d.Picks)
	}
	d = s.ReduceFailed("j", 0, "a", at(3), "no space left on device", FaultNode)
	if len(d.Picks) != 1 {
		t.Fatalf("re-pick after both failed: %+v, want one of them", d)
	}
}

// TestMapReopenAvoidsOldHolder: a task run again because its output was lost, damaged or out
// of a reducer's reach runs on another node than the one its output was on, while another is
// free; with no other, it goes back there.
func TestMapReopenAvoidsOldHolder(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 4})
	s.NodeUp(NodeInfo{Name: "b", Slots: 1})
	s.AddJob("j", 1)
	got := s.Schedule(at(0))
	if len(got) != 1 || got[0].Node != "a" {
		t.Fatalf("first placement %+v, want a (least loaded per slot)", got)
	}
	s.TaskDone("j", 0, 0, at(1))
	s.Reopen("j", 0, "a reducer cannot reach a")
	if got := s.Schedule(at(2)); len(got) != 1 || got[0].Node != "b" {
		t.Fatalf("re-run placed %+v, want b", got)
	}
	s.TaskDone("j", 0, 1, at(3))
	s.Reopen("j", 0, "a reducer cannot reach b")
	if got := s.Schedule(at(4)); len(got) != 1 {
		t.Fatalf("with every node avoided the task must still run: %+v", got)
	}
}
