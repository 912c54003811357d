package sched

import (
	"strings"
	"testing"
)

// A user program that fails counts against its task, not its node: with MaxAttempts 20 a task
// may fail 19 times over every node, and no node is ever paused for it.
func TestMapUserFaultsSpareNodes(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	for _, n := range []string{"a", "b", "c"} {
		s.NodeUp(NodeInfo{Name: n, Slots: 1})
	}
	s.AddJob("u", 1)
	s.SetRules("u", Rules{MaxAttempts: 20})
	s.AddJob("b", 3) // a built-in job beside it must keep getting every node
	for i := 0; i < 19; i++ {
		got := s.Schedule(at(10 * i))
		var mine *Assignment
		for k := range got {
			if got[k].Job == "u" {
				mine = &got[k]
			}
		}
		if mine == nil {
			t.Fatalf("round %d: the user task was not placed (got %+v)", i, got)
		}
		if out := s.TaskFailed("u", 0, mine.Attempt, at(10*i+1), "exit status 1", FaultUser); out.JobFailed != "" || out.Paused != "" {
			t.Fatalf("round %d: after %d failures: %+v", i, i+1, out)
		}
		for _, a := range got {
			if a.Job == "b" {
				s.TaskDone("b", a.Task, a.Attempt, at(10*i+2))
			}
		}
		for name, n := range s.nodes {
			if n.blockedUntil.After(at(10*i + 2)) {
				t.Fatalf("round %d: node %s paused for a user program's failure", i, name)
			}
		}
	}
	got := s.Schedule(at(500))
	if len(got) != 1 || got[0].Job != "u" {
		t.Fatalf("20th attempt: %+v", got)
	}
	out := s.TaskFailed("u", 0, got[0].Attempt, at(501), "exit status 1", FaultUser)
	if !strings.Contains(out.JobFailed, "failed 20 times") || !strings.Contains(out.JobFailed, "exit status 1") {
		t.Fatalf("JobFailed = %q, want 20 failures and the reason", out.JobFailed)
	}
}

// A node fault still pauses the node after a streak, as before.
func TestMapNodeFaultsPauseNode(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.AddJob("u", 1)
	s.SetRules("u", Rules{MaxAttempts: 20})
	for i := 0; i < 3; i++ {
		got := s.Schedule(at(i))
		if len(got) != 1 {
			t.Fatalf("round %d: %+v", i, got)
		}
		out := s.TaskFailed("u", 0, got[0].Attempt, at(i), "disk error", FaultNode)
		if paused := out.Paused == "a"; paused != (i == 2) {
			t.Fatalf("failure %d: Paused = %q", i+1, out.Paused)
		}
	}
	if got := s.Schedule(at(10)); len(got) != 0 {
		t.Fatalf("a node that failed 3 times in a row got work at once: %+v", got)
	}
}

// A job whose programs are native goes only to nodes that run them, and waiting for one does
// not hold other jobs back.
func TestMapNeedsExec(t *testing.T) {
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 2})
	s.AddJob("x", 2)
	s.SetRules("x", Rules{NeedsExec: true})
	s.AddJob("b", 1)
	got := s.Schedule(at(0))
	if len(got) != 1 || got[0].Job != "b" {
		t.Fatalf("with no exec node: %+v, want only the built-in job's task", got)
	}
	s.NodeUp(NodeInfo{Name: "e", Slots: 2, Exec: true})
	got = s.Schedule(at(1))
	if len(got) != 2 || got[0].Node != "e" || got[1].Node != "e" {
		t.Fatalf("with an exec node: %+v, want both tasks on e", got)
	}
}

func TestReduceRules(t *testing.T) {
	s := NewReduceScheduler()
	s.NodeUp(NodeInfo{Name: "a", Slots: 1})
	s.NodeUp(NodeInfo{Name: "e", Slots: 1, Exec: true})
	s.AddJob("x", 1, 1)
	s.SetRules("x", Rules{NeedsExec: true, MaxAttempts: 6})
	d := s.MapDone("x", MapOutput{Task: 0, Node: "a"}, at(0))
	if len(d.Picks) != 1 || d.Picks[0].Node != "e" {
		t.Fatalf("picks %+v, want the exec node e though a holds the partial", d.Picks)
	}
	for i := 1; i < 6; i++ {
		if d := s.ReduceFailed("x", 0, "e", at(i), "exit status 1", FaultUser); d.JobFailed != "" || len(d.Picks) != 1 {
			t.Fatalf("failure %d: %+v", i, d)
		}
	}
	if d := s.ReduceFailed("x", 0, "e", at(9), "exit status 1", FaultUser); !strings.Contains(d.JobFailed, "failed 6 times") {
		t.Fatalf("6th failure: %+v", d)
	}
}
