package sched

import (
	"strings"
	"testing"
	"time"
)

// TestWaiting: each reason a job's pending tasks cannot start is named, and busy nodes are none.
func TestWaiting(t *testing.T) {
	now := time.Unix(1000, 0)
	newJob := func(rules Rules) *MapScheduler {
		s := NewMapScheduler(ModeDLBP)
		s.AddJob("j", 4)
		s.SetRules("j", rules)
		return s
	}
	cases := []struct {
		name  string
		setup func() *MapScheduler
		want  string
	}{
		{"no node", func() *MapScheduler { return newJob(Rules{}) }, "no live node"},
		{"draining and full", func() *MapScheduler {
			s := newJob(Rules{})
			s.NodeUp(NodeInfo{Name: "a", Slots: 1, Draining: true})
			s.NodeUp(NodeInfo{Name: "b", Slots: 1, Full: true})
			return s
		}, "every node is draining or low on disk"},
		{"no exec node", func() *MapScheduler {
			s := newJob(Rules{NeedsExec: true})
			s.NodeUp(NodeInfo{Name: "a", Slots: 1})
			return s
		}, "no node allows exec"},
		{"all paused", func() *MapScheduler {
			s := newJob(Rules{})
			s.NodeUp(NodeInfo{Name: "a", Slots: 1})
			s.nodes["a"].blockedUntil = now.Add(5 * time.Second)
			return s
		}, "every node is paused after failures (the first gets work again in 5s)"},
		{"busy is no reason", func() *MapScheduler {
			s := newJob(Rules{})
			s.NodeUp(NodeInfo{Name: "a", Slots: 1})
			s.Schedule(now) // one task runs, three wait for the slot
			return s
		}, ""},
		{"exec job with an exec node", func() *MapScheduler {
			s := newJob(Rules{NeedsExec: true})
			s.NodeUp(NodeInfo{Name: "a", Slots: 1})
			s.NodeUp(NodeInfo{Name: "b", Slots: 1, Exec: true})
			return s
		}, ""},
	}
	for _, c := range cases {
		got := c.setup().Waiting("j", now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: Waiting = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestFirstBadRecordInInputOrder: bad input found by a later split first does not decide the
// job's error: the job fails with the earliest bad task's reason, once every task before it is
// done; tasks after it are stopped.
func TestFirstBadRecordInInputOrder(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewMapScheduler(ModeDLBP)
	s.NodeUp(NodeInfo{Name: "a", Slots: 4})
	s.AddJob("j", 4)
	as := s.Schedule(now)
	if len(as) != 4 {
		t.Fatalf("%d attempts started, want 4", len(as))
	}
	if o := s.TaskFailed("j", 2, 0, now, "line 2209: bad", FaultInput); o.JobFailed != "" {
		t.Fatalf("task 2's bad input failed the job before tasks 0 and 1 ended: %q", o.JobFailed)
	} else if len(o.Cancel) != 1 || o.Cancel[0].Task != 3 {
		t.Fatalf("cancelled %+v, want task 3's attempt", o.Cancel)
	}
	if o := s.TaskFailed("j", 1, 0, now, "line 1: bad", FaultInput); o.JobFailed != "" {
		t.Fatalf("task 1's bad input failed the job before task 0 ended: %q", o.JobFailed)
	}
	o := s.TaskDone("j", 0, 0, now)
	if o.JobFailed != "line 1: bad" {
		t.Fatalf("once task 0 is done: JobFailed %q, want task 1's reason", o.JobFailed)
	}
	if o := s.TaskFailed("j", 0, 0, now, "late", FaultInput); o.JobFailed != "" {
		t.Fatalf("a report after the job failed: %+v", o)
	}
}
