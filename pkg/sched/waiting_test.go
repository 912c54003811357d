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
